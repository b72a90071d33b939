"""Milliseconds to preprocess one upload (``preprocess_image``), in two checkouts, in alternating rounds.

The uploads: the test suite's photo fixtures (``tests/support/photos.py``: a ballpoint character on
unevenly lit paper, JPEG) at 640x480, 1600x1200 and 3000x2250, the page's drawing canvas (280x280 PNG,
black 18-pixel round strokes on white, as ``static/draw.js`` draws) and a small 56x56 drawing. Each round
runs one fresh process per checkout (``PYTHONPATH`` names it), which preprocesses every upload once to
warm up, then ``--repeats`` times, and reports the median and the fastest per upload; the two checkouts
swap order every round, so whatever else the machine does hits both alike. The table gives the median
over rounds of the medians, and the fastest of all (on a shared machine the steadier of the two).

    git worktree add /tmp/before <commit>
    .venv/bin/python bench/preprocess_cost.py --before /tmp/before --after . --rounds 6

Figures are printed (``--json`` also writes them), never asserted; ``--quick`` is one short round.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REPO = Path(__file__).resolve().parent.parent
MAX_PIXELS = 40_000_000


def canvas_drawing(side: int, line_width: int) -> bytes:
    """A "7" with a bar drawn on a white ``side`` square in black round strokes, as a PNG."""
    from PIL import Image, ImageDraw

    image = Image.new("L", (side, side), 255)
    draw = ImageDraw.Draw(image)
    points = [(0.25, 0.2), (0.75, 0.2), (0.45, 0.85)]
    draw.line([(x * side, y * side) for x, y in points], fill=0, width=line_width, joint="curve")
    draw.line([(0.35 * side, 0.52 * side), (0.65 * side, 0.52 * side)], fill=0, width=line_width)
    for x, y in (points[0], points[-1]):  # round caps
        draw.ellipse((x * side - line_width / 2, y * side - line_width / 2,
                      x * side + line_width / 2, y * side + line_width / 2), fill=0)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def uploads(quick: bool) -> dict[str, bytes]:
    """name -> image file of every measured upload."""
    import numpy as np

    from tests.support.photos import pen_photo

    with np.load(REPO / "data" / "validation.npz") as data:
        characters = data["images"][:3]
    made = {f"photo 640x480 JPEG ({index})": pen_photo(pixels, seed=index)
            for index, pixels in enumerate(characters[: 1 if quick else 3])}
    made["photo 1600x1200 JPEG"] = pen_photo(characters[0], seed=10, size=(1600, 1200))
    if not quick:
        made["photo 3000x2250 JPEG"] = pen_photo(characters[1], seed=11, size=(3000, 2250))
    made["page canvas 280x280 PNG"] = canvas_drawing(280, 18)
    made["drawing 56x56 PNG"] = canvas_drawing(56, 5)
    return made


def measure(folder: Path, repeats: int) -> dict[str, tuple[float, float]]:
    """Median and fastest milliseconds of ``preprocess_image`` per upload file in ``folder`` (this
    process's checkout)."""
    from serving_core.preprocessing import preprocess_image

    files = {path.stem: path.read_bytes() for path in sorted(folder.glob("*.upload"))}
    for data in files.values():
        preprocess_image(data, MAX_PIXELS)
    medians = {}
    for name, data in files.items():
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            preprocess_image(data, MAX_PIXELS)
            times.append(time.perf_counter() - started)
        medians[name] = (1000 * statistics.median(times), 1000 * min(times))
    return medians


def run_checkout(checkout: Path, folder: Path, repeats: int) -> dict[str, list[float]]:
    env = {**os.environ, "PYTHONPATH": str(checkout.resolve())}
    result = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--measure", str(folder),
                             "--repeats", str(repeats)], env=env, cwd=checkout, capture_output=True,
                            text=True, timeout=1800)
    if result.returncode != 0:
        raise SystemExit(f"{checkout}: preprocessing failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, default=REPO, help="checkout measured first in round 1")
    parser.add_argument("--after", type=Path, default=REPO, help="the other checkout")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=15, help="preprocessings of each upload per round")
    parser.add_argument("--quick", action="store_true", help="one round, two repeats, fewer uploads")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.repeats)))
        return 0
    rounds, repeats = (1, 2) if args.quick else (args.rounds, args.repeats)
    if rounds < 1 or repeats < 1:
        parser.error("--rounds and --repeats must be at least 1")
    figures: dict[str, dict[str, list[list[float]]]] = {"before": {}, "after": {}}
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="preprocess-cost-") as folder:
        made = uploads(args.quick)
        keys = {name: f"{index:02d}" for index, name in enumerate(made)}
        for name, data in made.items():
            (Path(folder) / f"{keys[name]}.upload").write_bytes(data)
        for round_number in range(rounds):
            order = [("before", args.before), ("after", args.after)][:: 1 if round_number % 2 == 0 else -1]
            for which, checkout in order:
                for name, milliseconds in run_checkout(checkout, Path(folder), repeats).items():
                    figures[which].setdefault(name, []).append(milliseconds)
    load_end = os.getloadavg()[0]
    print(f"preprocess_image, ms per upload: median of {rounds} rounds x {repeats} repeats "
          f"(load average {load_start:.2f} at the start, {load_end:.2f} at the end)")
    print(f"before: {args.before}   after: {args.after}\n")
    print("| upload | before: median, fastest (ms) | after: median, fastest (ms) | after / before (median, "
          "fastest) |\n|---|---|---|---|")
    report = {"rounds": rounds, "repeats": repeats, "load_average": [load_start, load_end], "uploads": {}}
    for name, key in keys.items():
        before = statistics.median(m for m, _ in figures["before"][key])
        after = statistics.median(m for m, _ in figures["after"][key])
        before_best = min(best for _, best in figures["before"][key])
        after_best = min(best for _, best in figures["after"][key])
        print(f"| {name} | {before:.1f}, {before_best:.1f} | {after:.1f}, {after_best:.1f} | "
              f"{after / before:.2f}, {after_best / before_best:.2f} |")
        report["uploads"][name] = {"before_ms": before, "after_ms": after, "before_fastest_ms": before_best,
                                   "after_fastest_ms": after_best}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
