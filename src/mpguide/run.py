"""``python -m mpguide run --start-method METHOD script.py [args...]``.

Runs a program as ``python script.py`` (or ``python -m module``) would, except
that the platform's *default* start method is replaced first: code that starts
processes without choosing a method (``multiprocessing.Process``, ``Pool``,
``Manager``, ``ProcessPoolExecutor`` without ``mp_context``) uses METHOD, as it
would on Python 3.14 (``forkserver`` on Linux) or macOS and Windows (``spawn``).

Only the default changes. The program's own ``get_context(method)`` and its
first ``set_start_method(method)`` still win, without ``force=True`` and without
"context has already been set", exactly as on a platform whose default is METHOD.
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing
import multiprocessing.context
import os
import runpy
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "EXIT_USAGE",
    "START_METHODS",
    "ProgramNotFoundError",
    "StartMethodError",
    "add_run_parser",
    "check_start_method",
    "main",
    "run_program",
    "use_as_default_start_method",
]

#: The start methods CPython knows, on any platform.
START_METHODS = ("fork", "spawn", "forkserver")
#: Exit status when the command cannot start the program (as ``python missing.py``).
EXIT_USAGE = 2

USAGE = "%(prog)s --start-method METHOD (script.py | -m module) [args ...]"
RUN_DESCRIPTION = """\
Run a Python program with METHOD as the default multiprocessing start method,
as Python 3.14 on Linux (forkserver), macOS or Windows (spawn) would. The
program runs as __main__, with its own arguments; its exit status is passed
through. Its own get_context(method) and set_start_method(method) still win.

exit status: the program's own; 2 when the program cannot be started (unknown
start method, one this platform lacks, no such script or module), with a
one-line "run: error: ..." message on standard error.
"""


class StartMethodError(Exception):
    """The start method is unknown, or this platform or Python lacks it."""


def check_start_method(method: str) -> None:
    """Raise :class:`StartMethodError` unless this platform has start method ``method``."""
    if method not in START_METHODS:
        raise StartMethodError(
            f"unknown start method {method!r}; choose one of {', '.join(START_METHODS)}"
        )
    available = multiprocessing.get_all_start_methods()
    if method not in available:
        raise StartMethodError(
            f"start method {method!r} is not available on this platform "
            f"({sys.platform}); it has {', '.join(available)}"
        )


def use_as_default_start_method(method: str) -> None:
    """Make ``method`` the start method used when code chooses none.

    This replaces the platform's default, as if this platform's default were
    ``method``: nothing is fixed yet, so a later
    ``multiprocessing.set_start_method(other)`` (without ``force``) still
    works, and ``get_start_method(allow_none=True)`` returns ``None`` until
    something uses or sets a method. A method set earlier in this process is
    discarded.

    :raises StartMethodError: if ``method`` is unknown or unavailable here, or
        this Python's ``multiprocessing`` has no default to replace.
    """
    check_start_method(method)
    default = multiprocessing.context._default_context
    # CPython 3.4+ keeps the platform's default context in this attribute of
    # the object behind multiprocessing.set_start_method and get_context.
    if not isinstance(default, multiprocessing.context.DefaultContext) or not hasattr(
        default, "_default_context"
    ):
        raise StartMethodError(
            "this Python's multiprocessing has no default start method to replace"
        )
    multiprocessing.set_start_method(None, force=True)  # forget a method set earlier
    default._default_context = multiprocessing.get_context(method)


def add_run_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``run`` on the command line's subcommands (for ``--help``).

    ``mpguide.cli.main`` hands ``run``'s arguments to :func:`main` unparsed, so
    that the program's own options are never read as the command's.
    """
    commands.add_parser(
        "run",
        help="run a script or module with a given default start method",
        description=RUN_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage=USAGE,
        add_help=False,
    )


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=RUN_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage=USAGE,
    )
    parser.add_argument(
        "--start-method",
        required=True,
        metavar="METHOD",
        help=f"the default start method: {', '.join(START_METHODS)}",
    )
    parser.add_argument(
        "-m", dest="module", metavar="module", help="run a module, as python -m does"
    )
    return parser


