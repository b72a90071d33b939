"""The pages as people see them (chromium under Playwright): the answer inside a phone's first screen,
dark mode, axe-core with no violations, and the mark on the classes the model cannot answer.

The app serves a copy of the bundled version whose model info lists the ten classes it had no training
images of (written here by hand), so the marks are the file's, whatever the shipped version holds.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.browser import (
    BROWSER_MARKS,
    DESKTOP,
    PHONE,
    axe_violations,
    draw_with_mouse,
    launched_browser,
    strokes_of,
)
from tests.support.model_versions import copy_served_version
from tests.support.paths import SERVED_MODEL, labelled_test_images
from tests.support.servers import served

pytestmark = BROWSER_MARKS

UNTRAINED = list("JQXYZjqxyz")
SIZES = {"desktop": DESKTOP, "phone": PHONE}


@pytest.fixture(scope="module")
def base_url(make_module_app, tmp_path_factory) -> Iterator[str]:
    base_path = tmp_path_factory.mktemp("models")
    copy_served_version(base_path, UNTRAINED)
    with served(make_module_app(MODEL_BASE_PATH=str(base_path), MODEL_NAME=SERVED_MODEL)) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with launched_browser() as launched:
        yield launched


def image_of(label: str):
    return next(path for path, char in labelled_test_images() if char == label)


def open_page(browser, base_url, state: str, size: str = "desktop", scheme: str = "light"):
    """A new page at ``size`` and colour scheme, in ``state``: upload, live, result or error."""
    context = browser.new_context(viewport=SIZES[size], color_scheme=scheme)
    page = context.new_page()
    page.goto(base_url + "/")
    if state == "live":
        draw_with_mouse(page, strokes_of(image_of("2")))
        page.wait_for_selector("#live-reading[aria-busy=false][data-label]")
    elif state == "result":
        page.set_input_files("#image-input", str(image_of("A")))
        page.click("#read-button")
        page.wait_for_selector("#prediction")
    elif state == "error":
        page.set_input_files("#image-input", files=[{"name": "notes.txt", "mimeType": "text/plain",
                                                      "buffer": b"not a picture"}])
        page.click("#read-button")
        page.wait_for_selector("#error-message")
    return context, page


def test_on_a_phone_the_answer_and_top_answers_are_inside_the_first_screen(browser, base_url):
    context, page = open_page(browser, base_url, "result", "phone")
    assert page.evaluate("() => window.scrollY") == 0
    for selector in ("#prediction", "#probability", "#confidence", "#top-answers"):
        box = page.locator(selector).bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"], selector
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], selector
    # No sideways scrolling on a phone.
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    context.close()


def test_on_a_phone_the_live_reading_and_the_button_are_in_the_first_screen(browser, base_url):
    context, page = open_page(browser, base_url, "live", "phone")
    assert page.get_attribute("#live-reading", "data-label") == "2"
    assert page.evaluate("() => window.scrollY") == 0
    reading = page.locator("#live-reading .live-top").bounding_box()
    button = page.locator("#read-button").bounding_box()
    # The button stays at the bottom of the screen, below the reading (never over it).
    assert reading["y"] + reading["height"] <= button["y"]
    assert button["y"] + button["height"] <= PHONE["height"]
    context.close()


def colours(page) -> dict[str, list[float]]:
    """Background and text colours of the body, as [r, g, b] in 0-255."""
    values = page.evaluate("""() => {
        const style = getComputedStyle(document.body);
        return {background: style.backgroundColor, text: style.color};
    }""")
    return {name: [float(part) for part in value[value.index("(") + 1 : -1].split(",")[:3]]
            for name, value in values.items()}


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_page_follows_the_colour_scheme(browser, base_url, scheme):
    context, page = open_page(browser, base_url, "upload", scheme=scheme)
    found = colours(page)
    background, text = sum(found["background"]) / 3, sum(found["text"]) / 3
    if scheme == "dark":
        assert background < 60 and text > 200
    else:
        assert background > 200 and text < 60
    canvas_filter = page.evaluate("() => getComputedStyle(document.getElementById('draw-canvas')).filter")
    assert ("invert" in canvas_filter) == (scheme == "dark")
    # Whatever is shown, the drawing's pixels stay black ink on white paper.
    corner = page.evaluate("""() => Array.from(
        document.getElementById('draw-canvas').getContext('2d').getImageData(0, 0, 1, 1).data)""")
    assert corner == [255, 255, 255, 255]
    context.close()


@pytest.mark.parametrize("size", ["desktop", "phone"])
@pytest.mark.parametrize("state", ["upload", "result", "error"])
def test_axe_finds_no_violations(browser, base_url, state, size):
    context, page = open_page(browser, base_url, state, size)
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        assert axe_violations(page) == [], scheme
    context.close()


def test_the_classes_the_model_cannot_answer_are_marked(browser, base_url):
    context, page = open_page(browser, base_url, "upload")
    assert "cannot answer J Q X Y Z j q x y z" in page.inner_text("#classes-note")
    assert "answers 52 of the 62 classes" in page.inner_text("#classes-note")
    page.set_input_files("#image-input", str(image_of("A")))
    page.click("#read-button")
    page.wait_for_selector("#prediction")
    assert page.inner_text("#untrained-classes") == " ".join(UNTRAINED)
    marked = page.eval_on_selector_all(
        "#all-scores tbody tr.untrained th", "rows => rows.map(row => row.firstChild.textContent.trim())")
    assert sorted(marked) == sorted(UNTRAINED)
    assert page.locator("#all-scores tbody tr.untrained .untrained-mark").count() == len(UNTRAINED)
    assert page.locator("#all-scores tbody tr:not(.untrained) .untrained-mark").count() == 0
    for item in page.locator("#top-answers li").all():
        label = item.locator(".char").inner_text()
        assert (item.locator(".untrained-mark").count() == 1) == (label in UNTRAINED)
    context.close()


def test_axe_reports_what_the_old_page_had(browser):
    # The harness itself: a file input without a label and a page without a heading are reported.
    context = browser.new_context()
    page = context.new_page()
    page.set_content('<!doctype html><html lang="en"><head><title>t</title></head><body><main>'
                     '<input type="file" name="image"></main></body></html>')
    found = {violation["id"]: violation["impact"] for violation in axe_violations(page)}
    assert found.get("label") == "critical"
    assert "page-has-heading-one" in found
    context.close()
