"""JSON values become pixels only when they are JSON numbers; the body scan that skips the walk is safe."""

from __future__ import annotations

import orjson
import pytest

from serving_core.errors import InvalidArgumentError
from serving_core.payloads.json_numbers import check_numbers, may_hold_non_numbers


@pytest.mark.parametrize(("body", "maybe"), [
    (b'{"instances": [[0.5, 1e-3, 0]]}', False),
    (b'{"signature_name": "serving_default", "instances": [[0.5, 1]]}', False),
    (b'{"instances": [["0.5", 1]]}', True),
    (b'{"instances": [[true, 1]]}', True),
    (b'{"instances": [[false, 1]]}', True),
    (b'{"instances": [[null, 1]]}', True),
    (b'{"instances": [[{}, 1]]}', False),  # no quote nor letter: numpy's own conversion refuses a dict
    (b'{"a\\"b": 1, "instances": [[1]]}', True),
    (b'{"instances": [[1]], "context": {"x": 1}}', True),
])
def test_the_body_scan_never_clears_a_body_with_non_numbers(body, maybe):
    """The cheap scan may send a clean body to the exact walk, never a dirty one past it."""
    assert may_hold_non_numbers(body, orjson.loads(body), ("instances", "inputs")) is maybe


@pytest.mark.parametrize(("value", "message"), [
    ([0.5, "0.5"], 'JSON Value: "0.5" Type: String is not of expected type: float'),
    ([[True]], "JSON Value: true Type: True is not of expected type: float"),
    ([0, None], "JSON Value: null Type: Null is not of expected type: float"),
    ([[0], {"a": 1}], 'JSON Value: {"a":1} Type: Object is not of expected type: float'),
])
def test_non_numbers_are_named_in_tf_servings_words(value, message):
    with pytest.raises(InvalidArgumentError) as refusal:
        check_numbers(value)
    assert refusal.value.message == message
    check_numbers([[0, 1.5, -2], [3e-7]])
