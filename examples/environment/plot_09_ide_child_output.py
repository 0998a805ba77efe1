"""
A worker's ``print`` is missing from Spyder, IDLE or PyScripter
===============================================================

Run from a terminal, the program prints a line from every worker. Run from
Spyder, IDLE or PyScripter on Windows or macOS, the main process's lines show
in the IDE's window and the workers' lines are nowhere; on Linux, up to
Python 3.13, they show.
This page plays the IDE: it runs a program whose ``sys.stdout`` is replaced,
as those IDEs replace it, by a writer to a "window" the page reads, and
measures, under the start method in use, which lines reach the window and
which reach the process's file descriptor 1 instead. Then it fixes the
program so that every line reaches the window under every start method.
"""

# %%
# Reproduce
# ---------
# The program's ``Window`` stands for what an IDE puts in ``sys.stdout``: an
# object that sends the text to the IDE (here through a pipe the page reads),
# not to file descriptor 1. IDLE's is a ``StdOutputFile`` that writes through
# an RPC proxy to its GUI process (``MyHandler.handle`` in ``idlelib/run.py``),
# Spyder's an IPython kernel's ``OutStream`` that sends messages to its
# console. The program replaces ``sys.stdout`` with it, as the
# IDE does before it runs the reader's code, and starts a pool whose workers
# ``print``. The page runs it in a new interpreter and keeps what reaches the
# window apart from what reaches file descriptor 1: the console the IDE was
# started from, which the IDE does not show (on Windows, often no console at
# all).

import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

PROGRAM = """
import logging, logging.handlers, multiprocessing, os, sys


class Window:
    \"\"\"An IDE's sys.stdout: what is written goes to the IDE's window.\"\"\"

    def __init__(self, fd):
        self.fd = fd

    def write(self, text):
        os.write(self.fd, text.encode())
        return len(text)

    def flush(self):
        pass


def work(x):
    print(f"worker {x}: working", flush=True)
    return x * x


def work_and_say(x):
    return f"worker {x}: working", x * x


def log_to(queue):
    logging.getLogger().addHandler(logging.handlers.QueueHandler(queue))
    logging.getLogger().setLevel(logging.INFO)


def work_and_log(x):
    logging.info("worker %d: working", x)
    return x * x


if __name__ == "__main__":
    sys.stdout = Window(int(os.environ["WINDOW_FD"]))  # what the IDE does
    context = multiprocessing.get_context(sys.argv[1])
    fix = sys.argv[2]
    print("main: starting the pool")
    if fix == "none":
        with context.Pool(2) as pool:
            results = pool.map(work, range(4))
    elif fix == "return the lines":
        with context.Pool(2) as pool:
            said = pool.map(work_and_say, range(4))
        for line, _ in said:
            print(line)
        results = [square for _, square in said]
    elif fix == "log through a queue":
        queue = context.Queue()
        shown = logging.StreamHandler(sys.stdout)  # the window, in this process
        listener = logging.handlers.QueueListener(queue, shown)
        listener.start()
        with context.Pool(2, initializer=log_to, initargs=(queue,)) as pool:
            results = pool.map(work_and_log, range(4))
            pool.close()
            pool.join()  # the workers exit and send what they logged
        listener.stop()
        queue.close()
        queue.join_thread()
    print("main: results", results)
"""
WAIT = 60  # seconds: a bound that a working run never reaches
WORKER_LINES = [f"worker {x}: working" for x in range(4)]


def run_in_ide(program, method, fix):
    """Run the program with its window on a pipe; return the lines the window
    showed and the lines written to file descriptor 1."""
    window_read, window_write = os.pipe()
    try:
        done = subprocess.run(
            [sys.executable, str(program), method, fix],
            env={**os.environ, "WINDOW_FD": str(window_write)},
            pass_fds=(window_write,),
            capture_output=True,
            text=True,
            timeout=WAIT,
            check=True,
        )
    finally:
        os.close(window_write)
    with open(window_read, encoding="utf-8") as window:
        shown = window.read().splitlines()
    return shown, done.stdout.splitlines()


def report(fix, shown, on_fd_1):
    print(f"{fix}, the window shows:", shown)
    print(f"{fix}, file descriptor 1 got:", on_fd_1)


if __name__ == "__main__":
    method = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    method = method.get_start_method()
    print("start method:", method)
    workspace = Path(tempfile.mkdtemp(prefix="ide-"))
    program = workspace / "program.py"
    program.write_text(PROGRAM)
    shown, on_fd_1 = run_in_ide(program, method, "none")
    report("nothing fixed", shown, on_fd_1)

