"""Every table on the site shows all its columns at 1280 pixels and on a phone,
without scrolling sideways; screenshots of the widest, at each width, are kept."""

from __future__ import annotations

import pytest
from conftest import ARTIFACTS, SITE
from playwright.sync_api import Page

WIDTHS = {"desktop": 1280, "phone": 390}
PAGES_WITH_TABLES = sorted(
    path.relative_to(SITE).as_posix()
    for path in SITE.rglob("*.html")
    if not path.relative_to(SITE).parts[0].startswith("_")
    and '<table class="docutils' in path.read_text(errors="replace")
)
SHOWN = "explanation/start-method-matrix.html"

# For each table: its columns, and those whose header cell ends past the right
# edge of the table's scrolling box or of the window.
HIDDEN_COLUMNS = """() => [...document.querySelectorAll("article table")].map(table => {
    const wrapper = table.closest(".table-wrapper") || table.parentElement;
    const box = wrapper.getBoundingClientRect();
    const right = Math.min(box.right, window.innerWidth) + 1;
    const cells = [...table.rows[0].cells];
    return {
        columns: cells.length,
        hidden: cells
            .filter(cell => cell.getBoundingClientRect().right > right)
            .map(cell => cell.innerText),
    };
})"""


def test_the_matrix_and_the_how_to_tables_are_checked() -> None:
    assert SHOWN in PAGES_WITH_TABLES and len(PAGES_WITH_TABLES) >= 3, PAGES_WITH_TABLES


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("path", PAGES_WITH_TABLES)
def test_every_column_is_on_screen(page: Page, path: str, width: str) -> None:
    page.set_viewport_size({"width": WIDTHS[width], "height": 900})
    page.goto(f"/{path}")
    tables = page.evaluate(HIDDEN_COLUMNS)
    assert tables, f"{path}: no table found"
    hidden = [table["hidden"] for table in tables if table["hidden"]]
    assert not hidden, f"{path} at {WIDTHS[width]} px: columns off screen: {hidden}"
    if path == SHOWN:
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / f"screenshot-matrix-{width}.png"
        page.screenshot(path=str(shot))
        assert shot.stat().st_size > 10_000
