"""The page under its Content-Security-Policy in a real browser: drawing, the live reading, the result
page and its score bars work with no violation reported; with API tokens on, the live reading says it
needs one and the form still answers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.browser import BROWSER_MARKS, DESKTOP, draw_with_mouse, launched_browser, strokes_of
from tests.support.paths import labelled_test_images
from tests.support.servers import served

pytestmark = BROWSER_MARKS

#: Records every CSP violation the page reports, from before any of its own scripts run.
RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation",
  (event) => window.cspViolations.push(event.violatedDirective + " " + event.blockedURI));
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with launched_browser() as launched:
        yield launched


def open_page(browser, url: str):
    context = browser.new_context(viewport=DESKTOP)
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    console = []
    page.on("console", lambda message: console.append(message.text))
    page.goto(url + "/")
    return context, page, console


def draw_a_two(page) -> None:
    image = next(path for path, char in labelled_test_images() if char == "2")
    draw_with_mouse(page, strokes_of(image))


def test_the_page_works_under_its_policy(browser, app):
    with served(app) as url:
        context, page, console = open_page(browser, url)
        try:
            draw_a_two(page)
            page.wait_for_selector("#live-reading[aria-busy=false][data-label]")
            assert page.get_attribute("#live-reading", "data-label") == "2"
            page.click("#read-button")
            page.wait_for_selector("#prediction")
            # The bars' widths come from the stylesheet (classes), not from style attributes.
            widths = page.eval_on_selector_all("table.bars .bar", "bars => bars.map(b => b.offsetWidth)")
            assert len(widths) == 62 and widths == sorted(widths, reverse=True)
            assert widths[0] > 10 * widths[-1]
            assert page.evaluate("() => window.cspViolations") == []
            assert not [text for text in console if "Content Security Policy" in text]
        finally:
            context.close()


def test_with_tokens_the_live_reading_says_so_and_the_form_answers(browser, make_module_app):
    with served(make_module_app(API_TOKENS="a-token")) as url:
        context, page, _ = open_page(browser, url)
        try:
            draw_a_two(page)
            page.wait_for_selector("#live-reading[aria-busy=false]")
            page.wait_for_function(
                "() => document.querySelector('#live-reading').textContent.includes('needs an API token')")
            page.click("#read-button")
            page.wait_for_selector("#prediction")
            assert page.inner_text("#prediction") == "2"
            assert page.evaluate("() => window.cspViolations") == []
        finally:
            context.close()
