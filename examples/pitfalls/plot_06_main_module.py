"""
Pitfall 6: a class defined where a new process cannot import it
===============================================================

The Manager's server recreates every key by importing its class *by name*.
Under ``spawn`` and ``forkserver`` the server is a fresh interpreter: it can
import a class from a module, or from your script (which it re-runs as
``__mp_main__``), but not from a notebook cell, an interactive session,
``python -c``, or the inside of a function. Under ``fork`` the server is a
copy of your process and knows every class that existed when it was forked,
which hides the problem until the code runs on macOS, Windows, or Python 3.14,
where the call raises ``RemoteError`` with ``AttributeError: Can't get
attribute 'User' on <module '__main__' ...>``. The fix is to define the class
at the top level of a module.
"""

# %%
# The messages as the build produced them: :ref:`error-mp-main-attribute`,
# :ref:`error-main-attribute-late-class`.

# %%
# Reproduce
# ---------
# This program stores a ``User`` key in a Manager dict. Run as ``python -c``,
# its ``__main__`` has no file, exactly like a notebook or a REPL.

import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

PROGRAM = """
import multiprocessing, os
{define_user}

if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ["MPGUIDE_START_METHOD"])
    with context.Manager() as manager:
        queries = manager.dict()
        queries[User("alice")] = 1
        print("stored:", len(queries))
"""

USER_CLASS = """
class User:
    def __init__(self, name):
        self.name = name
    def __eq__(self, other):
        return isinstance(other, User) and other.name == self.name
    def __hash__(self):
        return hash(self.name)
"""


def run_program(define_user, method, cwd, program=PROGRAM):
    """Run ``program`` with ``python -c``; return its last line of output or error."""
    code = program.format(define_user=define_user)
    # Plain tracebacks, also from a notebook: Jupyter kernels set FORCE_COLOR,
    # which colours them from Python 3.13.
    env = {**os.environ, "MPGUIDE_START_METHOD": method, "PYTHON_COLORS": "0"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=cwd
    )
    if done.returncode == 0:
        return done.returncode, done.stdout.strip().splitlines()[-1]
    errors = re.findall(r"^(?:\w+\.)*(\w+(?:Error|Exception)):? ?(.*)$", done.stderr, re.M)
    (raised, message), (cause, detail) = errors[0], errors[-1]
    if raised == "RemoteError":  # the server's traceback, sent back as text
        return done.returncode, f"RemoteError from the server: {cause}: {detail}"
    return done.returncode, f"{raised}: {message}"


if __name__ == "__main__":
    method = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    method = method.get_start_method()
    print("start method:", method)
    project_directory = tempfile.TemporaryDirectory()
    project = project_directory.name
    status, last_line = run_program(define_user=USER_CLASS, method=method, cwd=project)
    print("class in __main__ (python -c), exit status", status, "->", last_line)

# %%
# Why
# ---
# The key reaches the server pickled, and a pickle names its class: here
# ``__main__.User``. The ``spawn`` or ``forkserver`` server looks that name up
# in *its* ``__main__``. For a script, ``multiprocessing`` re-runs the script
# there (as ``__mp_main__``), so ``User`` exists. For ``python -c``, a notebook
# or a REPL there is no file to re-run, so the server's ``__main__`` is empty:
# ``Can't get attribute 'User'``, sent back as a ``RemoteError``. (The module
# reads ``<module '__main__' (built-in)>`` in that message on 3.11, and
# ``<module '__main__' (<class '_frozen_importlib.BuiltinImporter'>)>`` from
# 3.12, which removed the loaders' ``module_repr()``, gh-97850: the wording
# changed, not the outcome.) A ``fork`` server inherited the class with the rest
# of memory. (One more ``fork`` trap: it knows only the classes defined
# *before* the Manager started.)
# :doc:`/explanation/main-module` has the whole story, and
# :ref:`sphx_glr_gallery_start_methods_plot_05_python_m_package.py` the case of a
# package's ``__main__.py``, which has a file but is never re-run.

if __name__ == "__main__":
    print(
        "depends on the start method: a fork server inherits the classes in "
        "memory; spawn and forkserver servers must import them by name"
    )

