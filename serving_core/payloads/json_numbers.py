"""JSON values -> float32 pixels, refused with TF Serving's wording when they are not numbers a float holds.

TF Serving fills a DT_FLOAT tensor only from JSON numbers: a string (``"0.5"``), a boolean or ``null`` is
``JSON Value: "0.5" Type: String is not of expected type: float``, and a number no float holds (``1e39``)
is ``Cannot convert JSON value: 1e+39 to float without loss of precision.`` numpy would take all of these
(``"0.5"`` -> 0.5, ``true`` -> 1.0, ``1e39`` -> inf), so they are checked here before converting.

Walking every value in Python costs more than converting a batch; ``may_hold_non_numbers`` looks at the
raw body first (a few memchr scans): a body whose only quotes are those of its top-level keys and string
values, and with no letter of ``true``/``false``/``null`` outside them, holds nothing but numbers and lists
in its tensors, and the walk is skipped. Any doubt takes the walk.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import chain
from typing import Any

import numpy as np
import orjson

from serving_core.errors import InvalidArgumentError

_NUMBER_TYPES = (int, float)
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def json_type_name(value: Any) -> str:
    """rapidjson's type name, as TF Serving's errors print it."""
    if value is True:
        return "True"
    if value is False:
        return "False"
    if value is None:
        return "Null"
    if isinstance(value, str):
        return "String"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    return "Number"


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()[:100]


def type_error(value: Any) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"JSON Value: {_json_text(value)} Type: {json_type_name(value)} is not of expected type: float")


def lossy_error(value: Any) -> InvalidArgumentError:
    return InvalidArgumentError(f"Cannot convert JSON value: {_json_text(value)} to float without loss of "
                                "precision.")


def first_non_number(value: Any) -> tuple[bool, Any]:
    """(True, the first leaf that is not a JSON number) of nested lists, or (False, None)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is list:
            stack.extend(reversed(item))
        elif type(item) not in _NUMBER_TYPES:  # bool is not int here: type(True) is bool
            return True, item
    return False, None


def first_overflow(value: Any) -> Any:
    """The first number of nested lists that no float32 holds (None if there is none)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is list:
            stack.extend(reversed(item))
        elif abs(item) > _FLOAT32_MAX:
            return item
    return None


def check_numbers(value: Any) -> None:
    """Refuse, in TF Serving's words, nested lists that hold anything but JSON numbers."""
    found, item = first_non_number(value)
    if found:
        raise type_error(item)


def flat_rows_types_ok(rows: list) -> bool:
    """True when N flat rows hold only JSON numbers (one pass in C over the values' types)."""
    return set(map(type, chain.from_iterable(rows))) <= set(_NUMBER_TYPES)


def refuse_overflow(value: Any, converted: np.ndarray) -> np.ndarray:
    """``converted`` unchanged, or TF Serving's refusal of the number that overflowed float32."""
    if not np.isfinite(converted).all():
        raise lossy_error(first_overflow(value))
    return converted


def _positions(body: bytes, byte: bytes, limit: int) -> list[int] | None:
    """Where ``byte`` occurs in ``body`` (memchr-fast ``find``), or None past ``limit`` occurrences."""
    found, position = [], body.find(byte)
    while position != -1:
        if len(found) == limit:
            return None
        found.append(position)
        position = body.find(byte, position + 1)
    return found


def may_hold_non_numbers(body: bytes, document: Mapping[str, Any], tensor_keys: tuple[str, ...]) -> bool:
    """False only when the body's tensors (``tensor_keys``' values) surely hold numbers and lists alone.

    The quotes of the body must be exactly those of the top-level keys and top-level string values (none
    of them holding a quote or a backslash), and the letters ``u`` and ``a`` (of ``true``, ``null`` and
    ``false``; a number holds neither) may appear only inside those quotes.
    """
    strings = []
    for key, value in document.items():
        strings.append(key)
        if isinstance(value, str):
            strings.append(value)
        elif key not in tensor_keys and not isinstance(value, _NUMBER_TYPES):
            return True
    if any('"' in text or "\\" in text for text in strings):
        return True
    quotes = _positions(body, b'"', 2 * len(strings))
    if quotes is None or len(quotes) != 2 * len(strings):
        return True
    spans = list(zip(quotes[::2], quotes[1::2], strict=True))
    for letter in (b"u", b"a"):
        positions = _positions(body, letter, 64)  # more than 64: not just the letters of a few keys
        if positions is None or any(not any(start < at < end for start, end in spans) for at in positions):
            return True
    return False
