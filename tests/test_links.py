"""The links between pages, checked in their sources.

The error index names, for each message, the pages that explain it: each of
those pages links back to the message's section. Every essay ends with a
mini-gallery of pitfalls, and every pitfall page links an essay. Pages refer to
gallery pages by sphinx-gallery's labels, never by the paths of generated files.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest
from conftest import ROOT, page_source

import mpguide

DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"
ERRORS_PAGE = DOCS / "reference" / "errors.md"
ESSAYS = sorted((DOCS / "explanation").glob("*.md"))
PITFALLS = sorted((EXAMPLES / "pitfalls").glob("plot_*.py"))


def error_sections() -> list[tuple[str, list[str]]]:
    """(label, explaining pages) for each section of the error index."""
    text = ERRORS_PAGE.read_text()
    sections = re.split(r"\n\((error-[a-z0-9-]+)\)=\n", text)[1:]
    result = []
    for label, body in zip(sections[::2], sections[1::2], strict=True):
        explained = re.search(r"\*\*Explained in:\*\*(.*?)(?:\n\n|\Z)", body, re.S)
        assert explained, f"{label} names no page that explains it"
        targets = re.findall(r"\{(?:doc|ref)\}`(?:[^`<]*<)?([^`<>]+)>?`", explained[1])
        pages = [t for t in targets if not t.startswith("python:")]
        result.append((label, pages))
    return result


SECTIONS = error_sections()


def test_every_section_of_the_error_index_has_a_label() -> None:
    headings = re.findall(r"^### ", ERRORS_PAGE.read_text(), re.M)
    assert len(SECTIONS) == len(headings) >= 20


@pytest.mark.parametrize(("label", "pages"), SECTIONS, ids=[s[0] for s in SECTIONS])
def test_each_explaining_page_links_the_message(label: str, pages: list[str]) -> None:
    assert pages, f"{label}: no page of this site explains it"
    for target in pages:
        source = page_source(target)
        assert source.is_file(), f"{label}: {target} is not a page"
        assert re.search(
            rf"`{re.escape(label)}`|<{re.escape(label)}>`", source.read_text()
        ), f"{source.relative_to(ROOT)} explains {label} but does not link it"


def test_the_home_page_links_the_error_index() -> None:
    assert "reference/errors" in (DOCS / "index.md").read_text()


@pytest.mark.parametrize("essay", [e for e in ESSAYS if e.name != "index.md"], ids=str)
def test_each_essay_ends_with_a_mini_gallery(essay: Path) -> None:
    text = essay.read_text()
    last_section = text[text.rindex("\n## ") :]
    assert ".. minigallery::" in last_section
    patterns = re.findall(r"^\s+(\.\./examples/\S+)$", last_section, re.M)
    assert patterns, f"{essay.name}: the mini-gallery names no example"
    for pattern in patterns:
        assert list(DOCS.glob(pattern)), f"{essay.name}: {pattern} matches no example"


def mini_gallery(essay: Path) -> set[Path]:
    """The example files an essay's mini-gallery shows."""
    patterns = re.findall(r"^\s+(\.\./examples/\S+)$", essay.read_text(), re.M)
    return {path.resolve() for pattern in patterns for path in DOCS.glob(pattern)}


@pytest.mark.parametrize("pitfall", PITFALLS, ids=lambda p: p.stem)
def test_each_pitfall_links_an_essay_that_shows_it(pitfall: Path) -> None:
    essays = set(
        re.findall(r":doc:`(?:[^`<]*<)?/explanation/([a-z-]+)>?`", pitfall.read_text())
    )
    assert essays, f"{pitfall.name} links no explanation page"
    showing = [essay.stem for essay in ESSAYS if pitfall.resolve() in mini_gallery(essay)]
    assert essays & set(showing), f"{pitfall.name} links {essays}, shown by {showing}"


# Sources kept in git: not the pages the build writes (``_generated``, ``gallery``).
SOURCES = [
    path
    for path in [*DOCS.rglob("*.md"), *EXAMPLES.rglob("*.py"), *EXAMPLES.rglob("*.rst")]
    if not {"_generated", "gallery", "_build"} & set(path.relative_to(ROOT).parts[1:-1])
]


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_page_refers_to_a_gallery_path(source: Path) -> None:
    text = source.read_text()
    path_reference = (
        r"(\{doc\}|:doc:)`[^`]*gallery/"
        r"|\]\((/|\.\./)*gallery/"
        r"|(\{(figure|image)\}|\.\. (figure|image)::)\s+\S*gallery/"
    )
    assert not re.search(path_reference, text), "use sphx_glr_gallery_* labels"
    assert "sphx_glr_" not in re.sub(r"sphx_glr_gallery_\w+(\.py)?", "", text), (
        "a generated file referred to by its name"
    )


def test_no_example_imports_another_object_under_a_public_name() -> None:
    """An API entry's mini-gallery lists only examples that use that very name.

    sphinx-gallery files a name imported from ``mpguide.a.b`` under ``mpguide.a``
    and ``mpguide`` too, without checking that those hold the same object: a
    helper named like a public name would put its examples on that name's entry.
    """
    clashes = []
    for example in sorted(EXAMPLES.glob("*/plot_*.py")):
        for node in ast.walk(ast.parse(example.read_text())):
            if not isinstance(node, ast.ImportFrom) or node.module is None:
                continue
            if not node.module.startswith("mpguide."):
                continue
            module = importlib.import_module(node.module)
            for alias in node.names:
                public = getattr(mpguide, alias.name, None)
                if (
                    alias.name in mpguide.__all__
                    and getattr(module, alias.name) is not public
                ):
                    clashes.append(f"{example.name}: {node.module}.{alias.name}")
    assert not clashes, clashes


def test_an_explained_in_paragraph_links_only_the_explaining_pages() -> None:
    """The site's browser test reads every link of the paragraph that holds
    "Explained in:" as a page that explains the message, so a reference to
    another section of the index in that paragraph would be taken for one."""
    for paragraph in ERRORS_PAGE.read_text().split("\n\n"):
        if "**Explained in:**" in paragraph:
            assert "{ref}`error-" not in paragraph, paragraph
