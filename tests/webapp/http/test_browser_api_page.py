"""The API page as a browser shows it (chromium under Playwright): Swagger UI renders every operation of
``/openapi.json`` under the app's Content-Security-Policy, from the app's own files only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.browser import BROWSER_MARKS, launched_browser
from tests.support.servers import served

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def base_url(app) -> Iterator[str]:
    with served(app) as url:
        yield url


def test_the_api_page_renders_every_operation_from_the_apps_own_files(base_url):
    with launched_browser() as browser:
        page = browser.new_page()
        requested: list[str] = []
        problems: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto(f"{base_url}/docs")
        page.wait_for_selector(".opblock", timeout=20_000)
        document = page.request.get(f"{base_url}/openapi.json").json()
        operations = sum(len(item) for item in document["paths"].values())
        page.wait_for_function(f"document.querySelectorAll('.opblock').length >= {operations}",
                               timeout=20_000)
        assert page.locator(".opblock").count() == operations
        assert page.locator(".info .title").inner_text().startswith(document["info"]["title"])
        assert all(url.startswith((base_url, "data:")) for url in requested), requested
        assert not problems, problems
