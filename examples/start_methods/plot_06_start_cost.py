"""
What starting a worker costs under each start method
====================================================

A pool starts slowly under ``spawn`` or ``forkserver`` (the default on Linux
from Python 3.14), and every worker seems to import your program's libraries
again. This page measures it with a program whose main script imports a module
that takes 0.1 s to import: for each start method, what one child costs, and
how many times the script's top level and that import ran. Up to Python 3.13.7
and in 3.14.0, ``forkserver`` does not pay for the main script's imports once:
every child runs them again. ``set_forkserver_preload`` is the fix for that
cost, and the page measures it, including the case where it silently does
nothing.
"""

# %%
# The program
# -----------
# ``slowlib.py`` stands for a large library: importing it takes 0.1 s of CPU.
# The script ``app.py`` imports it at its top level, as most programs import
# their libraries, and starts three processes, one after the other, then a
# ``Pool(2)`` that runs six tasks. Each run of the script's top level, and each
# import of ``slowlib``, appends a line with its process id to a log, so the
# program can count where they ran. Each program runs as a separate process,
# whatever start method this page itself runs under: it measures every method.

import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
from pathlib import Path

IMPORT_SECONDS = 0.1
CHILDREN = 3

SLOWLIB = f"""
import os, time
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "runs.log"), "a") as log:
    log.write(f"slowlib {{os.getpid()}}\\n")
deadline = time.perf_counter() + {IMPORT_SECONDS}
while time.perf_counter() < deadline:  # the work of a slow import
    pass
"""

APP = """
import os

LOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runs.log")
with open(LOG, "a") as log:
    log.write(f"script {os.getpid()}\\n")
import slowlib


def nothing(_=None):
    return None


if __name__ == "__main__":
    import json, multiprocessing, statistics, sys, time

    def log_lines():
        with open(LOG) as log:
            return [line.split() for line in log]

    def count(lines, keep=lambda pid: True):
        return {
            what: sum(1 for name, pid in lines if name == what and keep(int(pid)))
            for what in ("script", "slowlib")
        }

    def start_and_join(context):
        started = time.perf_counter()
        child = context.Process(target=nothing)
        child.start()
        child.join(60)
        return time.perf_counter() - started, child.pid

    settings = json.loads(sys.argv[1])
    results = {}
    for method in settings["methods"]:
        context = multiprocessing.get_context(method)
        result = results[method] = {}
        if method == "forkserver":
            if settings["preload"] is not None:
                context.set_forkserver_preload(settings["preload"])
            # The first child starts the server, then waits for its preloading:
            # the new lines that are not that child's are the server's.
            mark = len(log_lines())
            result["first child seconds"], first = start_and_join(context)
            new = log_lines()[mark:]
            result["server"] = count(new, keep=lambda pid: pid != first)
            result["first child"] = count(new, keep=lambda pid: pid == first)
        if settings["children"]:
            mark = len(log_lines())
            timings = [start_and_join(context)[0] for _ in range(settings["children"])]
            result["child seconds"] = statistics.median(timings)
            result["children"] = count(log_lines()[mark:])
        if method in settings["pool"]:
            mark = len(log_lines())
            with context.Pool(2) as pool:
                pool.map_async(nothing, range(6), chunksize=1).get(60)
                pool.close()
                pool.join()  # every worker has started and finished
            result["pool"] = count(log_lines()[mark:])
    print(json.dumps(results))
"""


def run_app(
    project, methods, preload=None, pool=(), children=CHILDREN, cwd=None, script="app.py"
):
    """Run ``script`` (``app.py``) in a fresh log; return what it measured, by method."""
    Path(project, "runs.log").unlink(missing_ok=True)
    settings = {"methods": methods, "preload": preload, "pool": pool, "children": children}
    settings = json.dumps(settings)
    # The experiment controls where modules are found: no PYTHONPATH, and the
    # current directory on the path of ``python -c`` (which PYTHONSAFEPATH removes).
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("PYTHONPATH", "PYTHONSAFEPATH")
    }
    done = subprocess.run(
        [sys.executable, str(Path(project, script)), settings],
        capture_output=True,
        text=True,
        cwd=cwd or project,
        env=env,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"app.py failed:\n{done.stderr}")
    return json.loads(done.stdout)


