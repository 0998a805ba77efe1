"""
coverage.py reports a pool worker's lines as missed
===================================================

The tests call a function through a ``Pool``; it runs, its results are
right, and ``coverage report`` lists every line of it as missed. pytest-cov
shows the same, since its 4.0 release left multiprocessing to coverage.py.
This page runs a small program under ``coverage run`` (coverage.py itself),
shows the worker function's lines missed under the start method in use,
measures why, and counts them with coverage.py's own multiprocessing support.
"""

# %%
# Reproduce
# ---------
# The program maps ``square`` over a ``Pool``, as a test would. The page runs
# ``coverage run program.py`` in a new directory with no coverage settings,
# then ``coverage json``, and reads which lines of ``program.py`` were missed.

import ast
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import coverage  # coverage.py: pip install coverage

PROGRAM = """
import multiprocessing, sys


def square(x):
    y = x * x
    return y


if __name__ == "__main__":
    context = multiprocessing.get_context(sys.argv[1])
    with context.Pool(2) as pool:
        print(pool.map(square, range(4)))
"""
WAIT = 120  # seconds: a bound that a working run never reaches


def square_body(program):
    """The line numbers of ``square``'s body in ``program``."""
    function = next(
        node for node in ast.walk(ast.parse(program)) if isinstance(node, ast.FunctionDef)
    )
    return [statement.lineno for statement in function.body]


