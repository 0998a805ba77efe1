"""
A frozen application starts itself again and again
===================================================

An application frozen with PyInstaller or cx_Freeze starts a ``Process`` or a
``Pool``, and instead of a worker, another copy of the application starts:
another window, another server, another set of copies, until the user kills
them. The same program works when run with ``python``. This page freezes a
small application the way these tools do (an executable that sets
``sys.frozen`` and ``sys.executable`` and runs the program), counts the
copies that start under the page's start method, with a depth limit so that
the runaway stops, and fixes it with ``multiprocessing.freeze_support()``.
"""

# %%
# Reproduce: the frozen application
# ---------------------------------
# ``APP`` is the program. Each copy of it records which generation it is (a
# depth counter its children inherit through the environment) and how it was
# started, then starts one ``Process`` whose task records that it ran. From
# the third generation on it starts nothing: that limit is this page's, so
# that the runaway ends. ``freeze`` writes an executable that does what a
# frozen application's startup does: ``sys.frozen`` is true and
# ``sys.executable`` is the application itself, so CPython's
# ``multiprocessing`` takes its frozen path. Like PyInstaller and cx_Freeze,
# the stand-in freezer also installs a ``multiprocessing.freeze_support``
# that works on every platform (``RUNTIME_HOOK``; see *Why* for what CPython's
# own one does). The first run is the program as most reports show it, with no
# ``freeze_support()`` call.

import collections
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WAIT = 60  # seconds: a bound that a working run never reaches
LAST_DEPTH = 2  # the third generation starts no process: the runaway ends there

APP = """
import json, multiprocessing, os, sys

WAIT = 60
LOG, DEPTH, METHOD = "APP_LOG", "APP_DEPTH", "APP_START_METHOD"


def record(**event):
    with open(os.environ[LOG], "a") as log:
        log.write(json.dumps(event) + "\\n")


def started_as():
    if sys.argv[1:2] == ["--multiprocessing-fork"]:
        return "a spawned child"
    if "-c" in sys.argv:
        command = sys.argv[sys.argv.index("-c") + 1]
        return "the " + command.split()[1].split(".")[1].replace("_", " ")
    return "the application"


def task():
    record(task=os.getpid())


if __name__ == "__main__":
    # (the fix goes here)
    depth = int(os.environ.get(DEPTH, "0"))
    record(depth=depth, started_as=started_as())
    if depth < LAST_DEPTH:
        os.environ[DEPTH] = str(depth + 1)
        child = multiprocessing.get_context(os.environ[METHOD]).Process(target=task)
        try:
            child.start()
            child.join(WAIT)
            record(depth=depth, child=f"exit code {child.exitcode}")
        except Exception as error:
            record(depth=depth, child=f"start() raised {type(error).__name__}")
"""
FIX = "    multiprocessing.freeze_support()"

LAUNCHER = """#!{python}
import runpy, sys

sys.frozen = True
sys.executable = {launcher!r}
{runtime_hook}
runpy.run_path({app!r}, run_name="__main__")
"""
RUNTIME_HOOK = """
import multiprocessing, multiprocessing.spawn

HELPERS = (
    "from multiprocessing.resource_tracker import main",
    "from multiprocessing.forkserver import main",
)


def freeze_support():
    command = sys.argv[sys.argv.index("-c") + 1] if "-c" in sys.argv else ""
    if command.startswith(HELPERS):
        exec(command)
        sys.exit()
    multiprocessing.spawn.freeze_support()


multiprocessing.freeze_support = freeze_support
"""


def freeze(workspace, name, app_source, runtime_hook):
    """Write the program and an executable that runs it as a frozen application."""
    app = workspace / f"{name}.py"
    app.write_text(app_source.replace("LAST_DEPTH", str(LAST_DEPTH)))
    launcher = workspace / name
    launcher.write_text(
        LAUNCHER.format(
            python=sys.executable,
            launcher=str(launcher),
            runtime_hook=RUNTIME_HOOK if runtime_hook else "",
            app=str(app),
        )
    )
    launcher.chmod(0o755)
    return launcher


