"""Helpers of the browser tests: Debian's chromium under Playwright, the app on a real port, drawing
strokes with the mouse, and axe-core (npm's package, pinned in package.json) run inside the page.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from skimage import morphology, transform

from tests.support.paths import REPO

CHROMIUM = Path("/usr/bin/chromium")
#: Headless, and nothing that reaches the network on its own (updates, sync, QUIC probes).
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]
AXE_SCRIPT = REPO / "node_modules" / "axe-core" / "axe.min.js"
#: The phone the layout tests emulate (CSS pixels of an iPhone 12-15).
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1100, "height": 800}

#: Marks for a browser test module: skipped without chromium on a developer machine; in CI (`make test`
#: installs it) a missing browser fails instead of hiding the tests behind a skip.
BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists() and not os.environ.get("CI"),
                       reason="Debian's chromium is not installed (make system-packages)"),
]


@contextmanager
def launched_browser() -> Iterator[Any]:
    """One chromium for a test module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def strokes_of(png: Path, canvas_side: int = 280, step: int = 4) -> list[list[tuple[float, float]]]:
    """An EMNIST character as pen strokes in canvas pixels (its centre line, every ``step`` pixels).

    The skeleton's points are chained greedily into strokes: the nearest unvisited point continues the
    stroke unless it is farther than a jump, which starts a new stroke (as a hand lifts the pen).
    """
    pixels = np.asarray(Image.open(png), dtype=np.float32) / 255.0
    big = transform.resize(pixels, (canvas_side // 2, canvas_side // 2), order=3)
    ys, xs = np.nonzero(morphology.skeletonize(big > 0.5))
    points = np.stack([xs, ys], axis=1).astype(np.float64)
    left = np.ones(len(points), dtype=bool)
    strokes: list[list[tuple[float, float]]] = []
    current = int(np.argmin(points[:, 1] * 1000 + points[:, 0]))
    margin = canvas_side / 4
    stroke: list[tuple[float, float]] = []
    last_kept = None
    while True:
        left[current] = False
        x, y = points[current]
        if last_kept is None or np.hypot(x - last_kept[0], y - last_kept[1]) >= step / 2:
            stroke.append((margin + x, margin + y))
            last_kept = (x, y)
        if not left.any():
            break
        distances = np.hypot(*(points[left] - points[current]).T)
        nearest = int(np.flatnonzero(left)[np.argmin(distances)])
        if distances.min() > 3:
            strokes.append(stroke)
            stroke, last_kept = [], None
        current = nearest
    strokes.append(stroke)
    return [s for s in strokes if s]


def draw_with_mouse(page: Any, strokes: list[list[tuple[float, float]]]) -> None:
    """Draw ``strokes`` (canvas pixels) on the canvas with the mouse: button down, moves, button up."""
    box = page.locator("#draw-canvas").bounding_box()
    scale = box["width"] / 280
    for stroke in strokes:
        x, y = stroke[0]
        page.mouse.move(box["x"] + x * scale, box["y"] + y * scale)
        page.mouse.down()
        for x, y in stroke[1:] or stroke:
            page.mouse.move(box["x"] + x * scale + 0.5, box["y"] + y * scale + 0.5)
        page.mouse.up()


def axe_script() -> Path:
    """npm's axe-core at the version package-lock.json pins, installed with ``npm ci`` when missing."""
    if not AXE_SCRIPT.is_file():
        npm = shutil.which("npm")
        if npm is None:
            if os.environ.get("CI"):
                raise RuntimeError("npm is needed for the accessibility tests (apt-get install npm)")
            pytest.skip("npm is not installed: cannot install axe-core")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=REPO, check=True,
                       timeout=300, capture_output=True)
    return AXE_SCRIPT


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now (every rule axe runs by default, WCAG 2.x A/AA and
    best practices), as ``{"id", "impact", "nodes": [html...]}``."""
    # Evaluated through the DevTools protocol, not as a <script> tag: the page's Content-Security-Policy
    # allows no inline script, and the test must not loosen the policy of the page it checks.
    page.evaluate(axe_script().read_text() + "\n;undefined")
    violations = page.evaluate(
        """async () => {
            const results = await axe.run(document, {resultTypes: ["violations"]});
            return results.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.html)}));
        }"""
    )
    return violations
