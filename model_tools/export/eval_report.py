"""``eval-report``: one command writes the model evaluation page (``docs/model-evaluation.md``).

It scores the shipped versions (``models/emnist/<N>/model.onnx``, in onnxruntime: the fastest form) and the
reference model on every shipped split, draws one reliability diagram per split and renders the page
(:mod:`model_tools.training.evaluation_page`). Any model form ``evaluate`` opens can be named instead.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from emnist_contract.labels import BYCLASS_LABELS, NUM_CLASSES
from emnist_contract.layout import ONNX_FILE, is_version_name
from model_tools.common.atomic_io import write_text_atomic
from model_tools.common.paths import MODELS_DIR, PROJECT_ROOT
from model_tools.data.datasets import SPLITS, load_split, to_model_input
from model_tools.data.image_sources import load_images
from model_tools.export.model_forms import load_predictor
from model_tools.training.evaluation_page import SPLIT_TITLES, SplitResult, render_page, score_split
from model_tools.training.metrics import byclass_frequencies

log = logging.getLogger(__name__)

MODEL_NAME = "emnist"
REFERENCE_ONNX = MODELS_DIR / "reference" / "dnn_model_pt.onnx"
DEFAULT_PAGE = PROJECT_ROOT / "docs" / "model-evaluation.md"
DEFAULT_IMAGES = PROJECT_ROOT / "docs" / "images"
DEFAULT_SPLITS = tuple(s for s in SPLIT_TITLES if s in SPLITS)


def shipped_models(base: Path = MODELS_DIR) -> dict[str, Path]:
    """``reference`` and ``v<N>`` for every version of ``emnist`` holding an ONNX file, oldest first."""
    models = {"reference": base / "reference" / REFERENCE_ONNX.name}
    folder = base / MODEL_NAME
    versions = sorted(int(p.name) for p in folder.iterdir() if is_version_name(p.name)) if folder.is_dir() \
        else []
    for version in versions:
        if (folder / str(version) / ONNX_FILE).is_file():
            models[f"v{version}"] = folder / str(version) / ONNX_FILE
    return models


def parse_models(given: list[str] | None) -> dict[str, Path]:
    """``NAME=PATH`` or ``PATH`` (named after the file, or its version folder) -> name: path. ``PATH`` may
    join several models with ``+`` (an ensemble, :func:`~model_tools.export.model_forms.load_predictor`)."""
    if not given:
        return shipped_models()
    models: dict[str, Path] = {}
    for item in given:
        name, _, path = item.rpartition("=")
        path_obj = Path(path)
        if not name:
            parent = path_obj.parent.name
            name = f"v{parent}" if is_version_name(parent) else path_obj.stem
        if name in models:
            raise ValueError(f"--models: two models named {name!r}; name them with NAME=PATH")
        models[name] = path_obj
    return models


def parse_splits(text: str) -> list[str]:
    """A comma-separated list of shipped splits; ValueError naming the unknown ones."""
    splits = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in splits if s not in SPLITS]
    if unknown or not splits:
        raise ValueError(f"--splits: unknown split(s) {', '.join(unknown) or '(none given)'}; "
                         f"expected some of {', '.join(SPLITS)}")
    return splits


def font_only_classes(data_dir: Path | None = None) -> list[str]:
    """The classes without a real training image (the shipped train split): fonts alone teach them."""
    counts = np.bincount(load_split("train", data_dir)[1], minlength=NUM_CLASSES)
    return [BYCLASS_LABELS[i] for i in np.flatnonzero(counts == 0)]


def _shown(path: Path) -> str:
    resolved = path.resolve()
    return str(resolved.relative_to(PROJECT_ROOT)) if resolved.is_relative_to(PROJECT_ROOT) else str(path)


def write_evaluation_page(models: dict[str, Path], splits: list[str], page: Path, images_dir: Path,
                          command: str, limit: int | None = None, data_dir: Path | None = None) -> Path:
    """Score every model on every split, draw the reliability diagrams, write the page; its path."""
    from model_tools.training.plots import plot_reliability

    predictors = {name: load_predictor(path) for name, path in models.items()}
    prior = byclass_frequencies()
    results: dict[str, dict[str, SplitResult]] = {name: {} for name in models}
    diagrams: dict[str, Path] = {}
    for split in splits:
        data = load_images(split, data_dir=data_dir)
        images, labels = data.images[:limit], data.labels[:limit]
        inputs = to_model_input(images)
        for name, predictor in predictors.items():
            log.info("%s on %s (%d images)", name, split, len(labels))
            results[name][split] = score_split(labels, predictor.predict(inputs), prior)
        diagrams[split] = plot_reliability({name: results[name][split].calibration for name in models},
                                           images_dir / f"reliability-{split}.png",
                                           title=f"reliability of the top score: {split}")
    served = [name for name in models if name.startswith("v") and name[1:].isdigit()]
    newest = max(served, key=lambda n: int(n[1:])) if served else None
    text = render_page(results, {name: _shown(path) for name, path in models.items()}, diagrams, page,
                       command, newest, font_only=font_only_classes(data_dir))
    write_text_atomic(page, text)
    return page


def _command(args: argparse.Namespace) -> int:
    models = parse_models(args.models)
    splits = parse_splits(args.splits)
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be at least 1, got {args.limit}")
    command = f"{args.prog} eval-report" + ("" if args.models is None else " --models ...")
    page = write_evaluation_page(models, splits, Path(args.out), Path(args.images), command,
                                 limit=args.limit, data_dir=Path(args.data_dir) if args.data_dir else None)
    print(f"wrote {page} and {len(splits)} reliability diagram(s) in {args.images}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval-report", help="write the model evaluation page: every version on every split",
        description="Score the reference model and every models/emnist/<N>/model.onnx (or --models) on the "
                    "shipped splits and write one Markdown page: exact, case-insensitive and ByClass-mix "
                    "accuracy, calibration error, look-alike confusions, top mistakes, per-class accuracy, "
                    "and a reliability diagram per split (PNG).")
    parser.add_argument("--models", nargs="+", default=None, metavar="[NAME=]PATH",
                        help="models to compare, any form `evaluate` opens, or an ensemble of them: "
                             "NAME=a.onnx+b.pt scores the mean of their softmax (default: the reference ONNX "
                             "and every shipped emnist version's model.onnx)")
    parser.add_argument("--splits", default=",".join(DEFAULT_SPLITS),
                        help=f"comma-separated shipped splits (default: {','.join(DEFAULT_SPLITS)})")
    parser.add_argument("--out", default=str(DEFAULT_PAGE), help="the page to write (default: "
                        "docs/model-evaluation.md)")
    parser.add_argument("--images", default=str(DEFAULT_IMAGES),
                        help="folder of the reliability diagrams (default: docs/images)")
    parser.add_argument("--limit", type=int, default=None, help="score only the first N images of each split")
    parser.add_argument("--data-dir", default=None, help="folder of the shipped splits (default: data/)")
    parser.set_defaults(func=_command)
