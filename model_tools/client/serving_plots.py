"""The blog's deployment comparison figures: latency box plot, latency quantile curve, throughput bars.

Each function writes one PNG (``model_tools.common.figures``: Agg backend, atomic) and returns its path.
Inputs are plain dicts/lists so ``eval-serving`` and ``throughput`` share them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from model_tools.common.figures import pyplot, save_figure


def _plain_log_axis(axis: Any) -> None:
    """Log scale with tick labels written as plain numbers (0.5, 2, 10) rather than 5x10^-1."""
    from matplotlib import ticker

    axis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(ticker.FuncFormatter(
        lambda value, _: f"{value:g}" if str(f"{value:g}")[0] in "25" else ""))


def latency_box_plot(latencies_ms: Mapping[str, Sequence[float]], path: Path, title: str) -> Path:
    """One box per deployment (whiskers 5th-95th percentile, outliers hidden), log latency axis."""
    plt = pyplot()
    names = [name for name, values in latencies_ms.items() if len(values)]
    figure, axes = plt.subplots(figsize=(max(5.0, 1.4 * len(names) + 2), 4.2))
    if names:
        axes.boxplot([np.asarray(latencies_ms[name]) for name in names], whis=(5, 95), showfliers=False,
                     tick_labels=names, showmeans=True)
        axes.set_yscale("log")
        _plain_log_axis(axes.yaxis)
    else:
        axes.text(0.5, 0.5, "no successful request", ha="center", va="center", transform=axes.transAxes)
    axes.set_ylabel("latency per request (ms, log scale)")
    axes.set_title(title)
    axes.grid(axis="y", which="both", alpha=0.3)
    plt.setp(axes.get_xticklabels(), rotation=15, ha="right")
    return save_figure(figure, path)


def latency_quantile_plot(latencies_ms: Mapping[str, Sequence[float]], path: Path, title: str) -> Path:
    """Latency at each percentile (0-100) per deployment, log latency axis: tails show on the right."""
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(7.0, 4.2))
    percentiles = np.linspace(0, 100, 201)
    plotted = 0
    for name, values in latencies_ms.items():
        values = np.asarray(values, dtype=np.float64)
        if values.size == 0:
            continue
        axes.plot(percentiles, np.percentile(values, percentiles), label=f"{name} (n={values.size})")
        plotted += 1
    if plotted:
        axes.set_yscale("log")
        _plain_log_axis(axes.yaxis)
        axes.legend(fontsize="small")
    axes.set_xlabel("percentile of requests")
    axes.set_ylabel("latency (ms, log scale)")
    axes.set_title(title)
    axes.grid(which="both", alpha=0.3)
    return save_figure(figure, path)


def throughput_bar_plot(rows: Sequence[Mapping[str, Any]], path: Path, title: str,
                        value: str = "images_per_s") -> Path:
    """Grouped bars: one group per deployment, one bar per batch size, value written on each bar.

    ``rows``: dicts with ``endpoint``, ``batch_size`` and ``value`` (images/s by default).
    """
    plt = pyplot()
    endpoints = list(dict.fromkeys(row["endpoint"] for row in rows))
    batch_sizes = sorted({int(row["batch_size"]) for row in rows})
    lookup = {(row["endpoint"], int(row["batch_size"])): float(row[value]) for row in rows}
    figure, axes = plt.subplots(figsize=(max(5.5, 1.6 * len(endpoints) + 2.5), 4.4))
    width = 0.8 / max(1, len(batch_sizes))
    positions = np.arange(len(endpoints))
    for index, batch_size in enumerate(batch_sizes):
        heights = [lookup.get((endpoint, batch_size), 0.0) for endpoint in endpoints]
        bars = axes.bar(positions + (index - (len(batch_sizes) - 1) / 2) * width, heights, width,
                        label=f"batch {batch_size}")
        axes.bar_label(bars, labels=[f"{h:,.0f}" for h in heights], fontsize="x-small", padding=2)
    axes.set_xticks(positions, endpoints)
    plt.setp(axes.get_xticklabels(), rotation=15, ha="right")
    if any(lookup.values()):
        axes.set_yscale("log")
        _plain_log_axis(axes.yaxis)
    axes.set_ylabel(value.replace("_per_s", "/s").replace("_", " ") + " (log scale)")
    axes.set_title(title)
    axes.legend(fontsize="small")
    axes.grid(axis="y", which="both", alpha=0.3)
    return save_figure(figure, path)
