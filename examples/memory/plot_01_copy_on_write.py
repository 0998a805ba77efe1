"""
Copy-on-write under fork: reading a list of objects copies it
=============================================================

A parent loads a big list of records, starts two workers with ``fork``, and the
workers only *read* the records; yet each worker ends up with a private copy of
nearly all of them, and memory use grows with every worker. This page measures
each worker's private memory before and after reading, shows why (reading an
object writes its reference count), what ``gc.freeze()`` does and does not
change, what ``spawn`` and ``forkserver`` do instead, and the fix: keep the data
in flat buffers, which reading does not write.
"""

# %%
# How the page measures
# ---------------------
# The records are 300,000 small lists ``[user_id, score]``: a list, an ``int``
# and a ``float`` each, tens of MiB in all (the first line of output says how
# much). A worker reports its *private* memory, the pages that only it maps
# (``Private_Dirty`` in Linux's ``/proc/self/smaps_rollup``), as it starts and
# after it has done its work. A page that the parent and a ``fork`` child still
# share counts for neither; the first write to it, by either of them, gives the
# writer a copy of its own. Every number is a ratio to the records' size,
# measured in the same run. macOS and Windows have no ``/proc``, and this page
# stops there; the third-party ``psutil`` reports the same kind of number on
# each system (``psutil.Process().memory_full_info().uss``).
#
# The parent of the workers is a fresh process started for this page (a
# one-worker ``ProcessPoolExecutor`` using ``spawn``): a collection in a worker
# visits every object its parent had, and this keeps those to the records,
# whatever else the page's own process holds (when the docs are built, all of
# Sphinx). The workers start with the start method under test.

import gc
import multiprocessing
import os
import sys
from array import array
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import shared_memory

RECORDS = 300_000
WORKERS = 2
WAIT = 60  # seconds: a bound that no step here comes near
SMAPS = "/proc/self/smaps_rollup"


def private_memory():
    """This process's private dirty memory in bytes (Linux only)."""
    with open(SMAPS) as smaps:
        for line in smaps:
            if line.startswith("Private_Dirty:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no Private_Dirty line in {SMAPS}")


def make_records(count):
    return [[1000 + number, number * 0.5] for number in range(count)]


def total_score(records):
    return sum(score for _, score in records)


# %%
# The workers
# -----------
# A worker gets the records as an argument of ``Process``: under ``fork`` the
# child simply has them, at the addresses the parent had; under ``spawn`` and
# ``forkserver`` the parent pickles the ``Process`` object with its arguments
# and the child rebuilds them before the target runs (``Popen._launch`` in
# ``multiprocessing/popen_spawn_posix.py`` and ``popen_forkserver.py``, 3.11 to
# 3.13). A ``Pool``'s ``initargs`` travel the same way; a task's arguments are
# always pickled, whatever the method.


def read_records(records, action, results):
    at_start = private_memory()
    if action == "read":
        total_score(records)
    elif action == "collect":
        gc.collect()
    results.put((at_start, private_memory()))


def run_workers(context, target, args, workers=WORKERS):
    """Run ``workers`` processes of ``target(*args, results)``; return what each put."""
    results = context.Queue()
    processes = [
        context.Process(target=target, args=(*args, results)) for _ in range(workers)
    ]
    for process in processes:
        process.start()
    try:
        return [results.get(timeout=WAIT) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=WAIT)
        results.close()
        results.join_thread()


# %%
# What the parent does
# --------------------
# These run in the parent. ``load`` builds the records and measures them;
# ``start_readers`` starts the readers, plus one worker given no records (its
# private memory at start is the baseline of a worker that received nothing).

parent_data = {}


def load(count):
    before = private_memory()
    parent_data["records"] = make_records(count)
    return private_memory() - before


def start_readers(method, action, freeze=False):
    context = multiprocessing.get_context(method)
    if freeze:
        gc.freeze()  # every object tracked now: ignored by later collections
    try:
        readers = run_workers(context, read_records, (parent_data["records"], action))
    finally:
        gc.unfreeze()
    (baseline, _), *_ = run_workers(context, read_records, ([], action), workers=1)
    return baseline, readers