def run_coverage(*arguments, cwd):
    """Run the coverage command in ``cwd``, without any COVERAGE_ setting of
    the environment (such as a run of these pages under coverage)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
    return subprocess.run(
        [sys.executable, "-m", "coverage", *arguments],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )


def measure(program, method, settings=""):
    """``coverage run`` the program in a directory of its own with ``settings``
    as its ``.coveragerc``; return the lines of ``program.py`` it missed."""
    run_dir = Path(tempfile.mkdtemp(dir=workspace))
    (run_dir / "program.py").write_text(program)
    (run_dir / ".coveragerc").write_text(settings)
    ran = run_coverage("run", "program.py", method, cwd=run_dir)
    assert ran.returncode == 0 and ran.stdout.strip() == "[0, 1, 4, 9]", ran.stderr
    if "parallel" in settings or "multiprocessing" in settings:
        combined = run_coverage("combine", cwd=run_dir)
        assert combined.returncode == 0, combined.stderr
    reported = run_coverage("json", "-o", "coverage.json", cwd=run_dir)
    assert reported.returncode == 0, reported.stderr
    files = json.loads((run_dir / "coverage.json").read_text())["files"]
    return files["program.py"]["missing_lines"]


if __name__ == "__main__":
    method = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    method = method.get_start_method()
    print("start method:", method)
    print("coverage.py", coverage.__version__)
    workspace = Path(tempfile.mkdtemp(prefix="coverage-"))
    body = square_body(PROGRAM)
    print("the lines of square's body:", body)
    missed = measure(PROGRAM, method)
    print("coverage run, no settings: missed lines", missed)

# %%
# ``square`` ran four times, in the workers, and coverage.py counts none of
# its lines.
#
# Why
# ---
# ``coverage run`` measures the process it starts. What happens in a worker
# depends on the start method:
#
# * under ``fork`` the worker is a copy of the main process, coverage.py's
#   tracer included, and it records the lines. But it ends with
#   ``os._exit()`` (``Popen._launch`` in ``multiprocessing/popen_fork.py``,
#   3.11 to 3.13), which skips the ``atexit`` handler where coverage.py writes
#   its data file: what the worker recorded is lost.
# * under ``spawn`` the worker is a new interpreter, and under ``forkserver``
#   a fork of the fork server, itself a new interpreter: coverage.py was never
#   started in them.
#
# Two measurements show it. First, letting the workers end by themselves does
# not help: the program closes and joins its pool (so that ``Pool.__exit__``'s
# ``terminate()`` has no worker left to stop), and the lines are still missed.

FINISHING_PROGRAM = PROGRAM + "        pool.close()\n        pool.join()\n"  # in the with

if __name__ == "__main__":
    joined = measure(FINISHING_PROGRAM, method)
    print("pool closed and joined, no settings: missed lines", joined)

# %%
# Second, coverage.py 7.10 added ``[run] patch = _exit``, which makes
# ``os._exit()`` save the data first (coverage.py's changelog, 7.10.0). With
# it, a forked worker's lines count, and a spawned one's still do not: the
# forked worker had measured them.

EXIT_PATCH = "[run]\npatch = _exit\nparallel = true\n"

if __name__ == "__main__":
    saved_at_exit = measure(FINISHING_PROGRAM, method, EXIT_PATCH)
    print("patch = _exit: missed lines", saved_at_exit)

# %%
# Fix: ``concurrency = multiprocessing``, and a pool that ends by itself
# ----------------------------------------------------------------------
# With ``concurrency = multiprocessing`` in the configuration file, coverage.py
# replaces ``BaseProcess._bootstrap`` with one that starts a ``Coverage`` in
# the child and saves its data when the target returns, under every start
# method (for ``spawn`` and ``forkserver`` it adds an object to the data sent
# to the new process that applies the same change there: ``coverage/multiproc.py``).
# Each process writes its own data file (``parallel = true``, which this
# setting turns on by itself: ``Coverage._init`` in ``coverage/control.py``);
# ``coverage combine`` merges them before the report. The settings must be in
# a configuration file: the workers read them there, not from ``coverage
# run``'s command line.
#
# The save happens when ``_bootstrap`` returns, which a worker stopped by
# ``Pool.terminate()`` never does: ``Pool.__exit__`` calls ``terminate()``, and
# ``_terminate_pool`` sends ``SIGTERM`` to every worker still running
# (``multiprocessing/pool.py``). So the program closes and joins the pool
# before the ``with`` block ends. ``sigterm = true`` makes coverage.py save on
# ``SIGTERM`` too, and pytest-cov's 4.0 changelog lists it with the other two
# settings; this page does not rely on it.

FIXED_SETTINGS = "[run]\nconcurrency = multiprocessing\nparallel = true\nsigterm = true\n"

if __name__ == "__main__":
    print(FIXED_SETTINGS)
    fixed_missed = measure(FINISHING_PROGRAM, method, FIXED_SETTINGS)
    print("concurrency = multiprocessing, pool joined: missed lines", fixed_missed)

# %%
# The same settings serve ``pytest --cov``: pytest-cov 4.0 (2022) dropped its
# own multiprocessing support and points to them. pytest-cov 7.0 (2025)
# dropped its measurement of other subprocesses too, for coverage.py's
# ``patch = subprocess`` (coverage.py 7.10), which starts coverage.py in
# processes started with ``subprocess``, ``os.system`` and the ``exec`` and
# ``spawn`` functions of ``os`` (this page does not measure it).

# %%
# What happened
# -------------

if __name__ == "__main__":
    shutil.rmtree(workspace)
    reproduced = missed == body
    print(
        f"failure reproduced: {'yes' if reproduced else 'no'} (coverage run with "
        f"no settings: lines {missed} of square, run in the workers, missed)"
    )
    fixed = fixed_missed == []
    print(
        f"fix works: {'yes' if fixed else 'no'} (concurrency = multiprocessing and "
        "a closed and joined pool: no line missed)"
    )
    from mpguide.figures import Observation, draw_outcome

    def counted(missing):
        return f"{len(body) - len(set(body) & set(missing))} of {len(body)} lines"

    draw_outcome(
        f"square's lines counted, {method}",
        [
            Observation(label="no settings", result=counted(missed), ok=not reproduced),
            Observation(label="pool joined", result=counted(joined), ok=None),
            Observation(label="patch = _exit", result=counted(saved_at_exit), ok=None),
            Observation(
                label="concurrency = multiprocessing",
                result=counted(fixed_missed),
                ok=fixed,
            ),
        ],
    )
    assert reproduced, (missed, body)
    assert joined == body, joined
    assert saved_at_exit == ([] if method == "fork" else body), saved_at_exit
    assert fixed, fixed_missed
    assert not multiprocessing.active_children()
