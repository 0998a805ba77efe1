"""
Shared memory blocks: ``SharedMemory`` and ``ShareableList``
============================================================

:mod:`multiprocessing.shared_memory` gives processes a block of bytes they all
map, by name: no server, no pickling, no round trip. The price is that you
manage the block yourself: its size and layout are fixed when it is created,
every process that attaches must ``close`` its handle, exactly one must
``unlink`` the block, and the resource tracker warns (and destroys the block)
when it thinks someone forgot. In the error index:
:ref:`error-shared-memory-unlinked`.
"""

# %%
# Per-user counters in a block
# ----------------------------
# The parent creates a block of eight-byte counters, one per user, and the
# per-user locks, before it starts the workers. Each worker attaches to the
# block by name, counts its queries under the user's lock, and closes its
# handle. The parent, which created the block, unlinks it once everyone is done.

import multiprocessing
import os
import subprocess
import sys
from multiprocessing import resource_tracker, shared_memory

USERS = ["alice", "bob", "carol"]
WORKERS = 4
QUERIES = 500  # per worker, spread over the users
COUNTER = "q"  # a signed eight-byte integer, as in the struct module


def count_queries(block_name, user_locks, worker):
    block = shared_memory.SharedMemory(name=block_name)
    counters = block.buf.cast(COUNTER)
    try:
        for query in range(QUERIES):
            user = (worker + query) % len(USERS)
            with user_locks[user]:
                counters[user] += 1
    finally:
        counters.release()  # a view into the block must go before close()
        block.close()  # this process's mapping; the block itself stays


def run_workers(context, block_name, user_locks):
    workers = [
        context.Process(target=count_queries, args=(block_name, user_locks, worker))
        for worker in range(WORKERS)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0, f"a worker failed: exit code {worker.exitcode}"


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())
    block = shared_memory.SharedMemory(create=True, size=8 * len(USERS))
    counters = block.buf.cast(COUNTER)
    user_locks = [context.Lock() for _ in USERS]
    run_workers(context=context, block_name=block.name, user_locks=user_locks)
    counts = dict(zip(USERS, counters.tolist(), strict=True))
    print("counts:", counts, "expected", WORKERS * QUERIES, "in all")
    assert sum(counts.values()) == WORKERS * QUERIES

# %%
# The workers attached by name and closed their handles; the block is still
# there, because nobody unlinked it. A new handle by name sees the counts.
#
# Every process that maps the block must release its views and close its
# handle; ``close()`` while a view such as ``counters`` exists raises
# ``BufferError``. Unlinking removes the name: processes that still map the
# block keep their mapping, but nobody can attach any more.

if __name__ == "__main__":
    again = shared_memory.SharedMemory(name=block.name)
    print("attached again by name, alice's count:", again.buf.cast(COUNTER)[0])
    try:
        block.close()
    except BufferError as error:
        print("close() with a view still open:", type(error).__name__, error)
    counters.release()
    block.close()
    again.close()
    block.unlink()  # once, by one process: the creator
    try:
        shared_memory.SharedMemory(name=block.name)
    except FileNotFoundError:
        print("after unlink(), attaching by name: FileNotFoundError")

# %%
# A read-mostly table: ``ShareableList``
# --------------------------------------
# A :class:`~multiprocessing.shared_memory.ShareableList` lays out ``int``,
# ``float``, ``bool``, ``str``, ``bytes`` and ``None`` values in one block.
# Workers attach by name and read by index, with no round trip. It is fixed in
# size twice over: its length, and each slot's size, set by the value it was
# created with (an ASCII ``str`` of up to 7 characters gets 8 bytes, up to 15
# gets 16, and so on).


def read_names(table_name, indexes):
    table = shared_memory.ShareableList(name=table_name)
    try:
        return [table[index] for index in indexes]
    finally:
        table.shm.close()


if __name__ == "__main__":
    table = shared_memory.ShareableList(USERS)
    try:
        with context.Pool(2) as pool:
            print("workers read:", pool.apply(read_names, (table.shm.name, [2, 0])))
        table[1] = "bobby"  # fits the slot "bob" was given (8 bytes)
        try:
            table[1] = "bob the builder"
        except ValueError as error:
            print("a longer value:", error)
        try:
            table.append("dave")
        except AttributeError as error:
            print("no append:", error)
        print("table now:", list(table))
    finally:
        table.shm.close()
        table.shm.unlink()

# %%
# The resource tracker's "leaked shared_memory" warning
# -----------------------------------------------------
# On POSIX systems every process that creates *or attaches to* a block
# registers its name with a resource tracker, a helper process. When the
# tracker's processes have all exited, it unlinks every name still registered
# and warns: ``There appear to be N leaked shared_memory objects to clean up
# at shutdown``.
#
# Processes started by :mod:`multiprocessing` share their parent's tracker:
# ``spawn`` and ``forkserver`` children are handed it when they start, and a
# ``fork`` child inherits it if it is running, as here, where creating the
# block started it. So the workers above, which attached and exited, caused no
# warning: the creator's ``unlink()`` unregistered the name for all of them. The warning is
# right when the creator forgot to unlink: the block is cleaned up for you.
#
# It is wrong when a process that is *not* a child of the creator, here a
# separate ``python`` command, attaches to a block: that process starts its
# own tracker, which destroys the block as soon as the process exits, though
# the creator is still using it. This runs that process and shows its stderr.

