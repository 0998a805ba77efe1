"""The command line: ``python -m mpguide check pkg.module:name [...]``.

``check`` runs the whole check (importing each target, calling it, every step
of :func:`~mpguide.check_keys` and its fresh interpreters) in a child process
in a process group of its own, which it kills when ``--timeout`` runs out, and
once the reports are in: the limit holds whatever the target does, even in C
code that holds the GIL, and nothing the target started outlives the command
(unless it left the group). The fresh interpreters run in groups of their own;
each kills its group once the process that started it has ended. Only reports
go to standard output; whatever the targets print goes to standard error.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import math
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from typing import Any

from mpguide import __version__, run
from mpguide.keycheck import Finding, KeyReport, Problem, Severity, _check_keys
from mpguide.keycheck.fresh import describe_exit, end_group, read_lines
from mpguide.lint.command import add_lint_parser

__all__ = ["main"]

#: Exit statuses of ``python -m mpguide check``; with several targets, the highest applies.
EXIT_OK = 0
EXIT_BAD_KEY = 1
EXIT_USAGE = 2
EXIT_TARGET = 3
EXIT_TIMEOUT = 4
EXIT_INTERNAL = 5
#: The share of ``--timeout`` given to each step inside the check, so that a
#: step that hangs in Python code is named before the whole check is killed.
STEP_SHARE = 0.5

DESCRIPTION = """\
Check whether an object works as a key of a multiprocessing Manager dict (or
any mapping shared between processes), before production finds out.
"""
CHECK_DESCRIPTION = """\
Import each TARGET, written module:name (name may be dotted, as in
module:Class.attribute), and check the object it names. If that object is
callable (a function, a class, a functools.partial), it is called with no
arguments and what it returns is checked (the report says module:name()):
name a function that builds a typical key. The targets are imported, called
and pickled in a child process; their copies are unpickled, hashed, compared
and printed in two fresh interpreters, each started as spawn starts a
child. Each TARGET gets its own report. Only reports go to standard output;
what the targets print goes to standard error.

