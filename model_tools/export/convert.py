"""ONNX -> TensorFlow SavedModel in TF Serving's layout: ``models/<name>/<version>/``.

onnx2tf turns the (normalized) ONNX graph into a Keras model, in a temporary folder and from a temporary
copy (it rewrites its input file in place otherwise). The network is then wrapped with the contract's
signatures, saved with its labels asset, warmup records, model info and ONNX file into a dot-prefixed
folder beside the versions (ignored by any registry), verified, and renamed into place: a watching server
sees either no version or a complete, verified one. An existing version is never overwritten.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from emnist_contract.labels import BYCLASS_LABELS
from emnist_contract.layout import LABELS_FILE, ONNX_FILE, VERSION_ENTRIES, is_version_name
from model_tools.common.hashing import file_sha256
from model_tools.common.paths import MODELS_DIR
from model_tools.data.datasets import validation_inputs
from model_tools.export.model_info import NONE, ModelInfo, resolve_model_info, write_model_info
from model_tools.export.onnx_import import import_onnx_classifier
from model_tools.export.onnx_model import save_atomically

log = logging.getLogger(__name__)

#: Images on which a normalized foreign model is compared with its original file.
IMPORT_CHECK_IMAGES = 1000
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def existing_versions(model_dir: Path) -> list[int]:
    """Numeric version folders, as TF Serving sees them (dot-prefixed temporary folders are not)."""
    if not model_dir.is_dir():
        return []
    return sorted(int(entry.name) for entry in model_dir.iterdir()
                  if entry.is_dir() and is_version_name(entry.name))


def next_version(model_dir: Path) -> int:
    """The number a new version gets: one above the highest, so TF Serving's latest policy serves it."""
    versions = existing_versions(model_dir)
    return versions[-1] + 1 if versions else 1


def onnx_to_keras(onnx_model_path: Path, work_dir: Path) -> Any:
    """Run onnx2tf on a private copy, without onnxsim/renaming and without writing any model files.

    Returns the tf_keras model (onnx2tf's import is slow, so it happens here, not at module import).
    """
    import onnx2tf

    private_copy = work_dir / "onnx2tf_input.onnx"
    shutil.copyfile(onnx_model_path, private_copy)
    try:
        keras_model = onnx2tf.convert(
            input_onnx_file_path=str(private_copy),
            output_folder_path=str(work_dir / "onnx2tf_output"),
            not_use_onnxsim=True,
            not_use_opname_auto_generate=True,
            disable_model_save=True,  # return the Keras model; no saved_model/.tflite written by onnx2tf
            non_verbose=True,
            verbosity="error",
        )
    except (Exception, SystemExit) as exc:  # onnx2tf calls sys.exit(1) on some unsupported graphs
        raise RuntimeError(f"onnx2tf could not convert {onnx_model_path}: {exc!r}") from exc
    if keras_model is None:
        raise RuntimeError(f"onnx2tf could not convert {onnx_model_path}")
    return keras_model


def write_saved_model(keras_model: Any, version_dir: Path, model_name: str,
                      warmup_images: np.ndarray) -> None:
    """Save the wrapped network with its signatures, labels asset and warmup records into ``version_dir``."""
    import tensorflow as tf

    from model_tools.export.signatures import build_serving_module, set_classify_method_name
    from model_tools.export.warmup_writer import write_warmup_requests

    with tempfile.TemporaryDirectory(prefix="labels-") as labels_dir:
        labels_path = Path(labels_dir) / LABELS_FILE.name  # saved as an asset: assets/labels.txt
        labels_path.write_text("\n".join(BYCLASS_LABELS) + "\n")
        module, signatures = build_serving_module(keras_model, labels_path)
        tf.saved_model.save(module, str(version_dir), signatures=signatures,
                            options=tf.saved_model.SaveOptions(save_debug_info=False))
    set_classify_method_name(version_dir)
    write_warmup_requests(version_dir, model_name, warmup_images)