if __name__ == "__main__":
    if not os.path.exists(SMAPS):
        sys.exit(f"This page measures memory with {SMAPS}, which only Linux has.")
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    method = context.get_start_method()
    print("start method:", method)
    parent = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))

    def in_parent(function, *args, **kwargs):
        return parent.submit(function, *args, **kwargs).result(timeout=WAIT)

    size = in_parent(load, RECORDS)
    print(f"the parent holds {RECORDS} records: {size / 2**20:.1f} MiB")

# %%
# Two workers read every record
# -----------------------------


def added(pairs):
    """The private memory each worker added while working, per byte of records."""
    return [(after - at_start) / size for at_start, after in pairs]


def beyond(values, baseline):
    """Each value's excess over a worker given nothing, per byte of records."""
    return [(value - baseline) / size for value in values]


def shown(values):
    return ", ".join(f"{max(value, 0):.2f}x" for value in values)


if __name__ == "__main__":
    baseline, readers = in_parent(start_readers, method, "read")
    arrived = beyond([at_start for at_start, _ in readers], baseline)
    by_reading = added(readers)
    print("private memory of each worker, as a share of the records' size:")
    print(f"  on arrival (beyond a worker given nothing): {shown(arrived)}")
    print(f"  added by reading every record: {shown(by_reading)}")

# %%
# Why
# ---
# Under ``fork`` the workers arrive with nothing private: they share every page
# with the parent. Then reading copies nearly everything. In CPython every
# object begins with its reference count, and using an object, even to read
# it, writes that count: ``for _, score in records`` takes a new reference to
# each record, its ``user_id`` and its ``score`` (``Py_INCREF`` in
# ``Include/object.h``, then ``Py_DECREF``). One write to a page is enough for
# the kernel to give the worker its own copy of the whole page (4 KiB on most
# Linux systems), and the records are packed together, so every page that holds
# one is copied. What reading leaves shared is the arrays of pointers, read and
# never written: the big list's (8 bytes a record) and each record's own (two
# pointers; a list keeps its items in a vector allocated apart from the list
# object, ``ob_item`` in ``Include/cpython/listobject.h``): hence a little less
# than the whole.
#
# Under ``spawn`` and ``forkserver`` there is nothing to share in the first
# place: each worker unpickled its own copy of the records before its target
# ran, so it arrives with all of it private, and more, and reading adds
# nothing. Since Python 3.14 the default start method on Linux is
# ``forkserver``; on macOS (since 3.8) and Windows it is ``spawn``. There the
# copy is explicit, and the fix below is the same.

if __name__ == "__main__":
    print(
        "depends on the start method: only a fork child shares its parent's "
        "pages, which reading then copies by writing reference counts; spawn and "
        "forkserver children unpickle a private copy from the start"
    )

# %%
# ``gc.freeze()``: the collector's writes, not the reads
# ------------------------------------------------------
# The cyclic garbage collector writes too. Each object it tracks (lists,
# instances of classes, dicts that hold containers; not ints, floats or
# strings) carries a header
# just *before* the object, ``PyGC_Head``, and a collection marks every object
# of the generations it collects in that header (``_PyGC_PREV_MASK_COLLECTING``
# in ``Include/internal/pycore_gc.h``, 3.11 to 3.13). A worker's collector sees
# every object the parent had. ``gc.freeze()`` in the parent, just before
# starting the workers, moves every tracked object to a permanent generation
# that collections skip. Measured here: a full ``gc.collect()`` in each worker,
# without and with the freeze, and reading with the freeze. Only a ``fork``
# worker shares the parent's objects, so only ``fork`` is measured.

if __name__ == "__main__":
    if method == "fork":
        _, collected = in_parent(start_readers, method, "collect")
        _, frozen_collected = in_parent(start_readers, method, "collect", freeze=True)
        _, frozen_read = in_parent(start_readers, method, "read", freeze=True)
        after_collect = added(collected)
        frozen_collect = added(frozen_collected)
        frozen_reading = added(frozen_read)
        print("private memory added in each worker:")
        print(f"  gc.collect(), no freeze: {shown(after_collect)}")
        print(f"  gc.collect() after gc.freeze() in the parent: {shown(frozen_collect)}")
        print(f"  reading after gc.freeze() in the parent: {shown(frozen_reading)}")
    else:
        print(f"gc.freeze(): not measured under {method}, whose workers inherit no objects")