--timeout covers everything: importing and calling the targets, every step of
the check and the fresh interpreters. When it runs out, or once the reports
are in, the process running the check is killed with every process it
started that stayed in its process group (such as a Manager's server that a
target's module starts when imported); a fresh interpreter then working kills
its own group within a tenth of a second (unless C code holds its GIL). A
TARGET whose import or pickling ends that process fails alone: the others are
checked again in a new one.

exit status (with several targets, the highest applies):
  0  every object works as a key (warnings and notes allowed, unless --strict)
  1  an object does not work as a key (or, with --strict, has warnings),
     including a key whose own code ends or crashes a process that pickles or
     examines it
  2  bad arguments (a malformed TARGET, an unknown option, a bad --timeout)
  3  a TARGET could not be loaded: importing it, reading its attributes or
     calling it raised, or ended the process
  4  the check did not finish within --timeout (the key's or the module's
     code hangs, or the limit is too short)
  5  the check itself failed (a bug in mpguide, or a fresh interpreter could
     not be started)
"""
#: Run as ``python -c``: the child that performs the whole check.
WORKER_CODE = "from mpguide.cli import run_worker; run_worker()"


class UsageError(Exception):
    """TARGET cannot be imported, lacks the attribute, or cannot be called."""


def build_parser(prog: str = "mpguide") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"mpguide {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        help="print the traceback of an internal error, not just its message",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_check_command(commands, common)
    run.add_run_parser(commands)
    add_lint_parser(commands)
    return parser


def add_check_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    check = commands.add_parser(
        "check",
        parents=[common],
        help="check whether objects work as cross-process keys",
        description=CHECK_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.set_defaults(run=run_check)
    check.add_argument(
        "targets",
        metavar="TARGET",
        nargs="+",
        type=target_spec,
        help="module:name of a key to check",
    )
    check.add_argument(
        "--json",
        action="store_true",
        help="print the report as JSON (a list of reports for several targets)",
    )
    check.add_argument(
        "--strict", action="store_true", help="exit with status 1 on warnings too"
    )
    check.add_argument(
        "--no-call",
        action="store_true",
        help="check the named object itself, even if it is callable",
    )
    check.add_argument(
        "--no-new-process",
        action="store_true",
        help="examine the keys in one fresh interpreter, not two (faster, misses more)",
    )
    check.add_argument(
        "--timeout",
        type=positive_seconds,
        default=30.0,
        metavar="SECONDS",
        help="limit for the whole check, all targets included (default 30)",
    )


def target_spec(text: str) -> str:
    module_name, colon, attribute_path = text.partition(":")
    if not colon or not module_name or not attribute_path:
        raise argparse.ArgumentTypeError(
            f"TARGET must look like package.module:name, got {text!r}"
        )
    return text


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(
            f"must be a finite number of seconds above 0, got {text!r}"
        )
    return value


def resolve(target: str, *, call: bool) -> object:
    """Import ``module:name`` and return the object (or what calling it returns)."""
    return load(target, call=call)[0]


def load(target: str, *, call: bool) -> tuple[object, bool]:
    """:func:`resolve`, and whether the object returned is what calling it returned."""
    module_name, _, attribute_path = target.partition(":")
    try:
        obj: object = importlib.import_module(module_name)
    except BaseException as error:  # a module may even exit while imported
        raise UsageError(
            f"cannot import {module_name!r}: {type(error).__name__}: {error}"
        ) from error
    for part in attribute_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UsageError(
                f"{module_name!r} has no attribute {attribute_path!r} (missing {part!r})"
            ) from None
        except BaseException as error:  # a property or module __getattr__ raised
            raise UsageError(
                f"could not load {target}: reading {part!r} raised "
                f"{type(error).__name__}: {error}"
            ) from error
    if call and callable(obj):
        try:
            obj = obj()
        except BaseException as error:
            raise UsageError(
                f"calling {target}() raised {type(error).__name__}: {error}. Name an "
                "object, or a function that takes no arguments and returns a key "
                "(or pass --no-call to check the callable itself)"
            ) from error
        return obj, True
    return obj, False


def main(argv: Sequence[str] | None = None, *, prog: str = "mpguide") -> int:
    """Run the command line; return the exit status.

    The current directory is importable, as under ``python -m``, so that
    ``mpguide check mymodule:key`` finds ``mymodule.py`` from the console script too.
    """
    arguments = sys.argv[1:] if argv is None else list(argv)
    if arguments[:1] == ["run"]:  # the program's options are its own: run parses them
        return run.main(arguments[1:], prog=f"{prog} run")
    parser = build_parser(prog)
    args = parser.parse_args(arguments)
    for stream in (sys.stdout, sys.stderr):  # never fail on a key's characters
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        status: int = args.run(args, f"{parser.prog} {args.command}")
    except KeyboardInterrupt:
        return 128 + signal.SIGINT
    except Exception as error:
        if args.debug:
            traceback.print_exc()
        hint = "" if args.debug else " (--debug prints the traceback)"
        print(
            f"{parser.prog}: internal error: {type(error).__name__}: {error}{hint}",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    return status


# -- check ------------------------------------------------------------------------------


def run_check(args: argparse.Namespace, prog: str) -> int:
    request = {
        "targets": args.targets,
        "call": not args.no_call,
        "new_process": not args.no_new_process,
        "step_timeout": args.timeout * STEP_SHARE,
        "cwd": os.getcwd(),
    }
    outcomes = run_in_child(request, args.timeout)
    statuses, entries = [], []
    for target, outcome in zip(args.targets, outcomes, strict=True):
        if "report" in outcome:
            report = KeyReport.from_dict(outcome["report"])
            statuses.append(report_status(report, strict=args.strict))
            checked = f"{target}()" if outcome.get("called") else target
            entries.append({"target": target, "checked": checked, **report.to_dict()})
            if not args.json:
                print(f"{checked}: {report}", end="\n\n" if len(args.targets) > 1 else "\n")
            continue
        status, message = outcome["status"], outcome["error"]
        statuses.append(status)
        entries.append({"target": target, "ok": False, "error": message})
        print(f"{prog}: error: {target}: {message}", file=sys.stderr)
    if args.json:
        print(json.dumps(entries[0] if len(entries) == 1 else entries, indent=2))
    return max(statuses)


def report_status(report: KeyReport, *, strict: bool) -> int:
    problems = {finding.problem for finding in report.errors}
    if Problem.CHECK_FAILED in problems:
        return EXIT_INTERNAL
    if Problem.CHECK_TIMED_OUT in problems:
        return EXIT_TIMEOUT
    return EXIT_OK if report.passes(strict=strict) else EXIT_BAD_KEY


def run_in_child(request: dict[str, Any], timeout: float) -> list[dict[str, Any]]:
    """Run the check in child processes, each in a process group of its own.

    Once a child's outcomes are in, or ``timeout`` runs out, its group is
    killed: the child and whatever the targets' modules started in it (a
    Manager's server, a process holding our pipes). A process that left the
    group (``setsid``) may keep the output pipe open: the reader thread is not
    waited for. When a target's import or pickling ends a child, that target
    gets the error and the targets without an outcome are checked again in a
    new child, within what is left of ``timeout``.
    """
    deadline = time.monotonic() + timeout
    targets: list[str] = request["targets"]
    outcomes: dict[int, dict[str, Any]] = {}
    remaining = list(range(len(targets)))
    while remaining:
        names = [targets[i] for i in remaining]
        run = _run_child({**request, "targets": names}, deadline)
        got, stage, culprit, finished, ended, called = run
        for local, outcome in got.items():
            outcomes[remaining[local]] = outcome
        missing = [local for local in range(len(names)) if local not in got]
        if not finished or culprit not in missing:  # timed out, or not one target's fault
            for local in missing:
                target, was_called = names[local], called.get(local, False)
                if finished:
                    outcome = _ended(target, ended)
                else:
                    outcome = _timed_out(target, stage, timeout)
                outcomes[remaining[local]] = {**outcome, "called": was_called}
            break
        assert culprit is not None
        if stage.startswith("importing"):
            error = f"{stage} ended the process running the check ({ended})"
            outcomes[remaining[culprit]] = {"status": EXIT_TARGET, "error": error}
        else:
            outcome = _ended(names[culprit], ended)
            outcomes[remaining[culprit]] = {**outcome, "called": called.get(culprit, False)}
        remaining = [remaining[local] for local in missing if local != culprit]
    return [outcomes[index] for index in range(len(targets))]


def _run_child(
    request: dict[str, Any], deadline: float
) -> tuple[dict[int, dict[str, Any]], str, int | None, bool, str, dict[int, bool]]:
    """One child's outcomes by target index, the stage it reached and the target
    that stage concerns, whether it finished, how it ended, and which targets
    were called."""
    lines: queue.Queue[str | None] = queue.Queue()
    child = subprocess.Popen(
        [sys.executable, "-c", WORKER_CODE],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        bufsize=0,
        start_new_session=os.name == "posix",
    )
    assert child.stdin and child.stdout
    reader = threading.Thread(target=read_lines, args=(child.stdout, lines.put))
    reader.daemon = True
    reader.start()
    try:
        child.stdin.write(json.dumps(request).encode())
    except OSError:
        pass  # it ended already; its exit status says why
    finally:
        with contextlib.suppress(OSError):
            child.stdin.close()
    try:
        collected = _collect(lines, len(request["targets"]), deadline)
    finally:
        end_group(child)
    reader.join(1.0)
    outcomes, stage, culprit, finished, called = collected
    return outcomes, stage, culprit, finished, describe_exit(child.returncode), called


def _ended(target: str, ended: str) -> dict[str, Any]:
    finding = Finding(
        Problem.ENDS_PROCESS,
        Severity.ERROR,
        summary=f"The process pickling it ended ({ended}).",
        explanation="Besides mpguide's own code, that process runs only the key's "
        "pickling (__reduce__, __getstate__, copyreg reducers), as a Manager's client "
        "does; code there that ends or crashes the process ends every program that "
        "sends the key.",
        fix="Find the exit or the crash in the key's pickling code.",
    )
    report = KeyReport(key=target, type="?", findings=(finding,), checks=("pickle",))
    return {"report": report.to_dict()}


def _collect(
    lines: queue.Queue[str | None], count: int, deadline: float
) -> tuple[dict[int, dict[str, Any]], str, int | None, bool, dict[int, bool]]:
    """Outcomes by target index, the stage reached and its target, whether the
    child finished, and which targets were called."""
    outcomes: dict[int, dict[str, Any]] = {}
    called: dict[int, bool] = {}
    stage, culprit = "starting", None
    while len(outcomes) < count:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return outcomes, stage, culprit, False, called
        if line is None:
            break
        if not line.strip():
            continue
        message = json.loads(line)
        if "done" in message:
            break
        if "stage" in message:
            stage, culprit = message["stage"], message.get("target")
        elif "loaded" in message:
            called[message["loaded"]] = message["called"]
        elif "internal_error" in message:
            raise RuntimeError(message["internal_error"])
        else:
            outcomes[message.pop("index")] = message
    return outcomes, stage, culprit, True, called


def _timed_out(target: str, stage: str, timeout: float) -> dict[str, Any]:
    finding = Finding(
        Problem.CHECK_TIMED_OUT,
        Severity.ERROR,
        summary=f"The check was killed after {timeout:g} s while {stage}.",
        explanation="Importing the module, calling the target, or the key's own code (its "
        "__repr__, __hash__, __eq__ or pickling) did not return in time; code that "
        "never returns hangs every dict and every process that touches the key.",
        fix="Find the loop or the blocking call; if the check is merely slow, raise "
        "--timeout.",
    )
    report = KeyReport(key=target, type="?", findings=(finding,), checks=())
    return {"report": report.to_dict()}


def run_worker() -> None:
    """In the child: resolve the targets, check them, report one JSON line each.

    Standard output is kept for those lines; whatever the targets print goes to
    standard error.
    """
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

    def send(message: dict[str, Any]) -> None:
        out.write(json.dumps(message) + "\n")
        out.flush()

    try:
        request = json.loads(sys.stdin.read())
        os.chdir(request["cwd"])
        if request["cwd"] not in sys.path:
            sys.path.insert(0, request["cwd"])
        targets = request["targets"]
        keys, indexes, called = [], [], []
        for index, target in enumerate(targets):
            send({"stage": f"importing and calling {target}", "target": index})
            try:
                key, was_called = load(target, call=request["call"])
                keys.append(key)
                indexes.append(index)
                called.append(was_called)
                send({"loaded": index, "called": was_called})
            except UsageError as error:
                send({"index": index, "status": EXIT_TARGET, "error": str(error)})

        def pickling(position: int | None) -> None:
            if position is None:
                send({"stage": "checking"})
            else:
                index = indexes[position]
                send({"stage": f"pickling {targets[index]}", "target": index})

        reports = _check_keys(
            keys,
            new_process=request["new_process"],
            timeout=request["step_timeout"],
            pickling=pickling,
        )
        for index, report, was_called in zip(indexes, reports, called, strict=True):
            send({"index": index, "report": report.to_dict(), "called": was_called})
    except BaseException as error:  # no Ctrl-C reaches this process: its own session
        send({"internal_error": f"{type(error).__name__}: {error}"})
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    send({"done": True})  # the parent then ends this process and all it started
    out.close()
    os._exit(0)  # do not wait for threads a target started, or an abandoned check
