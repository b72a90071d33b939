"""PyTorch classifiers for EMNIST ByClass.

Every model takes the flattened upright image, float32 [N, 784] of pixels/255, and returns logits
[N, 62] in ByClass order. Softmax is added only for export (:class:`WithSoftmax`), so training uses
the numerically stable ``cross_entropy`` on logits.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from emnist_contract.labels import NUM_CLASSES
from emnist_contract.tensors import IMAGE_SIZE, NUM_PIXELS


class LinearClassifier(nn.Module):
    """Multinomial logistic regression, 784 -> 62: the blog's baseline."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(NUM_PIXELS, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


class DNNClassifier(nn.Module):
    """The blog's and the reference model's 784-512-256-62 fully connected net with ELU."""

    def __init__(self, dropout: float = 0.2) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(NUM_PIXELS, 512),
            nn.ELU(),
            nn.Dropout(dropout),
            nn.Linear(512, 256),
            nn.ELU(),
            nn.Dropout(dropout),
            nn.Linear(256, NUM_CLASSES),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class CNNClassifier(nn.Module):
    """A small VGG-style CNN: two conv blocks with batch norm, then a dense head.

    Sized to train in minutes on two CPU cores while clearly beating the DNN on letters.
    """

    def __init__(self, widths: tuple[int, int] = (32, 64), dropout: float = 0.3) -> None:
        super().__init__()
        w1, w2 = widths

        def block(c_in: int, c_out: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
                nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            )

        self.features = nn.Sequential(block(1, w1), block(w1, w2))
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(w2 * (IMAGE_SIZE // 4) ** 2, 256),  # two 2x2 poolings
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(256, NUM_CLASSES),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x.reshape(-1, 1, IMAGE_SIZE, IMAGE_SIZE)))


class BasicBlock(nn.Module):
    """A residual block (He et al. 2016): conv3x3-BN-ReLU-conv3x3-BN plus the input (through a 1x1
    conv-BN where the stride or the width changes), then ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(c_out))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


class ResNetClassifier(nn.Module):
    """A small ResNet: a conv3x3 stem, one residual block per stage at 28, 14 and 7 px, global average
    pooling, dropout and one linear layer.

    Deeper than the CNN (7 convolutions against 4) with a third of its parameters (no 3,136 x 256 dense
    layer); the widths keep its multiply-adds per image within twice the CNN's, the serving budget.
    """

    def __init__(self, widths: tuple[int, int, int] = (32, 64, 128), dropout: float = 0.2) -> None:
        super().__init__()
        w1, w2, w3 = widths
        self.features = nn.Sequential(
            nn.Conv2d(1, w1, 3, padding=1, bias=False),
            nn.BatchNorm2d(w1),
            nn.ReLU(inplace=True),
            BasicBlock(w1, w1),
            BasicBlock(w1, w2, stride=2),
            BasicBlock(w2, w3, stride=2),
        )
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(w3, NUM_CLASSES),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x.reshape(-1, 1, IMAGE_SIZE, IMAGE_SIZE)))


class WithSoftmax(nn.Module):
    """Wraps a logits model so that it outputs softmax probabilities, the exported contract."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(x), dim=-1)


def softmax_scores(model: nn.Module, images: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """Softmax scores float32 [N, 62] of a logits model on float32 [N, 784], batch by batch.

    How every stage runs a PyTorch model it compares with or scores: eval mode, no gradients.
    """
    wrapped = WithSoftmax(model).eval()
    with torch.inference_mode():
        parts = [wrapped(torch.from_numpy(images[i : i + batch_size])).numpy()
                 for i in range(0, len(images), batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0, NUM_CLASSES), np.float32)


ARCHITECTURES: dict[str, type[nn.Module]] = {
    "linear": LinearClassifier,
    "dnn": DNNClassifier,
    "cnn": CNNClassifier,
    "resnet": ResNetClassifier,
}


def build_model(arch: str, **kwargs: object) -> nn.Module:
    """Instantiate an architecture by its name ('linear', 'dnn', 'cnn' or 'resnet')."""
    try:
        cls = ARCHITECTURES[arch]
    except KeyError:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {sorted(ARCHITECTURES)}") from None
    return cls(**kwargs)
