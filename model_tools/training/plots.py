"""PNG figures of training runs: learning curves (one or several runs), confusion matrices and
reliability diagrams of the softmax confidence.

Kept apart from the training loop so training never needs matplotlib (``model_tools.common.figures``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emnist_contract.labels import BYCLASS_LABELS, NUM_CLASSES
from model_tools.common.figures import pyplot, save_figure


def plot_learning_curves(runs: Mapping[str, Mapping[str, Any]], path: str | Path, title: str = "") -> Path:
    """Loss and validation accuracy against training steps, one colour per run.

    ``runs`` maps a run name to its ``metrics.json`` content (needs ``curves`` with ``step``,
    ``train_loss``, ``val_loss``, ``val_accuracy``). Solid lines are validation, dashed training.
    """
    if not runs:
        raise ValueError("no runs to plot")
    plt = pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(12, 4.5))
    for index, (name, metrics) in enumerate(runs.items()):
        curves = metrics.get("curves")
        if not curves or not curves.get("step"):
            raise ValueError(f"run {name!r} has no learning curves (metrics.json 'curves' is empty)")
        colour = f"C{index}"
        steps = np.asarray(curves["step"])
        epochs = steps / max(1, metrics.get("steps_per_epoch", 1))
        ax_loss.plot(epochs, curves["train_loss"], "--", color=colour, alpha=0.7, label=f"{name} train")
        ax_loss.plot(epochs, curves["val_loss"], "-", color=colour, label=f"{name} validation")
        ax_acc.plot(epochs, np.asarray(curves["val_accuracy"]) * 100, "-", color=colour, label=f"{name}")
        best = metrics.get("best")
        if best:
            ax_acc.plot(
                best["step"] / max(1, metrics.get("steps_per_epoch", 1)),
                best["val_accuracy"] * 100,
                "o",
                color=colour,
            )
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("cross-entropy loss")
    ax_loss.set_title("loss")
    ax_loss.legend(fontsize=8)
    ax_loss.grid(alpha=0.3)
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("validation accuracy (%)")
    ax_acc.set_title("validation accuracy (dot: kept checkpoint)")
    ax_acc.legend(fontsize=8)
    ax_acc.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def plot_confusion_matrix(matrix: Sequence[Sequence[int]], path: str | Path, title: str = "") -> Path:
    """62x62 confusion matrix, rows normalised to the share of each true class (log colour scale)."""
    from matplotlib.colors import LogNorm

    plt = pyplot()
    counts = np.asarray(matrix, dtype=np.float64)
    if counts.shape != (NUM_CLASSES, NUM_CLASSES):
        raise ValueError(f"expected a {NUM_CLASSES}x{NUM_CLASSES} matrix, got {counts.shape}")
    rows = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    shown = np.where(shares > 0, shares, np.nan)
    fig, ax = plt.subplots(figsize=(11, 10))
    image = ax.imshow(shown, cmap="viridis", norm=LogNorm(vmin=1e-3, vmax=1.0), interpolation="nearest")
    ticks = np.arange(NUM_CLASSES)
    ax.set_xticks(ticks, BYCLASS_LABELS, fontsize=6)
    ax.set_yticks(ticks, BYCLASS_LABELS, fontsize=6)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class (empty rows: no images of that class)")
    ax.set_title(title or "confusion matrix (share of each true class)")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    return save_figure(fig, path)


def plot_reliability(curves: Mapping[str, Mapping[str, Any]], path: str | Path, title: str = "") -> Path:
    """Reliability diagram: accuracy against mean top-score confidence per bin, one line per model.

    ``curves`` maps a model name to :func:`~model_tools.training.calibration.reliability`'s result; the
    legend gives each model's expected calibration error. Points on the diagonal are calibrated, points
    below it over-confident; the lower panel shows how many images fall in each bin.
    """
    if not curves:
        raise ValueError("no models to plot")
    plt = pyplot()
    fig, (ax, ax_count) = plt.subplots(2, 1, figsize=(6, 7), sharex=True,
                                       gridspec_kw={"height_ratios": [3, 1]})
    ax.plot([0, 1], [0, 1], ":", color="grey", label="calibrated")
    width = None
    for index, (name, curve) in enumerate(curves.items()):
        edges = np.asarray(curve["edges"])
        width = np.diff(edges)
        filled = [i for i, n in enumerate(curve["images"]) if n]
        confidence = [curve["confidence"][i] for i in filled]
        accuracy = [curve["accuracy"][i] for i in filled]
        label = f"{name} (ECE {curve['expected_calibration_error'] * 100:.1f} %)"
        ax.plot(confidence, accuracy, "o-", color=f"C{index}", markersize=4, label=label)
        shares = np.asarray(curve["images"], dtype=np.float64) / max(1, sum(curve["images"]))
        ax_count.step(edges[1:], shares, where="pre", color=f"C{index}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy in the bin")
    ax.set_title(title or "reliability of the top softmax score")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    ax_count.set_yscale("log")
    ax_count.set_xlabel(f"top softmax score (bins of {float(width[0]) if width is not None else 0:.3g})")
    ax_count.set_ylabel("share of images")
    ax_count.grid(alpha=0.3)
    return save_figure(fig, path)


# --------------------------------------------------------------------------------------------- CLI


def run_plot_runs(args: Any) -> int:
    """Draw the learning curves of several run folders on one figure."""
    import json

    runs: dict[str, dict[str, Any]] = {}
    for folder in args.runs:
        metrics_path = Path(folder) / "metrics.json"
        if not metrics_path.is_file():
            raise FileNotFoundError(f"{folder}: no metrics.json (is it a run folder written by `train`?)")
        try:
            runs[Path(folder).name] = json.loads(metrics_path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{metrics_path}: not valid JSON ({exc})") from None
    path = plot_learning_curves(runs, args.out, title=args.title)
    print(path)
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "plot-runs",
        help="learning curves of several runs on one figure",
        description="Plot loss and validation accuracy of several run folders (metrics.json) on one "
        "figure, like the blog's linear-model-vs-DNN comparison.",
    )
    parser.add_argument("runs", nargs="+", help="run folders, e.g. runs/linear runs/dnn runs/cnn")
    parser.add_argument("--out", required=True, help="PNG to write, e.g. runs/learning_curves.png")
    parser.add_argument("--title", default="", help="figure title")
    parser.set_defaults(func=run_plot_runs)