ATTACH_AND_EXIT = """
import sys
from multiprocessing import resource_tracker, shared_memory
name, mode = sys.argv[1:]
if mode == "track=False":  # Python 3.13 and later
    block = shared_memory.SharedMemory(name=name, track=False)
else:
    block = shared_memory.SharedMemory(name=name)
    if mode == "unregister":  # Python 3.11 and 3.12
        resource_tracker.unregister(block._name, "shared_memory")
block.buf[0] += 1
block.close()
"""


def attach_from_another_program(name, mode):
    """Run a separate interpreter that attaches to ``name``; return its warnings."""
    result = subprocess.run(
        [sys.executable, "-c", ATTACH_AND_EXIT, name, mode],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    # Keep the message; the file path in front of it is this machine's.
    return [
        line.split("UserWarning: ", 1)[1]
        for line in result.stderr.splitlines()
        if "UserWarning: " in line
    ]


def still_there(name):
    try:
        shared_memory.SharedMemory(name=name).close()
    except FileNotFoundError:
        return False
    return True


if __name__ == "__main__":
    block = shared_memory.SharedMemory(create=True, size=8)
    for line in attach_from_another_program(block.name, mode="default"):
        print("the other program's tracker:", line.replace(block._name, "<name>"))
    destroyed = not still_there(block.name)
    print("the block is gone, though its creator never unlinked it:", destroyed)
    block.close()
    if destroyed:  # our own tracker still lists the name: take it off
        resource_tracker.unregister(block._name, "shared_memory")
    else:
        block.unlink()

# %%
# The fix is to keep the attaching program's tracker out of it. From Python
# 3.13, ``SharedMemory(name=..., track=False)`` does not register the block.
# On 3.11 and 3.12 there is no such parameter; the usual workaround is to
# unregister the name right after attaching
# (``resource_tracker.unregister(block._name, "shared_memory")``, a private
# attribute: check it when you upgrade). Either way the creator alone unlinks.
# Inside one :mod:`multiprocessing` family of processes, none of this is needed.
#
# A block that no tracker lists, because its creator passed ``track=False`` or
# unregistered it too, outlives every program that used it until one unlinks
# it: after a crash, creating it again under the same name fails with
# ``FileExistsError`` (:ref:`error-shared-memory-name-exists`).

if __name__ == "__main__":
    fix = "track=False" if sys.version_info >= (3, 13) else "unregister"
    block = shared_memory.SharedMemory(create=True, size=8)
    try:
        warnings = attach_from_another_program(block.name, mode=fix)
        print(f"with {fix} (Python {sys.version_info.major}.{sys.version_info.minor}):")
        print("the other program's warnings:", warnings)
        survived = still_there(block.name)
        print("the block survived:", survived, "and was written:", block.buf[0] == 1)
    finally:
        block.close()
        block.unlink()
    assert destroyed and survived and not warnings

# %%
# A full ``/dev/shm``: a worker killed by ``SIGBUS``
# --------------------------------------------------
# On Linux a block is a file in ``/dev/shm``, a ``tmpfs``: memory, limited
# to a size. ``SharedMemory(create=True, size=n)`` opens the file with
# ``shm_open`` and gives it its size with ``os.ftruncate``, then maps it
# (``SharedMemory.__init__`` in ``multiprocessing/shared_memory.py``, 3.11 to
# 3.13). ``ftruncate`` reserves nothing: the file is sparse, and ``tmpfs``
# allocates each page when a process first touches it through its mapping,
# reading or writing. So creating a block
# larger than the room left succeeds, and the process that later touches a
# page ``tmpfs`` cannot allocate gets no exception: the kernel sends it
# ``SIGBUS`` (``shmem_fault`` in Linux's ``mm/shmem.c`` turns a failed
# allocation, other than out of memory, into ``VM_FAULT_SIGBUS``), and it dies
# on the spot, ``exitcode`` ``-SIGBUS`` (``-7`` on Linux), "Bus error" (in the error index:
# :ref:`error-shared-memory-bus-error`).
#
# That is PyTorch's ``DataLoader worker (pid N) is killed by signal: Bus
# error. It is possible that dataloader's workers are out of shared memory.``:
# its workers hand each batch's tensors to the main process in shared memory,
# files in ``/dev/shm`` on Linux, and its main process reports a worker that a
# signal killed (``_error_if_any_worker_fails``, in PyTorch's
# ``torch/csrc/DataLoader.cpp``). A Docker container gets a ``/dev/shm`` of its
# own, 64 MB unless ``docker run --shm-size`` says otherwise (Docker's ``docker
# run`` reference). PyTorch is not run here, and this page does not fill this
# machine's ``/dev/shm``: it measures the lazy allocation on a block of 16 MiB,
# and makes the same signal happen the harmless way, in a worker whose mapping
# goes past the end of the block's file (mmap(2): ``SIGBUS`` on "access to a
# page of the buffer that lies beyond the end of the mapped file"), which it
# shrinks to one page before writing.

import faulthandler
import mmap
import signal

BLOCK_SIZE = 16 * 1024 * 1024


def allocated(name):
    """Bytes ``tmpfs`` has allocated to the block ``name`` (Linux)."""
    return os.stat(f"/dev/shm/{name}").st_blocks * 512


def write_first_byte(name):
    block = shared_memory.SharedMemory(name=name)
    try:
        block.buf[0] = 1
    finally:
        block.close()


def write_past_the_file(name):
    faulthandler.disable()  # development mode's handler would print a traceback
    block = shared_memory.SharedMemory(name=name)  # maps all 16 MiB
    os.ftruncate(block._fd, mmap.PAGESIZE)  # the file keeps one page
    block.buf[mmap.PAGESIZE] = 1  # the second page has nothing behind it: SIGBUS
    block.close()  # never reached


def run_one(context, target, name):
    worker = context.Process(target=target, args=(name,))
    worker.start()
    worker.join(timeout=60)
    return worker.exitcode


if __name__ == "__main__" and sys.platform == "linux":
    block = shared_memory.SharedMemory(create=True, size=BLOCK_SIZE)
    try:
        created = allocated(block.name)
        print(f"a block of {BLOCK_SIZE // 2**20} MiB created, tmpfs allocated:", created)
        first = run_one(context, write_first_byte, block.name)
        touched = allocated(block.name)
        print(f"a worker wrote one byte (exit code {first}), tmpfs allocated:", touched)
        died = run_one(context, write_past_the_file, block.name)
        print(
            f"a worker wrote where no page can be had: exit code {died}",
            f"({signal.Signals(-died).name}, {signal.strsignal(-died)})",
        )
    finally:
        block.close()
        block.unlink()
    assert created == 0 and 0 < touched < BLOCK_SIZE, (created, touched)
    assert first == 0 and died == -signal.SIGBUS

# %%
# The fix is room: ``docker run --shm-size=2g`` (or ``shm_size`` in Compose),
# or ``--ipc=host``, which gives the container the host's IPC namespace and
# with it the host's ``/dev/shm``; with PyTorch, fewer ``num_workers`` or
# smaller batches put less in it at once, and ``num_workers=0`` none (the
# batches are made in the main process, at the cost of the parallel loading).
# Check the room with ``df -h /dev/shm`` inside the container. The
# semaphores behind every multiprocessing lock, queue and pool are files there
# too, a page each: when it is full, they fail to be made
# (:ref:`error-semaphore-no-space`). For your own
# blocks, ``os.posix_fallocate(fd, 0, size)`` right after creating one
# allocates every page at once: a block that does not fit then fails in its
# creator with ``OSError`` ``ENOSPC`` (posix_fallocate(3)), not later as a
# signal in whichever worker touches it, at the cost of taking all its memory
# up front. Measured on a block of 64 KiB:

if __name__ == "__main__" and sys.platform == "linux":
    small = shared_memory.SharedMemory(create=True, size=64 * 1024)
    try:
        os.posix_fallocate(small._fd, 0, small.size)
        reserved = allocated(small.name)
        print(f"posix_fallocate on {small.size} bytes, tmpfs allocated:", reserved)
    finally:
        small.close()
        small.unlink()
    assert reserved >= small.size, reserved

if __name__ == "__main__":
    # %%
    # Trade-offs
    # -----------
    # - **Fast reads and writes, plain bytes.** No server and no pickling: a
    #   counter is eight bytes at a fixed offset. Locks are still yours to add
    #   (here one per user, created before the workers start).
    # - **Fixed size, fixed layout.** Decide the size up front; a
    #   ``ShareableList`` cannot grow, and its slots cannot either. Keys are
    #   indexes: map user names to offsets yourself.
    # - **Lifetime is yours.** Close every handle and view in every process;
    #   unlink once. Name the block's owner in your design. On Windows the block
    #   disappears when the last handle closes, and there is no tracker.
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        "A block another program used",
        [
            Observation(
                label="its tracker at exit",
                result="block destroyed" if destroyed else "block kept",
                ok=not destroyed,
            ),
            Observation(
                label=f"with {fix}",
                result="block kept" if survived else "block destroyed",
                ok=survived,
            ),
            Observation(
                label=f"warnings with {fix}", result=str(len(warnings)), ok=not warnings
            ),
        ],
    )
