"""
``python -m package`` under forkserver and spawn
================================================

A program run as ``python -m app`` executes ``app/__main__.py``. Under ``fork``
its workers are copies of it, so a worker function defined in ``__main__.py``
works. Under ``forkserver`` and ``spawn`` a worker must import the function by
name, and ``multiprocessing`` deliberately does not re-run a package's
``__main__.py`` in its children: the function is not found. The fix is to
define worker functions in a module of the package, and import them.
"""

# %%
# Reproduce
# ---------
# The package below starts one worker under the start method named on its
# command line. It is run with ``python -m`` under ``fork`` and ``forkserver``
# (Python 3.14's default on Linux), each in its own interpreter.

import multiprocessing
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

MAIN_WITH_WORKER = """
    import multiprocessing, sys

    def work():
        print("the worker ran")

    if __name__ == "__main__":
        worker = multiprocessing.get_context(sys.argv[1]).Process(target=work)
        worker.start()
        worker.join(60)
        print("worker exit code:", worker.exitcode)
"""

MAIN_IMPORTING_WORKER = """
    import multiprocessing, sys
    from fixed_app.tasks import work

    if __name__ == "__main__":
        worker = multiprocessing.get_context(sys.argv[1]).Process(target=work)
        worker.start()
        worker.join(60)
        print("worker exit code:", worker.exitcode)
"""

TASKS = """
    def work():
        print("the worker ran")
"""


def write_package(project, name, files):
    package = Path(project, name)
    package.mkdir()
    (package / "__init__.py").write_text("")
    for filename, code in files.items():
        (package / filename).write_text(textwrap.dedent(code))


def run_module(project, module, method):
    """``python -m module method``: return what it printed, and its worker's error."""
    done = subprocess.run(
        [sys.executable, "-m", module, method],
        cwd=project,
        env={**os.environ, "PYTHON_COLORS": "0"},  # plain tracebacks, also in Jupyter
        capture_output=True,
        text=True,
        timeout=120,
    )
    errors = [line for line in done.stderr.splitlines() if "Error:" in line]
    printed = " / ".join(done.stdout.split("\n")).strip(" /")
    return printed + (f" / worker failed: {errors[-1]}" if errors else "")


if __name__ == "__main__":
    method = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    method = method.get_start_method()
    print("start method:", method)
    fresh = (
        "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    )
    project_directory = tempfile.TemporaryDirectory()
    project = project_directory.name
    write_package(project=project, name="app", files={"__main__.py": MAIN_WITH_WORKER})
    broken = {
        each: run_module(project=project, module="app", method=each)
        for each in ("fork", fresh)
    }
    for each, outcome in broken.items():
        print(f"python -m app {each}: {outcome}")

# %%
# Why
# ---
# A ``forkserver`` or ``spawn`` worker rebuilds the parent's ``__main__`` before
# it unpickles the target. For a script it re-runs the file as ``__mp_main__``;
# for ``python -m some.module`` it re-imports the module by name; but for a
# package's ``__main__.py`` it does nothing, because such files usually run
# their program unconditionally (see ``_fixup_main_from_name`` in CPython's
# ``multiprocessing/spawn.py``). The target pickles as ``__main__.work``, and
# the worker's ``__main__`` has no ``work``.

# %%
# Fix: workers in a module of the package
# ---------------------------------------
# ``__main__.py`` imports the worker function from ``fixed_app.tasks``; the
# pickle now names ``fixed_app.tasks.work``, which any worker can import. Run
# under this page's start method and under ``forkserver``:

if __name__ == "__main__":
    write_package(
        project=project,
        name="fixed_app",
        files={"__main__.py": MAIN_IMPORTING_WORKER, "tasks.py": TASKS},
    )
    fixed = {
        each: run_module(project=project, module="fixed_app", method=each)
        for each in sorted({method, fresh})
    }
    for each, outcome in fixed.items():
        print(f"python -m fixed_app {each}: {outcome}")
    project_directory.cleanup()

# %%
# The same goes for ``python -m mpguide run --start-method forkserver -m app``
# (:doc:`/reference/pytest-plugin`), which runs a module as ``python -m`` does.

# %%
# What happened
# -------------

if __name__ == "__main__":
    ran = "the worker ran / worker exit code: 0"
    reproduced = broken["fork"] == ran and "Can't get attribute 'work'" in broken[fresh]
    works = all(outcome == ran for outcome in fixed.values())
    print(
        f"failure reproduced: {'yes' if reproduced else 'no'} "
        f"(a worker defined in __main__.py runs under fork, not under {fresh})"
    )
    print(
        f"fix works: {'yes' if works else 'no'} "
        f"(imported from a module, it runs under {' and '.join(sorted(fixed))})"
    )
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        "python -m package",
        [
            *(
                Observation(
                    label=f"worker in __main__.py, {start}",
                    result="ran" if outcome == ran else "failed",
                    ok=outcome == ran,
                )
                for start, outcome in broken.items()
            ),
            *(
                Observation(
                    label=f"worker in a module, {start}",
                    result="ran" if outcome == ran else "failed",
                    ok=outcome == ran,
                )
                for start, outcome in fixed.items()
            ),
        ],
    )
    assert reproduced and works