def times(count):
    return "once" if count == 1 else f"{count} times"


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())
    methods = [
        method
        for method in ("fork", "spawn", "forkserver")
        if method in multiprocessing.get_all_start_methods()
    ]
    project_directory = tempfile.TemporaryDirectory()
    project = project_directory.name
    Path(project, "slowlib.py").write_text(SLOWLIB)
    Path(project, "app.py").write_text(APP)

# %%
# Each start method
# -----------------
# For each method: the median cost of one child (start and join), as a ratio
# to ``fork``; how many times the script's top level and ``slowlib`` ran in the
# three children; and, for ``forkserver``, in the server.

if __name__ == "__main__":
    measured = run_app(project, methods, pool=["spawn"])
    per_child = {method: measured[method]["child seconds"] for method in methods}
    baseline = per_child.get("fork", min(per_child.values()))
    for method in methods:
        ran = measured[method]["children"]
        print(
            f"{method}: {per_child[method] * 1000:.1f} ms per child "
            f"({per_child[method] / baseline:.1f}x fork); in {CHILDREN} children the "
            f"script ran {times(ran['script'])}, slowlib {times(ran['slowlib'])}"
        )
    if "forkserver" in methods:
        ran = measured["forkserver"]["server"]
        print(
            f"forkserver, in the server: the script ran {times(ran['script'])}, "
            f"slowlib {times(ran['slowlib'])}"
        )
    ran = measured["spawn"]["pool"]
    print(f"Pool(2), 6 tasks, under spawn: the script ran {times(ran['script'])}")

# %%
# Why
# ---
# A ``fork`` child is a copy of the parent, ``slowlib`` included: nothing runs
# again. A ``spawn`` child is a new interpreter, and before it runs its target,
# ``multiprocessing.spawn.prepare`` runs the parent's main script again, as
# ``__mp_main__``, so that the functions it defines can be found
# (``_fixup_main_from_path`` in ``multiprocessing/spawn.py``, 3.11 to 3.13):
# the script's imports with it. The cost is per *worker*, not per task: the
# pool's two workers ran the script twice for six tasks. Create a pool once and
# reuse it, rather than a process per item.
#
# A ``forkserver`` child is forked from the server, a process started once. The
# server was meant to run the main script once, so that each child inherits it:
# ``ForkServer.__init__`` sets the preload list to ``['__main__']``
# (``multiprocessing/forkserver.py``). But ``ForkServer.ensure_running`` passes
# the server only the keys ``main_path`` and ``sys_path`` of
# ``spawn.get_preparation_data()``, which names the script
# ``init_main_from_path``: the server never gets the script's path and does not
# run it (``forkserver.main``), and every child runs the script, and its
# imports, as a ``spawn`` child does (the same lines in 3.11.7, 3.12.1 and
# 3.13.0, checked). Counted above: every ``forkserver`` child ran the script
# and ``slowlib``, as every ``spawn`` child did, and took at least the 0.1 s
# of the import.
#
# CPython fixed this in 3.13.8 and 3.14.1 (gh-126631 and gh-137996, pull
# request GH-135295): there the server runs the script's top level once, and
# the children inherit it (``_fixup_main_from_path`` skips a script that is
# already the child's ``__main__``). That holds for a script started by path,
# with ``'__main__'`` in the preload list (the default): a ``python -m``
# program still runs again in every child. And the script's top level then
# runs in the server, so it must not fail there (every start would fail) or
# start threads. Python 3.14 made ``forkserver`` the default on Linux, and
# 3.14.0 still runs the script in every worker.

# %%
# Fix: preload the library in the server
# --------------------------------------
# ``set_forkserver_preload`` names modules that the server imports when it
# starts; every child is forked with them already imported, so the script's
# ``import slowlib`` costs nothing there. The list replaces the default
# ``['__main__']``: keep ``'__main__'`` in it, which from 3.13.8 and 3.14.1 runs
# the script once in the server, and on older versions does nothing. Call it
# before the first process of the ``forkserver`` context starts.

