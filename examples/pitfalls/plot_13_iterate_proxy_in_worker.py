"""
Pitfall 13: a worker loops over a managed dict: ``no attribute '_registry'``
============================================================================

A worker receives a managed dict and loops over it. ``len(shared)``,
``shared[key]`` and ``shared.keys()`` work; ``for key in shared`` raises
``AttributeError: 'NoneType' object has no attribute '_registry'``, under every
start method, and each attempt leaves an object behind in the Manager's server.
The process that made the Manager can loop over the same dict. This page
reproduces both, shows the three lines of ``multiprocessing/managers.py``
behind them, and fixes the loop with one call that returns the keys as a list.
"""

# %%
# Why it happens in general: :doc:`/explanation/how-a-manager-works`.

# %%
# Reproduce
# ---------
# The worker gets the dict proxy as an argument, loops over it, and reports
# what happened. ``manager._number_of_objects()`` (a debugging call every
# manager has) counts the objects the server holds for proxies.

import gc
import multiprocessing
import os
import traceback

WAIT = 60  # seconds: a bound that a working run never reaches
ATTEMPTS = 2


def loop_over(shared, results, how):
    """In a worker: the keys of ``shared``, read ``how``, or the error."""
    try:
        keys = [key for key in shared] if how == "for" else list(shared.keys())
        results.put(sorted(keys))
    except Exception as error:
        results.put(traceback.format_exception_only(type(error), error)[-1].strip())


def in_worker(context, shared, how):
    results = context.Queue()
    worker = context.Process(target=loop_over, args=(shared, results, how))
    worker.start()
    outcome = results.get(timeout=WAIT)
    worker.join(timeout=WAIT)
    results.close()
    results.join_thread()
    return outcome


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())
    with context.Manager() as manager:
        shared = manager.dict(alice=1, bob=2)
        before = manager._number_of_objects()
        failed = [in_worker(context, shared, "for") for _ in range(ATTEMPTS)]
        after_failures = manager._number_of_objects()
        print("in a worker, for key in shared:", failed[0])
        print(f"objects in the server: {before} before, {after_failures} after", end=" ")
        print(f"{ATTEMPTS} attempts")
        in_parent = [key for key in shared]
        after_parent = manager._number_of_objects()
        gc.collect()
        after_collection = manager._number_of_objects()
        print("in the parent, for key in shared:", sorted(in_parent), end="; ")
        print(
            f"objects in the server: {after_parent}, {after_collection} after gc.collect()"
        )

# %%
# Why
# ---
# A ``DictProxy`` sends ``__iter__`` to the server like any method, but its
# answer is not a value: the server makes the iterator a shared object of its
# own (``DictProxy._method_to_typeid_`` maps ``__iter__`` to ``"Iterator"``),
# counts one reference to it, and replies with its token. The proxy then builds
# a proxy for that token, and for that it needs its manager's registry of proxy
# types (``BaseProxy._callmethod``, 3.11 to 3.13)::
#
#     proxytype = self._manager._registry[token.typeid][-1]
#
# A proxy that reached another process has no manager: ``RebuildProxy``, which
# unpickles it under ``spawn`` and ``forkserver`` (and in a ``Pool`` under every
# method), passes none, and a proxy inherited through ``fork`` drops it
# (``BaseProxy._after_fork`` sets ``self._manager = None``). So the lookup fails
# before the client sends the ``decref`` that would let the server free the
# iterator: each attempt leaves one object in the server for as long as the
# Manager runs, as counted above. The parent's proxy has its manager, so its
# loop works and its iterator is freed: at once on 3.11 and 3.13, and on
# 3.12.1 only when the garbage collector runs (both counts are printed above).
#
# Every method that returns a proxy fails the same way in a worker: on a
# ``manager.Pool()`` proxy, ``apply_async``, ``map_async``, ``starmap_async``,
# ``imap`` and ``imap_unordered`` (``BasePoolProxy._method_to_typeid_``), and
# any method a program registers with ``method_to_typeid``. The bug is
# cpython issue 99595, open for 3.11 to 3.13 when this page was written; the
# runs below show it on each version this site was built with.

# %%
# Fix: ask for the keys, not for an iterator
# ------------------------------------------
# ``keys()``, ``values()`` and ``items()`` of a ``DictProxy`` return lists, by
# value, in one round trip: the server's dict returns a view, which
# ``multiprocessing/managers.py`` pickles as a list (``rebuild_as_list``). That
# is a snapshot of the dict at that moment, which the worker can loop over.
# (``shared.copy()`` returns a plain dict the same way.)

if __name__ == "__main__":
    with context.Manager() as manager:
        shared = manager.dict(alice=1, bob=2)
        before_fix = manager._number_of_objects()
        fixed_keys = in_worker(context, shared, "keys")
        after_fix = manager._number_of_objects()
    print("in a worker, shared.keys():", fixed_keys, end="; ")
    print(f"objects in the server: {before_fix} before, {after_fix} after")

# %%
# In the error index: :ref:`error-proxy-registry`.

# %%
# What happened
# -------------

if __name__ == "__main__":
    message = "AttributeError: 'NoneType' object has no attribute '_registry'"
    reproduced = all(outcome == message for outcome in failed)
    leaked = after_failures - before
    print(
        f"failure reproduced: {'yes' if reproduced else 'no'} (a worker's loop over the "
        f"dict proxy raised AttributeError; {leaked} iterators left in the server)"
    )
    fixed = fixed_keys == ["alice", "bob"] and after_fix == before_fix
    print(f"fix works: {'yes' if fixed else 'no'} (keys() returned a list; nothing left)")
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        "A worker loops over a managed dict",
        [
            Observation(
                label="for key in shared",
                result="AttributeError" if reproduced else str(failed[0]),
                ok=not reproduced,
            ),
            Observation(
                label="objects left in the server",
                result=f"{leaked} after {ATTEMPTS} attempts",
                ok=not leaked,
            ),
            Observation(label="shared.keys()", result=str(fixed_keys), ok=fixed),
        ],
    )
    assert reproduced and leaked == ATTEMPTS
    assert sorted(in_parent) == ["alice", "bob"] and after_collection == after_failures
    assert after_parent - after_failures in (0, 1)
    assert fixed
    assert not multiprocessing.active_children()
