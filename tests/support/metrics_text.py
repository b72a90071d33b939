"""Reading the server's Prometheus text in tests: every sample by its exposed name and labels, and sums.

Read here line by line rather than with ``prometheus_client``'s parser, which renames counter samples
(it would report TF Serving's ``:tensorflow:serving:request_count`` as ``..._total``): the tests check
the names as a scrape sees them.
"""

from __future__ import annotations

import re

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

_SAMPLE = re.compile(
    r"(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)(?:\s+\d+)?\Z")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def samples(text: str | bytes) -> Samples:
    """Every sample of a scrape: (sample name, its labels) -> value."""
    if isinstance(text, bytes):
        text = text.decode()
    found: Samples = {}
    for line in text.split("\n"):  # the format's only line break: a label value may hold U+2028 and the like
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            raise ValueError(f"not a sample line: {line!r}")
        labels = frozenset(_LABEL.findall(match["labels"] or ""))
        found[(match["name"], labels)] = float(match["value"])
    return found


def total(found: Samples, name: str, **labels: str) -> float:
    """The sum of the samples named ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(value for (sample, sample_labels), value in found.items()
               if sample == name and wanted <= sample_labels)
