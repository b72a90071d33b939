"""Browser tests: Playwright drives Debian's chromium against the app served on 127.0.0.1.

Upload a test image and read the predicted character from the result page (with JavaScript on and
off); draw a character on the canvas with the mouse and with touch and submit it; clear the canvas.
Set BROWSER_SCREENSHOTS=<folder> to keep the screenshots.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import morphology, transform
from werkzeug.serving import make_server

from tests.support.paths import labelled_test_images

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-dev-shm-usage", "--no-first-run"]

pytestmark = [
    pytest.mark.browser,
    # Skipped on a developer machine without chromium; in CI (`make test` installs it) a missing
    # browser must fail, not hide the browser tests behind a skip.
    pytest.mark.skipif(not CHROMIUM.exists() and not os.environ.get("CI"),
                       reason="Debian's chromium is not installed (make system-packages)"),
]


@pytest.fixture(scope="module")
def base_url(app) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def screenshot(tmp_path):
    folder = Path(os.environ.get("BROWSER_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 1000
        return path

    return take


def stroke_points(png: Path, canvas_side: int = 280, step: int = 3) -> list[tuple[float, float]]:
    """Points along the centre line of an EMNIST character, in canvas pixels (to redraw it by hand)."""
    pixels = np.asarray(Image.open(png), dtype=np.float32) / 255.0
    big = transform.resize(pixels, (canvas_side // 2, canvas_side // 2), order=3)
    skeleton = morphology.skeletonize(big > 0.5)
    ys, xs = np.nonzero(skeleton)
    keep = (ys % step == 0) | (xs % step == 0)
    margin = canvas_side / 4
    return [(margin + x, margin + y) for y, x in zip(ys[keep], xs[keep], strict=True)]


def pick_image(label: str) -> Path:
    return next(path for path, char in labelled_test_images() if char == label)


def test_upload_a_test_image(browser, base_url, screenshot):
    path, label = next((p, c) for p, c in labelled_test_images() if c.isupper())
    page = browser.new_page(viewport={"width": 1100, "height": 800})
    page.goto(base_url + "/")
    screenshot(page, "index")
    page.set_input_files("#image-input", str(path))
    page.click("#upload-submit")
    page.wait_for_selector("#prediction")
    assert page.inner_text("#prediction") == label
    assert "%" in page.inner_text("#probability")
    assert page.locator("#all-scores tr").count() == 62
    screenshot(page, "result_upload")
    page.click("#new-request")
    page.wait_for_selector("#draw-canvas")
    page.close()


def test_upload_works_with_javascript_off(browser, base_url):
    path, label = labelled_test_images()[0]
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(base_url + "/")
    page.set_input_files("#image-input", str(path))
    page.click("#upload-submit")
    page.wait_for_selector("#prediction")
    assert page.inner_text("#prediction") == label
    context.close()


def test_draw_with_the_mouse_and_submit(browser, base_url, screenshot):
    page = browser.new_page(viewport={"width": 1100, "height": 800})
    page.goto(base_url + "/")
    box = page.locator("#draw-canvas").bounding_box()
    points = stroke_points(pick_image("2"))
    for x, y in points:
        page.mouse.move(box["x"] + x, box["y"] + y)
        page.mouse.down()
        page.mouse.move(box["x"] + x + 1, box["y"] + y + 1)
        page.mouse.up()
    screenshot(page, "drawn")
    page.click("#draw-submit")
    page.wait_for_selector("#prediction")
    assert page.inner_text("#prediction") == "2"
    assert "drawing" in page.content()
    screenshot(page, "result_drawing")
    page.close()


def test_draw_with_touch_and_submit(browser, base_url):
    context = browser.new_context(has_touch=True, viewport={"width": 420, "height": 900})
    page = context.new_page()
    page.goto(base_url + "/")
    page.locator("#draw-canvas").scroll_into_view_if_needed()
    box = page.locator("#draw-canvas").bounding_box()
    for x, y in stroke_points(pick_image("7")):
        page.touchscreen.tap(box["x"] + x, box["y"] + y)
    page.click("#draw-submit")
    page.wait_for_selector("#prediction")
    assert page.inner_text("#prediction") == "7"
    context.close()


def test_clear_then_submit_shows_the_empty_drawing_error(browser, base_url, screenshot):
    page = browser.new_page(viewport={"width": 1100, "height": 800})
    page.goto(base_url + "/")
    box = page.locator("#draw-canvas").bounding_box()
    page.mouse.move(box["x"] + 50, box["y"] + 50)
    page.mouse.down()
    page.mouse.move(box["x"] + 200, box["y"] + 200, steps=10)
    page.mouse.up()
    page.click("#clear-button")
    with page.expect_response(lambda response: response.request.method == "POST") as response:
        page.click("#draw-submit")
    assert response.value.status == 400
    page.wait_for_selector("#error-message")
    assert "blank" in page.inner_text("#error-message")
    screenshot(page, "error_empty_drawing")
    page.close()
