"""nox sessions: docs, docs_all, tests, lint, browser, linkcheck, bench.

``tests`` runs once per supported CPython (``tests-3.12``, ...): an interpreter
that is not installed is skipped with a message; when ``CI`` is set, it is an
error instead (nox's own rule). ``docs`` builds the site once, with the Python
that runs nox; its start-method matrix and error index run on every supported
CPython found, and the tests build the whole site on each.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nox

nox.options.sessions = ["lint", "tests", "docs"]
# uv (installed beside nox) makes the environments: it installs each session's
# packages in seconds where pip takes over half a minute; without uv, venv and
# pip. A missing interpreter is never downloaded: it is skipped, or in CI an error.
nox.options.default_venv_backend = "uv|venv"
nox.options.download_python = "never"
# uv, unlike pip, leaves installed modules uncompiled unless asked. Where
# PYTHONDONTWRITEBYTECODE is set, every new process (and the examples start
# many) would then compile each module it imports, every time.
INSTALL_ENV = {"UV_COMPILE_BYTECODE": "1"}
nox.options.reuse_existing_virtualenvs = True

PYTHONS = ("3.11", "3.12", "3.13")
START_METHODS = ("fork", "spawn", "forkserver")
SPHINX_BUILD = ("sphinx-build", "-n", "-W", "--keep-going", "-b", "html")
# The start-method matrix's runs, shared by every build and interpreter: each
# result is keyed by the example, the package and the interpreter's version.
BUILD_ENV = {
    "MPLBACKEND": "Agg",
    "MPGUIDE_CACHE_DIR": str(Path(__file__).parent / "docs" / "_build" / ".cache"),
}


@nox.session
def docs(session: nox.Session) -> None:
    """Build the site with MPGUIDE_START_METHOD (default spawn), warnings as errors,
    into docs/_build/html.

    Once, with the Python that runs nox: the tests build the whole site on every
    supported CPython under every start method, so CI need not build it here
    once per version too.
    """
    session.install(".[docs]", env=INSTALL_ENV)
    output = "docs/_build/html"
    session.run(*SPHINX_BUILD, "docs", output, env=BUILD_ENV)
    session.log(f"The site is in {output}/index.html")


@nox.session
def docs_all(session: nox.Session) -> None:
    """Build the site once per start method, into docs/_build/<method>/html."""
    session.install(".[docs]", env=INSTALL_ENV)
    for method in START_METHODS:
        session.run(
            *SPHINX_BUILD,
            "docs",
            f"docs/_build/{method}/html",
            env={**BUILD_ENV, "MPGUIDE_START_METHOD": method},
        )


# Most tests wait on the processes they start: they run in parallel, one
# worker more than there are CPUs (at most 5). Measured on 2 CPUs: two workers
# kept about 1.3 CPUs busy, three about 1.7; four were no faster (3.13: 378 s
# against 387 s), five were slower in CI, and a test's 2 s time limit ran out
# there. The longest tests start first, each batch on a worker of its own
# (tests/conftest.py).
TEST_WORKERS = min(4, os.cpu_count() or 1) + 1


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run pytest: unit tests, and every example and recipe under every start method."""
    session.install(".[tests]", env=INSTALL_ENV)
    env = {**BUILD_ENV, "MPGUIDE_TESTING_INSTALLED_PACKAGE": "1"}
    parallel = ("-n", str(TEST_WORKERS))
    # The slowest tests, listed at the end: where CI's time goes.
    session.run("pytest", *parallel, "--durations=25", *session.posargs, env=env)


# sphinx-gallery versions the gallery extension is tested with: the oldest the
# ``gallery`` extra allows, and the newest on PyPI (also what ``tests`` uses).
SPHINX_GALLERY_VERSIONS = ("0.17.1", "0.22.1")


@nox.session
@nox.parametrize("sphinx_gallery", SPHINX_GALLERY_VERSIONS)
def extension(session: nox.Session, sphinx_gallery: str) -> None:
    """The gallery extension in throwaway projects, with one sphinx-gallery version.

    Installs only mpguide, that sphinx-gallery and what the test project uses:
    the extension must work without the guide's other extras.
    """
    session.install(
        ".",
        f"sphinx-gallery=={sphinx_gallery}",
        "matplotlib",
        "pytest>=8",
        "pytest-timeout>=2.3",
        env=INSTALL_ENV,
    )
    session.run(
        "pytest",
        "tests/test_sphinxext.py",
        "tests/test_sphinxext_project.py",
        "tests/test_sphinxext_pool.py",
        "tests/test_figures.py",
        *session.posargs,
        env={"MPLBACKEND": "Agg"},
    )


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint and format check) on everything; mypy --strict on src/ and docs/_ext/."""
    session.install(".[lint,docs]", env=INSTALL_ENV)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


@nox.session
def browser(session: nox.Session) -> None:
    """Build the site, serve it on localhost, and test it in headless Chromium.

    Uses the system's Chromium (Debian's ``chromium`` package, or
    ``MPGUIDE_CHROMIUM``); screenshots go to test-artifacts/. With
    ``MPGUIDE_SITE`` set to a built site's directory, tests that site instead
    of building one.
    """
    session.install(".[browser]", env=INSTALL_ENV)
    if "MPGUIDE_SITE" in os.environ:
        session.log(f"Testing the site already built in {os.environ['MPGUIDE_SITE']}")
    else:
        session.run(*SPHINX_BUILD, "docs", "docs/_build/html", env=BUILD_ENV)
    # One Chromium per test worker: on 2 CPUs, three workers took 182 s where
    # one took 243 s.
    session.run("pytest", "-n", str(TEST_WORKERS), "tests_browser", *session.posargs)


@nox.session
def linkcheck(session: nox.Session) -> None:
    """Check external links (needs the internet; not part of CI)."""
    session.install(".[docs]", env=INSTALL_ENV)
    session.run(
        "sphinx-build", "-b", "linkcheck", "docs", "docs/_build/linkcheck",
        env={"MPLBACKEND": "Agg"},
    )  # fmt: skip


@nox.session
def bench(session: nox.Session) -> None:
    """Time each fix, recipe and the docs build; print a table, write bench-results.json.

    Uses MPGUIDE_START_METHOD (default spawn, as the docs build does); extra
    arguments go to ``python -m mpguide.bench`` through ``benchmarks/docs_build.py``
    (``nox -s bench -- --quick``).
    """
    session.install(".[docs]", env=INSTALL_ENV)
    method = os.environ.get("MPGUIDE_START_METHOD") or "spawn"
    session.run(
        "python",
        "benchmarks/docs_build.py",
        "--start-method",
        method,
        "--json",
        "bench-results.json",
        *session.posargs,
        env={"MPLBACKEND": "Agg"},
    )
    session.run("python", "-m", "mpguide.bench", "check-keys")
    # flake8 with no plugin (mpguide's own would run inside it), in an environment
    # of its own, against python -m mpguide lint on the same files.
    flake8_env = Path(session.create_tmp()) / "flake8-only"
    session.run(sys.executable, "-m", "venv", "--clear", str(flake8_env), external=True)
    flake8_python = str(flake8_env / ("Scripts" if os.name == "nt" else "bin") / "python")
    session.run(flake8_python, "-m", "pip", "install", "-q", "flake8", external=True)
    session.run("python", "-m", "mpguide.bench", "lint-speed", flake8_python)
