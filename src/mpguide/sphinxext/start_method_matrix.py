"""Run the pitfall examples under every start method while the site builds.

Each pitfall example ends by printing two lines, ``failure reproduced: yes|no
(detail)`` and ``fix works: yes|no (detail)``, and, when its outcome can depend
on the start method, ``depends on the start method: <why>``. This extension
runs every such example as a script under ``fork``, ``spawn`` and
``forkserver`` (in parallel, each with a time limit), reads those lines, and
writes a MyST table that a page includes: one row per pitfall, one column per
start method, with what actually happened.

The build fails, naming the example and the start method, when an example exits
with an error, runs past its time limit, does not print its outcome lines, or
reproduces its failure under some start methods and not others without saying
why. Results are cached in the doctree directory, keyed by the example's source,
the ``mpguide`` package's source and the Python version, so an unchanged rebuild
runs nothing.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util import logging

import mpguide

logger = logging.getLogger(__name__)

START_METHODS = ("fork", "spawn", "forkserver")
OUTCOME_LINE = re.compile(
    r"^(failure reproduced|fix works): (yes|no)\b[ \t]*(?:\((.*)\))?[ \t]*$", re.MULTILINE
)
OUTCOME_NAMES = ("failure reproduced", "fix works")
REASON_LINE = re.compile(r"^depends on the start method: (.+)$", re.MULTILINE)
CACHE_NAME = "mpguide-start-method-matrix.json"


class MatrixError(ExtensionError):
    """A pitfall example did not run as its page says."""


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one example printed under one start method."""

    reproduced: bool
    reproduced_detail: str
    fixed: bool
    fixed_detail: str
    reason: str | None

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
        return cls(
            reproduced=found["failure reproduced"][0] == "yes",
            reproduced_detail=found["failure reproduced"][1],
            fixed=found["fix works"][0] == "yes",
            fixed_detail=found["fix works"][1],
            reason=reason.group(1).strip() if reason else None,
        )


def run_example(path: Path, method: str, timeout: float) -> Outcome:
    """Run ``python path`` under ``method``; return what it printed.

    :raises MatrixError: on a time-out, a non-zero exit, or missing outcome lines.
    """
    where = f"{path.name} under {method}"
    env = {**os.environ, "MPGUIDE_START_METHOD": method, "MPLBACKEND": "Agg"}
    try:
        done = subprocess.run(
            [sys.executable, str(path)],
            cwd=path.parent,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise MatrixError(f"{where} did not finish within {timeout:g} s") from None
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise MatrixError(f"{where} failed with exit status {done.returncode}:\n{tail}")
    return Outcome.parse(done.stdout, where)


def cache_key(path: Path, method: str) -> str:
    """Changes whenever the example, the mpguide package or Python does."""
    digest = hashlib.sha256(path.read_bytes())
    package = Path(mpguide.__file__).parent
    for source in sorted(package.rglob("*.py")):
        digest.update(source.read_bytes())
    digest.update(f"{method}\0{sys.version}".encode())
    return digest.hexdigest()


def run_all(
    paths: Sequence[Path], timeout: float, cache: dict[str, Any]
) -> dict[tuple[Path, str], Outcome]:
    """Every example under every start method, reusing cached outcomes."""
    jobs = [(path, method) for path in paths for method in START_METHODS]
    outcomes: dict[tuple[Path, str], Outcome] = {}
    to_run = []
    for path, method in jobs:
        cached = cache.get(cache_key(path, method))
        if cached is not None:
            outcomes[path, method] = Outcome(**cached)
        else:
            to_run.append((path, method))
    if to_run:
        logger.info("start-method matrix: %d example runs", len(to_run))
        with ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 1))) as pool:
            results = pool.map(lambda job: run_example(job[0], job[1], timeout), to_run)
            for job, outcome in zip(to_run, results, strict=True):
                outcomes[job] = outcome
                cache[cache_key(*job)] = dataclasses.asdict(outcome)
    return outcomes


def check_consistency(path: Path, row: dict[str, Outcome]) -> None:
    """An outcome that differs by start method must say why.

    :raises MatrixError: if it does not.
    """
    reproduced = {method for method, outcome in row.items() if outcome.reproduced}
    reasons = {outcome.reason for outcome in row.values()}
    if reproduced and reproduced != set(START_METHODS) and reasons == {None}:
        raise MatrixError(
            f"{path.name} reproduces its failure under {', '.join(sorted(reproduced))} "
            "only, and does not print 'depends on the start method: <why>'"
        )


