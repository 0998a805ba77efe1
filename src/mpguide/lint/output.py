"""Reading files, ``# noqa``, ``--select``/``--ignore``, and printing findings."""

from __future__ import annotations

import ast
import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from mpguide.lint.engine import Finding, analyse

__all__ = [
    "FileResult",
    "ParseFailure",
    "format_json",
    "format_text",
    "is_selected",
    "lint_file",
    "python_files",
]

#: flake8's own pattern: a bare noqa comment, or one followed by a colon and codes.
NOQA = re.compile(
    r"#\s*noqa(?::[\s]?(?P<codes>[A-Z][0-9]+(?:[,\s]+[A-Z][0-9]+)*))?", re.IGNORECASE
)
#: Directories never entered when a directory is given.
SKIPPED_DIRECTORIES = frozenset({"__pycache__", "node_modules"})


@dataclass(frozen=True)
class ParseFailure:
    path: str
    line: int
    col: int
    message: str


@dataclass(frozen=True)
class FileResult:
    path: str
    findings: tuple[Finding, ...]
    failure: ParseFailure | None = None


def python_files(paths: Sequence[str]) -> Iterator[str]:
    """Each file named, and every ``*.py`` under each directory named, in order
    (hidden directories and ``__pycache__`` skipped)."""
    for path in paths:
        if not os.path.isdir(path):
            yield path
            continue
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(
                d for d in dirs if not d.startswith(".") and d not in SKIPPED_DIRECTORIES
            )
            for name in sorted(files):
                if name.endswith(".py"):
                    yield os.path.join(root, name)


def is_selected(code: str, select: Sequence[str], ignore: Sequence[str]) -> bool:
    """flake8's rule: the longest matching prefix decides; an empty select is all."""
    selected = max((len(p) for p in select if code.startswith(p)), default=-1)
    if not select:
        selected = 0
    ignored = max((len(p) for p in ignore if code.startswith(p)), default=-1)
    return selected >= 0 and selected > ignored


def suppressed(line: str, code: str) -> bool:
    match = NOQA.search(line)
    if match is None:
        return False
    codes = match.group("codes")
    if codes is None:
        return True
    return any(code.startswith(c) for c in re.split(r"[,\s]+", codes.upper()) if c)


def lint_file(
    path: str, select: Sequence[str] = (), ignore: Sequence[str] = ()
) -> FileResult:
    """The findings in one file that are selected and not silenced by ``# noqa``."""
    try:
        source = Path(path).read_bytes()
        tree = ast.parse(source, filename=path)
    except SyntaxError as error:
        failure = ParseFailure(
            path,
            error.lineno or 1,
            error.offset or 1,
            f"{type(error).__name__}: {error.msg}",
        )
        return FileResult(path, (), failure)
    except (OSError, ValueError) as error:  # unreadable; null bytes; bad encoding
        return FileResult(
            path, (), ParseFailure(path, 1, 1, f"{type(error).__name__}: {error}")
        )
    lines = source.decode("utf-8", "replace").splitlines()
    kept = tuple(
        finding
        for finding in analyse(tree)
        if is_selected(finding.code, select, ignore)
        and not (
            finding.line <= len(lines) and suppressed(lines[finding.line - 1], finding.code)
        )
    )
    return FileResult(path, kept)


def format_text(results: Iterable[FileResult]) -> Iterator[str]:
    for result in results:
        for finding in result.findings:
            yield f"{result.path}:{finding.line}:{finding.col}: {finding.message}"


def format_json(results: Iterable[FileResult]) -> str:
    entries = [
        {
            "path": result.path,
            "line": finding.line,
            "col": finding.col,
            "code": finding.code,
            "message": finding.message[len(finding.code) + 1 :],
        }
        for result in results
        for finding in result.findings
    ]
    return json.dumps(entries, indent=2)
