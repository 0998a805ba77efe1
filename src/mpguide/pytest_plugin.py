"""``pytest --mp-start-method=METHOD``: run a test suite under another default start method.

Registered through the ``pytest11`` entry point, so installing ``mpguide``
makes the option available (``-p mpguide.pytest_plugin`` where
``PYTEST_DISABLE_PLUGIN_AUTOLOAD`` is set). Given the option, the plugin makes
METHOD the platform's default start method before pytest imports the first
``conftest.py`` (so that a method the conftest chooses at import is kept, as
on a platform whose default METHOD is),
and puts the default back when the run ends. Code that calls
``multiprocessing.Process``, ``Pool``, ``Manager`` or
``concurrent.futures.ProcessPoolExecutor`` without choosing a context uses
it, as on Python 3.14 (``forkserver`` on Linux) or on macOS and Windows
(``spawn``). The code's own ``get_context(method)`` or ``set_start_method``
still wins. Without the option the plugin does nothing.

Only this process's default changes: a Python subprocess a test starts
(``[sys.executable, ...]``, ``pytester.runpytest_subprocess``) has the platform's
default, unless it is given the option, or run with ``python -m mpguide run``.
pytest-xdist's workers are given the option, as all of pytest's arguments.
"""

from __future__ import annotations

import pytest

from mpguide.run import (
    START_METHODS,
    StartMethodError,
    restore_start_methods,
    start_methods_now,
    use_as_default_start_method,
)

OPTION = "--mp-start-method"
#: What the run found, put back when it ends: (the method set, the default).
_FOUND = pytest.StashKey[tuple[str | None, str]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mpguide", "multiprocessing start method")
    group.addoption(
        OPTION,
        choices=START_METHODS,
        default=None,
        metavar="METHOD",
        help=(
            "make METHOD (fork, spawn or forkserver) the default multiprocessing "
            "start method for the whole run, as if it were this platform's default"
        ),
    )


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    """Before the root ``conftest.py`` is imported, which may choose a method."""
    method = early_config.known_args_namespace.mp_start_method
    if method is None:
        return
    try:
        found = start_methods_now()
        use_as_default_start_method(method)
    except StartMethodError as error:
        raise pytest.UsageError(f"{OPTION}: {error}") from None
    early_config.stash[_FOUND] = found


def pytest_unconfigure(config: pytest.Config) -> None:
    """Put back the default (and method) found, for a program that runs pytest."""
    found = config.stash.get(_FOUND, None)
    if found is not None:
        restore_start_methods(found)


def pytest_report_header(config: pytest.Config) -> str | None:
    method = config.getoption(OPTION)
    if method is None:
        return None
    return f"multiprocessing default start method: {method} (set by {OPTION})"
