"""The EMNIST ByClass label order: the meaning of each of the 62 outputs, the same in every stage."""

from __future__ import annotations

import string

#: '0'-'9' = 0-9, 'A'-'Z' = 10-35, 'a'-'z' = 36-61: the order of NIST's emnist-byclass-mapping.txt.
BYCLASS_LABELS: tuple[str, ...] = tuple(string.digits + string.ascii_uppercase + string.ascii_lowercase)
NUM_CLASSES = len(BYCLASS_LABELS)
#: The three groups of classes, in ByClass order.
CLASS_GROUPS = ("digit", "uppercase", "lowercase")


def label_to_char(index: int) -> str:
    """The character a ByClass class index stands for."""
    return BYCLASS_LABELS[index]


def char_to_label(char: str) -> int:
    """The ByClass class index of a character."""
    try:
        return BYCLASS_LABELS.index(char)
    except ValueError:
        raise ValueError(f"{char!r} is not one of the 62 EMNIST ByClass characters") from None


def class_group(index: int) -> str:
    """'digit', 'uppercase' or 'lowercase' for a ByClass class index."""
    if index < 10:
        return "digit"
    return "uppercase" if index < 36 else "lowercase"