# %%
# A collection copied the pages that hold the records' lists, about half of
# the records here (their ints and floats are not tracked, and sit on pages of
# their own). The freeze stops those writes, and nothing else: reading still
# writes every reference count, so ``gc.freeze()`` alone does not keep the
# records shared. It is worth having in a parent that forks many long-lived
# workers (a server's, say), where collections in every worker would otherwise
# copy every page that holds a tracked object. The ``gc`` documentation adds
# ``gc.disable()`` early in the parent, so that no collection leaves freed
# holes for new objects to fill, and ``gc.enable()`` in each child.
#
# Immortal objects (Python 3.12+)
# -------------------------------
# Since 3.12 (PEP 683) some objects are *immortal*: ``Py_INCREF`` sees their
# reference count and leaves it unwritten (``Include/object.h``, 3.12, 3.13).
# Which objects, checked here by whether taking a reference changes
# ``sys.getrefcount``:

if __name__ == "__main__":
    # Made at run time, with a space: no code anywhere in this process has it
    # as a name, which the compiler interns for good from 3.13.
    interned = sys.intern(f"user {os.getpid()}")
    candidates = {
        "None": None,
        "True": True,
        "7": 7,
        "''": "",
        "'a'": "a",
        "()": (),
        "an interned string": interned,
        "1007 (a user_id)": 1007,
        "0.5 (a score)": 0.5,
        "[1007, 0.5] (a record)": [1007, 0.5],
    }

    def reference_counted(obj):
        before = sys.getrefcount(obj)
        references = [obj] * 3
        changed = sys.getrefcount(obj) != before
        del references
        return changed

    counted = {name: reference_counted(obj) for name, obj in candidates.items()}
    immortal = [name for name, written in counted.items() if not written]
    print("immortal here:", ", ".join(immortal) or "nothing")
    print("reference counted:", ", ".join(name for name in counted if counted[name]))

# %%
# ``None``, ``True`` and ``False``, the cached small ints (-5 to 256:
# ``_PY_NSMALLNEGINTS`` and ``_PY_NSMALLPOSINTS`` in
# ``Include/internal/pycore_global_objects.h``), the empty tuple, the empty
# string and the one-character Latin-1 strings are immortal from 3.12.
# Strings interned with ``sys.intern()`` were immortal in 3.12.1 and are mortal
# in 3.13.0 (both checked here; CPython gh-113993); names the compiler interns
# stay immortal.
# Every record, every ``user_id`` above 256 and every ``float`` is counted as
# usual on every version: immortality does not change this page's numbers.
#
# The fix: flat buffers
# ---------------------
# Hold the same numbers as two flat arrays (``array.array``; a NumPy array or
# ``bytes`` works alike): one object each, with the values in a buffer that
# reading does not write. The parent builds them from the records:


def load_columns():
    records = parent_data["records"]
    parent_data["columns"] = (
        array("q", [user_id for user_id, _ in records]),
        array("d", [score for _, score in records]),
    )
    return sum(len(column) * column.itemsize for column in parent_data["columns"])


def read_columns(columns, results):
    """Read both columns; ``columns`` are arrays, or a shared memory block's name."""
    at_start = private_memory()
    if isinstance(columns, str):
        block = shared_memory.SharedMemory(name=columns)
        count = block.size // 16
        user_ids = block.buf[: 8 * count].cast("q")
        scores = block.buf[8 * count : 16 * count].cast("d")
        try:
            max(user_ids), sum(scores)
        finally:
            user_ids.release()  # views go before close()
            scores.release()
            block.close()
    else:
        user_ids, scores = columns
        max(user_ids), sum(scores)
    results.put((at_start, private_memory()))


def start_column_readers(method, shared):
    context = multiprocessing.get_context(method)
    if not shared:
        return run_workers(context, read_columns, (parent_data["columns"],))
    user_ids, scores = parent_data["columns"]
    block = shared_memory.SharedMemory(create=True, size=16 * len(scores))
    try:
        block.buf[: 8 * len(user_ids)] = user_ids.tobytes()
        block.buf[8 * len(user_ids) : 16 * len(scores)] = scores.tobytes()
        return run_workers(context, read_columns, (block.name,))
    finally:
        block.close()
        block.unlink()  # once, by the creator


