"""The links between pages, as a reader follows them in the built site.

Each API entry that examples use shows their cards; each essay shows the
pitfalls it explains and each pitfall links back to an essay that shows it;
glossary links land on their term; the error index's sections are linked from
the pages that explain them; no page but the gallery's own points at a file
the gallery generated.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlparse

import pytest
from conftest import ROOT, SITE
from playwright.sync_api import Page

import mpguide

ESSAYS = sorted(
    path.stem
    for path in (ROOT / "docs" / "explanation").glob("*.md")
    if path.stem != "index"
)
PITFALLS = sorted(path.stem for path in (ROOT / "examples" / "pitfalls").glob("plot_*.py"))
CONTENT = "article[role=main]"


def page_path(url: str) -> str:
    """The site-relative path of a page's URL, without its fragment."""
    return urlparse(url).path.lstrip("/")


def card_links(page: Page, scope: str) -> list[str]:
    """Absolute URLs of the gallery cards inside ``scope``."""
    return page.eval_on_selector_all(
        f"{scope} .sphx-glr-thumbcontainer a.reference", "links => links.map(a => a.href)"
    )


def test_each_api_entry_examples_use_shows_their_cards(page: Page) -> None:
    page.goto("/reference/api.html")
    headings = page.locator(f"{CONTENT} p.rubric", has_text="Examples using")
    assert headings.count() >= 8
    for index in range(headings.count()):
        heading = headings.nth(index)
        name = heading.text_content()
        cards = heading.locator(
            "xpath=following-sibling::*[1][contains(@class, 'sphx-glr-thumbnails')]"
            "//div[contains(@class, 'sphx-glr-thumbcontainer')]"
        )
        assert cards.count() >= 1, f"{name}: no example cards under the heading"
        for link in cards.locator("a.reference").all():
            assert "/gallery/" in (link.get_attribute("href") or ""), name


def test_every_public_name_examples_use_has_a_mini_gallery(page: Page) -> None:
    """sphinx-gallery's backreferences list the examples using each name (docs/conf.py)."""
    backreferences = ROOT / "docs" / "reference" / "_generated" / "backreferences"
    used = sorted(
        name
        for name in mpguide.__all__
        if (backreferences / f"mpguide.{name}.examples").is_file()
        and (backreferences / f"mpguide.{name}.examples").read_text().strip()
    )
    assert used, f"no backreferences in {backreferences}: build the site from this tree"
    page.goto("/reference/api.html")
    headings = set(page.locator(f"{CONTENT} p.rubric").all_text_contents())
    missing = [name for name in used if f"Examples using {name}" not in headings]
    assert not missing, f"examples use {missing}, whose API entries show no mini-gallery"


@pytest.mark.parametrize("essay", ESSAYS)
def test_each_essay_ends_with_the_pages_it_explains(page: Page, essay: str) -> None:
    page.goto(f"/explanation/{essay}.html")
    last_section = f"{CONTENT} section > section:last-of-type"
    links = card_links(page, last_section)
    assert links, f"{essay}: its last section shows no example cards"
    for link in links:
        response = page.request.get(link)
        assert response.ok, f"{essay}: card {link} answers {response.status}"


@pytest.mark.parametrize("pitfall", PITFALLS)
def test_each_pitfall_links_an_essay_that_links_it_back(page: Page, pitfall: str) -> None:
    page.goto(f"/gallery/pitfalls/{pitfall}.html")
    essays = {
        page_path(href)
        for href in page.eval_on_selector_all(
            f"{CONTENT} a.reference.internal", "links => links.map(a => a.href)"
        )
        if "/explanation/" in href and not href.endswith("/explanation/index.html")
    }
    assert essays, f"{pitfall} links no essay"
    linked_back = []
    for essay in sorted(essays):
        page.goto("/" + essay)
        if any(
            page_path(link).endswith(f"/{pitfall}.html")
            for link in card_links(page, CONTENT)
        ):
            linked_back.append(essay)
    assert linked_back, f"{pitfall} links {sorted(essays)}; none shows it among its cards"


def test_glossary_links_land_on_their_term(page: Page) -> None:
    targets: set[str] = set()
    for path in sorted(SITE.glob("*/*.html")) + sorted(SITE.glob("gallery/*/*.html")):
        page.goto("/" + path.relative_to(SITE).as_posix())
        targets.update(
            href
            for href in page.eval_on_selector_all(
                f"{CONTENT} a[href*='glossary.html#term-']",
                "links => links.map(a => a.href)",
            )
        )
    terms = {urlparse(href).fragment for href in targets}
    for expected in (
        "start-method",
        "proxy",
        "referent",
        "token",
        "Manager-server",
        "hash-salt",
    ):
        assert f"term-{expected}" in terms, f"no page links the glossary's {expected}"
    page.goto("/reference/glossary.html")
    for term in sorted(terms):
        definition = page.locator(f"dl.glossary dt[id='{term}']")
        assert definition.count() == 1, f"a link to #{term} finds no glossary entry"


def test_the_error_index_is_linked_from_home_and_from_the_pages_it_names(
    page: Page,
) -> None:
    page.goto("/index.html")
    assert page.locator(f"{CONTENT} a[href*='reference/errors.html']").count() >= 1
    page.goto("/reference/errors.html")
    sections = page.locator(f"{CONTENT} section section:has(> h3)")
    assert sections.count() >= 20
    missing = []
    for index in range(sections.count()):
        section = sections.nth(index)
        anchors = section.evaluate(
            "s => [s.id, ...Array.from(s.querySelectorAll(':scope > span[id]'), e => e.id)]"
        )
        explained_in = section.locator("p", has_text="Explained in:").last
        pages = {
            page_path(urljoin(page.url, href))
            for href in explained_in.evaluate(
                "p => Array.from(p.querySelectorAll('a.internal')).map(a => a.href)"
            )
        }
        for explaining in sorted(pages):
            explaining_page = page.context.new_page()
            try:
                explaining_page.goto("/" + explaining)
                hrefs = explaining_page.eval_on_selector_all(
                    f"{CONTENT} a[href*='errors.html#']", "links => links.map(a => a.href)"
                )
            finally:
                explaining_page.close()
            if not {urlparse(href).fragment for href in hrefs} & set(anchors):
                missing.append(f"{explaining} does not link {anchors[0]}")
    assert not missing, "\n".join(missing)


def test_no_page_outside_the_gallery_points_at_a_generated_file(page: Page) -> None:
    outside_gallery = [
        path
        for path in [*SITE.glob("*.html"), *SITE.glob("*/*.html")]
        if path.relative_to(SITE).parts[0] not in {"gallery", "_static", "_sources"}
    ]
    for path in sorted(outside_gallery):
        page.goto("/" + path.relative_to(SITE).as_posix())
        generated = page.evaluate(
            """() => [
                ...Array.from(document.querySelectorAll('article a[href]'), a => a.href),
                ...Array.from(document.querySelectorAll(
                    'article img:not(.sphx-glr-thumbcontainer img)'), img => img.src),
            ].filter(url => /sphx_glr_|\\/gallery\\/[^#]*\\/images\\//.test(url))"""
        )
        assert not generated, f"{path.name}: {generated}"
        images = re.findall(r"_images/sphx_glr_[\w.-]+", page.content())
        assert all("_thumb." in image for image in images), f"{path.name}: {images}"
