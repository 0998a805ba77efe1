"""Produce the error messages of the "Error messages" page while the site builds.

Each message on the page is made by a small producer script (a runnable
program) that triggers the error, catches it and prints ``message: <JSON
string>``, the message as a traceback would show it; a script may print several,
or ``not produced: <why>`` when the start method cannot produce its message.
At ``builder-inited`` this extension runs every producer matched by
``mpguide_error_scripts`` under ``fork``, ``spawn`` and ``forkserver``, on every
CPython the build finds (:mod:`mpguide.sphinxext.interpreters`), in parallel,
each with a time limit and the environment the matrix's runs get
(:func:`mpguide.sphinxext.runs.controlled_environment`), as the tests run
scripts (:data:`mpguide.sphinxext.runs.SCRIPT_FLAGS`). The runs and their cache are
:mod:`mpguide.sphinxext.runs`'s, shared with the matrix: a producer's helper
modules (``_*.py`` beside it) are part of its cache key, so an unchanged
rebuild runs nothing.

The page places each message with the ``error-message`` directive::

    :::{error-message} local_function.py
    :expect: Can't (pickle|get) local object
    :methods: fork spawn forkserver
    :versions: 3.12+
    :::

It shows each wording the script produced (addresses, process ids and other
per-run names shortened to ``…``) with the start methods and interpreters that
produced it, and where it was not produced and why. The build fails, naming the
script, when the script exits with an error, runs past its time limit, leaves a
resource warning on its stderr, or does not produce a message matching
``:expect:`` under one of ``:methods:`` (default: all three) on an interpreter
that ran. ``:versions:`` (``3.12+``, ``3.11-3.12`` or ``3.13``, several
separated by spaces) marks a message as belonging to those Python versions: on
others it is not required. The ``error-runs`` directive says which interpreters
ran and which of ``mpguide_pythons`` this build could not run.

A message that only another platform prints is quoted, never shown as produced::

    :::{error-quoted} ValueError: cannot find context for 'fork'
    :platforms: Windows
    :module: multiprocessing.context
    :source-line: raise ValueError('cannot find context for %r' % method) from None
    :::

The build finds ``:source-line:`` in ``:module:``'s file in every interpreter's
own standard library and gives its line numbers, or fails when one lacks it. A
message that only Python versions older than the build's print is quoted with
``:fixed-by:`` (``bpo-30256, in 3.9.7 and 3.10``), and its ``:source-line:`` is
then a line of the fix, which every interpreter the build runs must have.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

from docutils import nodes  # type: ignore[import-untyped]
from docutils.parsers.rst import directives  # type: ignore[import-untyped]
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.errors import ExtensionError
from sphinx.transforms import SphinxTransform
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from mpguide.run import START_METHODS
from mpguide.sphinxext.interpreters import Interpreter, by_version, version_key
from mpguide.sphinxext.runs import (
    LEAK_SIGNS,
    PYTHONS_SETTING,
    Job,
    Runner,
    add_pythons_setting,
    cache_path,
    interpreters_for,
    missing_versions,
    run_jobs,
)

logger = logging.getLogger(__name__)

MESSAGE_LINE = re.compile(r"^message: (.*)$", re.MULTILINE)
NOT_PRODUCED_LINE = re.compile(r"^not produced: (.*)$", re.MULTILINE)
CACHE_NAME = "mpguide-error-index.json"
RESULTS = "_mpguide_error_results"
# What changes from run to run, shortened so that equal wordings group together.
PER_RUN = (
    (re.compile(r"0x[0-9a-f]+"), "0x…"),
    (re.compile(r"\bpid=\d+"), "pid=…"),
    (re.compile(r"'/(psm_|mp-)[\w-]+'"), r"'/\1…'"),
    (re.compile(r"'wnsm_[0-9a-f]+'"), "'wnsm_…'"),  # a Windows shared memory block
    (re.compile(r"\bobjc\[\d+\]"), "objc[…]"),  # the macOS Objective-C runtime's pid
    (re.compile(r"KeyError: '[0-9a-f]+'"), "KeyError: '…'"),
    (re.compile(r"(?<=[\"'])/[^\"']*/(?=lib/python3\.\d+/)"), "…/"),
)


def search_normaliser() -> str:
    """JavaScript for every page: on the search page, a pasted message's
    addresses, process ids and paths become the ``…`` this page shows
    (``PER_RUN``), and its part after a semicolon goes, so that the search
    finds the message's section among the index entries."""
    rules = ",\n".join(
        f"    [new RegExp({json.dumps(pattern.pattern)}, 'g'), {json.dumps(by)}]"
        for pattern, by in (
            (pattern, BACKREFERENCE.sub(r"$\g<1>", replacement))
            for pattern, replacement in PER_RUN
        )
    )
    return SEARCH_NORMALISER.replace("RULES", rules)


