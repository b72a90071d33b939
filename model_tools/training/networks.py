"""PyTorch classifiers for EMNIST ByClass.

Every model takes the flattened upright image, float32 [N, 784] of pixels/255, and returns logits
[N, 62] in ByClass order. Softmax is added only for export (:class:`WithSoftmax`), so training uses
the numerically stable ``cross_entropy`` on logits.
"""

from __future__ import annotations

import torch
from torch import nn

from model_tools.labels import NUM_CLASSES, NUM_PIXELS


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
            nn.Linear(64 * 7 * 7, 256),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(256, NUM_CLASSES),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x.reshape(-1, 1, 28, 28)))


class WithSoftmax(nn.Module):
    """Wraps a logits model so that it outputs softmax probabilities, the exported contract."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(x), dim=-1)


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
