"""
Lines written before the workers start appear twice: inherited buffers
======================================================================

A program writes a line, starts its workers, and the line shows up twice, or
once per worker, but only when the output goes to a file or a pipe (``python
app.py > out.txt``, ``| tee``, a service manager, a CI log), never in a
terminal. The copies come from a write buffer: Python keeps what was written
to a file in memory until it flushes, and a process made by ``fork`` starts
with a copy of that memory, so the same bytes are written once by each
process that flushes them. ``multiprocessing`` flushes ``sys.stdout`` and
``sys.stderr`` before it forks, so ``print()`` before ``start()`` is safe;
this page shows three cases that are not: a file object of your own, a
direct ``os.fork()``, and a module the forkserver preloads. Then it fixes
each with a flush at the right place.
"""

# %%
# Reproduce
# ---------
# Each case runs as a program of its own, with its stdout going to a pipe that
# the page reads, as a redirection would, and counts the copies of the line
# written before the workers started. Every program starts 2 workers, or 1
# child with ``os.fork()``:
#
# - ``Process``: ``print()``, then 2 workers started with this page's start
#   method (the case that is safe);
# - ``own file``: a log file opened at the top of the program, one line
#   written before the workers start, and a line written and flushed by each
#   worker;
# - ``os.fork``: ``print()``, then ``os.fork()``; the child prints a line and
#   exits normally;
# - ``preload``: the ``forkserver`` start method, told to preload a
#   ``settings`` module that prints a line when it is imported.

import multiprocessing
import os
import subprocess
import sys
import tempfile
from pathlib import Path

WORKERS = 2
WAIT = 60  # seconds: a bound on every wait

PROGRAM = f"""
import multiprocessing, os, sys

FIXED = sys.argv[2] == "fixed"
log = open("run.log", "a")  # each process that runs this module opens its own


def work(number):
    print("worker", number, "done")
    log.write(f"worker {{number}} done\\n")
    log.flush()


def start_workers(context):
    workers = [context.Process(target=work, args=(n,)) for n in range({WORKERS})]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join({WAIT})


if __name__ == "__main__":
    case = sys.argv[1]
    context = multiprocessing.get_context(os.environ["MPGUIDE_START_METHOD"])
    if case == "Process":
        print("before the workers")
        start_workers(context)
    elif case == "own file":
        log.write("run started\\n")
        if FIXED:
            log.flush()
        start_workers(context)
    elif case == "os.fork":
        print("before the fork")
        if FIXED:
            sys.stdout.flush()
        if os.fork() == 0:
            print("child done")
            sys.exit(0)  # a normal exit flushes what the child's stdout holds
        os.wait()
    elif case == "preload":
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["settings"])
        start_workers(context)
    log.close()
"""

SETTINGS = {
    "as is": 'print("settings loaded")\n',
    "unbuffered": 'print("settings loaded")\n',
    "fixed": 'print("settings loaded", flush=True)\n',
}
COUNTED = {
    "Process": "before the workers",
    "own file": "run started",
    "os.fork": "before the fork",
    "preload": "settings loaded",
}


