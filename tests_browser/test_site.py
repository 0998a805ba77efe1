"""The built site, in a real browser: every page, search, copy buttons, thumbnails."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pytest
from conftest import ARTIFACTS, ROOT, SITE, search_result_links
from playwright.sync_api import BrowserContext, Page, Response

PAGES = sorted(
    path.relative_to(SITE).as_posix()
    for path in SITE.rglob("*.html")
    if not path.relative_to(SITE).parts[0].startswith("_")
)


@dataclass
class Problems:
    """What went wrong while a page loaded."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.console_errors or self.page_errors or self.broken)


def watch(page: Page, origin: str) -> Problems:
    problems = Problems()

    def on_response(response: Response) -> None:
        if response.url.startswith(origin) and response.status >= 400:
            problems.broken.append(f"{response.status} {response.url}")

    page.on(
        "console",
        lambda message: (
            message.type == "error" and problems.console_errors.append(message.text)
        ),
    )
    page.on("pageerror", lambda error: problems.page_errors.append(str(error)))
    page.on(
        "requestfailed",
        lambda request: (
            request.url.startswith(origin)
            and problems.broken.append(f"failed {request.url}")
        ),
    )
    page.on("response", on_response)
    return problems


GALLERY_SECTIONS = sorted({path.parent.name for path in ROOT.glob("examples/*/plot_*.py")})


def test_the_site_has_every_section() -> None:
    assert len(EXAMPLE_PAGES) == len(list((ROOT / "examples").glob("*/plot_*.py")))
    for expected in (
        "index.html",
        "404.html",
        "search.html",
        "gallery/tutorial/plot_01_reproduce.html",
        "gallery/pitfalls/plot_10_not_this_keyerror.html",
        *(f"gallery/{section}/index.html" for section in GALLERY_SECTIONS),
        "find-your-problem.html",
        "explanation/start-method-matrix.html",
        "howto/recipes.html",
        "reference/api.html",
        "reference/errors.html",
        "reference/glossary.html",
    ):
        assert expected in PAGES


def test_local_links_resolve(context: BrowserContext, site_url: str) -> None:
    """Every href to this site, on every page, answers 200 (anchors are Sphinx's job)."""
    targets: set[str] = set()
    page = context.new_page()
    for path in PAGES:
        page.goto(f"/{path}")
        for href in page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)"):
            if href.startswith(site_url):
                targets.add(href.split("#")[0])
    broken = []
    for target in sorted(targets):
        response = context.request.get(target)
        if response.status != 200:
            broken.append(f"{response.status} {urlparse(target).path}")
    assert not broken, broken
    assert len(targets) > 50


def test_search_finds_keyerror(page: Page) -> None:
    links = search_result_links(page, "KeyError")
    assert any("plot_01_reproduce" in link for link in links), links


def copy_from(page: Page, block: str) -> str:
    """Click the copy button of ``block`` (a CSS selector) and read the clipboard."""
    target = page.locator(block)
    target.hover()
    target.locator("button.copybtn").click()
    return str(page.evaluate("navigator.clipboard.readText()"))


def test_copy_button_copies_exactly_the_recipe(page: Page) -> None:
    page.goto("/howto/recipes.html")
    recipe = (ROOT / "docs" / "howto" / "recipes" / "key_by_id.py").read_text()
    copied = copy_from(page, "#recipe-key-by-id div.highlight-python")
    assert copied.rstrip("\n") == recipe.rstrip("\n")


def test_copy_button_leaves_out_prompts_and_output(page: Page) -> None:
    page.goto("/howto/recipes.html")
    copied = copy_from(page, ".sd-tab-content div.highlight-console >> nth=0")
    assert copied.strip() == "MPGUIDE_START_METHOD=spawn python key_by_id.py"


def test_gallery_thumbnails_render(page: Page) -> None:
    page.goto("/gallery/index.html", wait_until="networkidle")
    sizes = page.eval_on_selector_all(
        ".sphx-glr-thumbcontainer img",
        "images => images.map(i => [i.getAttribute('src'), i.naturalWidth])",
    )
    assert len(sizes) >= 20
    assert all(width > 0 for _, width in sizes), [src for src, width in sizes if not width]


EXAMPLE_PAGES = [p for p in PAGES if re.fullmatch(r"gallery/\w+/plot_\w+\.html", p)]


@pytest.mark.parametrize("path", EXAMPLE_PAGES)
def test_example_downloads_work(page: Page, path: str) -> None:
    page.goto(f"/{path}")
    links = page.eval_on_selector_all(
        "div.sphx-glr-download a", "links => links.map(a => a.href)"
    )
    suffixes = sorted(Path(urlparse(link).path).suffix for link in links)
    assert suffixes == [".ipynb", ".py", ".zip"]
    source = (ROOT / "examples" / path.removeprefix("gallery/")).with_suffix(".py")
    for link in links:
        response = page.request.get(link)
        assert response.status == 200, link
        if link.endswith(".py"):
            assert response.text() == source.read_text()
        if link.endswith(".ipynb"):
            assert response.json()["nbformat"] == 4


def test_whole_gallery_downloads_work(page: Page) -> None:
    page.goto("/gallery/index.html")
    archives = page.eval_on_selector_all(
        "div.sphx-glr-download-python a, div.sphx-glr-download-jupyter a",
        "links => links.map(a => a.href)",
    )
    assert sorted(Path(urlparse(a).path).name for a in archives) == [
        "gallery_jupyter.zip",
        "gallery_python.zip",
    ]
    for archive in archives:
        response = page.request.get(archive)
        assert response.status == 200 and response.body()[:2] == b"PK", archive


def test_the_404_page_renders_with_its_resources(page: Page, site_url: str) -> None:
    problems = watch(page, site_url)
    page.goto("/404.html", wait_until="networkidle")
    assert "Page not found" in page.inner_text("h1")
    assert not problems, problems


def test_tabs_switch(page: Page) -> None:
    page.goto("/explanation/start-method-matrix.html")
    tab = page.locator("label.sd-tab-label", has_text=re.compile(r"^\s*spawn\s*$")).first
    tab.click()
    assert page.locator(
        ".sd-tab-content", has_text="re-imports your main module"
    ).first.is_visible()


def test_screenshots(page: Page) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    for name, path in (
        ("home", "/index.html"),
        ("reproduce", "/gallery/tutorial/plot_01_reproduce.html"),
    ):
        page.goto(path, wait_until="networkidle")
        shot = ARTIFACTS / f"screenshot-{name}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