# %%
# Inside a function, it fails under every start method: pickle refuses a local
# class before anything is sent. The wording depends on the Python version: an
# ``AttributeError`` saying ``Can't pickle local object`` on 3.11 and 3.12 up
# to 3.12.4 (3.11.7 and 3.12.1 checked), ``Can't get local object`` on 3.13
# (3.13.0 checked) and, as projects' test suites report, from 3.12.5; and from
# 3.14 a ``pickle.PicklingError`` saying ``Can't pickle local object``
# (gh-122311). The line below is what this build's Python said.

if __name__ == "__main__":
    local_class = "def make_user_class():" + textwrap.indent(USER_CLASS, "    ")
    local_class += "    return User\nUser = make_user_class()"
    status, local_line = run_program(
        define_user=local_class,
        method=method,
        cwd=project,
    )
    print("class inside a function, exit status", status, "->", local_line)

# %%
# The same failure in a ``Pool``
# ------------------------------
# A ``Pool`` worker unpickles each task, and a task names its function the way
# a key names its class. When the function lives in a ``__main__`` with no
# file, the worker that takes a task dies unpickling it, and the task is lost
# with it. The pool starts a replacement, which takes the next task and dies
# the same way; once every task is lost, ``map`` waits for results that will
# never come. Only when the pool's *initializer* cannot be found does every
# worker die as it starts, and the pool replaces workers without end. This
# program counts the workers the pool starts (through its private ``_pool``
# list) until every task is lost, or up to 8, for at most a minute, then gives
# up on ``map``.

POOL_PROGRAM = """
import multiprocessing, os, time

def square(x):
    return x * x

def setup():
    pass

{define_user}

if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ["MPGUIDE_START_METHOD"])
    with context.Pool(2, initializer=INITIALIZER) as pool:
        result = pool.map_async(square, range(4), chunksize=1)
        every_task_lost = 2 + 4 if INITIALIZER is None else None
        started, deadline = 0, time.monotonic() + 60

        def count_started():  # workers are numbered as they start
            return max([started, *(worker._identity[0] for worker in pool._pool)])

        while not result.ready() and time.monotonic() < deadline:
            started = count_started()
            if started >= 8:
                break
            if started == every_task_lost:
                time.sleep(1)  # watch a while longer: no worker is started
                break
            time.sleep(0.05)
        started = count_started()
        print(f"map finished: {{result.ready()}}, workers started: {{started}}")
"""

if __name__ == "__main__":
    pool_lines = {}
    for initializer in ("None", "setup"):
        initialized = f"INITIALIZER = {initializer}"
        status, pool_lines[initializer] = run_program(
            define_user=initialized, method=method, cwd=project, program=POOL_PROGRAM
        )
        print(f"Pool(2, initializer={initializer}), 4 tasks ->", pool_lines[initializer])

# %%
# Fix: a module
# -------------
# Put the class in a module (here ``accounts.py`` next to the program) and
# import it. Every start method, every way of running the program, works.

if __name__ == "__main__":
    Path(project, "accounts.py").write_text(USER_CLASS)
    status, fixed_line = run_program(
        define_user="from accounts import User", method=method, cwd=project
    )
    print("class in a module, exit status", status, "->", fixed_line)
    project_directory.cleanup()

# %%
# What happened
# -------------

if __name__ == "__main__":
    reproduced = not last_line.startswith("stored")
    fixed = fixed_line == "stored: 1"
    print(f"failure reproduced: {'yes' if reproduced else 'no'} ({last_line})")
    print(f"fix works: {'yes' if fixed else 'no'} ({fixed_line})")
    refused_locally = re.match(
        r"\w*(Attribute|Pickling)Error: Can't (pickle|get) local", local_line
    )
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        f"A class in __main__ under {method}",
        [
            Observation(
                label="class defined in the program",
                result=last_line,
                ok=not reproduced,
            ),
            Observation(label="class imported from a module", result=fixed_line, ok=fixed),
        ],
    )
    assert fixed and refused_locally, local_line
    assert reproduced == (method != "fork")
    pool_finished = [line.startswith("map finished: True") for line in pool_lines.values()]
    assert pool_finished == [not reproduced] * 2, pool_lines