BACKREFERENCE = re.compile(r"\\(\d)")
SEARCH_NORMALISER = """(() => {
  if (!/search(\\.html)?\\/?$/.test(window.location.pathname)) return;
  const params = new URLSearchParams(window.location.search);
  const query = params.get("q");
  if (!query) return;
  const rules = [
RULES
  ];
  // The index splits an entry at a semicolon: look up the part before it.
  const shown = rules
    .reduce((text, [pattern, by]) => text.replace(pattern, by), query)
    .split(";")[0]
    .trim();
  if (shown === query) return;
  params.set("q", shown);
  window.location.replace(`${window.location.pathname}?${params}`);
})();"""


class ErrorIndexError(ExtensionError):
    """A producer did not produce its message as the page says."""


# A producer's unclosed resource fails its run (the warning is an error, so it
# reaches stderr), and so does anything the resource tracker reports.
RUNNER = Runner(
    "error index: %d producer runs",
    ErrorIndexError,
    CACHE_NAME,
    leak_signs=(*LEAK_SIGNS, "resource_tracker"),
    helpers="_*.py",
)


@dataclasses.dataclass(frozen=True)
class Run:
    """What one producer printed under one start method on one interpreter."""

    messages: tuple[str, ...]
    not_produced: str | None

    @classmethod
    def parse(cls, output: str) -> Run:
        messages = tuple(str(json.loads(text)) for text in MESSAGE_LINE.findall(output))
        reason = NOT_PRODUCED_LINE.search(output)
        return cls(messages, reason.group(1).strip() if reason else None)


@dataclasses.dataclass
class Results:
    """Every producer's runs, keyed by (script name, interpreter minor, method)."""

    interpreters: list[Interpreter]
    runs: dict[tuple[str, str, str], Run]
    scripts: dict[str, Path]


def shorten(message: str, script_dir: Path) -> str:
    """The message with per-run details and this machine's directories shortened."""
    message = message.replace(f"{script_dir}{os.sep}", "")
    for pattern, replacement in PER_RUN:
        message = pattern.sub(replacement, message)
    return message


TRACEBACK_DETAILS = (
    (re.compile(r"^[ \t]*[~^]+[ \t]*$\n?", re.MULTILINE), ""),
    (re.compile(r"\bline \d+\b"), "line …"),
    (re.compile(r"\bpython3\.\d+\b"), "python3.…"),
)


def traceback_shape(message: str) -> str:
    """The message without what differs between versions of the same traceback:
    line numbers, the version in library paths and the ``^~~`` markers under
    a line (which each version places differently)."""
    for pattern, replacement in TRACEBACK_DETAILS:
        message = pattern.sub(replacement, message)
    return message


def group_wordings(
    wordings: dict[str, set[tuple[str, str]]],
) -> list[tuple[str, set[tuple[str, str]], bool]]:
    """One entry per traceback shape: the first wording seen (the oldest
    interpreter's), every (minor, method) pair that printed any wording of that
    shape, and whether the wordings differed in those details."""
    groups: dict[str, tuple[str, set[tuple[str, str]], bool]] = {}
    for message, pairs in wordings.items():
        shape = traceback_shape(message)
        if shape in groups:
            shown, seen, _ = groups[shape]
            groups[shape] = (shown, seen | pairs, True)
        else:
            groups[shape] = (message, set(pairs), False)
    return list(groups.values())


def parse_versions(text: str) -> Callable[[str], bool]:
    """``"3.12+"``, ``"3.11-3.12"``, ``"3.13"`` (space-separated) as a test on ``3.N``.

    :raises ValueError: on anything else.
    """
    ranges = []
    for part in text.split():
        match = re.fullmatch(r"(3\.\d+)(\+|-(3\.\d+))?", part)
        if not match:
            raise ValueError(f"not a version range: {part!r} (3.12+, 3.11-3.12 or 3.13)")
        low = version_key(match.group(1))
        high = (
            (99, 99)
            if match.group(2) == "+"
            else version_key(match.group(3) or match.group(1))
        )
        ranges.append((low, high))
    if not ranges:
        raise ValueError("empty :versions:")
    return lambda minor: any(low <= version_key(minor) <= high for low, high in ranges)


