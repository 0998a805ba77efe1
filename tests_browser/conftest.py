"""Serve the built site on localhost and drive a headless Chromium through it.

The site must be built first (``nox -s browser`` does it). Chromium is the
system's (Debian's ``chromium`` package): browser downloads are not possible
here, so Playwright is pointed at it with ``executable_path``; set
``MPGUIDE_CHROMIUM`` to use another binary.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
SITE = Path(os.environ.get("MPGUIDE_SITE", ROOT / "docs" / "_build" / "html"))
ARTIFACTS = ROOT / "test-artifacts"


def chromium_path() -> str:
    for candidate in (
        os.environ.get("MPGUIDE_CHROMIUM"),
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate:
            return candidate
    raise pytest.UsageError(
        "no Chromium found: install Debian's chromium package "
        "(apt-get install chromium) or set MPGUIDE_CHROMIUM"
    )


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class QuietServer(http.server.ThreadingHTTPServer):
    """Serves the site; a request the browser abandoned (it closed the
    connection) is not an error worth a traceback."""

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exception(), ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def site_url() -> Iterator[str]:
    if not (SITE / "index.html").exists():
        raise pytest.UsageError(f"no built site in {SITE}: run nox -s browser (or docs)")
    handler = functools.partial(QuietHandler, directory=str(SITE))
    server = QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True)
        try:
            yield browser
        finally:
            browser.close()


def new_context(browser: Browser, site_url: str) -> BrowserContext:
    return browser.new_context(
        base_url=site_url,
        permissions=["clipboard-read", "clipboard-write"],
        viewport={"width": 1280, "height": 900},
    )


@pytest.fixture
def context(browser: Browser, site_url: str) -> Iterator[BrowserContext]:
    """A browser context of the test's own (its cookies, cache and storage)."""
    context = new_context(browser, site_url)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture(scope="session")
def shared_context(browser: Browser, site_url: str) -> Iterator[BrowserContext]:
    """One context for the tests that only open pages: making and closing a
    context took about a second per test here, most of some tests' time. Each
    test still gets a page of its own (:func:`page`)."""
    context = new_context(browser, site_url)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(shared_context: BrowserContext) -> Iterator[Page]:
    page = shared_context.new_page()
    try:
        yield page
    finally:
        page.close()


SEARCH_DONE = re.compile("Search finished|did not match")


def search_result_links(page: Page, query: str) -> list[str]:
    """The links the site's search lists for ``query``, once it has listed them all.

    Sphinx's search adds its results one at a time (a timer between each) and
    writes its summary ("Search finished, ..." or "Your search did not match
    ...") after the last one: reading the list before that reads part of it.
    """
    page.goto(f"/search.html?q={quote(query)}")
    page.locator("#search-results p.search-summary", has_text=SEARCH_DONE).wait_for(
        timeout=30_000
    )
    return list(
        page.eval_on_selector_all(
            "#search-results ul.search li a", "links => links.map(a => a.href)"
        )
    )
