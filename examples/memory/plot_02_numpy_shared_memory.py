"""
A large NumPy array shared by workers, without copying
======================================================

Workers need one large NumPy array. Passed to each task, as
``executor.submit(work, samples, start, stop)``, the whole array is pickled
into every task, and each result is pickled back. This page puts the array in
a ``SharedMemory`` block that every worker maps by name, has the workers write
their results into a second shared array (each its own slice), and measures
what each way sends per task and how long it takes, in the same run. Then: who
keeps the block alive (an array made as the Python documentation makes it does
not, and reading it can crash the process), who unlinks it, and what Python
3.13's ``track=False`` is for.
"""

# %%
# The work
# --------
# Two million ``float64`` samples (16 MB), eight tasks, each computing the
# square roots of its own slice, in two worker processes.

import multiprocessing
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, wait
from inspect import signature
from multiprocessing import shared_memory
from multiprocessing.reduction import ForkingPickler

import numpy as np

SAMPLES = 2_000_000
TASKS = 8
WORKERS = 2
WAIT = 60  # seconds: a bound that no step here comes near
CHUNK = SAMPLES // TASKS
SLICES = [(start, start + CHUNK) for start in range(0, SAMPLES, CHUNK)]


def square_roots_of_copy(samples, start, stop):
    """The usual first try: the whole array travels with every task."""
    return np.sqrt(samples[start:stop])


def square_roots_of_slice(chunk):
    """Better: each task carries only its own slice."""
    return np.sqrt(chunk)


# %%
# A block, and arrays on it
# -------------------------
# The parent creates two blocks, one for the samples and one for the results,
# and passes their names, with the shape and the ``dtype``, to the tasks. A
# worker attaches to each block by name and lays an array over its bytes. Pass
# the shape: ``block.size`` is what the system reports for the block
# (``os.fstat`` in ``SharedMemory.__init__``, ``multiprocessing/shared_memory.py``,
# 3.11 to 3.13), which can be more than was asked for (on Windows, "likely a
# multiple of mmap.PAGESIZE", says the same code). The worker writes only its
# own slice of the results, so no two workers write the same bytes and no lock
# is needed. Before closing a block, a worker lets go of every array on it;
# here the arrays live only inside ``fill``.


def array_on(block, shape, dtype):
    """An array over a block's bytes, that keeps the block's buffer in use."""
    count = int(np.prod(shape))
    return np.frombuffer(block.buf, dtype=dtype, count=count).reshape(shape)


def fill(samples_block, results_block, shape, dtype, start, stop):
    samples = array_on(samples_block, shape, dtype)
    results = array_on(results_block, shape, dtype)
    results[start:stop] = np.sqrt(samples[start:stop])


def square_roots_in_place(names, shape, dtype, start, stop):
    samples_block, results_block = (shared_memory.SharedMemory(name=n) for n in names)
    try:
        fill(samples_block, results_block, shape, dtype, start, stop)
    finally:
        samples_block.close()  # this process's mapping; the block stays
        results_block.close()


# %%
# Three ways, measured
# --------------------
# Each way runs its eight tasks on the same two workers, started beforehand.
# "Sent" is the size of the pickle of each task's function and arguments, made
# as the executor makes it (with ``ForkingPickler``: ``Queue._feed`` and
# ``SimpleQueue.put`` in ``multiprocessing/queues.py``, 3.11 to 3.13);
# "returned" is that of its result.


def pickled_size(obj):
    return len(ForkingPickler.dumps(obj))


def run_tasks(executor, function, task_args):
    """Run every task; return (results, seconds, bytes sent and returned per task)."""
    started = time.perf_counter()
    futures = [executor.submit(function, *args) for args in task_args]
    _, pending = wait(futures, timeout=WAIT)
    assert not pending, f"{len(pending)} tasks ran past {WAIT} s"
    results = [future.result() for future in futures]
    seconds = time.perf_counter() - started
    sent = max(pickled_size((function, args)) for args in task_args)
    returned = max(pickled_size(result) for result in results)
    return results, seconds, sent, returned


