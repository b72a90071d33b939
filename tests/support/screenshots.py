"""The page's screenshots in docs/serving-api.md: upload, live reading, result and error, desktop and phone.

``python -m tests.support.screenshots`` (from the repository root, with Debian's chromium): serves the
app on 127.0.0.1 with the bundled model (onnxruntime), drives chromium with Playwright, and writes
``docs/images/<state>-<size>.png`` (the first screen, reduced to a 128-colour palette) plus one phone result
in dark mode. The drawing is a "2" redrawn from its test image's centre line; the error state is a text
file sent after drawing (the page keeps the drawing).
"""

from __future__ import annotations

import io

from PIL import Image

from tests.support.apps import build_app, stop_app
from tests.support.browser import DESKTOP, PHONE, draw_with_mouse, launched_browser, strokes_of
from tests.support.paths import REPO
from tests.support.servers import served

OUT = REPO / "docs" / "images"
DRAWN = REPO / "test_images" / "2_digit_0.png"


def save(page, name: str) -> None:
    """The first screen as a small palette PNG."""
    shot = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
    shot.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(OUT / f"{name}.png", optimize=True)
    print(f"{OUT / name}.png: {(OUT / f'{name}.png').stat().st_size // 1024} kB")


def states(browser, url: str, size: str, viewport: dict, scheme: str = "light", only: str = "") -> None:
    context = browser.new_context(viewport=viewport, color_scheme=scheme, has_touch=size == "phone")
    page = context.new_page()
    suffix = f"{size}-dark" if scheme == "dark" else size
    page.goto(url + "/")
    if not only:
        save(page, f"upload-{suffix}")
    draw_with_mouse(page, strokes_of(DRAWN))
    page.wait_for_selector("#live-reading[aria-busy=false][data-label]")
    if size == "phone":
        page.locator("#live-reading").scroll_into_view_if_needed()
    if not only:
        save(page, f"live-{suffix}")
    page.click("#read-button")
    page.wait_for_selector("#prediction")
    save(page, f"result-{suffix}")
    if only:
        context.close()
        return
    # The error state: a drawing, then a text file chosen and sent; the page keeps the drawing.
    page.goto(url + "/")
    draw_with_mouse(page, strokes_of(DRAWN))
    page.set_input_files("#image-input", files=[{"name": "notes.txt", "mimeType": "text/plain",
                                                  "buffer": b"shopping list"}])
    page.click("#read-button")
    page.wait_for_selector("#error-message")
    page.wait_for_selector("#live-reading[aria-busy=false][data-label]")
    page.evaluate("() => window.scrollTo(0, 0)")
    save(page, f"error-{suffix}")
    context.close()


def main() -> int:
    app = build_app()
    try:
        with served(app) as url, launched_browser() as browser:
            states(browser, url, "desktop", DESKTOP)
            states(browser, url, "phone", PHONE)
            states(browser, url, "phone", PHONE, scheme="dark", only="result")
    finally:
        stop_app(app)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
