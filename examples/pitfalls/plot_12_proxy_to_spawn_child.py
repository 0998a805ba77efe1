"""
Pitfall 12: a proxy passed to a ``spawn`` child outlives its referent
=====================================================================

A proxy handed to ``Process(target=..., args=(proxy,))`` works in the child as
long as the parent keeps its own proxy. Under ``spawn``, the child's copy is
never counted by the server: when the parent drops its proxy, the server
deletes the shared object while the child still uses it, and the child's next
call raises ``RemoteError`` ending in ``KeyError: '<referent id>'``. Under
``fork`` and ``forkserver`` the child registers its copy before its target
runs, and keeps the object alive. The fix: the parent keeps its proxy until
the child has finished.
"""

# %%
# Why it happens: :doc:`/explanation/how-a-manager-works`, which counts the
# proxies that keep a :term:`referent` alive.

# %%
# Reproduce
# ---------
# The child signals that it has started, then waits. Meanwhile the parent drops
# its proxy and asks the server how many shared objects it still keeps
# (``manager._number_of_objects()``, a debugging call of ``BaseManager``). Then
# the child uses its proxy.

import multiprocessing
import os
from multiprocessing.managers import RemoteError

WAIT = 60  # seconds; every wait on the child is bounded


def append_later(queries, started, go, results):
    started.set()
    if not go.wait(WAIT):
        results.put("the parent never said go")
        return
    try:
        queries.append("q2")
        results.put(f"appended: {list(queries)}")
    except RemoteError as error:
        last_line = str(error).strip("-\n").splitlines()[-1]
        results.put(f"RemoteError ending in {last_line.split(':')[0]}: <referent id>")


def run_child(context, manager, keep_proxy):
    """Start a child with a proxy; drop the parent's proxy unless ``keep_proxy``."""
    queries = manager.list(["q1"])
    started, go, results = context.Event(), context.Event(), context.Queue()
    child = context.Process(target=append_later, args=(queries, started, go, results))
    child.start()
    try:
        if not started.wait(WAIT):
            raise TimeoutError("the child did not start")
        if not keep_proxy:
            del queries  # the parent's only proxy
        objects = manager._number_of_objects()
        go.set()
        seen = results.get(timeout=WAIT)
    finally:
        child.join(WAIT)
        if child.is_alive():
            child.kill()
            child.join()
    results.close()
    results.join_thread()
    return objects, seen


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())
    manager = context.Manager()
    objects, dropped = run_child(context, manager, keep_proxy=False)
    print("objects the server keeps after the parent dropped its proxy:", objects)
    print("the child then:", dropped)

# %%
# Why
# ---
# The server counts the proxies alive anywhere and deletes an object when the
# count reaches zero. A proxy normally counts itself (an ``incref`` message)
# when it is built, and uncounts itself when it is garbage collected.
#
# - A ``spawn`` or ``forkserver`` child unpickles its ``Process`` object, with
#   its arguments, while ``multiprocessing.current_process()._inheriting`` is
#   true; ``RebuildProxy`` (in ``multiprocessing/managers.py``) then builds the
#   proxy *without* an ``incref``.
# - Before the target runs, ``BaseProcess._bootstrap`` runs the registered
#   after-fork hooks, and a proxy's hook (``BaseProxy._after_fork``) sends the
#   ``incref``. A ``fork`` child runs it for every proxy it inherited from the
#   parent's memory, a ``forkserver`` child for every proxy it unpickled. But
#   ``SpawnProcess`` overrides ``_after_fork`` to do nothing ("process is
#   spawned, nothing to do"), so a ``spawn`` child's proxy is never counted.
#
# So under ``spawn`` the parent's proxy is the only one the server knows about.
# Under ``fork`` and ``forkserver`` the child is safe only once it has
# registered: a parent that drops its proxy right after ``start()`` races the
# child's ``incref``, which is why this page waits for the child to start.
# The same holds for a pool's ``initargs``: ``multiprocessing.Pool`` and
# ``ProcessPoolExecutor`` pass them to each worker as ``Process`` arguments.
# (Proxies sent later, as task arguments or over a queue, are unpickled
# normally and counted; :ref:`sphx_glr_gallery_pitfalls_plot_10_not_this_keyerror.py`
# shows the window before that happens.) This is CPython's code in 3.11, 3.12
# and 3.13 alike; since Python 3.14 defaults to ``forkserver`` on Linux, code
# that works there can still fail on macOS and Windows, where ``spawn`` is the
# default.
#
# Fix: the parent keeps its proxy until the child has finished
# ------------------------------------------------------------
# Hold a proxy in the process that starts the children for as long as any of
# them runs: create the shared objects in the parent, keep the names bound, and
# drop them only after ``join()``. A ``with manager:`` block around the
# children's whole life is not enough on its own: it keeps the server running,
# not the object, which the server deletes as soon as no proxy to it is left.

if __name__ == "__main__":
    objects, kept = run_child(context, manager, keep_proxy=True)
    print("objects the server keeps while the parent holds its proxy:", objects)
    print("the child then:", kept)
    manager.shutdown()

# %%
# What happened
# -------------

if __name__ == "__main__":
    reproduced = dropped.startswith("RemoteError ending in KeyError")
    fixed = kept == "appended: ['q1', 'q2']"
    print(f"failure reproduced: {'yes' if reproduced else 'no'} ({dropped})")
    print(f"fix works: {'yes' if fixed else 'no'} (the child {kept})")
    print(
        "depends on the start method: a spawn child never counts the proxies in its "
        "Process arguments (SpawnProcess skips the after-fork hooks that send the "
        "incref), while fork and forkserver children count them before the target runs"
    )
    expected_failure = context.get_start_method() == "spawn"
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        f"A proxy in a {context.get_start_method()} child",
        [
            Observation(
                label="parent dropped its proxy",
                result=dropped.split(":")[0],
                ok=not reproduced,
            ),
            Observation(label="parent kept its proxy", result=kept, ok=fixed),
        ],
    )
    assert reproduced == expected_failure and fixed, (dropped, kept)
