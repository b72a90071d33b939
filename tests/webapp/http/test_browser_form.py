"""The form in a real browser (Playwright driving Debian's chromium): the file, the drawing, both, the
live reading while drawing, the page without JavaScript, and an error that keeps the drawing.

Set BROWSER_SCREENSHOTS=<folder> to keep the screenshots.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.browser import (
    BROWSER_MARKS,
    DESKTOP,
    draw_with_mouse,
    launched_browser,
    strokes_of,
)
from tests.support.paths import labelled_test_images
from tests.support.servers import served

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def base_url(app) -> Iterator[str]:
    with served(app) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with launched_browser() as launched:
        yield launched


@pytest.fixture
def page(browser, base_url):
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.goto(base_url + "/")
    yield page
    context.close()


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


def image_of(label: str) -> Path:
    return next(path for path, char in labelled_test_images() if char == label)


def wait_for_live_reading(page) -> str:
    """The live reading's answer once the newest drawing's reading is shown."""
    page.wait_for_selector("#live-reading[aria-busy=false][data-label]")
    return page.get_attribute("#live-reading", "data-label")


def test_upload_a_test_image(page, screenshot):
    path = image_of("A")
    page.set_input_files("#image-input", str(path))
    assert page.inner_text("#source-note") == f"Reads the file “{path.name}”."
    page.click("#read-button")
    page.wait_for_selector("#prediction")
    assert page.inner_text("#prediction") == "A"
    assert page.inner_text("h1") == f"Result for “{path.name}”"
    assert page.locator("#all-scores tbody tr").count() == 62
    # A thumbnail is shown, not the upload itself.
    assert page.get_attribute("img.original", "src").startswith("data:image/png;base64,")
    screenshot(page, "result_upload")
    page.click("#new-request")
    page.wait_for_selector("#draw-canvas")


def test_the_page_without_javascript(browser, base_url):
    context = browser.new_context(java_script_enabled=False, viewport=DESKTOP)
    page = context.new_page()
    page.goto(base_url + "/")
    # The drawing and its controls need a script: hidden, and the page says why.
    for selector in ("#draw-panel", "#draw-canvas", "#clear-button", "#live-reading", "#source-note"):
        assert not page.is_visible(selector), selector
    assert "Drawing a character needs JavaScript" in page.inner_text("#upload-panel")
    assert page.locator("button:visible").count() == 1  # the one primary action
    path, label = labelled_test_images()[0]
    page.set_input_files("#image-input", str(path))
    page.click("#read-button")
    page.wait_for_selector("#prediction")
    assert page.inner_text("#prediction") == label
    context.close()


def test_live_reading_while_drawing_then_read(page, screenshot):
    page.evaluate("() => { window.loadedOnce = true; }")
    readings = []
    page.on("request", lambda request: readings.append(request.url) if "/predict" in request.url else None)
    strokes = strokes_of(image_of("2"))
    assert len(strokes) >= 2
    seen = []
    for stroke in strokes:
        draw_with_mouse(page, [stroke])
        seen.append(wait_for_live_reading(page))
    # Every stroke's end brought a reading through the JSON API, without a page load.
    assert len(readings) == len(strokes)
    assert page.evaluate("() => window.loadedOnce") is True
    assert seen[-1] == "2"
    top = page.locator("#live-reading .live-top li")
    assert top.count() == 3 and top.first.locator(".char").inner_text() == "2"
    live_percent = page.inner_text("#live-reading .live-pct")
    assert page.inner_text("#source-note") == "Reads your drawing."
    screenshot(page, "live_reading")
    page.click("#read-button")
    page.wait_for_selector("#prediction")
    assert page.inner_text("#prediction") == "2"
    assert page.inner_text("h1") == "Result for your drawing"
    assert page.inner_text("#probability").startswith(live_percent.split(".")[0])  # the same reading


def test_clear_empties_the_drawing_and_its_reading(page):
    draw_with_mouse(page, strokes_of(image_of("7")))
    assert wait_for_live_reading(page) == "7"
    page.click("#clear-button")
    assert page.get_attribute("#live-reading", "data-label") is None
    assert "appears here as you lift the pen" in page.inner_text("#live-reading")
    assert page.inner_text("#source-note") == "Draw a character or choose a picture first."
    with page.expect_response(lambda response: response.request.method == "POST") as response:
        page.click("#read-button")
    assert response.value.status == 400
    assert page.inner_text("#error-message") == (
        "Choose a picture or draw a character first, then press “Read the character”.")


def test_draw_with_touch_and_read(browser, base_url):
    context = browser.new_context(has_touch=True, viewport={"width": 420, "height": 900})
    page = context.new_page()
    page.goto(base_url + "/")
    page.locator("#draw-canvas").scroll_into_view_if_needed()
    box = page.locator("#draw-canvas").bounding_box()
    for stroke in strokes_of(image_of("7")):
        for x, y in stroke:
            page.touchscreen.tap(box["x"] + x, box["y"] + y)
    assert wait_for_live_reading(page) == "7"
    page.click("#read-button")
    page.wait_for_selector("#prediction")
    assert page.inner_text("#prediction") == "7"
    context.close()


def test_with_a_drawing_and_a_file_the_one_touched_last_is_read(page, base_url):
    file = image_of("A")
    draw_with_mouse(page, strokes_of(image_of("2")))
    page.set_input_files("#image-input", str(file))
    assert page.inner_text("#source-note") == f"Reads the file “{file.name}” (chosen after drawing)."
    page.click("#read-button")
    page.wait_for_selector("#prediction")
    assert page.inner_text("#prediction") == "A"

    page.goto(base_url + "/")
    page.set_input_files("#image-input", str(file))
    draw_with_mouse(page, strokes_of(image_of("2")))
    assert page.inner_text("#source-note") == "Reads your drawing (drawn after choosing the file)."
    page.click("#read-button")
    page.wait_for_selector("#prediction")
    assert page.inner_text("#prediction") == "2"


def test_an_error_keeps_the_drawing_and_takes_the_focus(page, screenshot):
    draw_with_mouse(page, strokes_of(image_of("2")))
    wait_for_live_reading(page)
    before = page.evaluate("() => document.getElementById('draw-canvas').toDataURL('image/png')")
    page.set_input_files("#image-input", files=[{"name": "notes.txt", "mimeType": "text/plain",
                                                  "buffer": b"shopping list"}])
    with page.expect_response(lambda response: response.request.method == "POST") as response:
        page.click("#read-button")
    assert response.value.status == 415
    page.wait_for_selector("#error-message")
    assert page.inner_text("#error-message") == (
        "“notes.txt” is not a picture the reader can open. Choose a photo or scan saved as PNG, JPEG, GIF, "
        "BMP or WebP.")
    assert page.evaluate("() => document.activeElement.id") == "error-message"
    # The drawing is back on the canvas, pixel for pixel, and is what the form now reads.
    page.wait_for_function(
        "() => document.getElementById('source-note').textContent === 'Reads your drawing.'")
    after = page.evaluate("() => document.getElementById('draw-canvas').toDataURL('image/png')")
    assert after == before
    assert wait_for_live_reading(page) == "2"
    screenshot(page, "error_keeps_drawing")
    page.click("#read-button")
    page.wait_for_selector("#prediction")
    assert page.inner_text("#prediction") == "2"
