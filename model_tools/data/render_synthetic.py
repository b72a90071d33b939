"""``render-synthetic``: draw every ByClass character from Debian's fonts into ``data/synthetic.npz``.

The file is kept apart from the real images: ``train`` mixes it in only when asked (``--synthetic``),
and its held-out fonts are the ``synthetic`` validation split, so no model is judged on a font it
trained on. Each image has its own seeded generator, so the file is the same for the same seed,
variant counts, fonts and library versions, whatever the number of worker processes.
"""

from __future__ import annotations

import argparse
import logging
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from emnist_contract.labels import BYCLASS_LABELS
from model_tools.common.atomic_io import atomic_output
from model_tools.common.hashing import file_sha256
from model_tools.data.datasets import DEFAULT_DATA_DIR, SYNTHETIC_FILE
from model_tools.data.synthetic_fonts import FONT_ROOT, FONTS, TRAIN, VALIDATION, FontFace, find_font

log = logging.getLogger(__name__)

SPLIT_NAMES = (TRAIN, VALIDATION)


def render_face(face: FontFace, path: Path, variants: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """All images of one font face: (uint8 [N, 28, 28], class indices int64 [N]), classes in order."""
    from fontTools.ttLib import TTFont
    from PIL import ImageFont

    from model_tools.data.synthetic import characters_of, image_rng, render_character

    font = ImageFont.truetype(str(path), 150)
    with TTFont(str(path), fontNumber=0, lazy=True) as table:
        glyphs = set(table.getBestCmap())
    images, labels = [], []
    for class_index in characters_of(glyphs, face.caps_only):
        for variant in range(variants):
            image = render_character(font, BYCLASS_LABELS[class_index],
                                     image_rng(seed, face.file, class_index, variant))
            if image is not None:
                images.append(image)
                labels.append(class_index)
    if not images:
        raise ValueError(f"{path}: no character of the 62 could be drawn from this font")
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def render_all(train_variants: int, validation_variants: int, seed: int, workers: int = 1,
               font_root: Path = FONT_ROOT) -> dict[str, np.ndarray]:
    """The arrays of ``synthetic.npz``: images, labels, font (index into font_files), split per image."""
    if min(train_variants, validation_variants) < 1:
        raise ValueError("--train-variants and --validation-variants must be at least 1")
    paths = [find_font(face, font_root) for face in FONTS]  # every missing package named up front
    variants = [train_variants if face.split == TRAIN else validation_variants for face in FONTS]
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        parts = list(pool.map(render_face, FONTS, paths, variants, [seed] * len(FONTS)))
    for face, (images, _) in zip(FONTS, parts, strict=True):
        log.debug("%s: %d images", face.file, len(images))
    log.info("rendered %d images from %d fonts in %.0f s", sum(len(p[1]) for p in parts), len(FONTS),
             time.perf_counter() - started)
    counts = [len(labels) for _, labels in parts]
    return {
        "images": np.concatenate([images for images, _ in parts]),
        "labels": np.concatenate([labels for _, labels in parts]),
        "font": np.repeat(np.arange(len(FONTS), dtype=np.int16), counts),
        "split": np.repeat(np.array([SPLIT_NAMES.index(face.split) for face in FONTS], np.int8), counts),
        "split_names": np.array(SPLIT_NAMES),
        "font_files": np.array([face.file for face in FONTS]),
        "font_packages": np.array([face.package for face in FONTS]),
        "font_sha256": np.array([file_sha256(path) for path in paths]),
        "byclass_chars": np.array(BYCLASS_LABELS),
        "recipe": np.array(f"seed={seed} train_variants={train_variants} "
                           f"validation_variants={validation_variants}"),
    }


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Compressed and atomic; zip entries carry a fixed date so the same arrays give the same bytes."""
    import zipfile

    with atomic_output(path) as temporary, zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w") as handle:
                np.lib.format.write_array(handle, np.asanyarray(array), allow_pickle=False)


def run(args: argparse.Namespace) -> int:
    arrays = render_all(args.train_variants, args.validation_variants, args.seed, args.workers,
                        Path(args.font_root))
    out = Path(args.out)
    write_npz(out, arrays)
    split = arrays["split"]
    for index, name in enumerate(SPLIT_NAMES):
        fonts = len(np.unique(arrays["font"][split == index]))
        print(f"{name:<11} {int((split == index).sum()):>6} images from {fonts} fonts")
    print(f"wrote {out} ({out.stat().st_size:,} bytes, sha256 {file_sha256(out)})")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "render-synthetic",
        help="draw all 62 characters from Debian's fonts into data/synthetic.npz (held-out fonts apart)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--train-variants", type=int, default=3,
                        help="drawings per character per training font (default 3)")
    parser.add_argument("--validation-variants", type=int, default=2,
                        help="drawings per character per held-out font (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1, help="processes (the output does not depend on it)")
    parser.add_argument("--font-root", default=str(FONT_ROOT), help="where the font packages are installed")
    parser.add_argument("--out", default=str(DEFAULT_DATA_DIR / SYNTHETIC_FILE))
    parser.set_defaults(func=run)
