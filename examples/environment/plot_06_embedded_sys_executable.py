"""
In an application that embeds Python, a new process is another copy of the application
======================================================================================

A program that embeds Python (a 3D modelling tool, a game engine, a C++ or
Rust or Delphi application with a scripting console) runs a plugin that starts
a ``Process`` or a ``Pool``. Instead of a worker, another copy of the whole
application starts (on macOS and Windows, a second window), or the plugin
fails. There, ``sys.executable`` is the application, not a Python
interpreter. This page stands in for such an application with a small
executable, starts a process from its plugin under the page's start method,
counts the copies that start, and fixes it with
``multiprocessing.set_executable``.
"""

# %%
# Reproduce: a host application and its plugin
# --------------------------------------------
# ``HOST`` is the application. Started as ``host --plugin FILE``, it runs the
# plugin with Python, whose ``sys.executable`` it has set to its own path, as
# an embedded interpreter's is. Started any other way it behaves as the
# application does: it opens, which here means recording its command line,
# and closes at once (a real one would stay open, and whoever started it would
# wait). ``PLUGIN`` starts one ``Process`` whose task records that it ran.

import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WAIT = 60  # seconds: a bound that a working run never reaches

HOST = """#!{python}
import json, os, runpy, sys

sys.executable = {host!r}
if sys.argv[1:2] == ["--plugin"]:
    runpy.run_path(sys.argv[2], run_name="__main__")
else:
    with open(os.environ["HOST_LOG"], "a") as log:
        log.write(json.dumps({{"host opened with": sys.argv[1:]}}) + "\\n")
"""

PLUGIN = """
import json, multiprocessing, multiprocessing.spawn, os, sys

WAIT = 60


def record(**event):
    with open(os.environ["HOST_LOG"], "a") as log:
        log.write(json.dumps(event) + "\\n")


def task():
    record(task=os.getpid())


def interpreter():
    \"\"\"The Python interpreter of the installation the host embeds.\"\"\"
    if sys.platform == "win32":
        return os.path.join(sys.exec_prefix, "python.exe")
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return os.path.join(sys.exec_prefix, "bin", "python" + version)


if __name__ == "__main__":
    # (the fix goes here)
    record(executable=os.path.basename(os.fsdecode(multiprocessing.spawn.get_executable())))
    context = multiprocessing.get_context(os.environ["HOST_START_METHOD"])
    child = context.Process(target=task)
    try:
        child.start()
        child.join(WAIT)
        record(child=f"exit code {child.exitcode}")
    except Exception as error:
        record(child=f"start() raised {type(error).__name__}")
"""
FIX = "    multiprocessing.set_executable(interpreter())"


