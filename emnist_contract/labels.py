"""The EMNIST ByClass label order: the meaning of each of the 62 outputs, the same in every stage."""

from __future__ import annotations

import string

#: '0'-'9' = 0-9, 'A'-'Z' = 10-35, 'a'-'z' = 36-61: the order of NIST's emnist-byclass-mapping.txt.
BYCLASS_LABELS: tuple[str, ...] = tuple(string.digits + string.ascii_uppercase + string.ascii_lowercase)
NUM_CLASSES = len(BYCLASS_LABELS)
#: The three groups of classes, in ByClass order.
CLASS_GROUPS = ("digit", "uppercase", "lowercase")
#: The class indices of each group: digits 0-9, uppercase 10-35, lowercase 36-61.
CLASS_GROUP_RANGES: dict[str, range] = {
    "digit": range(0, 10),
    "uppercase": range(10, 36),
    "lowercase": range(36, NUM_CLASSES),
}


def char_to_label(char: str) -> int:
    """The ByClass class index of a character."""
    try:
        return BYCLASS_LABELS.index(char)
    except ValueError:
        raise ValueError(f"{char!r} is not one of the 62 EMNIST ByClass characters") from None


def class_group(index: int) -> str:
    """'digit', 'uppercase' or 'lowercase' for a ByClass class index."""
    if index < CLASS_GROUP_RANGES["uppercase"].start:
        return "digit"
    return "uppercase" if index < CLASS_GROUP_RANGES["lowercase"].start else "lowercase"
