"""
tqdm progress bars from several workers overwrite each other
============================================================

Each worker shows a ``tqdm`` bar for its task, and in the terminal the bars
overwrite each other on one line, or jump from line to line. A terminal has
one cursor, which every process writing to it moves; a captured output does
not show the garbling, so this page runs the program with its stderr going to
a pipe, replays what the processes wrote as a terminal would (a carriage
return goes back to the start of the line, a newline down one line, ``ESC
[A`` up one), and counts where each bar was drawn. Then it fixes it two
ways: a row (``position=``) and a shared lock for each worker's bar, as
tqdm's documentation shows, or a single bar in the main process.
"""

# %%
# Reproduce
# ---------
# The program starts 3 workers with this page's start method; each draws a
# bar of 12 steps for its task, all at once (a barrier starts them
# together). Before drawing, each worker tries, for 0.2 s, to take tqdm's
# lock, which the main process holds at that moment: whether it can tells
# whether the worker shares the main process's lock.

import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import tqdm  # pip install tqdm

BARS, STEPS = 3, 12
WAIT = 60  # seconds: a bound on every wait

PROGRAM = f"""
import multiprocessing, sys, time
from tqdm import tqdm
from tqdm.std import TqdmDefaultWriteLock

STYLE = dict(file=sys.stderr, ascii=True, ncols=40, mininterval=0, miniters=1)


def mp_lock(lock):
    # tqdm's own lock holds a multiprocessing.RLock and a thread lock
    return lock.locks[0] if isinstance(lock, TqdmDefaultWriteLock) else lock


def draw(task, ready, lock, position):
    if lock is not None:
        tqdm.set_lock(lock)  # the fix: the lock the main process made
    probe = mp_lock(tqdm.get_lock())
    took = probe.acquire(timeout=0.2)
    if took:
        probe.release()
    print(f"task {{task}} took the main process's lock: {{took}}", flush=True)
    ready.wait(timeout={WAIT})
    leave = position is None  # the fix clears its bars as they end
    name = f"task {{task}}"
    for _ in tqdm(range({STEPS}), desc=name, position=position, leave=leave, **STYLE):
        time.sleep(0.01)


def square(n):
    time.sleep(0.01)
    return n * n


if __name__ == "__main__":
    context = multiprocessing.get_context(sys.argv[1])
    way = sys.argv[2]
    if way == "one bar":
        with context.Pool({BARS}) as pool:
            squares = pool.imap_unordered(square, range({STEPS}))
            done = list(tqdm(squares, total={STEPS}, desc="all tasks", **STYLE))
        print("all results:", sorted(done) == [n * n for n in range({STEPS})])
        sys.exit()
    lock = None
    if way == "position":
        tqdm.set_lock(context.RLock())
        lock = tqdm.get_lock()
    held = mp_lock(tqdm.get_lock())  # as is: tqdm's own, made here
    held.acquire()
    ready = context.Barrier({BARS} + 1)
    workers = [
        context.Process(target=draw, args=(task, ready, lock, task if lock else None))
        for task in range({BARS})
    ]
    for worker in workers:
        worker.start()
    ready.wait(timeout={WAIT})  # each worker has tried the lock
    held.release()
    for worker in workers:
        worker.join(timeout={WAIT})
"""


def run(method, way):
    """Run the program; return its stdout and what it wrote to stderr, the
    "terminal", byte for byte."""
    with tempfile.TemporaryDirectory() as directory:
        Path(directory, "program.py").write_text(PROGRAM)
        done = subprocess.run(
            [sys.executable, "program.py", method, way],
            cwd=directory,
            capture_output=True,
            timeout=WAIT,
        )
    assert done.returncode == 0, done.stderr
    return done.stdout.decode(), done.stderr.decode()


def replay(stream):
    """Replay ``stream`` on a terminal of unbounded height. Return its final
    lines, the rows each bar was drawn on while it ran (before 100%), and the
    number of times a running bar was drawn over another task's bar."""
    rows, row, column, overdrawn, drawn_on = {}, 0, 0, 0, {}
    for token in re.split(r"(\r|\n|\x1b\[A)", stream):
        if token == "\r":
            column = 0
        elif token == "\n":
            row, column = row + 1, 0
        elif token == "\x1b[A":
            row -= 1
        elif token:
            name, before = token.split(":")[0], rows.get(row, "")
            if token.strip() and "100%" not in token:
                overdrawn += bool(before) and before.split(":")[0] != name
                drawn_on.setdefault(name, set()).add(row)
            after = before[column + len(token) :]
            rows[row] = before[:column].ljust(column) + token + after
            column += len(token)
    return [rows.get(r, "") for r in range(max(rows) + 1)], drawn_on, overdrawn