def title_of(path: Path) -> str:
    """The example's title (its docstring's first line), as plain text for a link."""
    docstring = ast.get_docstring(ast.parse(path.read_text())) or path.stem
    return re.sub(r"``|\*", "", docstring.strip().splitlines()[0])


def cell(outcome: Outcome) -> str:
    failure = "**Fails**" if outcome.reproduced else "**No failure**"
    fix = "Fix works" if outcome.fixed else "**Fix fails**"
    return (
        f"{with_detail(failure, outcome.reproduced_detail)}. "
        f"{with_detail(fix, outcome.fixed_detail)}."
    )


def with_detail(verdict: str, detail: str) -> str:
    return f"{verdict} ({escape_markdown(detail)})" if detail else verdict


def escape_markdown(text: str) -> str:
    """Printed text, shown literally in MyST (``__main__`` stays as it is)."""
    return re.sub(r"([\\`*_{}\[\]<>|~])", r"\\\1", text)


def render(
    paths: Sequence[Path], outcomes: dict[tuple[Path, str], Outcome], gallery: str
) -> str:
    """The MyST table, and the list of pitfalls whose outcome depends on the method."""
    lines = [
        ":::{list-table}",
        ":header-rows: 1",
        ":widths: 22 26 26 26",
        "",
        "* - Pitfall",
        *(f"  - `{method}`" for method in START_METHODS),
    ]
    differences = []
    for path in paths:
        row = {method: outcomes[path, method] for method in START_METHODS}
        link = f"{{doc}}`{title_of(path)} </{gallery}/{path.stem}>`"
        lines.append(f"* - {link}")
        lines.extend(f"  - {cell(row[method])}" for method in START_METHODS)
        reproduced = [m for m in START_METHODS if row[m].reproduced]
        reason = next((o.reason for o in row.values() if o.reason), None)
        if reason is not None:
            differences.append((link, reproduced, reason))
    lines += [":::", ""]
    if differences:
        lines += ["Where the start method matters:", ""]
        for link, reproduced, reason in differences:
            if reproduced and len(reproduced) < len(START_METHODS):
                seen = f"fails under {', '.join(f'`{m}`' for m in reproduced)} only"
            else:
                seen = "the outcome did not differ by start method in this run"
            lines.append(f"- {link}: {seen}. Why: {escape_markdown(reason)}.")
        lines.append("")
    lines.append(
        f"Runs: Python {platform.python_version()} on {platform.system()} "
        f"{platform.machine()}, each example as a script under each start method."
    )
    return "\n".join(lines) + "\n"


def write_if_changed(path: Path, text: str) -> None:
    """Leave an unchanged file alone, so that Sphinx does not rebuild its page."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def build_matrix(app: Sphinx) -> None:
    """``builder-inited``: run the examples (or reuse results) and write the table."""
    confdir = Path(app.confdir)
    pattern = app.config.mpguide_matrix_examples
    if not pattern:
        return
    paths = sorted(confdir.glob(pattern))
    if not paths:
        raise MatrixError(f"mpguide_matrix_examples {pattern!r} matches no file")
    cache_path = Path(app.doctreedir) / CACHE_NAME
    cache = _load_cache(cache_path)
    outcomes = run_all(paths, float(app.config.mpguide_matrix_timeout), cache)
    for path in paths:
        check_consistency(path, {m: outcomes[path, m] for m in START_METHODS})
    text = render(paths, outcomes, app.config.mpguide_matrix_gallery.strip("/"))
    write_if_changed(confdir / app.config.mpguide_matrix_output, text)
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    cache_path.write_text(json.dumps(_current(cache, paths), indent=1, sort_keys=True))


def _load_cache(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _current(cache: dict[str, Any], paths: Iterable[Path]) -> dict[str, Any]:
    """Only the entries of the examples as they are now."""
    keys = {cache_key(path, method) for path in paths for method in START_METHODS}
    return {key: value for key, value in cache.items() if key in keys}


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the configuration values and the ``builder-inited`` handler."""
    app.add_config_value("mpguide_matrix_examples", "", "env", str)
    app.add_config_value(
        "mpguide_matrix_output", "explanation/_generated/start-method-matrix.md", "env", str
    )
    app.add_config_value("mpguide_matrix_gallery", "gallery/pitfalls", "env", str)
    app.add_config_value("mpguide_matrix_timeout", 180, "env", (int, float))
    app.connect("builder-inited", build_matrix)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
