"""PNG figures without a display: matplotlib's Agg backend, imported only by commands that draw.

Importing matplotlib is slow, so stages call :func:`pyplot` inside their plotting functions and a
command that draws nothing never pays for it. :func:`save_figure` writes through the atomic writer,
so a crash never leaves half a PNG.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from model_tools.common.atomic_io import atomic_output

DPI = 110


def pyplot() -> Any:
    """``matplotlib.pyplot`` with the file-only Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure: Any, path: str | Path) -> Path:
    """Write ``figure`` as a PNG at ``path`` atomically, close it, and return the path."""
    path = Path(path)
    try:
        with atomic_output(path) as temporary:
            figure.savefig(temporary, format="png", dpi=DPI, bbox_inches="tight")
    finally:
        pyplot().close(figure)
    return path