if __name__ == "__main__" and "forkserver" in methods:
    preloaded = run_app(project, ["forkserver"], preload=["__main__", "slowlib"])
    preloaded = preloaded["forkserver"]
    fixed_children, fixed_server = preloaded["children"], preloaded["server"]
    print(
        "forkserver, preload ['__main__', 'slowlib']: "
        f"{preloaded['child seconds'] * 1000:.1f} ms per child "
        f"({preloaded['child seconds'] / baseline:.1f}x fork); in {CHILDREN} children "
        f"the script ran {times(fixed_children['script'])}, "
        f"slowlib {times(fixed_children['slowlib'])}"
    )
    print(
        f"forkserver, preloaded, in the server: the script ran "
        f"{times(fixed_server['script'])}, slowlib {times(fixed_server['slowlib'])}"
    )

# %%
# When the preload does nothing
# -----------------------------
# The server imports each preloaded module by name and ignores an
# ``ImportError`` without a word (``forkserver.main`` in 3.11.7, 3.12.1 and
# 3.13.0). On 3.11, on 3.12 before 3.12.8 and on 3.13.0, it also ignores the
# parent's ``sys.path``: ``forkserver.main`` accepts a ``sys_path`` and never
# uses it (gh-117378, fixed in 3.12.8 and 3.13.1). The server is started with
# ``python -c``, so it finds installed packages and the modules of the
# *current directory*, not those next to the script. Run from another
# directory, the same program preloads nothing, and its first child imports
# ``slowlib`` itself:

if __name__ == "__main__" and "forkserver" in methods:
    elsewhere = Path(project, "elsewhere")
    elsewhere.mkdir()
    away = run_app(
        project, ["forkserver"], preload=["__main__", "slowlib"], children=0, cwd=elsewhere
    )["forkserver"]
    print(
        "the same, run from another directory: "
        f"slowlib ran {times(away['server']['slowlib'])} in the server, "
        f"{times(away['first child']['slowlib'])} in the first child"
    )

# %%
# On those versions, make the module importable as an installed one is
# (install your project, for instance with ``pip install -e .``), or set
# ``PYTHONPATH`` before the server starts.

# %%
# On Windows: ``OSError: [WinError 1455] The paging file is too small``
# ---------------------------------------------------------------------
# Windows has only ``spawn`` (``multiprocessing/context.py``, 3.11 to 3.13),
# so there every worker runs the main script's imports again, as counted
# above, and each one loads again what its libraries load: for PyTorch, its
# DLLs. Windows charges the memory each process commits against one limit for
# the whole system (``CommitLimit`` in Microsoft's ``PERFORMANCE_INFORMATION``
# reference), which a larger paging file raises, and error 1455 is
# ``ERROR_COMMITMENT_LIMIT``, "The paging file is too small for this operation
# to complete" (:ref:`error-paging-file-too-small`). The reports show the
# rest: in most, the traceback runs from ``spawn_main`` through ``prepare``
# and ``_fixup_main_from_path`` to the script's ``import torch``, in a worker,
# and names a DLL of ``torch\lib`` (WeCLIP #5); one comes with
# ``num_workers=12`` (SC2_Datasets #15), and the answer in others is fewer
# workers (from the maintainer in Bert-VITS2-Integration-package #5, from a
# user in KAIR #127). Windows is not run here:
# what is the same on every platform, the import in every ``spawn`` worker, is.
#
# The fix: fewer workers (``num_workers`` of a ``DataLoader``, ``processes``
# of a ``Pool``), each of which costs the libraries it imports; a larger
# paging file, which raises the limit; and no import in the workers of what
# only the main process uses. A library imported under ``if __name__ ==
# "__main__":``, or inside a function the workers do not call, is not imported by a
# ``spawn`` child, which runs the script as ``__mp_main__``. A worker that
# itself uses the library (a ``DataLoader`` worker needs ``torch``) must
# import it: there only fewer workers, or more room, help. ``app_guarded.py``
# is ``app.py`` with ``import slowlib`` moved under its ``if __name__ ==
# "__main__":``:

