"""The site's search leads from each error message to its section of the error page."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from conftest import ROOT
from playwright.sync_api import Page

PAGE = ROOT / "docs" / "reference" / "errors.md"
MESSAGES = [
    heading.replace("`", "")
    for heading in re.findall(r"^### (.+)$", PAGE.read_text(), re.MULTILINE)
]


def test_every_message_is_searched_for() -> None:
    assert len(MESSAGES) >= 20


@pytest.mark.parametrize("message", MESSAGES)
def test_search_finds_the_section_of_each_message(page: Page, message: str) -> None:
    page.goto("/reference/errors.html")
    heading = page.locator("section > h3", has_text=message).first
    anchor = heading.evaluate("h => h.parentElement.id")
    page.goto(f"/search.html?q={quote(message)}")
    page.locator("#search-results ul.search li").first.wait_for(timeout=20_000)
    links = page.eval_on_selector_all(
        "#search-results ul.search li a", "links => links.map(a => a.href)"
    )
    assert any(link.endswith(f"reference/errors.html#{anchor}") for link in links), links
