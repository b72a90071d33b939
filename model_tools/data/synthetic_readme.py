"""The ``data/README.md`` section on ``synthetic.npz``: its command, recipe, fonts and their licences."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from model_tools.data.synthetic import Distortion
from model_tools.data.synthetic_fonts import FONTS, TRAIN, VALIDATION, debian_packages


def synthetic_section(path: Path) -> list[str]:
    """Markdown lines describing the synthetic file at ``path`` (read from the file's own metadata)."""
    with np.load(path) as content:
        split, font, recipe = content["split"], content["font"], str(content["recipe"])
        names = [str(n) for n in content["split_names"]]
        files = [str(f) for f in content["font_files"]]
        digests = [str(d) for d in content["font_sha256"]]
    if files != [face.file for face in FONTS]:
        raise ValueError(f"{path}: drawn from other fonts than model_tools/data/synthetic_fonts.py lists; "
                         "draw it again with `python -m model_tools render-synthetic`")
    counts = {part: int((split == names.index(part)).sum()) for part in (TRAIN, VALIDATION)}
    distortion = Distortion()
    lines = [
        "## Synthetic characters (`synthetic.npz`, never real images)",
        "",
        "Characters drawn from fonts, for the classes no real image here shows (J Q X Y Z j q x y z) and, "
        "for comparison, all 62. Drawn by",
        "",
        "```",
        "apt-get install " + " ".join(debian_packages()),
        f"python -m model_tools render-synthetic   # {recipe.replace('=', ' ')}",
        "```",
        "",
        f"Recipe (`model_tools/data/synthetic.py`): each character drawn at 150 px, strokes grown or thinned "
        f"to {distortion.stroke_fraction[0]:.3f}-{distortion.stroke_fraction[1]:.3f} of the glyph's longest "
        f"side, slanted (shear +-{distortion.shear}), stretched (x {distortion.x_scale[0]}-"
        f"{distortion.x_scale[1]}), turned (+-{distortion.rotation_degrees:g} deg) and bent by a smooth "
        f"random field ({distortion.wobble_grid}x{distortion.wobble_grid} control points, std "
        f"{distortion.wobble:.1%} of the side), then put through the server's EMNIST recipe "
        "(`serving_core.preprocessing.emnist_from_greyscale`: crop to the ink, centre, blur, 28x28) and a "
        f"light blur (sigma {distortion.final_blur[0]}-{distortion.final_blur[1]} px) matching NIST's "
        "softer strokes. Every image has its own generator (seed, font file, class, variant): the file is "
        "the same whatever the number of `--workers`. Caps-only fonts draw digits and uppercase only.",
        "",
        "| part | images | fonts | what |",
        "|---|---|---|---|",
        f"| train | {counts[TRAIN]:,} | {len(np.unique(font[split == names.index(TRAIN)]))} | mixed into "
        "training by `train --synthetic` |",
        f"| validation | {counts[VALIDATION]:,} | {len(np.unique(font[split == names.index(VALIDATION)]))} | "
        "held-out font families (split `synthetic`): never trained on, scored apart from the real "
        "validation images |",
        "",
        "Fonts are held out by family (package), so a derived family is held out with its source (Hack "
        "with DejaVu Sans Mono). Licences as Debian's `/usr/share/doc/<package>/copyright` states them for "
        "the font files; the images are renderings of the fonts, not the fonts.",
        "",
        "| font file | package | style | part | licence | sha256 of the font file |",
        "|---|---|---|---|---|---|",
    ]
    for face, digest in zip(FONTS, digests, strict=True):
        part = face.split + (", caps only" if face.caps_only else "")
        lines.append(f"| {face.file} | {face.package} | {face.style} | {part} | {face.licence} | "
                     f"`{digest[:16]}...` |")
    return lines
