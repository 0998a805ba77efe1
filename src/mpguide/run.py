"""``python -m mpguide run --start-method METHOD script.py [args...]``.

Runs a program as ``python script.py`` (or ``python -m module``, or ``python -c
command``) would, except
that the platform's *default* start method is replaced first: code that starts
processes without choosing a method (``multiprocessing.Process``, ``Pool``,
``Manager``, ``ProcessPoolExecutor`` without ``mp_context``) uses METHOD, as it
would on Python 3.14 (``forkserver`` on Linux) or macOS and Windows (``spawn``).

Only the default changes. The program's own ``get_context(method)`` and its
first ``set_start_method(method)`` still win, without ``force=True`` and without
"context has already been set", exactly as on a platform whose default is METHOD.
A program that ends with an exception (``KeyboardInterrupt`` too) shows the
traceback ``python`` would show, without this command's frames.
"""

from __future__ import annotations

import argparse
import builtins
import importlib.util
import io
import multiprocessing
import multiprocessing.context
import os
import runpy
import sys
import zipfile
from collections.abc import Sequence
from importlib.machinery import ModuleSpec, PathFinder, SourceFileLoader
from pathlib import Path
from types import CodeType, ModuleType, TracebackType
from typing import Any

__all__ = [
    "EXIT_USAGE",
    "START_METHODS",
    "ProgramNotFoundError",
    "StartMethodError",
    "add_run_parser",
    "check_start_method",
    "default_start_method",
    "main",
    "restore_start_methods",
    "run_program",
    "start_methods_now",
    "use_as_default_start_method",
]

#: The start methods CPython knows, on any platform.
START_METHODS = ("fork", "spawn", "forkserver")
#: Exit status when the command cannot start the program (as ``python missing.py``).
EXIT_USAGE = 2

USAGE = "%(prog)s --start-method METHOD (script.py | -m module | -c command) [args ...]"
RUN_DESCRIPTION = """\
Run a Python program with METHOD as the default multiprocessing start method,
as Python 3.14 on Linux (forkserver), macOS or Windows (spawn) would. The
program runs as __main__, with its own arguments; its exit status is passed
through. Its own get_context(method) and set_start_method(method) still win.
Python subprocesses it starts (pytest-xdist's workers too) keep the platform's
default; start them under run as well, or use pytest --mp-start-method.

exit status: the program's own; 2 when the program cannot be started (unknown
start method, one this platform lacks, no such script or module), with a
one-line "run: error: ..." message on standard error.
"""


class StartMethodError(ValueError):
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


def _default_context() -> Any:
    # Any: typeshed does not declare DefaultContext's _default_context.
    """The object behind ``multiprocessing.set_start_method`` and ``get_context``.

    :raises StartMethodError: if this Python's ``multiprocessing`` has no default
        to replace.
    """
    default = multiprocessing.context._default_context
    # CPython 3.4+ keeps the platform's default context in this attribute of
    # the object behind multiprocessing.set_start_method and get_context.
    if not isinstance(default, multiprocessing.context.DefaultContext) or not hasattr(
        default, "_default_context"
    ):
        raise StartMethodError(
            "this Python's multiprocessing has no default start method to replace"
        )
    return default


def default_start_method() -> str:
    """The start method used when code chooses none and nothing set one: the
    platform's, or the one :func:`use_as_default_start_method` made the default."""
    name: str = _default_context()._default_context.get_start_method()
    return name


def start_methods_now() -> tuple[str | None, str]:
    """The method set in this process (``None``: none yet) and the default, for
    :func:`restore_start_methods`."""
    return multiprocessing.get_start_method(allow_none=True), default_start_method()


def restore_start_methods(found: tuple[str | None, str]) -> None:
    """Put back what :func:`start_methods_now` returned."""
    method, default = found
    use_as_default_start_method(default)
    if method is not None:
        multiprocessing.set_start_method(method, force=True)


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
    default = _default_context()
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
    program = parser.add_mutually_exclusive_group()
    program.add_argument(
        "-m", dest="module", metavar="module", help="run a module, as python -m does"
    )
    program.add_argument(
        "-c", dest="command", metavar="command", help="run code, as python -c does"
    )
    return parser