def show(way, stdout, stream):
    lines, drawn_on, overdrawn = replay(stream)
    took = stdout.count("took the main process's lock: True")
    if "took" in stdout:
        print(f"{way}: workers that took the lock the main process held: {took} of {BARS}")
    print(f"{way}: bar updates written: {stream.count(chr(13))}")
    for name, rows in sorted(drawn_on.items()):
        print(f"{way}: {name} drawn on rows {sorted(rows)} while it ran")
    print(f"{way}: a running bar drawn over another task's bar: {overdrawn} times")
    print(f"{way}: the terminal at the end:")
    for line in lines:
        print("   ", line.rstrip())
    return drawn_on, overdrawn, took


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    method = context.get_start_method()
    print("start method:", method)
    print("tqdm", tqdm.__version__)
    as_is = show("as is", *run(method, "as is"))

# %%
# Why
# ---
# A bar's row is its ``position``; without one, tqdm picks the lowest
# position that no other bar *of the same process* holds
# (``tqdm._get_free_pos`` in ``tqdm/std.py``, which reads the class's
# ``_instances``). Each worker holds only its own bar, so every bar gets
# position 0: the row the cursor is on. Each update is a carriage return and
# the whole bar (``tqdm.status_printer``), so each worker redraws the same row
# over the others' bars; a bar that ends writes a newline, and the bars still
# running move down to the next row (not seen here: the three bars end
# together).
#
# The lock: ``tqdm.get_lock()`` makes a ``TqdmDefaultWriteLock`` the first
# time a process calls it, with a ``multiprocessing.RLock`` of its own
# (``TqdmDefaultWriteLock.create_mp_lock``). A ``fork`` child made after that
# has the same semaphore; a ``spawn`` or ``forkserver`` child imports tqdm
# afresh and makes its own, which locks out nobody. The lock alone fixes
# nothing here: under ``fork`` the workers share it, and their bars overwrite
# each other all the same, since each update is one write. It matters once
# the bars have positions: an update at position *n* is three writes, *n*
# newlines down, the bar, *n* ``ESC [A`` back up (``tqdm.display`` and
# ``tqdm.moveto``), and a process that writes between them draws at the wrong
# row.
#
# Fix 1: a position and a shared lock for each bar
# ------------------------------------------------
# Give each task's bar its own row, ``position=task``, clear it when it ends,
# ``leave=False``, and give every worker the main process's lock:
# ``tqdm.set_lock(context.RLock())`` before the workers start, and
# ``tqdm.set_lock(lock)`` in each worker (for a pool,
# ``Pool(initializer=tqdm.set_lock, initargs=(tqdm.get_lock(),))``, tqdm's
# own example, written with ``multiprocessing.RLock()``, the default
# context's). Make the lock with the context that starts the workers
# (:ref:`sphx_glr_gallery_environment_plot_02_mixed_contexts.py`). Its cost:
# every update of every bar waits for that one lock (``tqdm.refresh`` draws
# under it).

if __name__ == "__main__":
    positioned = show("position", *run(method, "position"))

# %%
# Each bar keeps its row from start to end, and none is drawn over another.
# ``leave=False`` matters: a bar left on the screen (``leave=True``, the
# default, also in tqdm's example) is drawn once more at the cursor's row as
# it ends, followed by a newline (``tqdm.close`` calls ``display(pos=0)`` and
# writes ``"\n"``, ``tqdm/std.py`` in tqdm 4.70). That newline moves the
# cursor that every process draws relative to, so the bars still running
# jump one row down each time a bar ends first. Cleared bars leave the final
# lines blank: print a summary from the main process when the work is done.
#
# Fix 2: one bar, in the main process
# -----------------------------------
# When the point is how far the whole job is, draw one bar in the main
# process over the results as they arrive, ``tqdm(pool.imap_unordered(work,
# items), total=len(items))``: the workers write nothing, and a single
# process moves the cursor. No lock and no position are needed, under every
# start method; the bar counts finished tasks, not the steps inside one.

if __name__ == "__main__":
    one_bar = show("one bar", *run(method, "one bar"))

# %%
# What happened
# -------------

if __name__ == "__main__":
    print(
        f"failure reproduced: {'yes' if as_is[1] else 'no'} (a running bar drawn over "
        f"another's {as_is[1]} times)"
    )
    apart = positioned[1] == 0 and one_bar[1] == 0
    print(f"fix works: {'yes' if apart else 'no'} (no bar drawn over another's)")
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        "tqdm bars from 3 workers",
        [
            Observation(label="as is", result=f"overdrawn {as_is[1]} times", ok=False),
            Observation(label="position + lock", result="each bar on its row", ok=apart),
            Observation(label="one bar", result="one row", ok=one_bar[1] == 0),
        ],
    )
    fresh = method in ("spawn", "forkserver")
    assert as_is[2] == (BARS if fresh else 0)
    assert all(rows & {0} for rows in as_is[0].values())
    assert positioned[2] == 0
    assert sorted(map(len, positioned[0].values())) == [1] * BARS
    assert len(set().union(*positioned[0].values())) == BARS
    assert list(one_bar[0]) == ["all tasks"]
    assert as_is[1] > 0 and apart
    assert not multiprocessing.active_children()
