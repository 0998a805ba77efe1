"""nox sessions: docs, docs_all, tests, lint, browser, linkcheck, bench."""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["lint", "tests", "docs"]
nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True

START_METHODS = ("fork", "spawn", "forkserver")
SPHINX_BUILD = ("sphinx-build", "-n", "-W", "--keep-going", "-b", "html")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the site with MPGUIDE_START_METHOD (default spawn), warnings as errors."""
    session.install(".[docs]")
    session.run(*SPHINX_BUILD, "docs", "docs/_build/html", env={"MPLBACKEND": "Agg"})
    session.log("The site is in docs/_build/html/index.html")


@nox.session
def docs_all(session: nox.Session) -> None:
    """Build the site once per start method, into docs/_build/<method>/html."""
    session.install(".[docs]")
    for method in START_METHODS:
        session.run(
            *SPHINX_BUILD,
            "docs",
            f"docs/_build/{method}/html",
            env={"MPLBACKEND": "Agg", "MPGUIDE_START_METHOD": method},
        )


@nox.session
def tests(session: nox.Session) -> None:
    """Run pytest: unit tests, and every example and recipe under every start method."""
    session.install(".[tests]")
    env = {"MPLBACKEND": "Agg", "MPGUIDE_TESTING_INSTALLED_PACKAGE": "1"}
    session.run("pytest", *session.posargs, env=env)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint and format check) on everything; mypy --strict on src/."""
    session.install(".[lint,docs]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


@nox.session
def browser(session: nox.Session) -> None:
    """Build the site, serve it on localhost, and test it in headless Chromium.

    Uses the system's Chromium (Debian's ``chromium`` package, or
    ``MPGUIDE_CHROMIUM``); screenshots go to test-artifacts/.
    """
    session.install(".[browser]")
    session.run(*SPHINX_BUILD, "docs", "docs/_build/html", env={"MPLBACKEND": "Agg"})
    session.run("pytest", "tests_browser", *session.posargs)


@nox.session
def linkcheck(session: nox.Session) -> None:
    """Check external links (needs the internet; not part of CI)."""
    session.install(".[docs]")
    session.run(
        "sphinx-build", "-b", "linkcheck", "docs", "docs/_build/linkcheck",
        env={"MPLBACKEND": "Agg"},
    )  # fmt: skip


@nox.session
def bench(session: nox.Session) -> None:
    """Time each fix, recipe and the docs build; print a table, write bench-results.json.

    Uses MPGUIDE_START_METHOD (default spawn, as the docs build does); extra
    arguments go to ``python -m mpguide.bench`` (``nox -s bench -- --quick``).
    """
    session.install(".[docs]")
    method = os.environ.get("MPGUIDE_START_METHOD") or "spawn"
    session.run(
        "python",
        "-m",
        "mpguide.bench",
        "--start-method",
        method,
        "--docs",
        "docs",
        "--json",
        "bench-results.json",
        *session.posargs,
        env={"MPLBACKEND": "Agg"},
    )
