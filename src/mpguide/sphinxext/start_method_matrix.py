"""Run the pitfall examples under every start method and interpreter while the site builds.

Each pitfall example ends by printing two lines, ``failure reproduced: yes|no
(detail)`` and ``fix works: yes|no (detail)``, and, when its outcome can depend
on the start method, ``depends on the start method: <why>``; when it can depend
on the Python version, ``depends on the Python version: <why>``. This extension
runs every such example as a script under ``fork``, ``spawn`` and
``forkserver``, on every CPython the build machine has (see
:mod:`mpguide.sphinxext.interpreters`), in parallel and each with a time limit,
reads those lines, and writes MyST tables that a page includes: one table per
gallery section, one row per example, one column per start method, each cell
saying what happened on each interpreter.

The runs are controlled: each gets a copy of the build's environment without
the variables that change how Python itself behaves (every ``PYTHON*``
variable, such as ``PYTHONHASHSEED``, which a build step may have set, and
which would give every run the same hash salt) and without ``mpguide``'s own
settings other than the start method.

The build fails, naming the example, the interpreter and the start method, when
an example exits with an error, runs past its time limit, or does not print its
outcome lines; when it reproduces its failure under some start methods and not
others without saying why, or says its outcome depends on the start method but
shows no difference; and when its verdicts differ between interpreters without
``depends on the Python version``, or it says so but they do not (checked when
at least two interpreters ran and no expected version is missing, since a
difference may lie with the missing one). The runs and their cache are
:mod:`mpguide.sphinxext.runs`'s, shared with the error index: in
``MPGUIDE_CACHE_DIR`` when it is set (so that several builds share them) and in
the doctree directory otherwise.
"""

from __future__ import annotations

import ast
import dataclasses
import platform
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util import logging

from mpguide.run import START_METHODS
from mpguide.sphinxext.interpreters import Interpreter, by_version
from mpguide.sphinxext.runs import (
    Job,
    Runner,
    add_pythons_setting,
    cache_path,
    interpreters_for,
    run_jobs,
)

logger = logging.getLogger(__name__)

OUTCOME_LINE = re.compile(
    r"^(failure reproduced|fix works): (yes|no)\b[ \t]*(?:\((.*)\))?[ \t]*$", re.MULTILINE
)
REASON_LINE = re.compile(r"^depends on the start method: (.+)$", re.MULTILINE)
VERSION_REASON_LINE = re.compile(r"^depends on the Python version: (.+)$", re.MULTILINE)
CACHE_NAME = "mpguide-start-method-matrix.json"


class MatrixError(ExtensionError):
    """A pitfall example did not run as its page says."""


