"""The moving average of the weights: a copy first, then short averages that lengthen to the decay."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from model_tools.training.weight_average import exponential_average, warm_decay


def _net(value: float) -> nn.Module:
    net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    with torch.no_grad():
        for tensor in (*net.parameters(), net[1].running_mean):
            tensor.fill_(value)
        net[1].num_batches_tracked.fill_(int(value))
    return net


def test_the_decay_warms_up_to_the_one_asked_for() -> None:
    assert warm_decay(0.999, 0) == pytest.approx(0.1)
    assert warm_decay(0.999, 1) == pytest.approx(2 / 11)
    assert warm_decay(0.999, 10_000) == 0.999
    assert warm_decay(0.5, 100) == 0.5


def test_weights_and_batch_norm_statistics_are_averaged() -> None:
    net = _net(1.0)
    averaged = exponential_average(net, 0.999)
    expected = 1.0
    averaged.update_parameters(net)  # the first update copies
    for updates, value in enumerate((3.0, 5.0, -2.0), start=1):
        with torch.no_grad():
            net.load_state_dict(_net(value).state_dict())
        averaged.update_parameters(net)
        d = warm_decay(0.999, updates)
        expected = d * expected + (1 - d) * value
        kept = averaged.module.state_dict()
        for name in ("0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean"):
            torch.testing.assert_close(kept[name], torch.full_like(kept[name], expected), msg=name)
        assert int(kept["1.num_batches_tracked"]) == int(value)  # a counter is copied, not averaged
    # The network it follows is left alone.
    assert torch.equal(net[0].weight, torch.full((2, 2), -2.0))


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5])
def test_a_decay_outside_zero_one_is_refused(decay: float) -> None:
    with pytest.raises(ValueError, match="must be in"):
        exponential_average(_net(0.0), decay)
