"""The collection of reported problems, and the page that indexes them by symptom.

``docs/problems.yaml`` lists problems people report, each with its sources and
the page of this site that answers it. These tests fail when an answer names a
page or an anchor that does not exist, when a problem has fewer than two
sources or a report count that does not count them, when ids repeat, and when
``docs/find-your-problem.md`` is not the rendering of the collection.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, page_source
from problems_page import PAGE, SECTIONS, line, link, load, render

DOCS = ROOT / "docs"
PROBLEMS = load()
ANSWERED = [p for p in PROBLEMS if p["answer"]]
SOURCE = re.compile(r"https://github\.com/[\w.-]+/[\w.-]+/(?:issues|pull)/\d+")


def doc_sources() -> list[Path]:
    """The Markdown sources Sphinx reads (not the build, not generated pages)."""
    skipped = {"_build", "gallery", "_generated"}
    return [p for p in DOCS.rglob("*.md") if not skipped & set(p.relative_to(DOCS).parts)]


LABELS = {
    label
    for path in doc_sources()
    for label in re.findall(r"^\(([\w.-]+)\)=$", path.read_text(), re.M)
}


def resolves(answer: str) -> bool:
    """Whether an answer names something the docs build defines."""
    kind, _, target = answer.partition(":")
    if kind == "doc":
        return page_source(target).is_file()
    if kind == "ref" and target.startswith("sphx_glr_gallery_"):
        return target.endswith(".py") and page_source(target).is_file()
    return kind == "ref" and target in LABELS


def test_the_collection_holds_at_least_80_problems() -> None:
    assert len(PROBLEMS) >= 80


def test_ids_do_not_repeat() -> None:
    repeated = [i for i, n in Counter(p["id"] for p in PROBLEMS).items() if n > 1]
    assert not repeated


@pytest.mark.parametrize("problem", PROBLEMS, ids=[p["id"] for p in PROBLEMS])
def test_each_problem_has_two_sources_and_counts_them(problem: dict[str, Any]) -> None:
    sources = problem["sources"]
    assert len(set(sources)) == len(sources) >= 2
    assert all(SOURCE.fullmatch(url) for url in sources), sources
    assert problem["reports"] == len(sources)
    assert problem["category"] in SECTIONS
    assert problem["symptom"] and problem["versions"] and problem["platforms"]


def test_no_thread_is_counted_for_two_problems() -> None:
    counted = Counter(url for p in PROBLEMS for url in p["sources"])
    assert not [url for url, n in counted.items() if n > 1]


@pytest.mark.parametrize("problem", ANSWERED, ids=[p["id"] for p in ANSWERED])
def test_each_answer_exists(problem: dict[str, Any]) -> None:
    assert resolves(problem["answer"]), problem["answer"]


@pytest.mark.parametrize(
    "answer",
    [
        "ref:error-no-such-message",
        "ref:sphx_glr_gallery_pools_plot_99_no_such_page.py",
        "ref:sphx_glr_gallery_pools_plot_01_ctrl_c",
        "doc:howto/no-such-guide",
        "page:howto/recipes",
    ],
)
def test_a_missing_page_or_anchor_is_caught(answer: str) -> None:
    assert not resolves(answer)


def test_the_labels_found_include_the_error_index() -> None:
    # The label scan reads the sources: the error index defines dozens of labels.
    assert sum(label.startswith("error-") for label in LABELS) >= 40


def test_the_page_is_the_rendering_of_the_collection() -> None:
    assert PAGE.read_text() == render(PROBLEMS), "run: python tests/problems_page.py"


def test_each_answered_problem_is_listed_under_what_the_reader_sees() -> None:
    page = PAGE.read_text()
    sections = dict(re.findall(r"^## ([^\n]+)\n(.*?)(?=^## |\Z)", page, re.M | re.S))
    for problem in ANSWERED:
        section = sections[SECTIONS[problem["category"]]]
        assert line(problem, True) in section.splitlines(), problem["id"]
        assert link(problem["answer"]) in section


def test_the_unanswered_problems_are_listed_with_their_sources() -> None:
    page = PAGE.read_text()
    waiting = page.split("## Not answered here yet", 1)[1]
    for problem in PROBLEMS:
        if not problem["answer"]:
            assert line(problem, False) in waiting.splitlines(), problem["id"]
            assert all(url in waiting for url in problem["sources"])


def test_the_home_page_leads_to_the_page_next_to_the_error_index() -> None:
    home = (DOCS / "index.md").read_text()
    toctree = home.split("```{toctree}", 1)[1]
    assert "\nfind-your-problem\n" in toctree
    entry = re.search(r"^Find your problem\n: (.*?)\n\n", home, re.M | re.S)
    assert entry, "the home page has no entry for the page"
    assert "{doc}`find-your-problem`" in entry[1]
    assert "{doc}`reference/errors`" in entry[1]


COLLECTION_BEGAN = "017a881"  # the last commit before the collection and its issue


def test_named_by_names_an_issue_and_answered_before_marks_an_answer() -> None:
    for problem in PROBLEMS:
        assert problem.get("named_by", 25) in (25, 31), problem["id"]
        if problem.get("answered_before_collection"):
            assert problem["answer"], problem["id"]


def git(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *arguments], cwd=ROOT, capture_output=True, text=True, check=False
    )


def answered_then(answer: str) -> bool:
    """Whether the page or anchor ``answer`` names existed when the collection began."""
    kind, _, target = answer.partition(":")
    if kind == "doc" or target.startswith("sphx_glr_gallery_"):
        path = page_source(target).relative_to(ROOT).as_posix()
        return git("cat-file", "-e", f"{COLLECTION_BEGAN}:{path}").returncode == 0
    label = f"({target})="
    return (
        git("grep", "-q", "-F", "-e", label, COLLECTION_BEGAN, "--", "docs").returncode == 0
    )


def test_answered_before_the_collection_is_what_the_history_says() -> None:
    if git("cat-file", "-e", f"{COLLECTION_BEGAN}^{{commit}}").returncode != 0:
        pytest.skip(f"commit {COLLECTION_BEGAN} is not in this clone's history")
    marked = {p["id"] for p in ANSWERED if p.get("answered_before_collection")}
    then = {p["id"] for p in ANSWERED if answered_then(p["answer"])}
    assert marked == then