def split_arguments(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split ``argv`` into the command's options and the program with its arguments.

    The program starts at the first argument that is not one of the command's
    own options (or right after ``-m module`` or ``-c command``); everything
    after it is the program's, even when it looks like an option of this command.
    """
    own: list[str] = []
    index = 0
    while index < len(argv):
        argument = argv[index]
        if argument in ("--start-method", "-m", "-c"):
            own += argv[index : index + 2]
            index += 2
            if argument != "--start-method":
                return own, list(argv[index:])
        elif argument.startswith("--start-method=") or argument in ("-h", "--help"):
            own.append(argument)
            index += 1
        elif argument[:2] in ("-m", "-c") and len(argument) > 2:  # -mpackage, as python
            own += [argument[:2], argument[2:]]
            return own, list(argv[index + 1 :])
        else:
            break
    return own, list(argv[index:])


class ProgramNotFoundError(Exception):
    """The script or module to run does not exist."""


def prepare_program(
    method: str, program: Sequence[str], *, module: str | None, command: str | None = None
) -> str:
    """Check that the program exists, set the default start method; return sys.path[0].

    :raises StartMethodError: for a bad method.
    :raises ProgramNotFoundError: if the script or module does not exist, or the
        module is a package without ``__main__``.
    """
    check_start_method(method)
    if command is not None:
        program_path = ""  # the current directory, as python -c puts it
    elif module is None:
        if not program:
            raise ProgramNotFoundError("name a script to run, or -m module, or -c command")
        script = Path(program[0])
        if not script.is_file() and not (script / "__main__.py").is_file():
            raise ProgramNotFoundError(f"can't open file {str(script)!r}: no such file")
        program_path = str(script.resolve().parent if script.is_file() else script)
    else:
        program_path = os.getcwd()
        spec = find_module(module, program_path)
        if spec is None:
            raise ProgramNotFoundError(f"no module named {module!r}")
        locations = spec.submodule_search_locations
        main = f"{module}.__main__"
        if locations is not None and PathFinder.find_spec(main, locations) is None:
            # python -m's own words (runpy), found without importing the package
            raise ProgramNotFoundError(
                f"No module named {module}.__main__; {module!r} is a package and "
                "cannot be directly executed"
            )
    use_as_default_start_method(method)
    return program_path


def run_program(
    method: str,
    program: Sequence[str],
    *,
    module: str | None = None,
    command: str | None = None,
) -> None:
    """Set ``method`` as the default start method, then run the program as ``__main__``.

    ``program`` is ``[script, *args]``, or with ``module`` or ``command`` (the
    code ``python -c`` takes) the arguments only.

    :raises StartMethodError: for a bad method (before the program starts).
    :raises ProgramNotFoundError: if the script or module does not exist.
    """
    path = prepare_program(method, program, module=module, command=command)
    execute_program(path, program, module=module, command=command)


def execute_program(
    program_path: str,
    program: Sequence[str],
    *,
    module: str | None,
    command: str | None = None,
) -> None:
    """Run the program as ``__main__``, with ``sys.argv`` and ``sys.path[0]`` as
    ``python`` sets them. Its ``SystemExit`` and exceptions propagate, as they
    would from ``python script.py``; the traceback that ``sys.excepthook``
    prints for an exception that ends the program has none of the frames of
    this module or of :mod:`runpy`.
    """
    if sys.path:
        sys.path[0] = program_path
    else:
        sys.path.append(program_path)
    try:
        if command is not None:
            sys.argv[:] = ["-c", *program]
            run_command(command)
        elif module is None:
            sys.argv[:] = list(program)
            script = program[0]
            if os.path.isfile(script) and not zipfile.is_zipfile(script):
                run_script(script)
            else:  # a directory or a zip file with __main__.py
                runpy.run_path(script, run_name="__main__")
        else:
            sys.argv[:] = [module, *program]
            runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit:
        raise
    except BaseException as error:
        show_only_the_programs_frames(error)
        raise


def run_command(command: str) -> None:
    """Run ``command`` in a new ``__main__`` module, as ``python -c`` does."""
    run_as_main(compile(command, "<string>", "exec"), {})


def run_script(script: str) -> None:
    """Run a source file as ``python script.py`` does: unlike :func:`runpy.run_path`,
    ``sys.argv[0]`` stays as given, while ``__file__`` and the code's file name
    (which tracebacks show) are absolute, as in Python 3.9 and later."""
    path = os.path.abspath(script)
    with io.open_code(path) as file:
        code = compile(file.read(), path, "exec")
    loader = SourceFileLoader("__main__", path)
    run_as_main(code, {"__file__": path, "__cached__": None, "__loader__": loader})


def run_as_main(code: CodeType, attributes: dict[str, Any]) -> None:
    """Execute ``code`` in a new ``__main__`` module, with its ``attributes``."""
    main = ModuleType("__main__")
    main.__dict__.update(__builtins__=builtins, **attributes)
    saved = sys.modules.get("__main__")
    sys.modules["__main__"] = main
    try:
        exec(code, main.__dict__)
    finally:
        if saved is not None:
            sys.modules["__main__"] = saved


#: Modules whose frames lead from the command line to the program's first frame.
_LAUNCHING_MODULES = frozenset({__name__, "runpy"})


def show_only_the_programs_frames(error: BaseException) -> None:
    """Make ``sys.excepthook`` print ``error``'s traceback from the program's frame.

    The exception still propagates, through the command line's own frames, so
    that Python ends as for ``python script.py``: status 1, or killed by
    ``SIGINT`` after a ``KeyboardInterrupt``. The hook in place now (the
    program's own, if it set one) is the one that prints.
    """
    previous = sys.excepthook

    def excepthook(
        kind: type[BaseException], value: BaseException, trace: TracebackType | None
    ) -> None:
        if value is error:
            trace = programs_frames(trace)
            value.__traceback__ = trace
        previous(kind, value, trace)

    sys.excepthook = excepthook


def programs_frames(trace: TracebackType | None) -> TracebackType | None:
    """``trace`` from the first frame after :func:`execute_program` and runpy's."""
    entry = trace
    while entry is not None and entry.tb_frame.f_code is not execute_program.__code__:
        entry = entry.tb_next
    if entry is None:
        return trace  # not raised through execute_program: leave it whole
    while entry is not None and entry.tb_frame.f_globals.get("__name__") in (
        _LAUNCHING_MODULES
    ):
        entry = entry.tb_next
    return entry


def find_module(module: str, directory: str) -> ModuleSpec | None:
    """``module``'s spec, with ``directory`` first on the path (None if not found)."""
    saved = list(sys.path)
    sys.path.insert(0, directory)
    try:
        return importlib.util.find_spec(module)
    except (ImportError, ValueError):  # a parent package is missing, or a bad name
        return None
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
        program_path = prepare_program(
            args.start_method, program, module=args.module, command=args.command
        )
    except (StartMethodError, ProgramNotFoundError) as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    execute_program(program_path, program, module=args.module, command=args.command)
    return 0
