"""Warnings for inputs that do not look like the model's: still answered, as TF Serving would, but flagged.

The model reads float32 pixels/255 in [0, 1], light ink on a dark background (``emnist_contract.tensors``).
Two mistakes give confident nonsense rather than an error: pixels sent as 0-255 (or standardised, with
negative values) instead of divided by 255, and dark ink on a light background (a scan's polarity). Both
are visible in the numbers: the range, and a border (the 2-pixel frame EMNIST leaves empty) brighter
than the ink. Image files never trigger them: preprocessing always produces the model's form.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emnist_contract.tensors import IMAGE_SIZE, NUM_PIXELS

#: Values this far outside [0, 1] count as out of range (float rounding of pixels/255 stays far inside).
RANGE_TOLERANCE = 0.01
#: Width of the border that is background in every EMNIST image (the padding around the 24x24 frame).
BORDER = 2
#: A border brighter than this fraction of the image's range (from its darkest pixel) is light paper.
LIGHT_BORDER = 0.5
#: An image whose values span less than this is blank.
BLANK_SPAN = 0.08


@dataclass(frozen=True)
class InputWarning:
    """One warning: a stable ``code`` for programs and a ``message`` for people."""

    code: str
    message: str


def _border_mask() -> np.ndarray:
    mask = np.ones((IMAGE_SIZE, IMAGE_SIZE), dtype=bool)
    mask[BORDER:-BORDER, BORDER:-BORDER] = False
    return mask.reshape(NUM_PIXELS)


_BORDER_MASK = _border_mask()


def input_warnings(images: np.ndarray) -> list[tuple[InputWarning, ...]]:
    """Per image of float32 [N,784], the warnings about its range and polarity (empty when it looks right)."""
    images = np.asarray(images, dtype=np.float32).reshape(-1, NUM_PIXELS)
    highs, lows = images.max(axis=1), images.min(axis=1)
    borders = np.median(images[:, _BORDER_MASK], axis=1)
    answers = []
    for high, low, border in zip(highs.tolist(), lows.tolist(), borders.tolist(), strict=True):
        found = []
        if high > 1 + RANGE_TOLERANCE:
            hint = " (0-255 pixels?)" if low >= -RANGE_TOLERANCE and high <= 255 + RANGE_TOLERANCE else ""
            found.append(InputWarning(
                "pixel_range",
                f"values go up to {high:g}{hint}: the model expects pixels divided by 255, between 0 and 1",
            ))
        if low < -RANGE_TOLERANCE:
            found.append(InputWarning(
                "negative_values",
                f"values go down to {low:g}: the model expects pixels/255 between 0 and 1, not standardised "
                "values",
            ))
        span = high - low
        if span < BLANK_SPAN:
            found.append(InputWarning("blank", f"all values lie between {low:g} and {high:g}: a blank image"))
        elif border - low > LIGHT_BORDER * span:
            found.append(InputWarning(
                "dark_on_light",
                "the border is light and the ink dark: the model expects light ink (high values) on a dark "
                "background (0), as 1 - x gives for dark-on-light pixels",
            ))
        answers.append(tuple(found))
    return answers