RUNNER = Runner("start-method matrix: %d example runs", MatrixError, CACHE_NAME)


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one example printed under one start method."""

    reproduced: bool
    reproduced_detail: str
    fixed: bool
    fixed_detail: str
    reason: str | None
    version_reason: str | None = None

    @classmethod
    def parse(cls, output: str, where: str) -> Outcome:
        """Read the outcome lines from an example's output.

        :raises MatrixError: if either line is missing.
        """
        found = {
            name: (verdict, detail)
            for name, verdict, detail in OUTCOME_LINE.findall(output)
        }
        missing = [
            name for name in ("failure reproduced", "fix works") if name not in found
        ]
        if missing:
            raise MatrixError(
                f"{where} printed no {' and no '.join(repr(m + ':') for m in missing)} line"
            )
        reason = REASON_LINE.search(output)
        version_reason = VERSION_REASON_LINE.search(output)
        return cls(
            reproduced=found["failure reproduced"][0] == "yes",
            reproduced_detail=found["failure reproduced"][1],
            fixed=found["fix works"][0] == "yes",
            fixed_detail=found["fix works"][1],
            reason=reason.group(1).strip() if reason else None,
            version_reason=version_reason.group(1).strip() if version_reason else None,
        )

    @property
    def verdicts(self) -> tuple[bool, bool]:
        """Whether the failure was reproduced and whether the fix worked, the
        two things the table compares between interpreters."""
        return self.reproduced, self.fixed


def check_consistency(
    path: Path, interpreter: Interpreter, row: dict[str, Outcome]
) -> None:
    """On one interpreter, an outcome that differs by start method must say why,
    and an example that says so must show a difference.

    :raises MatrixError: if either is not so.
    """
    reproduced = {method for method, outcome in row.items() if outcome.reproduced}
    reasons = {outcome.reason for outcome in row.values()}
    where = f"{path.name} on Python {interpreter.version}"
    differs = bool(reproduced) and reproduced != set(START_METHODS)
    if differs and reasons == {None}:
        raise MatrixError(
            f"{where} reproduces its failure under {', '.join(sorted(reproduced))} "
            "only, and does not print 'depends on the start method: <why>'"
        )
    if not differs and reasons != {None}:
        seen = "every" if reproduced else "no"
        raise MatrixError(
            f"{where} says its outcome depends on the start method, but it reproduced "
            f"its failure under {seen} start method: a setting may hide the failure, "
            "or the page is wrong"
        )


def check_versions(
    path: Path,
    interpreters: Sequence[Interpreter],
    outcomes: Mapping[Job, Outcome],
    *,
    complete: bool = True,
) -> None:
    """Verdicts that differ between interpreters must say why, and an example
    that says its outcome depends on the Python version must show a difference
    under some start method. The second is checked only when ``complete`` (no
    expected version is missing) and at least two interpreters ran.

    :raises MatrixError: if either is not so.
    """
    versions = ", ".join(i.version for i in interpreters)
    differs = False
    for method in START_METHODS:
        seen = {outcomes[Job(path, i, method)].verdicts for i in interpreters}
        reasons = {outcomes[Job(path, i, method)].version_reason for i in interpreters}
        if len(seen) > 1 and reasons == {None}:
            raise MatrixError(
                f"{path.name} under {method} has different outcomes on Python {versions}, "
                "and does not print 'depends on the Python version: <why>'"
            )
        differs = differs or len(seen) > 1
    claimed = any(
        outcomes[Job(path, i, m)].version_reason
        for i in interpreters
        for m in START_METHODS
    )
    if claimed and not differs and complete and len(interpreters) > 1:
        raise MatrixError(
            f"{path.name} says its outcome depends on the Python version, but its "
            f"verdicts were the same on Python {versions} under every start method: "
            "the page is wrong, or only its wording differs (say so in its text, "
            "not in this line)"
        )


def title_of(path: Path) -> str:
    """The example's title (its docstring's first line), as plain text for a link."""
    docstring = ast.get_docstring(ast.parse(path.read_text())) or path.stem
    return re.sub(r"``|\*", "", docstring.strip().splitlines()[0])


def describe(outcome: Outcome) -> str:
    failure = "**Fails**" if outcome.reproduced else "**No failure**"
    fix = "Fix works" if outcome.fixed else "**Fix fails**"
    return (
        f"{with_detail(failure, outcome.reproduced_detail)}. "
        f"{with_detail(fix, outcome.fixed_detail)}."
    )


def cell(outcomes: Sequence[tuple[Interpreter, Outcome]]) -> str:
    """One start method's outcomes: one text when every interpreter agrees word for
    word, else a list of each distinct text with the versions that printed it
    (indented to sit in a ``list-table`` cell)."""
    texts: dict[str, list[str]] = {}
    for interpreter, outcome in outcomes:
        texts.setdefault(describe(outcome), []).append(interpreter.minor)
    if len(texts) == 1:
        return next(iter(texts))
    items = [f"- {', '.join(versions)}: {text}" for text, versions in texts.items()]
    return "\n    ".join(items)


def with_detail(verdict: str, detail: str) -> str:
    return f"{verdict} ({escape_markdown(detail)})" if detail else verdict


def escape_markdown(text: str) -> str:
    """Printed text, shown literally in MyST (``__main__`` stays as it is)."""
    return re.sub(r"([\\`*_{}\[\]<>|~])", r"\\\1", text)


def failing_methods(
    path: Path, interpreters: Sequence[Interpreter], outcomes: Mapping[Job, Outcome]
) -> str:
    """``fails under `spawn`, `forkserver` only``, per version where versions differ."""
    texts: dict[str, list[str]] = {}
    for interpreter in interpreters:
        failing = [
            m for m in START_METHODS if outcomes[Job(path, interpreter, m)].reproduced
        ]
        text = f"fails under {', '.join(f'`{m}`' for m in failing)} only"
        texts.setdefault(text, []).append(interpreter.minor)
    if len(texts) == 1:
        return next(iter(texts))
    return "; ".join(f"{', '.join(versions)}: {text}" for text, versions in texts.items())


def gallery_label(gallery: str, path: Path) -> str:
    """The label sphinx-gallery gives the page of ``path``: its section is the
    example's folder, inside the ``gallery`` directory."""
    return f"sphx_glr_{gallery.replace('/', '_')}_{path.parent.name}_{path.name}"


def section_label(gallery: str, folder: str) -> str:
    """The label sphinx-gallery gives a gallery section's index."""
    return f"sphx_glr_{gallery.replace('/', '_')}_{folder}"


def by_section(paths: Sequence[Path]) -> dict[str, list[Path]]:
    """The examples grouped by their folder, in the order given."""
    sections: dict[str, list[Path]] = {}
    for path in paths:
        sections.setdefault(path.parent.name, []).append(path)
    return sections


