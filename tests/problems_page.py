"""The "Find your problem" page, written from the collection of reported problems.

``docs/problems.yaml`` holds the problems; ``docs/find-your-problem.md`` is this
module's rendering of it, and ``tests/test_problems.py`` fails when the two
differ. After changing the collection, write the page again::

    python tests/problems_page.py
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "docs" / "problems.yaml"
PAGE = ROOT / "docs" / "find-your-problem.md"

# The sections of the page, in its order: what the reader sees.
SECTIONS = {
    "hang": "It hangs",
    "crash": "It crashes with a message",
    "wrong": "The result is wrong, or an update is lost",
    "slow": "It is slow",
    "memory": "Memory grows, or processes are left behind",
    "platform": "It works on Linux but not on macOS or Windows, or not on Python 3.14",
    "framework": "It fails inside a framework, a notebook, an IDE or a container",
}

INTRO = """\
(find-your-problem)=
# Find your problem

Find what you see, then follow the link: it leads to the page that reproduces
the problem, explains it and fixes it. The problems are those people report in
public issue threads, most reported first; each names the message you get, when
there is one. {doc}`reference/errors` lists every message this site's build
produces, with its meaning.

Problems this site does not answer yet are listed at the end, under
{ref}`not-answered-yet`, with the threads that report them.
"""


def load() -> list[dict[str, Any]]:
    """The collected problems, in the order of the data file."""
    problems: list[dict[str, Any]] = yaml.safe_load(DATA.read_text())
    return problems


def escape(text: str) -> str:
    """Text that Markdown shows as written (``__main__`` is not bold)."""
    return re.sub(r"([\\`*_\[\]<>{}|])", r"\\\1", text)


def link(answer: str) -> str:
    """The MyST role that links an answer: ``ref:LABEL`` or ``doc:PATH``."""
    kind, _, target = answer.partition(":")
    return f"{{{kind}}}`{target}`"


def source_name(url: str) -> str:
    """``owner/repo#123`` for a GitHub issue or pull-request URL."""
    match = re.fullmatch(r"https://github\.com/([^/]+/[^/]+)/(?:issues|pull)/(\d+)", url)
    return f"{match[1]}#{match[2]}" if match else url


def line(problem: dict[str, Any], answered: bool) -> str:
    """One problem as a list item: symptom, message, then the answer or sources."""
    text = escape(problem["symptom"])
    if problem["message"]:
        text += f": `{problem['message']}`"
    if answered:
        return f"- {text}; answered in {link(problem['answer'])}"
    sources = ", ".join(f"[{source_name(u)}]({u})" for u in problem["sources"])
    return f"- {text} ({problem['reports']} reports: {sources})"


def most_reported(problems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(problems, key=lambda p: (-p["reports"], p["id"]))


def render(problems: list[dict[str, Any]]) -> str:
    """The page's Markdown."""
    parts = [INTRO]
    for category, title in SECTIONS.items():
        answered = [p for p in problems if p["category"] == category and p["answer"]]
        parts.append(f"## {title}\n")
        parts.append("\n".join(line(p, True) for p in most_reported(answered)) + "\n")
    parts.append(
        "(not-answered-yet)=\n## Not answered here yet\n\n"
        "Reported problems that no page of this site answers yet, by what you see,\n"
        "with the number of threads found that report each.\n"
    )
    for category, title in SECTIONS.items():
        waiting = [p for p in problems if p["category"] == category and not p["answer"]]
        if waiting:
            parts.append(f"### {title}\n")
            parts.append("\n".join(line(p, False) for p in most_reported(waiting)) + "\n")
    return "\n".join(parts)


if __name__ == "__main__":
    PAGE.write_text(render(load()))