if __name__ == "__main__":
    main_guard = 'if __name__ == "__main__":\n'
    guarded = APP.replace("import slowlib\n", "", 1)
    guarded = guarded.replace(main_guard, main_guard + "    import slowlib\n", 1)
    Path(project, "app_guarded.py").write_text(guarded)
    moved = run_app(project, ["spawn"], script="app_guarded.py")["spawn"]["children"]
    print(
        f"spawn, import under the main guard: in {CHILDREN} children the script ran "
        f"{times(moved['script'])}, slowlib {times(moved['slowlib'])}"
    )
    assert moved == {"script": CHILDREN, "slowlib": 0}, moved

if __name__ == "__main__":
    project_directory.cleanup()

# %%
# What happened
# -------------

if __name__ == "__main__":
    # The server runs the script itself from 3.13.8 and 3.14.1 (GH-135295), and
    # gets the parent's sys.path from 3.12.8 and 3.13.1 (gh-117378).
    version = sys.version_info[:3]
    main_preloaded = (3, 13, 8) <= version < (3, 14) or version >= (3, 14, 1)
    sys_path_sent = (3, 12, 8) <= version < (3, 13) or version >= (3, 13, 1)
    if "forkserver" in methods:
        ran = measured["forkserver"]["children"]["script"]
        reproduced = ran == CHILDREN
        where = f"in each of {ran} children" if reproduced else "once, in the server"
        print(
            f"failure reproduced: {'yes' if reproduced else 'no'} (forkserver ran the "
            f"script's top level {where}, and its {IMPORT_SECONDS} s import with it)"
        )
        fixed = fixed_children["slowlib"] == 0 and fixed_server["slowlib"] == 1
        print(
            f"fix works: {'yes' if fixed else 'no'} (with set_forkserver_preload, slowlib "
            f"ran {times(fixed_server['slowlib'])} in the server, "
            f"{times(fixed_children['slowlib'])} in {CHILDREN} children)"
        )
    else:  # Windows: no fork, no forkserver
        print("failure reproduced: no (no forkserver on this platform)")
        print("fix works: no (no forkserver on this platform)")

if __name__ == "__main__":
    from mpguide.figures import Observation, draw_outcome

    rows = dict(per_child)
    if "forkserver" in methods:
        rows["forkserver, preloaded"] = preloaded["child seconds"]
    fastest = min(rows.values())
    draw_outcome(
        f"One child, a script with a {IMPORT_SECONDS} s import",
        [
            Observation(
                label=label,
                result=f"{seconds * 1000:.0f} ms",
                ok={"forkserver": False, "forkserver, preloaded": True}.get(label),
                fraction=fastest / seconds,
            )
            for label, seconds in rows.items()
        ],
    )
    # The script and its import run in every spawn child, never in a fork
    # child, and once per pool worker, not per task.
    if "fork" in methods:
        assert measured["fork"]["children"] == {"script": 0, "slowlib": 0}
    assert measured["spawn"]["children"] == {"script": CHILDREN, "slowlib": CHILDREN}
    assert measured["spawn"]["pool"] == {"script": 2, "slowlib": 2}
    assert per_child["spawn"] >= IMPORT_SECONDS  # by construction: each child imports
    if "forkserver" in methods:
        # Before 3.13.8 and 3.14.1: in every child, never in the server.
        in_children = 0 if main_preloaded else CHILDREN
        in_server = 1 if main_preloaded else 0
        default = measured["forkserver"]
        assert default["children"] == {"script": in_children, "slowlib": in_children}
        assert default["server"] == {"script": in_server, "slowlib": in_server}
        assert reproduced == (not main_preloaded) and fixed
        assert fixed_children == {"script": in_children, "slowlib": 0}
        assert fixed_server == {"script": in_server, "slowlib": 1}
        if not main_preloaded:  # by construction: each child imports slowlib
            assert per_child["forkserver"] >= IMPORT_SECONDS
        found = 1 if sys_path_sent or main_preloaded else 0
        assert away["server"]["slowlib"] == found
        assert away["first child"]["slowlib"] == 1 - found
    else:
        assert sys.platform == "win32", methods
    assert not multiprocessing.active_children()