def run_frozen(launcher, method):
    """Run the executable with a fresh log; return what its copies recorded.
    The run ends when every copy has closed its output: every copy has ended."""
    log = launcher.with_suffix(".log")
    log.unlink(missing_ok=True)
    env = {**os.environ, "APP_LOG": str(log), "APP_START_METHOD": method}
    env.pop("APP_DEPTH", None)
    done = subprocess.run(
        [str(launcher)], env=env, capture_output=True, text=True, timeout=WAIT, check=False
    )
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in log.read_text().splitlines()]
    return {
        "copies by generation": [
            sum(1 for e in events if e.get("depth") == depth and "started_as" in e)
            for depth in range(LAST_DEPTH + 1)
        ],
        "started as": dict(
            collections.Counter(e["started_as"] for e in events if "started_as" in e)
        ),
        "the first copy's child": next(
            e["child"] for e in events if e.get("depth") == 0 and "child" in e
        ),
        "tasks run": sum(1 for e in events if "task" in e),
    }


def show(label, run):
    print(label)
    for key, value in run.items():
        print(f"  {key}: {value}")


if __name__ == "__main__":
    method = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    method = method.get_start_method()
    print("start method:", method)
    workspace = Path(tempfile.mkdtemp(prefix="frozen-"))
    unfixed = run_frozen(freeze(workspace, "app", APP, runtime_hook=True), method)
    show("frozen, no freeze_support() call:", unfixed)

# %%
# Under ``spawn`` and ``forkserver``, every copy that starts a process starts
# two copies of the application, and the one task never runs; the first
# copy's child even ends with exit code 0 under ``spawn``. Without this page's
# limit every new copy would start two more, generation after generation.
# Under ``fork`` one copy runs and the task runs once.
#
# Why
# ---
# ``spawn`` starts a child by running an interpreter with a command line that
# makes it a child (``get_command_line`` in ``multiprocessing/spawn.py``,
# called by ``Popen._launch`` in ``multiprocessing/popen_spawn_posix.py``).
# In a normal program that is ``python -c 'from multiprocessing.spawn import
# spawn_main; spawn_main(...)' --multiprocessing-fork``. When ``sys.frozen``
# is set there is no separate interpreter to run, so the command line is the
# application itself, ``[sys.executable, '--multiprocessing-fork',
# 'tracker_fd=…', 'pipe_handle=…']``: the application starts again, and only
# code in the application can notice the argument and become the child. That
# code is ``freeze_support()`` (``freeze_support`` and ``is_forking`` in
# ``multiprocessing/spawn.py``). Without it, the copy runs the application's
# main code again, which starts a process again.
#
# The ``spawn`` and ``forkserver`` methods also start helper processes the same
# way, by running ``spawn.get_executable()`` (that is, ``sys.executable``,
# the application) with ``-c 'from multiprocessing.resource_tracker import
# main;main(…)'`` or ``-c 'from multiprocessing.forkserver import main;
# main(…)'`` (``ResourceTracker.ensure_running`` in
# ``multiprocessing/resource_tracker.py``, ``ForkServer.ensure_running`` in
# ``multiprocessing/forkserver.py``; no check of ``sys.frozen`` there). That is
# the second copy in each generation above: the resource tracker under
# ``spawn``, the resource tracker and the forkserver under ``forkserver``,
# whose children are then forked from a forkserver that never ran, so
# ``start()`` fails instead of starting the application a third time. ``fork``
# runs nothing: the child is a copy of the running process
# (``multiprocessing/popen_fork.py``), and a plain ``Process`` needs no
# resource tracker. This is so in CPython 3.11, 3.12 and 3.13.0 alike, whose
# ``spawn.py``, ``forkserver.py`` and ``resource_tracker.py`` start these
# command lines the same way. macOS and Windows default to ``spawn``, and Linux
# from 3.14 to ``forkserver``: frozen applications meet it everywhere.
#
# And CPython's own ``multiprocessing.freeze_support()`` is not enough outside
# Windows. ``BaseContext.freeze_support`` in ``multiprocessing/context.py``
# calls the one in ``spawn.py`` only when ``sys.platform == 'win32'`` in 3.11,
# 3.12 and 3.13 before 3.13.4; from 3.13.4 and in 3.14 it does so on every
# platform when the start method is ``spawn`` (cpython issue 80334, pull
# request 134462; changed again in 2026 so that the call no longer sets the
# start method as a side effect, and also acts when none is set: issue 140814,
# pull request 144608). And ``spawn.freeze_support`` knows only the
# ``--multiprocessing-fork`` command line, not the helpers' ``-c`` ones (3.11,
# 3.12, 3.13.0). The freezers replace
# it: PyInstaller's runtime hook
# (``PyInstaller/hooks/rthooks/pyi_rth_multiprocessing.py``) installs a
# ``freeze_support`` that runs the helpers' commands and the spawned child on
# every platform, as ``RUNTIME_HOOK`` above does, and cx_Freeze's hook for
# ``multiprocessing`` (``cx_Freeze/hooks/_multiprocessing_.py`` in its current
# source) patches the package to do the same on Linux and macOS, calling
# ``freeze_support`` itself when the program does not. A frozen program with
# only CPython's version, the call in place, still starts itself on Linux
# (asserted before 3.13.4; the line below shows what this Python's did):

