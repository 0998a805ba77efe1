"""``pytest --mp-start-method=METHOD``: run a test suite under another default start method.

Registered through the ``pytest11`` entry point, so installing ``mpguide``
makes the option available. Given the option, the plugin makes METHOD the
platform's default start method before any test runs (or any test module is
collected): code that calls ``multiprocessing.Process``, ``Pool``, ``Manager``
or ``concurrent.futures.ProcessPoolExecutor`` without choosing a context uses
it, as on Python 3.14 (``forkserver`` on Linux) or on macOS and Windows
(``spawn``). The code's own ``get_context(method)`` or ``set_start_method``
still wins. Without the option the plugin does nothing.
"""

from __future__ import annotations

import pytest

from mpguide.run import START_METHODS, StartMethodError, use_as_default_start_method

OPTION = "--mp-start-method"


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
def pytest_configure(config: pytest.Config) -> None:
    method = config.getoption(OPTION)
    if method is None:
        return
    try:
        use_as_default_start_method(method)
    except StartMethodError as error:
        raise pytest.UsageError(f"{OPTION}: {error}") from None


def pytest_report_header(config: pytest.Config) -> str | None:
    method = config.getoption(OPTION)
    if method is None:
        return None
    return f"multiprocessing default start method: {method} (set by {OPTION})"
