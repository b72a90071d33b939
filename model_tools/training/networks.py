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

    def __init__(self, dropout: float = 0.3) -> None:
        super().__init__()

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

        self.features = nn.Sequential(block(1, 32), block(32, 64))
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(64 * (IMAGE_SIZE // 4) ** 2, 256),  # two 2x2 poolings
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(256, NUM_CLASSES),
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
}


def build_model(arch: str, **kwargs: object) -> nn.Module:
    """Instantiate an architecture by its name ('linear', 'dnn' or 'cnn')."""
    try:
        cls = ARCHITECTURES[arch]
    except KeyError:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {sorted(ARCHITECTURES)}") from None
    return cls(**kwargs)