if __name__ == "__main__":
    fixed_app = APP.replace("    # (the fix goes here)", FIX)
    bare = run_frozen(freeze(workspace, "bare", fixed_app, runtime_hook=False), method)
    show("frozen without a runtime hook, freeze_support() called:", bare)

# %%
# Fix: call ``freeze_support()`` first under the main guard
# ----------------------------------------------------------
# The first line under ``if __name__ == "__main__":`` calls
# ``multiprocessing.freeze_support()``, before anything else the application
# does (opening a window, parsing its arguments, reading a file): in a copy
# started as a child or a helper it runs that and exits, and the rest of the
# main code runs only in the application itself. Leave it in: outside a frozen
# application it does nothing.

if __name__ == "__main__":
    fixed = run_frozen(freeze(workspace, "fixed", fixed_app, runtime_hook=True), method)
    show("frozen, freeze_support() called first:", fixed)

# %%
# In the error index: a program started with ``spawn`` that starts processes
# while it is being imported, without the main guard, fails with
# :ref:`error-bootstrapping`, whose message names ``freeze_support()``.

# %%
# What happened
# -------------

if __name__ == "__main__":
    shutil.rmtree(workspace)
    generations = unfixed["copies by generation"]
    runaway = generations[-1] > 1
    print(
        f"failure reproduced: {'yes' if runaway else 'no'} (copies of the application "
        f"by generation: {generations}; tasks run: {unfixed['tasks run']})"
    )
    works = fixed["copies by generation"][0] == 1 and fixed["tasks run"] == 1
    print(
        f"fix works: {'yes' if works else 'no'} (freeze_support() first: one copy, "
        f"{fixed['tasks run']} task run)"
    )
    print(
        "depends on the start method: spawn starts a child, and spawn and forkserver "
        "start their helpers, by running sys.executable, which in a frozen "
        "application is the application; fork runs nothing"
    )
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        f"A frozen application under {method}",
        [
            Observation(
                label="no freeze_support()",
                result=f"{sum(generations)} copies, {unfixed['tasks run']} tasks",
                ok=not runaway,
            ),
            Observation(
                label="CPython's freeze_support() only",
                result=f"{sum(bare['copies by generation'])} copies",
                ok=sum(bare["copies by generation"]) == 1,
            ),
            Observation(
                label="freeze_support() with the hook",
                result=f"1 copy, {fixed['tasks run']} task",
                ok=works,
            ),
        ],
    )
    if method == "fork":
        assert unfixed == bare == fixed, (unfixed, bare, fixed)
        assert fixed["copies by generation"] == [1, 0, 0]
        assert fixed["started as"] == {"the application": 1}
    else:
        helper = {"spawn": "a spawned child", "forkserver": "the forkserver"}[method]
        assert generations == [1, 2, 4], generations
        assert unfixed["started as"] == {
            "the application": 1,
            "the resource tracker": 3,
            helper: 3,
        }
        assert unfixed["tasks run"] == 0
        expected_child = "exit code 0" if method == "spawn" else "start() raised"
        assert unfixed["the first copy's child"].startswith(expected_child), unfixed
        if sys.version_info < (3, 13, 4):  # the Windows-only freeze_support()
            assert bare == unfixed, (bare, unfixed)
        assert fixed["started as"] == {"the application": 1}
    assert works and fixed["the first copy's child"] == "exit code 0"
    assert not multiprocessing.active_children()