def render(
    paths: Sequence[Path],
    interpreters: Sequence[Interpreter],
    outcomes: Mapping[Job, Outcome],
    gallery: str,
    missing: Sequence[str] = (),
) -> str:
    """One MyST table per section, then where the start method and the version
    matter, then the runs."""
    lines: list[str] = []
    by_method: list[str] = []
    by_python: list[str] = []
    sections = by_section(paths)
    for folder, section in sections.items():
        if len(sections) > 1:
            lines += [f"{{ref}}`{section_label(gallery, folder)}`", ""]
        lines += section_table(
            section, interpreters, outcomes, gallery, by_method, by_python
        )
    if by_method:
        lines += ["Where the start method matters:", "", *by_method, ""]
    if by_python:
        lines += ["Where the Python version matters:", "", *by_python, ""]
    versions = ", ".join(i.version for i in by_version(list(interpreters)))
    lines.append(
        f"Runs: CPython {versions} on {platform.system()} {platform.machine()}, each "
        "example as a script under each start method on each interpreter. A cell with "
        "one text held on every interpreter; otherwise each text names its versions."
    )
    if missing:
        lines += [
            "",
            f"Not run: Python {', '.join(missing)}, not found on the machine that built "
            "this page; the table shows only the versions above.",
        ]
    return "\n".join(lines) + "\n"


def section_table(
    paths: Sequence[Path],
    interpreters: Sequence[Interpreter],
    outcomes: Mapping[Job, Outcome],
    gallery: str,
    by_method: list[str],
    by_python: list[str],
) -> list[str]:
    """One section's table; its notes on start methods and versions are added to
    ``by_method`` and ``by_python``."""
    lines = [
        ":::{list-table}",
        ":header-rows: 1",
        ":widths: 22 26 26 26",
        "",
        "* - Pitfall",
        *(f"  - `{method}`" for method in START_METHODS),
    ]
    for path in paths:
        link = f"{{ref}}`{title_of(path)} <{gallery_label(gallery, path)}>`"
        lines.append(f"* - {link}")
        for method in START_METHODS:
            row = [(i, outcomes[Job(path, i, method)]) for i in interpreters]
            lines.append(f"  - {cell(row)}")
        everything = [
            outcomes[Job(path, i, m)] for i in interpreters for m in START_METHODS
        ]
        reason = next((o.reason for o in everything if o.reason), None)
        if reason is not None:
            seen = failing_methods(path, interpreters, outcomes)
            by_method.append(f"- {link}: {seen}. Why: {escape_markdown(reason)}.")
        version_reason = next(
            (o.version_reason for o in everything if o.version_reason), None
        )
        if version_reason is not None:
            by_python.append(f"- {link}: {escape_markdown(version_reason)}.")
    return [*lines, ":::", ""]


def write_if_changed(path: Path, text: str) -> None:
    """Leave an unchanged file alone, so that Sphinx does not rebuild its page."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def build_matrix(app: Sphinx) -> None:
    """``builder-inited``: run the examples (or reuse results) and write the table."""
    confdir = Path(app.confdir)
    setting = app.config.mpguide_matrix_examples
    patterns = [setting] if isinstance(setting, str) else list(setting)
    patterns = [pattern for pattern in patterns if pattern]
    if not patterns:
        return
    paths = []
    for pattern in patterns:
        matched = sorted(confdir.glob(pattern))
        if not matched:
            raise MatrixError(f"mpguide_matrix_examples {pattern!r} matches no file")
        paths += [path for path in matched if path not in paths]
    interpreters, missing = interpreters_for(app, "start-method matrix", MatrixError)
    jobs = [Job(p, i, m) for p in paths for i in interpreters for m in START_METHODS]
    outcomes = run_jobs(
        RUNNER,
        jobs,
        lambda output, job: Outcome.parse(output, str(job)),
        timeout=float(app.config.mpguide_matrix_timeout),
        cache_file=cache_path(app, CACHE_NAME),
    )
    for path in paths:
        for interpreter in interpreters:
            row = {m: outcomes[Job(path, interpreter, m)] for m in START_METHODS}
            check_consistency(path, interpreter, row)
        check_versions(path, interpreters, outcomes, complete=not missing)
    ordered = by_version(interpreters)
    text = render(
        paths,
        ordered,
        outcomes,
        gallery=app.config.mpguide_matrix_gallery.strip("/"),
        missing=missing,
    )
    write_if_changed(confdir / app.config.mpguide_matrix_output, text)


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the configuration values and the ``builder-inited`` handler."""
    app.add_config_value("mpguide_matrix_examples", "", "env", (str, list, tuple))
    app.add_config_value(
        "mpguide_matrix_output", "explanation/_generated/start-method-matrix.md", "env", str
    )
    app.add_config_value("mpguide_matrix_gallery", "gallery", "env", str)
    app.add_config_value("mpguide_matrix_timeout", 180, "env", (int, float))
    add_pythons_setting(app)
    app.connect("builder-inited", build_matrix)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