if __name__ == "__main__":
    flat_size = in_parent(load_columns)
    print(f"the same numbers as two arrays: {flat_size / size:.2f}x the records")
    passed = in_parent(start_column_readers, method, shared=False)
    flat_arrived = beyond([at_start for at_start, _ in passed], baseline)
    flat_reading = added(passed)
    print("the arrays as arguments, private memory of each worker:")
    print(f"  on arrival: {shown(flat_arrived)}; added by reading: {shown(flat_reading)}")

# %%
# Under ``fork`` the arrays stay shared: reading them writes only the two
# arrays' own headers. Under ``spawn`` and ``forkserver`` each worker still
# gets a pickled copy, now of the arrays, far smaller than the records. To
# share them there too, put the buffer in shared memory, which every start
# method can map by name. The parent creates the block; the workers attach,
# read, release their views and close it; the parent unlinks it, once.
# :ref:`sphx_glr_gallery_alternatives_plot_01_shared_memory.py` covers the
# block's lifetime, and the next page,
# :ref:`sphx_glr_gallery_memory_plot_02_numpy_shared_memory.py`, does the same
# with NumPy arrays.

if __name__ == "__main__":
    shared = in_parent(start_column_readers, method, shared=True)
    shared_private = beyond([after for _, after in shared], baseline)
    print("the arrays in shared memory, private memory of each worker")
    print(f"  after attaching and reading: {shown(shared_private)}")
    parent.shutdown()
    print("processes left running:", len(multiprocessing.active_children()))

# %%
# What happened
# -------------


def about(value):
    return f"about {round(value * 10) * 10}%"


if __name__ == "__main__":
    if method == "fork":
        reproduced = min(by_reading) > 0.5
        detail = f"reading copied {about(min(by_reading))} of the records into each worker"
    else:
        reproduced = False
        detail = (
            f"nothing inherited: each worker unpickled its own copy, "
            f"{about(min(arrived))} of the records, before reading"
        )
    fixed = max(shared_private) < 0.05
    print(f"failure reproduced: {'yes' if reproduced else 'no'} ({detail})")
    print(
        f"fix works: {'yes' if fixed else 'no'} (flat arrays in shared memory: "
        f"{about(max(shared_private))} of the records private per worker)"
    )
    from mpguide.figures import Observation, draw_outcome

    private_after = [a + r for a, r in zip(arrived, by_reading, strict=True)]
    flat_private = max(a + r for a, r in zip(flat_arrived, flat_reading, strict=True))
    draw_outcome(
        f"Private memory per worker ({method})",
        [
            Observation(
                label="list of records",
                result=f"{max(private_after):.2f}x private per worker",
                ok=False,
                fraction=min(max(max(private_after), 0), 1),
            ),
            Observation(
                label="flat arrays as arguments",
                result=f"{max(flat_private, 0):.2f}x private per worker",
                ok=None,
                fraction=min(max(flat_private, 0), 1),
            ),
            Observation(
                label="flat arrays, shared memory",
                result=f"{max(max(shared_private), 0):.2f}x private per worker",
                ok=fixed,
                fraction=min(max(max(shared_private), 0), 1),
            ),
        ],
    )
    # Every worker ends with a private copy of the records, whatever the method.
    assert min(private_after) > 0.7, private_after
    if method == "fork":
        assert max(arrived) < 0.05 and min(by_reading) > 0.7
        assert min(after_collect) > 0.3 and max(frozen_collect) < 0.05
        assert min(frozen_reading) > 0.7
        assert max(flat_arrived) < 0.05 and max(flat_reading) < 0.05
    else:
        assert min(arrived) > 0.7 and max(by_reading) < 0.1
        assert min(flat_arrived) > 0.5 * flat_size / size
    assert reproduced == (method == "fork") and fixed
    assert flat_size / size < 0.2
    if sys.version_info >= (3, 12):
        assert {"None", "True", "7", "''", "'a'", "()"} <= set(immortal)
    else:
        assert not immortal
    assert counted["1007 (a user_id)"] and counted["0.5 (a score)"]
    assert counted["[1007, 0.5] (a record)"]
    if sys.version_info >= (3, 13):
        assert counted["an interned string"]
    assert not multiprocessing.active_children()
