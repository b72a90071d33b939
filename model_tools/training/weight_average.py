"""An exponential moving average of a network's weights and batch-norm statistics (Polyak averaging).

The average is a cheap ensemble of the trajectory's last steps, served at the cost of one network. Its
decay warms up as in timm's ``ModelEmaV2``, ``min(decay, (1 + n) / (10 + n))`` after n updates: a fixed
0.999 over a run of a few thousand steps would still hold a third of the random initialisation after
1,000 steps, and batch-norm statistics averaged across such different weights read nothing right.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel


def warm_decay(decay: float, updates: int) -> float:
    """The decay applied at the update after ``updates`` earlier ones: short averages first."""
    return min(decay, (1.0 + updates) / (10.0 + updates))


def _moving_average(decay: float) -> Callable[[list[torch.Tensor], list[torch.Tensor], Any], None]:
    @torch.no_grad()
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], updates: Any) -> None:
        d = warm_decay(decay, int(updates))
        for kept, new in zip(averaged, current, strict=True):
            if kept.is_floating_point():
                kept.lerp_(new, 1.0 - d)
            else:  # a step counter such as batch norm's num_batches_tracked
                kept.copy_(new)

    return update


def exponential_average(net: nn.Module, decay: float) -> AveragedModel:
    """A copy of ``net`` that ``update_parameters(net)`` moves towards ``net`` after every step."""
    if not 0.0 < decay < 1.0:
        raise ValueError(f"the decay of a moving average must be in (0, 1), not {decay}")
    return AveragedModel(net, multi_avg_fn=_moving_average(decay), use_buffers=True)
