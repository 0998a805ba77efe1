"""
``AttributeError: module '__main__' has no attribute '__spec__'`` under a debugger or runner
============================================================================================

A program that starts processes with ``spawn`` (the default on macOS and
Windows) or ``forkserver`` works with ``python program.py`` and fails with
``AttributeError: module '__main__' has no attribute '__spec__'`` when it runs
under ``python -m pdb`` of Python before 3.11.9 and 3.12.3, another debugger,
or a launcher script that runs it for you. This page runs one small program
plainly, under this Python's ``pdb``, and under a runner that sets up
``__main__`` the way ``pdb`` did before the fix, finds the line of
``multiprocessing`` that raises it, and fixes it with one line in the program.
"""

# %%
# Reproduce
# ---------
# ``PROGRAM`` starts one ``Process`` with the start method it is given and
# prints ``ok``, or the error ``start()`` raised with the functions it was
# raised in. ``RUNNER`` runs a script as ``__main__`` the way ``pdb`` did for a
# script up to 3.11.8 and 3.12.2: it empties the ``__main__`` module's
# namespace and fills in ``__name__``, ``__file__`` and ``__builtins__`` only.
# setuptools' ``pkg_resources.run_script``, which the launchers that ``setup.py
# install`` and ``develop`` wrote for a package's scripts call, empties it too
# and keeps only ``__name__``.

import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WAIT = 60  # seconds: a bound that a working run never reaches
FIXED_IN = {11: (3, 11, 9), 12: (3, 12, 3)}  # this pdb sets __spec__ from these on

PROGRAM = """
import multiprocessing, os, sys, traceback


def square(x):
    return x * x


if __name__ == "__main__":
    # (the fix goes here)
    child = multiprocessing.get_context(sys.argv[1]).Process(target=square, args=(3,))
    try:
        child.start()
        child.join(60)
        print("outcome: ok, exit code", child.exitcode)
    except Exception as error:
        frames = traceback.extract_tb(error.__traceback__)[-2:]
        where = " < ".join(
            f"{os.path.basename(f.filename)} {f.name}" for f in reversed(frames)
        )
        print(f"outcome: {type(error).__name__}: {error} (in {where})")
"""
FIX = '    globals().setdefault("__spec__", None)'

RUNNER = """
import sys


def run_as_main(path):
    code = compile(open(path).read(), path, "exec")
    namespace = sys.modules["__main__"].__dict__
    builtins = namespace["__builtins__"]
    namespace.clear()
    namespace.update(__name__="__main__", __file__=path, __builtins__=builtins)
    exec(code, namespace)


sys.argv = sys.argv[1:]
run_as_main(sys.argv[0])
"""


def outcome(*command, method):
    """Run a command ending in a script's path; return the outcome it printed."""
    done = subprocess.run(
        [sys.executable, *command, method],
        stdin=subprocess.DEVNULL,  # pdb: the end of input quits at its next prompt
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("outcome: ")]
    assert done.returncode == 0 and len(lines) == 1, (done.stdout, done.stderr)
    return lines[0].removeprefix("outcome: ")


def run_three_ways(workspace, method):
    """The program's outcome run plainly, under pdb and under the runner."""
    program, runner = workspace / "program.py", workspace / "runner.py"
    return {
        "python program.py": outcome(program, method=method),
        "python -m pdb -c continue program.py": outcome(
            "-m", "pdb", "-c", "continue", program, method=method
        ),
        "python runner.py program.py": outcome(runner, program, method=method),
    }


def show(label, outcomes):
    print(label)
    for how, result in outcomes.items():
        print(f"  {how}: {result}")


if __name__ == "__main__":
    method = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    method = method.get_start_method()
    print("start method:", method)
    print("Python", sys.version.split()[0])
    workspace = Path(tempfile.mkdtemp(prefix="runner-"))
    (workspace / "runner.py").write_text(RUNNER)
    program = workspace / "program.py"
    program.write_text(PROGRAM)
    unfixed = run_three_ways(workspace, method)
    show("the program as written:", unfixed)