def split_arguments(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split ``argv`` into the command's options and the program with its arguments.

    The program starts at the first argument that is not one of the command's
    own options (or right after ``-m module``); everything after it is the
    program's, even when it looks like an option of this command.
    """
    own: list[str] = []
    index = 0
    while index < len(argv):
        argument = argv[index]
        if argument in ("--start-method", "-m"):
            own += argv[index : index + 2]
            index += 2
            if argument == "-m":
                return own, list(argv[index:])
        elif argument.startswith("--start-method=") or argument in ("-h", "--help"):
            own.append(argument)
            index += 1
        elif argument.startswith("-m") and len(argument) > 2:  # -mpackage, as python allows
            own += ["-m", argument[2:]]
            return own, list(argv[index + 1 :])
        else:
            break
    return own, list(argv[index:])


class ProgramNotFoundError(Exception):
    """The script or module to run does not exist."""


def prepare_program(method: str, program: Sequence[str], *, module: str | None) -> str:
    """Check that the program exists, set the default start method; return sys.path[0].

    :raises StartMethodError: for a bad method.
    :raises ProgramNotFoundError: if the script or module does not exist.
    """
    check_start_method(method)
    if module is None:
        if not program:
            raise ProgramNotFoundError("name a script to run, or -m module")
        script = Path(program[0])
        if not script.is_file() and not (script / "__main__.py").is_file():
            raise ProgramNotFoundError(f"can't open file {str(script)!r}: no such file")
        program_path = str(script.resolve().parent if script.is_file() else script)
    else:
        program_path = os.getcwd()
        if not module_exists(module, program_path):
            raise ProgramNotFoundError(f"no module named {module!r}")
    use_as_default_start_method(method)
    return program_path


def run_program(method: str, program: Sequence[str], *, module: str | None = None) -> None:
    """Set ``method`` as the default start method, then run the program as ``__main__``.

    ``program`` is ``[script, *args]``, or with ``module`` the arguments only.

    :raises StartMethodError: for a bad method (before the program starts).
    :raises ProgramNotFoundError: if the script or module does not exist.
    """
    execute_program(prepare_program(method, program, module=module), program, module=module)


def execute_program(
    program_path: str, program: Sequence[str], *, module: str | None
) -> None:
    """Run the program as ``__main__``, with ``sys.argv`` and ``sys.path[0]`` as
    ``python`` sets them. Its ``SystemExit`` and exceptions propagate, as they
    would from ``python script.py``.
    """
    if sys.path:
        sys.path[0] = program_path
    else:
        sys.path.append(program_path)
    if module is None:
        sys.argv[:] = list(program)
        runpy.run_path(program[0], run_name="__main__")
    else:
        sys.argv[:] = [module, *program]
        runpy.run_module(module, run_name="__main__", alter_sys=True)


def module_exists(module: str, directory: str) -> bool:
    """Whether ``module`` can be found, with ``directory`` first on the path."""
    saved = list(sys.path)
    sys.path.insert(0, directory)
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package is missing, or a bad name
        return False
    finally:
        sys.path[:] = saved


def main(argv: Sequence[str], *, prog: str = "mpguide run") -> int:
    """Run ``mpguide run``'s arguments; return 0 when the program ends normally.

    The program's own ``SystemExit`` (its exit status) and exceptions propagate.
    When the program cannot start, print one line and return :data:`EXIT_USAGE`.
    """
    own, program = split_arguments(argv)
    args = build_parser(prog).parse_args(own)
    try:
        program_path = prepare_program(args.start_method, program, module=args.module)
    except (StartMethodError, ProgramNotFoundError) as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    execute_program(program_path, program, module=args.module)
    return 0