def convert_onnx(onnx_path: str | Path, name: str, *, version: int | None = None,
                 base: str | Path = MODELS_DIR, checkpoint_path: str | Path | None = None,
                 verify: bool = True, limit: int | None = None, model_info: ModelInfo | None = None) -> Path:
    """Convert an ONNX classifier into ``<base>/<name>/<version>/``, verified, atomically; returns it.

    ``model_info``: the classes without training images, written into the version (None: no file).
    """
    from model_tools.export.verify import verify_version

    if not _NAME_PATTERN.match(name):
        raise ValueError(f"model name {name!r}: use letters, digits, '_', '-', '.' (not starting with '.')")
    if version is not None and version < 1:
        raise ValueError(f"version must be a positive integer, got {version}")
    onnx_path = Path(onnx_path)
    images, labels = validation_inputs(limit)
    source_sha = file_sha256(onnx_path) if onnx_path.is_file() else None
    imported = import_onnx_classifier(onnx_path, check_images=images[:IMPORT_CHECK_IMAGES])

    model_dir = Path(base) / name
    created_model_dir = not model_dir.exists()
    model_dir.mkdir(parents=True, exist_ok=True)
    version = version if version is not None else next_version(model_dir)
    final_dir = model_dir / str(version)
    if final_dir.exists():
        raise ValueError(f"{final_dir} already exists; versions are never overwritten (omit --version to "
                         f"use the next one, {next_version(model_dir)})")
    staging = Path(tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=model_dir))
    try:
        with tempfile.TemporaryDirectory(prefix="onnx2tf-") as work:
            normalized = Path(work) / ONNX_FILE
            save_atomically(imported.model, normalized)
            keras_model = onnx_to_keras(normalized, Path(work))
            write_saved_model(keras_model, staging, name, images[:32])
            shutil.copyfile(normalized, staging / ONNX_FILE)
        if model_info is not None:
            write_model_info(staging, model_info)
        # Anything else than the contract's entries (onnx2tf debris) is an error.
        debris = sorted(entry.name for entry in staging.iterdir() if entry.name not in VERSION_ENTRIES)
        if debris:
            raise RuntimeError(f"unexpected files in the version folder: {debris}")
        if verify:
            report = verify_version(staging, checkpoint_path=checkpoint_path, images=images, labels=labels)
            for line in report.lines():
                log.info("%s", line)
        if source_sha is not None and file_sha256(onnx_path) != source_sha:
            raise RuntimeError(f"{onnx_path} changed during conversion")
        if final_dir.exists():  # someone else took the number meanwhile
            raise ValueError(f"{final_dir} appeared during conversion; not overwriting it")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)  # mkdtemp made it private; servers may run as other users
        os.rename(staging, final_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created_model_dir:
            with contextlib.suppress(OSError):  # only if still empty: never touch other versions
                model_dir.rmdir()
        raise
    log.info("wrote %s", final_dir)
    return final_dir


def _convert_command(args: argparse.Namespace) -> int:
    info = resolve_model_info(args.untrained_classes, args.checkpoint)
    final_dir = convert_onnx(args.model, args.name, version=args.version, base=args.base,
                             checkpoint_path=args.checkpoint, limit=args.limit, model_info=info)
    print(f"wrote {final_dir} (verified against {Path(args.model).name}"
          f"{' and ' + Path(args.checkpoint).name if args.checkpoint else ''})")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "convert", help="ONNX -> verified TF SavedModel in models/<name>/<version>/ (TF Serving layout)",
        description="Convert an ONNX 784->62 classifier (ours or foreign) with onnx2tf into a new version "
                    "folder with serving_default/predict_images/classify signatures, labels, warmup "
                    "records and model.onnx. The folder appears only once verified.")
    parser.add_argument("model", help="ONNX file (never modified)")
    parser.add_argument("--name", required=True, help="model name: the folder under --base")
    parser.add_argument("--version", type=int, default=None, help="version number (default: next integer)")
    parser.add_argument("--base", default=str(MODELS_DIR),
                        help="model base path (default: the project's models/, whatever the cwd)")
    parser.add_argument("--checkpoint", default=None,
                        help="also verify against this PyTorch checkpoint; its run's metrics.json gives the "
                             "classes without training images")
    parser.add_argument("--untrained-classes", default=None, metavar="LIST",
                        help=f"classes the model had no training images of: labels separated by commas, or "
                             f"{NONE} (for a foreign model; default: from --checkpoint's run)")
    parser.add_argument("--limit", type=int, default=None, help="verify on the first N validation images")
    parser.set_defaults(func=_convert_command)
