"""
NumPy in a pool slower than a loop: a BLAS thread per CPU in every worker
=========================================================================

A matrix product in NumPy already runs in parallel: the BLAS library behind
it (OpenBLAS in NumPy's wheels, MKL in some distributions) has a thread per
CPU, which OpenBLAS starts when NumPy is imported. Put that code in a process
pool, and every worker has its own threads: ``N`` workers on ``N`` CPUs run
``N`` times ``N`` threads that take turns on the CPUs, and the pool can be
slower than a plain loop. This page counts the threads in each worker
(Linux: ``/proc/self/task``) under this page's start method, shows that
limiting them in the pool's ``initializer`` is too late, and limits them the
way that works: with ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` and
``MKL_NUM_THREADS`` set to ``1`` before NumPy is imported. Times are shown as
ratios from one run.
"""

# %%
# Reproduce
# ---------
# Whether a limit works depends on when NumPy was imported, so each setting
# runs as a program of its own, started with none of the three variables set:
#
# - ``no limit``: NumPy as installed;
# - ``limit in initializer``: the pool's ``initializer`` sets the three
#   variables in each worker, after the program has imported NumPy;
# - ``limit before import``: the program sets them first thing, before its
#   ``import numpy``, so the parent and every worker start with them.
#
# Each program multiplies matrices in ``TASKS`` tasks, first in a loop, then in
# a pool of ``WORKERS``; each task reports how many threads its process had
# after its products.

import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
from pathlib import Path

WORKERS = 2
TASKS = 8
WAIT = 120  # seconds: a bound on each program
LIMITS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

PROGRAM = f"""
import os, sys

SETTING = sys.argv[1]
LIMITS = {LIMITS!r}
if SETTING == "limit before import":
    os.environ.update(dict.fromkeys(LIMITS, "1"))

import json, multiprocessing, time
import numpy as np


def limit_threads():
    os.environ.update(dict.fromkeys(LIMITS, "1"))


def multiply(seed):
    matrix = np.random.default_rng(seed).random((300, 300))
    for _ in range(20):
        matrix = matrix @ matrix / 300
    return len(os.listdir("/proc/self/task"))


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ["MPGUIDE_START_METHOD"])
    started = time.perf_counter()
    in_loop = [multiply(seed) for seed in range({TASKS})]
    loop_time = time.perf_counter() - started
    initializer = limit_threads if SETTING == "limit in initializer" else None
    with context.Pool({WORKERS}, initializer=initializer) as pool:
        pool.map(abs, range({WORKERS}))  # the workers have started
        started = time.perf_counter()
        in_pool = pool.map(multiply, range({TASKS}), chunksize=1)
        pool_time = time.perf_counter() - started
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    print(json.dumps(dict(
        parent=in_loop[-1], workers=sorted(set(in_pool)), ratio=pool_time / loop_time,
        blas=f"{{blas['name']}} {{blas.get('version', '')}}".strip(),
    )))
"""


def run_program(setting, method):
    """Run ``PROGRAM`` for ``setting``; return what it measured."""
    env = {k: v for k, v in os.environ.items() if k not in LIMITS}
    env.update(MPGUIDE_START_METHOD=method, PYTHON_COLORS="0")
    with tempfile.TemporaryDirectory() as directory:
        Path(directory, "program.py").write_text(PROGRAM)
        done = subprocess.run(
            [sys.executable, "program.py", setting],
            cwd=directory,
            env=env,
            capture_output=True,
            text=True,
            timeout=WAIT,
        )
    assert done.returncode == 0 and not done.stderr, done.stderr
    return json.loads(done.stdout)


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    method = context.get_start_method()
    print("start method:", method)
    cpus = len(os.sched_getaffinity(0))
    print("CPUs this program may use:", cpus)
    runs = {}
    for setting in ("no limit", "limit in initializer", "limit before import"):
        runs[setting] = measured = run_program(setting, method)
        if len(runs) == 1:
            print("NumPy's BLAS:", measured["blas"])
        threads = ", ".join(map(str, measured["workers"]))
        print(
            f"{setting + ':':22} threads in the parent {measured['parent']}, "
            f"in each worker {threads}; pool time / loop time "
            f"{measured['ratio']:.2f}"
        )

# %%
# With no limit, each worker ran its main thread and ``cpus - 1`` BLAS threads
# (OpenBLAS counts the calling thread as one of its own): with ``WORKERS``
# workers, ``WORKERS`` times ``cpus`` threads for ``cpus`` CPUs. The ratios
# are this build machine's in one run, and vary from run to run; they are
# not asserted. The more CPUs, the more threads each worker adds.
#
# Why
# ---
# OpenBLAS reads ``OPENBLAS_NUM_THREADS`` (or ``OMP_NUM_THREADS``) once, when
# the library is loaded, that is when NumPy is imported, and sizes its thread
# pool then (the initializer's run above shows the variables read later have
# no effect). ``MKL_NUM_THREADS`` is for NumPy builds that use MKL, not
# measured here. Nothing in ``multiprocessing`` knows about these threads. By the time
# a pool's ``initializer`` runs, NumPy is already loaded in the worker: under
# ``fork`` the worker is a copy of a parent that imported it, and under
# ``spawn`` and ``forkserver`` the worker imports the program's main module
# (``spawn.prepare`` in ``multiprocessing/spawn.py``, 3.11 to 3.13) before it
# runs the initializer, and that module imports NumPy at its top. The
# variables, set too late, change nothing. Set before the import, in the
# parent, they are in every worker too: a forked worker inherits the loaded
# library with its setting, and a spawned one inherits the environment.
#
# Fix: limit BLAS threads before NumPy is imported
# ------------------------------------------------
# Set the variables at the very top of the program, before any import that
# imports NumPy (as ``limit before import`` did), or in the shell that starts
# it (``OMP_NUM_THREADS=1 python app.py``). Use the pool's processes for
# parallelism and one BLAS thread in each; or the other way round, no pool and
# BLAS's own threads. ``threadpoolctl.threadpool_limits`` (a separate package)
# can change the limit after the import.

# %%
# What happened
# -------------

if __name__ == "__main__":
    unlimited = runs["no limit"]["workers"]
    late = runs["limit in initializer"]["workers"]
    limited = runs["limit before import"]["workers"]
    reproduced = cpus > 1 and unlimited == late == [cpus]
    print(
        f"failure reproduced: {'yes' if reproduced else 'no'} ({WORKERS} workers "
        f"ran {unlimited[0]} threads each on {cpus} CPUs, also with the limit set "
        "in the initializer)"
    )
    fixed = limited == [1] and runs["limit before import"]["parent"] == 1
    print(f"fix works: {'yes' if fixed else 'no'} (1 thread in each worker)")
    from mpguide.figures import Observation, draw_outcome

    card = [("no limit", unlimited), ("limit in initializer", late)]
    card.append(("limit before import", limited))
    draw_outcome(
        f"Threads in each of {WORKERS} workers, {cpus} CPUs",
        [
            Observation(label=label, result=f"{threads[0]} thread(s)", ok=threads == [1])
            for label, threads in card
        ],
    )
    assert cpus > 1, "one CPU: BLAS starts no threads of its own, nothing to show"
    assert reproduced and fixed
    assert runs["no limit"]["parent"] == cpus
    assert not multiprocessing.active_children()
