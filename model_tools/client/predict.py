"""``predict``: read the character in image files with a model version, without a server.

``emnist-tools predict photo.jpg scans/ [--model emnist] [--json]``: each file (a folder's image files,
in name order) goes through the serving core's own preprocessing and engine, so the answer is the one
the server gives; per file the label, its probability, the confidence cue and the top 3, with the classes
the version cannot answer (its model info) marked. A file that cannot be read is reported on stderr and
the others are still read (exit code 1).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emnist_contract import layout
from emnist_contract.labels import NUM_CLASSES
from model_tools.common.paths import MODELS_DIR
from serving_core.confidence import CLOSE_RUNNER_UP_REASON, LOW_PROBABILITY_REASON, confidence
from serving_core.engines import Engine, EngineOptions, load_engine
from serving_core.preprocessing import ACCEPTED_FORMATS, PreprocessingError, preprocess_image

#: File name endings a folder's images are found by (files named on the command line are read whatever
#: their name).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp")
DEFAULT_MODEL = "emnist"
#: Images per engine call.
BATCH = 256
#: Largest image read, in pixels: Pillow's own decompression-bomb limit (these are the user's own files).
MAX_PIXELS = 89_478_485
CUE_WORDS = {LOW_PROBABILITY_REASON: "uncertain: low score",
             CLOSE_RUNNER_UP_REASON: "uncertain: close runner-up"}


@dataclass(frozen=True)
class Reading:
    """One file's answer (``error`` set instead when the file could not be read)."""

    file: str
    scores: np.ndarray | None = None
    error: str = ""


def version_folder(model: str) -> Path:
    """A version folder from ``--model``: a version folder, a model folder (its newest version) or a model
    name under the project's models/."""
    path = Path(model)
    if not path.exists() and "/" not in model and (MODELS_DIR / model).is_dir():
        path = MODELS_DIR / model
    if not path.is_dir():
        raise FileNotFoundError(f"no model {model!r}: give a version folder, a model folder or a model name "
                                f"under {MODELS_DIR}")
    if any((path / name).is_file() for name in (layout.SAVED_MODEL_FILE, layout.ONNX_FILE)):
        return path
    versions = [child for child in path.iterdir() if child.is_dir() and layout.is_version_name(child.name)]
    if not versions:
        raise FileNotFoundError(f"{path}: neither a model version folder nor a model folder with versions")
    return max(versions, key=lambda child: int(child.name))


def image_files(paths: list[str]) -> list[Path]:
    """The files to read: each file as given, each folder's image files in name order."""
    files: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(child for child in path.iterdir()
                           if child.is_file() and child.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise FileNotFoundError(f"{path}: no image files ({', '.join(IMAGE_SUFFIXES)}) in it")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"{given}: no such file or folder")
    return files


def read_files(engine: Engine, files: list[Path]) -> list[Reading]:
    """Preprocess every file and score the readable ones in batches."""
    readings: list[Reading] = []
    inputs: list[np.ndarray] = []
    for file in files:
        try:
            inputs.append(preprocess_image(file.read_bytes(), MAX_PIXELS))
            readings.append(Reading(str(file)))
        except (PreprocessingError, OSError) as exc:
            readings.append(Reading(str(file), error=str(exc)))
    scores = [engine.predict(np.stack(inputs[start:start + BATCH])) for start in range(0, len(inputs), BATCH)]
    rows = iter(np.concatenate(scores) if scores else [])
    return [Reading(r.file, next(rows)) if not r.error else r for r in readings]


def answer(reading: Reading, engine: Engine, top: int) -> dict[str, Any]:
    """The JSON-ready answer for one readable file."""
    scores = reading.scores
    untrained = set(engine.untrained_classes)
    order = np.argsort(-scores, kind="stable")
    cue = confidence(scores)
    best = int(order[0])
    entry: dict[str, Any] = {
        "file": reading.file,
        "label": engine.labels[best],
        "class_id": best,
        "probability": float(scores[best]),
        "learned": engine.labels[best] not in untrained,
        "uncertain": cue.uncertain,
    }
    if cue.uncertain:
        entry["uncertain_reason"] = cue.reason
    entry["top"] = [{"label": engine.labels[i], "probability": float(scores[i]),
                     "learned": engine.labels[i] not in untrained} for i in order[:top]]
    return entry


def text_line(entry: dict[str, Any]) -> str:
    """``file: A 99.8 %  (top: A 99.8 %, 4 0.1 %, H 0.1 %)`` with the cue and not-learned marks."""
    def shown(item: dict[str, Any]) -> str:
        mark = " (not learned)" if not item["learned"] else ""
        return f"{item['label']}{mark} {item['probability'] * 100:.1f} %"

    cue = f"  [{CUE_WORDS[entry['uncertain_reason']]}]" if entry["uncertain"] else ""
    tops = ", ".join(shown(item) for item in entry["top"])
    return f"{entry['file']}: {shown(entry)}{cue}  (top {len(entry['top'])}: {tops})"


def top_count(text: str) -> int:
    """``--top``: a whole number of answers, 1 to the number of classes."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 1 <= value <= NUM_CLASSES:
        raise argparse.ArgumentTypeError(f"expected 1 to {NUM_CLASSES}, got {value}")
    return value


def run(args: argparse.Namespace) -> int:
    folder = version_folder(args.model)
    kind = args.engine
    if kind == "auto":
        kind = "onnxruntime" if (folder / layout.ONNX_FILE).is_file() else "tensorflow"
    files = image_files(args.paths)
    engine = load_engine(kind, folder, EngineOptions(onnx_intra_op_threads=1, tf_intra_op_threads=0,
                                                     tf_inter_op_threads=0))
    try:
        readings = read_files(engine, files)
    finally:
        engine.close()
    answers = [answer(r, engine, args.top) for r in readings if not r.error]
    errors = [{"file": r.file, "error": r.error} for r in readings if r.error]
    model = {"path": str(folder), "version": folder.name, "engine": kind,
             layout.UNTRAINED_CLASSES_KEY: list(engine.untrained_classes)}
    if args.json:
        print(json.dumps({"model": model, "results": answers, "errors": errors}, indent=1))
    else:
        untrained = " ".join(engine.untrained_classes)
        print(f"model {folder} ({kind})" + (f"; it cannot answer {untrained}" if untrained else ""))
        for entry in answers:
            print(text_line(entry))
    for error in errors:
        print(f"{args.prog}: {error['file']}: {error['error']}", file=sys.stderr)
    return 1 if errors else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict", help="read the character in image files or folders with a model version",
        description="Read one character per image file (PNG, JPEG, GIF, BMP, WebP; a folder: its image "
                    "files) with a model version, through the server's own preprocessing and engine. "
                    "Prints per file the label, its probability, whether it is uncertain, and the top "
                    "answers; classes the model has no training images of are marked 'not learned'. "
                    f"Exit code 1 when some file could not be read. Formats: {', '.join(ACCEPTED_FORMATS)}.")
    parser.add_argument("paths", nargs="+", metavar="image-or-folder")
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help="a version folder, a model folder (its newest version) or a model name under "
                             f"the project's models/ (default: {DEFAULT_MODEL})")
    parser.add_argument("--engine", choices=("auto", "onnxruntime", "tensorflow"), default="auto",
                        help="auto (default): onnxruntime on the version's model.onnx, else TensorFlow")
    parser.add_argument("--top", type=top_count, default=3, metavar="N",
                        help=f"answers listed per file, 1-{NUM_CLASSES} (default 3)")
    parser.add_argument("--json", action="store_true", help="one JSON document instead of text lines")
    parser.set_defaults(func=run)