def warm_up():
    time.sleep(0.1)


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    method = context.get_start_method()
    print("start method:", method)
    samples = np.random.default_rng(7).random(SAMPLES)
    expected = np.sqrt(samples)
    # The blocks first, then the workers: see "Who unlinks" below.
    samples_block = shared_memory.SharedMemory(create=True, size=samples.nbytes)
    results_block = shared_memory.SharedMemory(create=True, size=samples.nbytes)
    try:
        shared_samples = array_on(samples_block, samples.shape, samples.dtype)
        shared_results = array_on(results_block, samples.shape, samples.dtype)
        shared_samples[:] = samples  # the one copy, made by the parent
        names = (samples_block.name, results_block.name)
        ways = {}
        with ProcessPoolExecutor(WORKERS, mp_context=context) as executor:
            wait([executor.submit(warm_up) for _ in range(WORKERS)], timeout=WAIT)
            results, *ways["whole array in every task"] = run_tasks(
                executor,
                square_roots_of_copy,
                [(samples, start, stop) for start, stop in SLICES],
            )
            copied_correct = np.array_equal(np.concatenate(results), expected)
            results, *ways["its own slice in each task"] = run_tasks(
                executor,
                square_roots_of_slice,
                [(samples[start:stop],) for start, stop in SLICES],
            )
            sliced_correct = np.array_equal(np.concatenate(results), expected)
            _, *ways["shared memory"] = run_tasks(
                executor,
                square_roots_in_place,
                [(names, samples.shape, samples.dtype, *bounds) for bounds in SLICES],
            )
        shared_correct = np.array_equal(shared_results, expected)
        del shared_samples, shared_results  # every array on a block, before close()
    finally:
        for block in (samples_block, results_block):
            block.unlink()  # once, by the process that created it
            block.close()

    shared_seconds, shared_sent, _ = ways["shared memory"]
    for way, (seconds, sent, returned) in ways.items():
        print(f"{way}: per task, sent {sent:,} bytes, returned {returned:,}")
        print(
            f"  {sent / shared_sent:,.0f}x the bytes sent, "
            f"{seconds / shared_seconds:.1f}x the time of shared memory"
        )
    print(f"results correct: {copied_correct}, {sliced_correct}, {shared_correct}")
    print("processes left running:", len(multiprocessing.active_children()))

# %%
# The whole array in every task pickles 16 MB per task: with eight tasks, eight
# copies go through the pipe to the workers, and every result comes back
# pickled too. Sending each task only its slice sends the array once in all,
# plus the results. With shared memory a task is two names, a shape, a
# ``dtype`` and two numbers, and what comes back is ``None``: the parent reads
# the results where the workers wrote them. The one copy left is the parent's,
# into the block; build the array there in the first place and there is none.
# Each task's pickle is one message: one of 2 GiB or more could not be sent at
# all before Python 3.8 on Linux and macOS (:ref:`error-send-over-2gib`), and
# since then the sender holds it whole beside the array, and the receiver too.
#
# Under ``fork`` a worker could also read, without a copy, an array the parent
# made before starting it (a NumPy array's data is one buffer, which reading
# does not write: :ref:`sphx_glr_gallery_memory_plot_01_copy_on_write.py`),
# but whatever it writes stays in its own copy. Shared memory works under every
# start method, both ways.
#
# Who keeps the block alive
# -------------------------
# Nothing ties a ``SharedMemory`` object's life to the arrays laid over its
# block, and what happens when it closes under an array depends on how the array
# was made. The example in the Python documentation of
# :mod:`multiprocessing.shared_memory` uses
# ``np.ndarray(shape, dtype, buffer=block.buf)``; ``array_on`` above uses
# ``np.frombuffer``. Each here closes a block while its array still exists:


def close_under(make_array):
    """Close a block while an array made by ``make_array`` uses it."""
    block = shared_memory.SharedMemory(create=True, size=8 * 4)
    array = make_array(block)
    base = type(array.base).__name__
    try:
        block.close()
        outcome = "no error"
    except BufferError as error:
        outcome = f"{type(error).__name__}: {error}"
    del array  # not read after a close() that worked: its memory is gone
    block.close()
    block.unlink()
    return f"the array's base is {base}; close(): {outcome}"


if __name__ == "__main__":
    print("NumPy", np.__version__)
    by_ndarray = close_under(lambda b: np.ndarray((4,), np.float64, buffer=b.buf))
    by_frombuffer = close_under(lambda b: np.frombuffer(b.buf, np.float64, count=4))
    print("np.ndarray(buffer=block.buf):", by_ndarray)
    print("np.frombuffer(block.buf):", by_frombuffer)

# %%
# ``np.frombuffer`` keeps a ``memoryview`` of the block's buffer (NumPy 1.22.4
# and later; before, it crashed as ``np.ndarray`` does below), which holds an
# export of the block's ``mmap``; ``close()`` releases ``block.buf`` and then
# closes the ``mmap``, which refuses while an export exists
# (``SharedMemory.close``, 3.11 to 3.13): :ref:`error-exported-pointers`.
# ``np.ndarray(buffer=...)`` keeps a reference to the ``mmap`` object but no
# export (NumPy issues 22190 and 23305; NumPy 2.4 and 2.5 checked, the line
# above says which NumPy this build ran), so ``close()`` unmaps the memory under
# the array without a word, and the next read of the array reads unmapped
# memory. Closing explicitly is rarely how it happens: a function attaches,
# returns the array, and its ``SharedMemory`` object is garbage collected, which
# closes it (``SharedMemory.__del__``). This program does exactly that, once
# with each kind of array; it runs apart, because the second one crashes.