def describe_where(pairs: set[tuple[str, str]], results: Results) -> str:
    """``fork, spawn on Python 3.11.7, 3.12.1`` for the (minor, method) pairs given."""
    by_interpreter: dict[str, list[str]] = {}
    for interpreter in by_version(results.interpreters):
        methods = [m for m in START_METHODS if (interpreter.minor, m) in pairs]
        if methods:
            by_interpreter[interpreter.version] = methods
    groups: dict[tuple[str, ...], list[str]] = {}
    for version, methods in by_interpreter.items():
        groups.setdefault(tuple(methods), []).append(version)
    return "; ".join(
        f"{', '.join(methods)} on Python {', '.join(versions)}"
        for methods, versions in groups.items()
    )


class ErrorMessageDirective(SphinxDirective):
    """One message: its wordings as produced, where, and where not."""

    required_arguments = 1
    option_spec: ClassVar[dict[str, Callable[[str], Any]]] = {
        "expect": directives.unchanged_required,
        "methods": directives.unchanged,
        "versions": directives.unchanged,
        "fixed-by": directives.unchanged,
    }

    def run(self) -> list[nodes.Node]:
        results: Results = getattr(self.env.app, RESULTS)
        script = self.arguments[0]
        path = results.scripts.get(script)
        if path is None:
            raise ErrorIndexError(
                f"{self.env.docname}: no producer {script!r} among mpguide_error_scripts"
            )
        self.env.note_dependency(str(path))
        used: dict[str, set[str]] = self.env.mpguide_error_scripts_used  # type: ignore[attr-defined]
        used.setdefault(self.env.docname, set()).add(script)
        expect = re.compile(self.options.get("expect") or "")
        if not expect.pattern:
            raise self.error(f"{script}: :expect: is required")
        methods = self.options.get("methods", " ".join(START_METHODS)).split()
        unknown = set(methods) - set(START_METHODS)
        if unknown:
            raise self.error(f"{script}: unknown start methods {sorted(unknown)}")
        versions_text = self.options.get("versions")
        try:
            belongs = parse_versions(versions_text) if versions_text else (lambda _: True)
        except ValueError as error:
            raise self.error(f"{script}: {error}") from None

        wordings: dict[str, set[tuple[str, str]]] = {}
        # why not: the producer's reason, or the other messages it printed
        absent: dict[tuple[str | None, tuple[str, ...]], set[tuple[str, str]]] = {}
        for interpreter in by_version(results.interpreters):
            for method in START_METHODS:
                run = results.runs[script, interpreter.minor, method]
                found = [m for m in run.messages if expect.search(m)]
                if not found:
                    if method in methods and belongs(interpreter.minor):
                        printed = "; ".join(run.messages) or run.not_produced or "nothing"
                        raise ErrorIndexError(
                            f"{script} no longer produces {expect.pattern!r} under "
                            f"{method} on Python {interpreter.version}; "
                            f"it printed: {printed}"
                        )
                    others = tuple(shorten(m, path.parent) for m in run.messages)
                    why = (run.not_produced, () if run.not_produced else others)
                    absent.setdefault(why, set()).add((interpreter.minor, method))
                for message in dict.fromkeys(shorten(m, path.parent) for m in found):
                    wordings.setdefault(message, set()).add((interpreter.minor, method))

        section: list[nodes.Node] = []
        for message, pairs, details_differ in group_wordings(wordings):
            block = nodes.literal_block(message, message, classes=["error-message"])
            block["language"] = "none"
            section.append(block)
            produced = f"Produced under {describe_where(pairs, results)}."
            if details_differ:
                produced += (
                    " Shown as the oldest of those versions printed it; the others "
                    "differ only in line numbers, the version in library paths and "
                    "the ^~~ markers under a line."
                )
            section.append(nodes.paragraph("", produced))
        for (reason, others), pairs in absent.items():
            where = describe_where(pairs, results)
            line = nodes.paragraph("", f"Not produced under {where}: ")
            if reason is not None:
                line += nodes.Text(f"{reason}.")
            elif others:
                line += nodes.Text("it printed ")
                for index, message in enumerate(others):
                    line += nodes.Text(" and " if index else "")
                    line += nodes.literal(message, message)
                line += nodes.Text(".")
            else:
                line += nodes.Text("it printed nothing.")
            section.append(line)
        if versions_text:
            section.append(
                nodes.paragraph("", f"This message belongs to Python {versions_text} only.")
            )
        return section