# %%
# Why
# ---
# ``start()`` under ``spawn`` (``Popen._launch`` in
# ``multiprocessing/popen_spawn_posix.py``; ``Popen.__init__`` in
# ``popen_spawn_win32.py``) and
# under ``forkserver`` (``Popen._launch`` in
# ``multiprocessing/popen_forkserver.py``) first collects what the child needs
# to set itself up, in ``get_preparation_data`` in ``multiprocessing/spawn.py``.
# To decide how the child should load the main module again, it reads
# ``main_module.__spec__`` (``getattr(main_module.__spec__, "name", None)``):
# the default of ``getattr`` covers a ``__spec__`` that is ``None``, not one
# that is missing, and a module whose namespace was emptied has none. The
# line is the same in CPython 3.11, 3.12 and 3.13. ``fork`` does not call it
# (``multiprocessing/popen_fork.py``): the child is a copy and needs no
# preparation.
#
# ``pdb`` runs a script by emptying ``__main__``'s namespace and filling it
# from ``_ScriptTarget.namespace`` (``Pdb._run`` in ``pdb.py``). That namespace
# had no ``__spec__`` until cpython issue 87115, fixed by pull request 116141
# and its backports 116154 and 116155 (merged on 29 February 2024): ``pdb``
# sets ``__spec__`` to ``None`` from 3.11.9, 3.12.3 and 3.13.0. Anything else
# that runs a script in an emptied ``__main__``, as ``RUNNER`` does, fails on
# every version (the same error was reported under pudb and with
# ``pkg_resources`` launchers); a module run with ``python -m pdb -m module``
# keeps its spec (``_ModuleTarget.namespace``, 3.11 to 3.13).
#
# Fix: give ``__main__`` a ``__spec__`` before starting processes
# ---------------------------------------------------------------
# The first line under the main guard sets ``__spec__`` to ``None`` when it is
# missing, which is what it is in a script run with ``python``, so the spawned
# child loads the script from its path as usual
# (``globals().setdefault("__spec__", None)``). With a ``pdb`` of 3.11.9,
# 3.12.3, 3.13 or later, nothing is needed.

if __name__ == "__main__":
    program.write_text(PROGRAM.replace("    # (the fix goes here)", FIX))
    fixed = run_three_ways(workspace, method)
    show("with __spec__ set when missing:", fixed)

# %%
# In the error index: :ref:`error-main-no-spec`.
#
# What happened
# -------------

if __name__ == "__main__":
    shutil.rmtree(workspace)
    message = "AttributeError: module '__main__' has no attribute '__spec__'"
    runner_failed = unfixed["python runner.py program.py"].startswith(message)
    pdb_failed = unfixed["python -m pdb -c continue program.py"].startswith(message)
    print(
        f"failure reproduced: {'yes' if runner_failed else 'no'} (the runner: "
        f"{unfixed['python runner.py program.py'].split(' (')[0]}; this Python's pdb: "
        f"{'the same' if pdb_failed else 'ok'})"
    )
    works = all(result == "ok, exit code 0" for result in fixed.values())
    print(f"fix works: {'yes' if works else 'no'} (__spec__ set: ok three ways)")
    print(
        "depends on the start method: spawn and forkserver read __main__.__spec__ to "
        "prepare the child; fork copies the process and reads nothing"
    )
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        f"A program run by a runner, under {method}",
        [
            Observation(
                label="runner, __spec__ missing",
                result="AttributeError" if runner_failed else "ok",
                ok=not runner_failed,
            ),
            Observation(
                label=f"pdb of Python {sys.version.split()[0]}",
                result="AttributeError" if pdb_failed else "ok",
                ok=not pdb_failed,
            ),
            Observation(label="__spec__ set, three ways", result="ok", ok=works),
        ],
    )
    pdb_sets_spec = sys.version_info >= FIXED_IN.get(sys.version_info.minor, (3, 13))
    assert unfixed["python program.py"] == "ok, exit code 0"
    if method == "fork":
        assert not runner_failed and not pdb_failed, unfixed
    else:
        called_by = (
            "popen_spawn_posix.py _launch"
            if method == "spawn"
            else ("popen_forkserver.py _launch")
        )
        expected = f"{message} (in spawn.py get_preparation_data < {called_by})"
        assert unfixed["python runner.py program.py"] == expected, unfixed
        pdb_outcome = unfixed["python -m pdb -c continue program.py"]
        assert pdb_outcome == (expected if not pdb_sets_spec else "ok, exit code 0")
    assert works, fixed
    assert not multiprocessing.active_children()
