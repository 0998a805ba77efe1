"""The command line: ``python -m mpguide check pkg.module:name``."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from mpguide import __version__, run
from mpguide.keycheck import check_key

__all__ = ["main"]

#: Exit statuses of ``python -m mpguide check``.
EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2

DESCRIPTION = """\
Check whether an object works as a key of a multiprocessing Manager dict (or
any mapping shared between processes), before production finds out.
"""
CHECK_DESCRIPTION = """\
Import TARGET, written module:name (name may be dotted, as in
module:Class.attribute), and check the object it names. If that object is
callable (a function, a class, a functools.partial), it is called with no
arguments and what it returns is checked: name a function that builds a
typical key. The object's own __hash__, __eq__ and pickling run during the
check, in this process and in a fresh interpreter started as spawn and
forkserver start theirs.

exit status: 0 the object works as a key; 1 it does not (or, with --strict,
it has warnings); 2 usage error, or TARGET could not be imported or called.
"""


class UsageError(Exception):
    """TARGET is malformed, cannot be imported, or cannot be called."""


def build_parser(prog: str = "mpguide") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"mpguide {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    check = commands.add_parser(
        "check",
        help="check whether an object works as a cross-process key",
        description=CHECK_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("target", metavar="TARGET", help="module:name of the key to check")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
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
        help="skip loading the key in a fresh interpreter (faster, misses more)",
    )
    check.add_argument(
        "--timeout",
        type=positive_seconds,
        default=30.0,
        metavar="SECONDS",
        help="give up on code that does not return after this long (default 30)",
    )
    run.add_run_parser(commands)
    return parser


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text!r}")
    return value


def resolve(target: str, *, call: bool) -> object:
    """Import ``module:name`` and return the object (or what calling it returns)."""
    module_name, colon, attribute_path = target.partition(":")
    if not colon or not module_name or not attribute_path:
        raise UsageError(f"TARGET must look like package.module:name, got {target!r}")
    try:
        obj: object = importlib.import_module(module_name)
    except Exception as error:
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
    if call and callable(obj):
        try:
            obj = obj()
        except Exception as error:
            raise UsageError(
                f"calling {target}() raised {type(error).__name__}: {error}. Name an "
                "object, or a function that takes no arguments and returns a key "
                "(or pass --no-call to check the callable itself)"
            ) from error
    return obj


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
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        key = resolve(args.target, call=not args.no_call)
    except UsageError as error:
        print(f"{parser.prog} check: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    report = check_key(key, new_process=not args.no_new_process, timeout=args.timeout)
    print(report.to_json() if args.json else report)
    return EXIT_OK if report.passes(strict=args.strict) else EXIT_PROBLEMS