def standard_library_source(interpreter: Interpreter, module: str) -> tuple[str, str]:
    """The file of ``module`` in ``interpreter``'s own standard library, as a path
    below ``Lib/`` (``multiprocessing/context.py``), and its text.

    :raises ErrorIndexError: when the interpreter does not find the module.
    """
    finder = (
        "import importlib.util, sys, sysconfig; "
        "spec = importlib.util.find_spec(sys.argv[1]); "
        "print(spec.origin); print(sysconfig.get_path('stdlib'))"
    )
    done = subprocess.run(
        [interpreter.executable, "-I", "-c", finder, module],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = done.stdout.splitlines()
    if done.returncode != 0 or len(lines) != 2:
        raise ErrorIndexError(
            f"Python {interpreter.version} does not find {module}: {done.stderr.strip()}"
        )
    origin, stdlib = (Path(line) for line in lines)
    return origin.relative_to(stdlib).as_posix(), origin.read_text(encoding="utf-8")


class ErrorQuotedDirective(SphinxDirective):
    """A message that only another platform prints, quoted, not produced: shown
    with the line of the standard library behind it, which the build finds in
    each interpreter's own source and numbers, so that a quote that no longer
    matches CPython fails the build."""

    required_arguments = 1
    final_argument_whitespace = True
    option_spec: ClassVar[dict[str, Callable[[str], Any]]] = {
        "platforms": directives.unchanged_required,
        "module": directives.unchanged_required,
        "source-line": directives.unchanged_required,
        "versions": directives.unchanged,
        "fixed-by": directives.unchanged,
    }

    def run(self) -> list[nodes.Node]:
        results: Results = getattr(self.env.app, RESULTS)
        message = self.arguments[0]
        versions_text = self.options.get("versions")
        try:
            belongs = parse_versions(versions_text) if versions_text else (lambda _: True)
        except ValueError as error:
            raise self.error(f"{message}: {error}") from None
        required = ("platforms", "module", "source-line")
        missing = [option for option in required if option not in self.options]
        if missing:
            raise self.error(f"{message}: :{': and :'.join(missing)}: required")
        module, wanted = self.options["module"], self.options["source-line"].strip()
        numbers: dict[str, list[str]] = {}
        without: list[str] = []
        path = ""
        for interpreter in by_version(results.interpreters):
            path, text = standard_library_source(interpreter, module)
            found = [
                number
                for number, line in enumerate(text.splitlines(), start=1)
                if line.strip() == wanted
            ]
            source_at = f"{self.env.docname}: {path} of Python {interpreter.version}"
            if belongs(interpreter.minor) and not found:
                raise ErrorIndexError(
                    f"{source_at} has no line {wanted!r}: the quote of {message!r} no "
                    "longer matches"
                )
            if not belongs(interpreter.minor):
                if found:
                    raise ErrorIndexError(
                        f"{source_at} has the line {wanted!r} too: {message!r} is not "
                        f"limited to Python {versions_text}"
                    )
                without.append(interpreter.version)
                continue
            numbers.setdefault(f"line {found[0]}", []).append(interpreter.version)
        block = nodes.literal_block(message, message, classes=["error-message"])
        block["language"] = "none"
        where = "; ".join(
            f"{line} in Python {', '.join(versions)}" for line, versions in numbers.items()
        )
        platforms = self.options["platforms"]
        appears = f"Quoted, not produced: this message appears only on {platforms}"
        if fixed_by := self.options.get("fixed-by"):
            intro = f"{appears}; {fixed_by} fixed it. The line of the fix, "
        else:
            intro = f"{appears}. The line of the standard library behind it, "
        line = nodes.paragraph("", intro)
        line += nodes.literal(wanted, wanted)
        line += nodes.Text(" in ")
        line += nodes.literal(path, path)
        line += nodes.Text(
            f", was found by this build in each interpreter's own source: {where}."
        )
        if without:
            line += nodes.Text(
                f" Python {', '.join(without)} has no such line: this message belongs "
                f"to Python {versions_text} only."
            )
        return [block, line]


class IndexEachMessage(SphinxTransform):
    """Put the first line of each message a section shows in the index, with the
    section's address: the search looks a pasted query up among index entries
    (and titles), so a traceback's last line, pasted, finds its section. (The
    index splits an entry at its first semicolon; the search page's script
    keeps a query's part before it.)"""

    default_priority = 500

    def apply(self, **kwargs: Any) -> None:
        lines_by_section: dict[nodes.section, dict[str, None]] = {}
        for block in self.document.findall(nodes.literal_block):
            section = block.parent
            if "error-message" not in block["classes"] or not isinstance(
                section, nodes.section
            ):
                continue
            first = block.astext().splitlines()[0]
            if not first.startswith("!"):  # index syntax: "!" marks a main entry
                lines_by_section.setdefault(section, {})[first] = None
        for section, lines in lines_by_section.items():
            entries = [("single", line, section["ids"][0], "", None) for line in lines]
            section.insert(1, addnodes.index(entries=entries))


class ErrorRunsDirective(SphinxDirective):
    """Which interpreters this build ran the producers on, and which it could not."""

    def run(self) -> list[nodes.Node]:
        results: Results = getattr(self.env.app, RESULTS)
        ran = by_version(results.interpreters)
        text = (
            "This build ran every producer under fork, spawn and forkserver on Python "
            + ", ".join(i.version for i in ran)
            + "."
        )
        missing = missing_versions(getattr(self.config, PYTHONS_SETTING), ran)
        if missing:
            text += (
                f" It did not run Python {', '.join(missing)}, which this build did not "
                "find: no message below says what those versions print."
            )
        return [nodes.paragraph("", text)]


def run_producers(app: Sphinx) -> None:
    """``builder-inited``: run the producers (or reuse results) for the directives."""
    confdir = Path(app.confdir)
    pattern = app.config.mpguide_error_scripts
    if not pattern:
        return
    paths = sorted(p for p in confdir.glob(pattern) if not p.name.startswith("_"))
    if not paths:
        raise ErrorIndexError(f"mpguide_error_scripts {pattern!r} matches no file")
    interpreters, _ = interpreters_for(app, "error index", ErrorIndexError)
    jobs = [Job(p, i, m) for p in paths for i in interpreters for m in START_METHODS]
    done = run_jobs(
        RUNNER,
        jobs,
        lambda output, job: Run.parse(output),
        timeout=float(app.config.mpguide_error_timeout),
        cache_file=cache_path(app, CACHE_NAME),
    )
    runs = {(job.script.name, job.interpreter.minor, job.method): done[job] for job in jobs}
    setattr(app, RESULTS, Results(interpreters, runs, {path.name: path for path in paths}))


def _used(env: BuildEnvironment) -> dict[str, set[str]]:
    if not hasattr(env, "mpguide_error_scripts_used"):
        env.mpguide_error_scripts_used = {}  # type: ignore[attr-defined]
    used: dict[str, set[str]] = env.mpguide_error_scripts_used  # type: ignore[attr-defined]
    return used


def reread_pages(
    app: Sphinx,
    env: BuildEnvironment,
    added: set[str],
    changed: set[str],
    removed: set[str],
) -> list[str]:
    """``env-get-outdated``: pages with messages show this build's runs, so re-read them."""
    return sorted(_used(env))


def start_reading(app: Sphinx, env: BuildEnvironment, docnames: list[str]) -> None:
    _used(env)


def purge(app: Sphinx, env: BuildEnvironment, docname: str) -> None:
    _used(env).pop(docname, None)


def merge(
    app: Sphinx, env: BuildEnvironment, docnames: Iterable[str], other: BuildEnvironment
) -> None:
    for docname in docnames:
        if docname in _used(other):
            _used(env)[docname] = _used(other)[docname]


def check_every_script_used(app: Sphinx, env: BuildEnvironment) -> None:
    """``env-check-consistency``: a producer that no page shows is a mistake."""
    results: Results | None = getattr(app, RESULTS, None)
    if results is None:
        return
    shown = set().union(*_used(env).values()) if _used(env) else set()
    for name in sorted(set(results.scripts) - shown):
        logger.warning("error index: producer %s is not shown by any error-message", name)


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the configuration values, the directives and the handlers."""
    app.add_config_value("mpguide_error_scripts", "", "env", str)
    app.add_config_value("mpguide_error_timeout", 90, "env", (int, float))
    add_pythons_setting(app)
    app.add_directive("error-message", ErrorMessageDirective)
    app.add_directive("error-runs", ErrorRunsDirective)
    app.add_directive("error-quoted", ErrorQuotedDirective)
    app.add_js_file(None, body=search_normaliser())
    app.add_transform(IndexEachMessage)
    app.connect("builder-inited", run_producers)
    app.connect("env-before-read-docs", start_reading)
    app.connect("env-get-outdated", reread_pages)
    app.connect("env-purge-doc", purge)
    app.connect("env-merge-info", merge)
    app.connect("env-check-consistency", check_every_script_used)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