def copies(case, method, version):
    """Run the program for ``case``; count the copies of its line in its output
    (in the log file for ``own file``). Streams are buffered as Python buffers
    them by default, unless ``version`` is ``unbuffered``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    env.update(MPGUIDE_START_METHOD=method, PYTHON_COLORS="0")
    if version == "unbuffered":
        env["PYTHONUNBUFFERED"] = "1"
    with tempfile.TemporaryDirectory() as directory:
        Path(directory, "program.py").write_text(PROGRAM)
        Path(directory, "settings.py").write_text(SETTINGS[version])
        done = subprocess.run(
            [sys.executable, "program.py", case, version],
            cwd=directory,
            env=env,
            capture_output=True,
            text=True,
            timeout=WAIT,
        )
        assert done.returncode == 0 and not done.stderr, done.stderr
        output = (
            Path(directory, "run.log").read_text() if case == "own file" else done.stdout
        )
    return output.splitlines().count(COUNTED[case])


def times(count):
    return {1: "once", 2: "twice"}.get(count, f"{count} times")


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    method = context.get_start_method()
    print("start method:", method)
    found = {case: copies(case, method, "as is") for case in COUNTED}
    for case, count in found.items():
        print(f"{case + ':':10} {COUNTED[case]!r} written {times(count)}")

# %%
# Why
# ---
# ``print()`` writes into the buffer of ``sys.stdout``. When stdout is a
# terminal the buffer is flushed at each newline; to a file or a pipe it is
# flushed only when it is full, when ``flush()`` is called, or at exit. A
# file opened with ``open()`` is the same, whatever it is. ``fork()`` copies
# the process with its memory, buffers included, and each copy that flushes
# writes the bytes again.
#
# - ``Process``: ``multiprocessing`` flushes ``sys.stdout`` and
#   ``sys.stderr`` before each ``fork()`` (``Popen.__init__`` in
#   ``multiprocessing/popen_fork.py`` calls ``util._flush_std_streams()``;
#   CPython 3.11, 3.12 and 3.13), and under ``spawn`` and ``forkserver`` the
#   worker is a new program that inherits no buffer of the parent's.
# - ``own file``: nothing flushes the other file objects the parent holds.
#   Under ``fork`` each worker starts with a copy of the log's buffer, still
#   holding ``run started``, and its ``log.flush()`` writes that line along
#   with its own; the parent writes it once more when it closes the file. A
#   worker that never flushes the file writes nothing: a ``fork`` worker ends
#   with ``os._exit()`` (``Popen._launch`` in ``popen_fork.py``), which
#   flushes no buffer. Under ``spawn`` and ``forkserver`` a worker runs the
#   top of the program again and opens a file of its own.
# - ``os.fork``: no flush happens before it unless the program does one, and
#   the child's normal exit flushes its copy of stdout.
# - ``preload``: the forkserver process imports the preloaded modules
#   (``main`` in ``multiprocessing/forkserver.py``), and ``settings``
#   prints into the forkserver's stdout buffer; the forkserver then forks
#   every worker with nothing flushed, and each worker flushes its streams
#   as it ends (``BaseProcess._bootstrap`` in ``multiprocessing/process.py``):
#   the line appears once per worker, and once more when the forkserver
#   exits. In CPython 3.11.7, 3.12.1 and 3.13.0 the forkserver flushes
#   neither after preloading nor before forking; a later fix flushes stdout
#   and stderr once, after preloading (python/cpython#135335), which covers
#   every fork after it (a flush before each fork, for #98552, was merged and
#   then reverted as already done elsewhere).
#
# Fix: flush before the fork
# --------------------------
# Flush what was written before the workers start: ``log.flush()`` before
# ``start()``, ``sys.stdout.flush()`` before ``os.fork()``, and
# ``print(..., flush=True)`` in a module meant to be preloaded. Opening files
# in the worker, or only after the workers have started, avoids the shared
# buffer altogether. For stdout and stderr alone, ``python -u`` or
# ``PYTHONUNBUFFERED=1`` also works: the two streams then write at once and
# hold nothing to copy; the other files keep their buffers. The three cases,
# run again with the flushes, then as they were with ``PYTHONUNBUFFERED=1``:

if __name__ == "__main__":
    repeated = [case for case, count in found.items() if count > 1]
    fixed = {case: copies(case, method, "fixed") for case in repeated}
    unbuffered = {case: copies(case, method, "unbuffered") for case in repeated}
    for case in repeated:
        print(
            f"{case + ':':10} {COUNTED[case]!r} written {times(fixed[case])} flushed "
            f"first, {times(unbuffered[case])} with PYTHONUNBUFFERED=1"
        )

# %%
# What happened
# -------------

if __name__ == "__main__":
    print(
        f"failure reproduced: {'yes' if repeated else 'no'} (written more than once: "
        f"{', '.join(repeated) or 'none'})"
    )
    once = all(count == 1 for count in fixed.values())
    print(f"fix works: {'yes' if once else 'no'} (each flushed line written once)")
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        "Lines written before a fork",
        [
            Observation(label=case, result=f"written {times(count)}", ok=count == 1)
            for case, count in found.items()
        ],
    )
    copied_by_workers = 1 + WORKERS
    assert found["Process"] == 1
    assert found["own file"] == (copied_by_workers if method == "fork" else 1)
    assert found["os.fork"] == 2
    # the forkserver flushes nothing around its fork in 3.11, 3.12 and 3.13.0
    if sys.version_info < (3, 13, 1):
        assert found["preload"] == copied_by_workers
    else:
        assert found["preload"] in (1, copied_by_workers)
    assert repeated and once
    assert unbuffered.get("own file", 1) == found["own file"]
    assert all(unbuffered[case] == 1 for case in ("os.fork", "preload") if case in repeated)
    assert not multiprocessing.active_children()