def run_plugin(workspace, plugin_source, method):
    """Run the plugin in a fresh host; return what was recorded. The run ends
    when every copy of the host has closed its output: every copy has ended."""
    host = workspace / "host"
    host.write_text(HOST.format(python=sys.executable, host=str(host)))
    host.chmod(0o755)
    plugin = workspace / "plugin.py"
    plugin.write_text(plugin_source)
    log = workspace / "host.log"
    log.unlink(missing_ok=True)
    env = {**os.environ, "HOST_LOG": str(log), "HOST_START_METHOD": method}
    done = subprocess.run(
        [str(host), "--plugin", str(plugin)],
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in log.read_text().splitlines()]
    opened = [e["host opened with"] for e in events if "host opened with" in e]
    return {
        "sys.executable of the spawn code": next(
            e["executable"] for e in events if "executable" in e
        ),
        "the host opened again with": sorted(" ".join(args)[:60] for args in opened),
        "modules those command lines run": sorted(
            args[args.index("-c") + 1].split()[1] for args in opened
        ),
        "the child": next(e["child"] for e in events if "child" in e),
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
    workspace = Path(tempfile.mkdtemp(prefix="host-"))
    unfixed = run_plugin(workspace, PLUGIN, method)
    show("the plugin as written:", unfixed)

# %%
# Under ``spawn`` the host opened twice more, with the command lines that
# should have started a Python interpreter (cut here at 60 characters), the
# child "ended" with exit code 0 and the task never ran. Under ``forkserver``
# the host opened twice and ``start()`` failed. Under ``fork`` the task ran:
# nothing was started by name.
#
# Why
# ---
# ``spawn`` starts a child by running ``spawn.get_executable()`` with ``-c
# 'from multiprocessing.spawn import spawn_main; spawn_main(…)'
# --multiprocessing-fork`` (``get_command_line`` in ``multiprocessing/spawn.py``,
# ``Popen._launch`` in ``multiprocessing/popen_spawn_posix.py``), and
# ``spawn`` and ``forkserver`` start the resource tracker and the forkserver
# the same way, with ``-c`` and their own command (``ensure_running`` in
# ``multiprocessing/resource_tracker.py`` and ``multiprocessing/forkserver.py``).
# Options of the running interpreter come first (``-B``, ``-s``, ``-X ...``:
# ``_args_from_interpreter_flags`` in ``subprocess.py``), which the host does
# not understand either.
# ``get_executable()`` returns ``_python_exe``, which ``spawn.py`` sets when it
# is first imported, from ``sys.executable`` (3.11, 3.12 and 3.13; on Windows,
# when ``sys.executable`` ends with ``pythonservice.exe``, it uses
# ``python.exe`` in ``sys.exec_prefix`` instead). In an embedded interpreter
# ``sys.executable`` is the program that embeds it, which does not understand
# ``-c``: it starts as itself. The pybind11 tests found exactly this
# command line on macOS (pybind11 pull request 5238): the embedding test
# binary started with ``-c from multiprocessing.spawn import spawn_main; …``.
#
# Fix: ``multiprocessing.set_executable`` before starting processes
# -----------------------------------------------------------------
# ``multiprocessing.set_executable(path)`` replaces ``_python_exe`` for every
# later start: the children, the resource tracker and the forkserver
# (``set_executable`` in ``multiprocessing/spawn.py``). The path has to be a
# Python interpreter of the same version as the embedded one, with the same
# standard library: the ``python3.X`` (``python.exe`` on Windows) of the
# installation the host embeds, in ``sys.exec_prefix``, as ``interpreter()``
# in ``PLUGIN`` finds it; check that it exists, since an application may ship
# the library without an interpreter. The child then runs the plugin's file
# again as ``__mp_main__`` (see :doc:`/explanation/main-module`), so what the
# plugin imports at its top level must import in a plain interpreter: a module
# only the host provides cannot. A host written in C can set
# ``PyConfig.executable`` when it starts Python, so that ``sys.executable``
# itself is right.

if __name__ == "__main__":
    fixed = run_plugin(workspace, PLUGIN.replace("    # (the fix goes here)", FIX), method)
    show("the plugin with set_executable:", fixed)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    interpreter = Path(sys.exec_prefix, "bin", "python" + version)
    print("the interpreter it set exists:", interpreter.exists())

# %%
# Two details differ by version and platform; this page can run the first. An
# embedded interpreter may have no ``sys.executable`` at all (``None``). Then
# ``multiprocessing/spawn.py`` of CPython 3.11 before 3.11.5 fails to import
# (its ``set_executable`` passes ``None`` to ``os.fsencode``), and ``spawn``
# and ``forkserver`` need it; from 3.11.5, and in 3.12 and 3.13, it imports,
# and ``set_executable`` can then be called (cpython issue 90876, pull request
# 106464, merged in July 2023):

NO_EXECUTABLE = "import sys; sys.executable = None; import multiprocessing.spawn"

if __name__ == "__main__":
    imports = subprocess.run(
        [sys.executable, "-c", NO_EXECUTABLE],
        capture_output=True,
        timeout=WAIT,
        check=False,
    )
    print(
        "with sys.executable None, multiprocessing.spawn imports:", imports.returncode == 0
    )

# %%
# On Windows, when the executable is still ``sys.executable`` and that is a
# virtual environment's ``python.exe``, ``Popen.__init__`` in
# ``multiprocessing/popen_spawn_win32.py`` starts ``sys._base_executable``
# instead, with ``__PYVENV_LAUNCHER__`` set (bpo-35797, 3.11 to 3.13); a path
# given to ``set_executable`` that is not ``sys.executable`` is started as
# given. This page cannot run that.
#
# What happened
# -------------

if __name__ == "__main__":
    shutil.rmtree(workspace)
    copies = unfixed["the host opened again with"]
    print(
        f"failure reproduced: {'yes' if copies else 'no'} (the host opened "
        f"{len(copies)} more times; tasks run: {unfixed['tasks run']})"
    )
    works = not fixed["the host opened again with"] and fixed["tasks run"] == 1
    print(
        f"fix works: {'yes' if works else 'no'} (set_executable: the host opened "
        f"no more, {fixed['tasks run']} task run)"
    )
    print(
        "depends on the start method: spawn and forkserver start their processes by "
        "running spawn.get_executable(), the host; fork runs nothing"
    )
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        f"A plugin of a host application under {method}",
        [
            Observation(
                label="sys.executable (the host)",
                result=f"{len(copies)} more hosts, {unfixed['tasks run']} tasks",
                ok=not copies,
            ),
            Observation(
                label="set_executable(interpreter())",
                result=f"{fixed['tasks run']} task",
                ok=works,
            ),
        ],
    )
    assert unfixed["sys.executable of the spawn code"] == "host"
    assert fixed["sys.executable of the spawn code"] == "python" + version
    if method == "fork":
        assert unfixed == {**fixed, "sys.executable of the spawn code": "host"}
    else:
        started = unfixed["modules those command lines run"]
        helper = f"multiprocessing.{method}"  # spawn_main, or the forkserver's main
        assert started == sorted([helper, "multiprocessing.resource_tracker"]), copies
        assert unfixed["tasks run"] == 0
        expected_child = "exit code 0" if method == "spawn" else "start() raised"
        assert unfixed["the child"].startswith(expected_child), unfixed
    assert works and fixed["the child"] == "exit code 0" and interpreter.exists()
    assert (imports.returncode == 0) == (sys.version_info >= (3, 11, 5)), imports.stderr
    assert not multiprocessing.active_children()