# %%
# Under ``fork`` the workers' lines are in the window. Under ``spawn`` and
# ``forkserver`` only the main process's lines are; the workers' went to file
# descriptor 1 (where two workers' writes can run together on one line).
# Windows and macOS (since Python 3.8) start processes with ``spawn``; Linux
# used ``fork`` up to Python 3.13, and 3.14 uses ``forkserver``, so the Linux
# user of such an IDE meets it there too.
#
# Why
# ---
# ``print`` writes to whatever ``sys.stdout`` is in the process that calls
# it. A forked child is a copy of its parent, with the IDE's object in
# ``sys.stdout`` and the descriptor it writes to still open (``Popen._launch``
# in ``multiprocessing/popen_fork.py`` calls ``os.fork()`` and runs the target
# in the copy). A spawned child is a new interpreter
# (``multiprocessing/popen_spawn_posix.py``; on Windows
# ``popen_spawn_win32.py``): its ``sys.stdout`` is the one a new interpreter
# makes, on file descriptor 1, which on Linux and macOS it inherited from the
# IDE's process; the IDE's own pipe or socket is not passed to it
# (``spawnv_passfds`` in ``multiprocessing/util.py`` starts it with
# ``close_fds`` and passes only the descriptors multiprocessing needs). A
# ``forkserver`` child is forked from the fork server, itself a new interpreter
# started the same way (``multiprocessing/forkserver.py``). The same files in
# 3.11, 3.12 and 3.13.
#
# Jupyter is such an IDE: ipykernel puts its ``OutStream`` in ``sys.stdout``.
# It forwards a forked child's writes to the notebook, and on Linux and macOS
# it also reads the kernel's file descriptor 1 and shows what arrives there
# (``OutStream`` in ``ipykernel/iostream.py``, its ``watchfd``, and the
# kernel's ``capture_fd_output`` setting, in ipykernel 7.4), so a spawned
# child's lines show there, but not on Windows. This page runs its program in
# a new interpreter, so what it measures does not depend on where the page
# itself runs (a terminal, the documentation build, a notebook).
#
# Fix 1: return what the worker has to say
# ----------------------------------------
# A worker's result travels back to the main process under every start
# method. The worker returns its line with its result, and the main process,
# whose ``sys.stdout`` is the IDE's window, prints it:

if __name__ == "__main__":
    returned, returned_fd_1 = run_in_ide(program, method, "return the lines")
    report("the lines returned", returned, returned_fd_1)

# %%
# Fix 2: log through a queue
# --------------------------
# For progress messages while the work runs, each worker logs to a
# ``logging.handlers.QueueHandler`` on a ``multiprocessing`` queue (set up by
# the pool's ``initializer``), and a ``QueueListener`` thread in the main
# process writes each record to a ``StreamHandler`` on the IDE's
# ``sys.stdout``, the logging cookbook's "Logging to a single file from
# multiple processes". The pool is closed and joined before the ``with`` block
# ends: a worker sends its queue's records from a thread, and the pool's
# ``terminate()`` could stop it before they are sent.

if __name__ == "__main__":
    logged, logged_fd_1 = run_in_ide(program, method, "log through a queue")
    report("logged through a queue", logged, logged_fd_1)

# %%
# Writing to a file (``open("worker.log", "a")`` in the worker, or a
# ``logging.FileHandler``) works too, where the IDE's window is not needed.

# %%
# What happened
# -------------

if __name__ == "__main__":
    import shutil

    shutil.rmtree(workspace)

    def workers_in(lines):
        """The worker lines among ``lines``; two workers' writes to one file
        descriptor can interleave, so they are found, not split."""
        return sorted(re.findall(r"worker \d+: working", "\n".join(lines)))

    missing = len(WORKER_LINES) - len(workers_in(shown))
    print(
        f"failure reproduced: {'yes' if missing else 'no'} ({missing} of "
        f"{len(WORKER_LINES)} worker lines missing from the window, "
        f"{len(workers_in(on_fd_1))} on file descriptor 1)"
    )
    fixed = workers_in(returned) == workers_in(logged) == WORKER_LINES
    print(
        f"fix works: {'yes' if fixed else 'no'} (returned lines and lines logged "
        "through a queue: all in the window)"
    )
    print(
        "depends on the start method: a forked child keeps the IDE's sys.stdout; "
        "a spawned one writes to file descriptor 1"
    )
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        f"Workers' lines in the window, {method}",
        [
            Observation(
                label="print in the worker",
                result=f"{len(workers_in(shown))} of {len(WORKER_LINES)}",
                ok=not missing,
                fraction=len(workers_in(shown)) / len(WORKER_LINES),
            ),
            Observation(
                label="lines returned",
                result=f"{len(workers_in(returned))} of {len(WORKER_LINES)}",
                ok=workers_in(returned) == WORKER_LINES,
                fraction=len(workers_in(returned)) / len(WORKER_LINES),
            ),
            Observation(
                label="logged through a queue",
                result=f"{len(workers_in(logged))} of {len(WORKER_LINES)}",
                ok=workers_in(logged) == WORKER_LINES,
                fraction=len(workers_in(logged)) / len(WORKER_LINES),
            ),
        ],
    )
    main_lines = ["main: starting the pool", "main: results [0, 1, 4, 9]"]
    for window in (shown, returned, logged):
        assert [line for line in window if line.startswith("main: ")] == main_lines
    if method == "fork":
        assert workers_in(shown) == WORKER_LINES and on_fd_1 == [], (shown, on_fd_1)
    else:
        assert workers_in(shown) == [] and workers_in(on_fd_1) == WORKER_LINES
    assert missing == (0 if method == "fork" else len(WORKER_LINES))
    assert returned_fd_1 == logged_fd_1 == [], (returned_fd_1, logged_fd_1)
    assert fixed, (returned, logged)
    assert not multiprocessing.active_children()
