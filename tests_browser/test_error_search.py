"""The site's search leads from each error message to its section of the error page."""

from __future__ import annotations

import re
from html import unescape

import pytest
from conftest import ROOT, SITE, search_result_links
from playwright.sync_api import Page

PAGE = ROOT / "docs" / "reference" / "errors.md"
MESSAGES = [
    heading.replace("`", "")
    for heading in re.findall(r"^### (.+)$", PAGE.read_text(), re.MULTILINE)
]


def section_anchors() -> dict[str, str]:
    """Each heading of the built error page, as text, mapped to its section's id."""
    html = (SITE / "reference" / "errors.html").read_text()
    return {
        " ".join(unescape(re.sub(r"<[^>]+>", "", heading)).split()): section_id
        for section_id, heading in re.findall(
            r'<section id="([\w-]+)">\s*(?:<span id="[^"]*"></span>)*<h3>(.*?)'
            r'<a class="headerlink"',
            html,
            re.S,
        )
    }


ANCHORS = section_anchors() if (SITE / "reference" / "errors.html").is_file() else {}


def test_every_message_is_searched_for() -> None:
    assert len(MESSAGES) >= 20
    assert not [m for m in MESSAGES if m not in ANCHORS], "headings missing from the page"


@pytest.mark.parametrize("message", MESSAGES)
def test_search_finds_the_section_of_each_message(page: Page, message: str) -> None:
    anchor = ANCHORS[message]
    links = search_result_links(page, message)
    assert any(link.endswith(f"reference/errors.html#{anchor}") for link in links), links


# What a reader's own run prints where the page shows "…".
REAL_VALUES = (
    ("0x…", "0x7f3a5c2e1d90"),
    ("pid=…", "pid=4242"),
    ("'/psm_…'", "'/psm_5c1b2d7e'"),
    ("'/mp-…'", "'/mp-x1y2z3ab'"),
    ("'wnsm_…'", "'wnsm_5c1b2d7e'"),
    ("objc[…]", "objc[72091]"),
    ("KeyError: '…'", "KeyError: '7f3a5c2e1d90'"),
    ('"…/lib/', '"/usr/local/lib/'),
)


def pasted_last_lines() -> list[tuple[str, str]]:
    """(section id, a message's first line as a reader's run prints it), for each
    message the built page shows."""
    html = (SITE / "reference" / "errors.html").read_text()
    found = []
    for section_id, body in re.findall(
        r'<section id="(error-[\w-]+)">(.*?)(?=<section id=|</article>)', html, re.S
    ):
        for block in re.findall(
            r'<div class="error-message[^"]*">.*?<pre>(.*?)</pre>', body, re.S
        ):
            first = unescape(re.sub(r"<[^>]+>", "", block)).strip().splitlines()[0]
            for shown, real in REAL_VALUES:
                first = first.replace(shown, real)
            found.append((section_id, first))
    return found


PASTED = pasted_last_lines() if (SITE / "reference" / "errors.html").is_file() else []


def test_every_produced_or_quoted_message_is_searched_for_as_pasted() -> None:
    text = PAGE.read_text()
    shown = text.count(":::{error-message}") + text.count(":::{error-quoted}")
    assert len({section for section, _ in PASTED}) == shown


@pytest.mark.parametrize(("section", "line"), PASTED)
def test_search_finds_a_pasted_last_line(page: Page, section: str, line: str) -> None:
    links = search_result_links(page, line)
    assert any(link.endswith(f"reference/errors.html#{section}") for link in links), links