LIFETIME_PROGRAM = """
import numpy as np
from multiprocessing import shared_memory

def attached(name, make_array):
    block = shared_memory.SharedMemory(name=name)
    return make_array(block)  # returning drops ``block``, which closes it

creator = shared_memory.SharedMemory(create=True, size=8 * 4)
creator.buf[:] = np.arange(4.0).tobytes()
safe = attached(creator.name, lambda b: np.frombuffer(b.buf, np.float64, count=4))
print("np.frombuffer: the array reads", safe.sum(), flush=True)
unsafe = attached(creator.name, lambda b: np.ndarray((4,), np.float64, buffer=b.buf))
creator.unlink()  # the name is not needed any more: nothing is left behind
creator.close()
print("np.ndarray(buffer=...): the array reads", unsafe.sum(), flush=True)
"""


def start_program(source, directory, *args):
    """Start ``source`` as a program file, with its output captured."""
    program = os.path.join(directory, f"program_{len(os.listdir(directory))}.py")
    with open(program, "w") as file:
        file.write(source)
    return subprocess.Popen(
        [sys.executable, program, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MPGUIDE_START_METHOD": method},
        cwd=directory,
    )


def finish(program):
    """Wait (bounded) for a program; return its exit status, stdout and stderr."""
    try:
        output, errors = program.communicate(timeout=WAIT)
    except subprocess.TimeoutExpired:
        program.kill()
        program.communicate()
        raise
    return program.returncode, output, errors


def exit_status(code):
    return f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"


if __name__ == "__main__":
    scratch = tempfile.TemporaryDirectory()
    lifetime = start_program(LIFETIME_PROGRAM, scratch.name)
    lifetime_code, lifetime_output, errors = finish(lifetime)
    for line in lifetime_output.splitlines():
        print(line)
    print("the program:", exit_status(lifetime_code))
    ignored = [line for line in errors.splitlines() if line.startswith("Exception ignored")]
    raised = [line for line in errors.splitlines() if line.startswith("BufferError")]
    if ignored and raised:
        print("its stderr:", ignored[0].split(" at 0x")[0] + ">", "...", raised[-1])
    else:
        print("its stderr:", errors.strip() or "nothing")

# %%
# The ``np.frombuffer`` array survived its ``SharedMemory`` object: closing
# failed, the error was printed and ignored (``__del__`` cannot raise), and the
# mapping lives on until the array goes, with the block's file descriptor left
# open. The ``np.ndarray`` array read memory that was no longer mapped, and the
# process died. So: make arrays with ``np.frombuffer(block.buf, dtype,
# count=...)`` (NumPy 1.22.4 and later), keep the ``SharedMemory`` object for
# as long as any array on it is used (return both, or keep them in one
# object), and close it only after the last array is gone.
#
# Who unlinks
# -----------
# ``close()`` ends one process's mapping; ``unlink()`` removes the block's name,
# and the memory goes when the last mapping does. The process that created the
# block unlinks it, once, when every user is done, as the parent did above,
# after the executor ended. Workers only close.
#
# On POSIX systems every process that creates *or attaches to* a block also
# registers its name with a resource tracker, a helper process that, when the
# processes using it have all exited, unlinks every name still registered and
# warns (:ref:`error-leaked-shared-memory`; ``main`` in
# ``multiprocessing/resource_tracker.py``, 3.11 to 3.13). ``spawn`` and
# ``forkserver`` workers are handed their parent's tracker, so the creator's
# ``unlink()`` unregisters the name for all. A ``fork`` worker inherits the
# tracker only if it was running when the worker was forked; otherwise it starts
# a tracker of its own when it attaches, and that tracker, when the worker
# exits, unlinks the block, in use or not. The parent above created its blocks
# before starting the workers, which starts its tracker first. This program
# starts the workers first, then creates the block; a worker attaches; the
# creator unlinks it and ends the pool. The page runs it three ways at once:
# as described, with the block created first, and, on 3.13 and later, with the
# worker attaching with ``track=False``:

TRACKER_PROGRAM = """
import multiprocessing, os, sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import shared_memory

def attach(name, options):
    block = shared_memory.SharedMemory(name=name, **options)
    block.buf[0] += 1
    block.close()

if __name__ == "__main__":
    order = sys.argv[1]
    options = {"track": False} if order == "track=False" else {}
    context = multiprocessing.get_context(os.environ["MPGUIDE_START_METHOD"])
    if order == "block first":
        block = shared_memory.SharedMemory(create=True, size=16)
    with ProcessPoolExecutor(1, mp_context=context) as executor:
        executor.submit(int).result(timeout=60)  # the worker is running
        if order != "block first":
            block = shared_memory.SharedMemory(create=True, size=16)
        executor.submit(attach, block.name, options).result(timeout=60)
        print("the worker wrote", block.buf[0])
        block.unlink()
        block.close()
"""


def tracker_warnings(program):
    """Wait for a run of TRACKER_PROGRAM; return the warnings it printed."""
    code, output, errors = finish(program)
    assert code == 0 and output == "the worker wrote 1\n", (code, output, errors)
    return [
        re.sub(r"/psm_\w+", "/psm_...", line.split("UserWarning: ", 1)[1])
        for line in errors.splitlines()
        if "UserWarning: " in line
    ]


if __name__ == "__main__":
    has_track = "track" in signature(shared_memory.SharedMemory).parameters
    orders = ["workers first", "block first"] + (["track=False"] if has_track else [])
    runs = {order: start_program(TRACKER_PROGRAM, scratch.name, order) for order in orders}
    workers_first = tracker_warnings(runs["workers first"])
    print(f"workers first, then the block ({method}):")
    for line in workers_first or ["no warning"]:
        print("  ", line)
    block_first = tracker_warnings(runs["block first"])
    print(f"the block first ({method}):", block_first or "no warning")
    if has_track:
        untracked = tracker_warnings(runs["track=False"])
        print(
            f"workers first, attached with track=False ({method}):",
            untracked or "no warning",
        )
    else:
        untracked = None
        print("SharedMemory(track=False): not in this Python (3.13 and later)")
    scratch.cleanup()

# %%
# Under ``fork``, the worker's own tracker found the name still registered when
# the worker exited, warned, and unlinked it: the block was already gone, hence
# ``No such file or directory`` (:ref:`error-tracker-no-such-file`). Had the
# creator still been using the block, as with a pool per batch over one block,
# it would have been removed under it, and the next worker to attach would have
# found no such name. Creating the blocks before starting the workers avoids it
# on every version. From Python 3.13 a worker can also attach with
# ``SharedMemory(name, track=False)``, which neither registers nor, on
# ``unlink()``, unregisters the name (``SharedMemory.__init__`` and ``unlink``
# in 3.13's ``multiprocessing/shared_memory.py``; 3.11 and 3.12 have no such
# parameter). :ref:`sphx_glr_gallery_alternatives_plot_01_shared_memory.py`
# shows the same tracker, and ``track=False``, for a process that is not a
# child of the creator.

# %%
# What happened
# -------------

if __name__ == "__main__":
    copy_seconds, copy_sent, _ = ways["whole array in every task"]
    slice_sent = ways["its own slice in each task"][1]
    reproduced = copy_sent >= samples.nbytes
    fixed = shared_correct and shared_sent < 1000
    print(
        f"failure reproduced: {'yes' if reproduced else 'no'} (each of {TASKS} tasks "
        f"pickled the whole {samples.nbytes // 10**6} MB array)"
    )
    print(
        f"fix works: {'yes' if fixed else 'no'} (shared memory: results correct, "
        f"under 1 KB sent per task)"
    )
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        f"{TASKS} tasks over a {samples.nbytes // 10**6} MB array ({method})",
        [
            Observation(
                label="whole array in every task",
                result=f"{copy_sent / 10**6:.1f} MB sent per task",
                ok=False,
            ),
            Observation(
                label="its own slice in each task",
                result=f"{slice_sent / 10**6:.1f} MB sent per task",
                ok=None,
            ),
            Observation(
                label="shared memory",
                result=f"{shared_sent} bytes sent per task",
                ok=fixed,
            ),
        ],
    )
    assert copied_correct and sliced_correct and shared_correct
    assert reproduced and fixed
    assert copy_sent / shared_sent > 10_000
    assert copy_seconds > 2 * shared_seconds  # measured here: 17x to 53x
    assert by_ndarray.endswith("close(): no error")
    assert by_frombuffer.endswith("BufferError: cannot close exported pointers exist")
    assert lifetime_code < 0, lifetime_output
    assert lifetime_output == "np.frombuffer: the array reads 6.0\n"
    assert ignored and raised, errors
    assert bool(workers_first) == (method == "fork") and not block_first
    assert has_track == (sys.version_info >= (3, 13)) and not untracked
    assert not multiprocessing.active_children()
