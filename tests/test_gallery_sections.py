"""The gallery's sections and the start-method matrix agree on which pages it runs."""

from __future__ import annotations

import ast
import runpy
import sys
from pathlib import Path

from conftest import ROOT

DOCS = ROOT / "docs"
MATRIX_SECTIONS = ("pitfalls", "pools", "memory", "inherit", "environment")


def conf_value(name: str) -> object:
    return runpy.run_path(str(DOCS / "conf.py"))[name]


def third_party_imports(path: Path) -> set[str]:
    """Top-level modules the page imports that are neither the standard library
    nor mpguide: the matrix's interpreters have neither installed."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"mpguide"}


def test_the_matrix_runs_every_page_of_its_sections_that_needs_no_third_party_package() -> (
    None
):
    patterns = conf_value("mpguide_matrix_examples")
    assert isinstance(patterns, list)
    in_matrix = {path.resolve() for pattern in patterns for path in DOCS.glob(pattern)}
    for section in MATRIX_SECTIONS:
        pages = sorted((ROOT / "examples" / section).glob("plot_*.py"))
        assert pages, section
        for page in pages:
            needs = third_party_imports(page)
            where = f"{section}/{page.name}"
            if needs:
                assert page.resolve() not in in_matrix, (where, needs)
            else:
                assert page.resolve() in in_matrix, where
    assert {path.parent.name for path in in_matrix} == set(MATRIX_SECTIONS)


def test_every_section_is_in_the_gallery_order_and_has_a_header() -> None:
    order = conf_value("sphinx_gallery_conf")
    assert isinstance(order, dict)
    listed = [Path(entry).name for entry in order["subsection_order"]]
    sections = sorted(p.name for p in (ROOT / "examples").iterdir() if p.is_dir())
    assert sorted(listed) == sections
    for section in sections:
        assert (ROOT / "examples" / section / "GALLERY_HEADER.rst").is_file(), section
