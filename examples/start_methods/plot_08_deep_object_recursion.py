"""
A deeply linked argument: "maximum recursion depth exceeded while pickling an object"
=====================================================================================

A worker gets a long linked list (or a deep tree, a graph of objects that
point to each other) as its argument, and the call fails with ``RecursionError:
maximum recursion depth exceeded while pickling an object``, before the worker
starts. The same code may work with ``Process`` under ``fork`` and fail under
``spawn`` (macOS, Windows) or in any ``Pool``. This page reproduces it, measures
how deep an object can be on each CPython (3.12 changed the limit, and made
``sys.setrecursionlimit`` useless for it), shows what raising the limit risks,
and fixes it by pickling the structure flat.
"""

# %%
# Reproduce
# ---------
# ``chain(values)`` links one ``Node`` per value; the worker walks the chain
# and counts it. The list has ``NODES`` nodes: one ``Pool.apply_async`` call,
# and one ``Process`` with the list as its argument.

import multiprocessing
import os
import signal
import sys
from multiprocessing.reduction import ForkingPickler

NODES = 20_000
WAIT = 60  # seconds: a bound that a working run never reaches


class Node:
    def __init__(self, value, next_node=None):
        self.value = value
        self.next_node = next_node


def chain(values, node_type=Node):
    """Link the values, first value first."""
    head = None
    for value in reversed(values):
        head = node_type(value, head)
    return head


def values_of(head):
    """The chain's values, walked in a loop (no recursion)."""
    values = []
    while head is not None:
        values.append(head.value)
        head = head.next_node
    return values


def count_nodes(head):
    return len(values_of(head))


def report_count(head, results):
    results.put(count_nodes(head))


def error_line(error):
    return f"{type(error).__name__}: {error}"


def in_a_pool(context, head):
    with context.Pool(1) as pool:
        try:
            return f"{pool.apply_async(count_nodes, (head,)).get(timeout=WAIT)} nodes"
        except RecursionError as error:
            return error_line(error)


def in_a_process(context, head):
    results = context.Queue()
    worker = context.Process(target=report_count, args=(head, results))
    try:
        worker.start()
    except RecursionError as error:
        outcome = f"start() raised {error_line(error)}"
    else:
        outcome = f"{results.get(timeout=WAIT)} nodes"
        worker.join(WAIT)
    results.close()
    results.join_thread()
    return outcome


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())
    head = chain(list(range(NODES)))
    pool_outcome = in_a_pool(context, head)
    process_outcome = in_a_process(context, head)
    print(f"a Pool task, {NODES} nodes:", pool_outcome)
    print(f"a Process argument, {NODES} nodes:", process_outcome)

# %%
# A ``Pool`` pickles every task, to send it down a pipe to a worker, under
# every start method: its task thread catches the ``RecursionError`` and sets it
# as the task's result (``Pool._handle_tasks`` in ``multiprocessing/pool.py``,
# 3.11 to 3.13), so ``get()`` raises it. A ``Process`` is pickled, with its
# arguments, only when the child is a new interpreter: under ``spawn`` and
# ``forkserver``, ``start()`` pickles it before the child exists
# (``Popen._launch`` in ``popen_spawn_posix.py`` and ``popen_forkserver.py``)
# and raises. Under ``fork`` the child gets a copy of memory and nothing is
# pickled.
#
# How deep is too deep
# --------------------
# The pickler recurses: saving a node saves its ``__dict__``, which saves the
# next node. Each nesting counts against a recursion limit, and which limit
# depends on the version. The page measures the longest chain that pickles,
# with the recursion limit at its default and raised three times.


def deepest_picklable(limit):
    """The longest chain ForkingPickler can pickle with ``limit`` as the
    recursion limit (found by bisection; the limit is then restored)."""
    default = sys.getrecursionlimit()
    sys.setrecursionlimit(limit)
    try:
        shortest_failing, longest_working = NODES, 1
        while shortest_failing - longest_working > 1:
            length = (shortest_failing + longest_working) // 2
            try:
                ForkingPickler.dumps(chain(list(range(length))))
                longest_working = length
            except RecursionError:
                shortest_failing = length
        return longest_working
    finally:
        sys.setrecursionlimit(default)


if __name__ == "__main__":
    default_limit = sys.getrecursionlimit()
    deepest_default = deepest_picklable(default_limit)
    deepest_raised = deepest_picklable(3 * default_limit)
    version = ".".join(map(str, sys.version_info[:3]))
    print(f"Python {version}, recursion limit {default_limit}:", end=" ")
    print(f"the longest chain that pickles has {deepest_default} nodes")
    print(f"with the limit raised to {3 * default_limit}: {deepest_raised} nodes")
    levels_per_node = default_limit / deepest_default
    if sys.version_info < (3, 12):
        print(f"levels of the limit per node: {levels_per_node:.1f}")

# %%
# On 3.11 the pickler counts against the interpreter's recursion limit, the one
# ``sys.setrecursionlimit`` sets, shared with the Python calls already on the
# stack: each node costs about three levels of it (printed above on 3.11), and
# raising the limit lets a longer chain through. Which check trips first, the
# pickler's own or the one on calls it makes, sets the end of the message:
# ``while pickling an object`` or ``while calling a Python object``; both are
# the same error.
#
# From 3.12, C code has a recursion counter of its own, set from a constant
# compiled into the interpreter (``C_RECURSION_LIMIT`` in
# ``Include/cpython/pystate.h``: 1500 in 3.12.0 and 3.12.1; in 3.13.0,
# ``Py_C_RECURSION_LIMIT``, 10000 on Linux and macOS, 3000 on Windows x64), and
# ``sys.setrecursionlimit`` no longer moves it: the two numbers above are equal
# on 3.12 and 3.13, and a chain fits or not whatever the limit. Later 3.12
# releases raised the constant; cpython issue 128590 tracks
# ``setrecursionlimit`` no longer helping ``pickle``.
#
# Raising the limit: the risk
# ---------------------------
# On 3.11 the limit can be raised past what the thread's C stack holds. Then
# nothing raises: the interpreter overflows its stack and dies with ``SIGSEGV``,
# losing the process and everything in it. A child process shows it with a
# limit of a million and a chain of 100,000 nodes.

CRASH_NODES = 100_000
PICKLED, RECURSION_ERROR = 0, 2


def pickle_with_limit(nodes, limit):
    """In a child: pickle a chain of ``nodes`` with ``limit``; the exit code says
    what happened."""
    sys.setrecursionlimit(limit)
    try:
        ForkingPickler.dumps(chain(list(range(nodes))))
    except RecursionError:
        sys.exit(RECURSION_ERROR)


def what_exit_code_means(code):
    if code == PICKLED:
        return "pickled"
    if code == RECURSION_ERROR:
        return "RecursionError"
    return f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"


if __name__ == "__main__":
    child = context.Process(target=pickle_with_limit, args=(CRASH_NODES, 1_000_000))
    child.start()
    child.join(WAIT)
    raised_limit_outcome = what_exit_code_means(child.exitcode)
    print(f"{CRASH_NODES} nodes, recursion limit 1000000:", raised_limit_outcome)

# %%
# Fix: pickle the structure flat
# ------------------------------
# A class can say how it pickles. ``__reduce__`` on the node returns a function
# and its arguments: here ``chain`` and the list of values, which the pickler
# writes in a loop. The worker gets a chain rebuilt by ``chain``. Every node of
# the chain is pickled by the head's ``__reduce__``, so a node's own
# ``__reduce__`` is never called for the others. (What a flat copy loses: other
# references into the middle of the chain. A graph with shared or cyclic links
# needs its own flat form, such as a list of nodes and a list of edges as
# indices.) Sending ``values_of(head)`` and calling ``chain`` in the worker does
# the same without changing the class.


class FlatNode(Node):
    def __reduce__(self):
        return chain, (values_of(self), FlatNode)


if __name__ == "__main__":
    flat_head = chain(list(range(NODES)), FlatNode)
    flat_pool = in_a_pool(context, flat_head)
    flat_process = in_a_process(context, flat_head)
    print(f"FlatNode, a Pool task, {NODES} nodes:", flat_pool)
    print(f"FlatNode, a Process argument, {NODES} nodes:", flat_process)

# %%
# In the error index: :ref:`error-pickling-recursion`.

# %%
# What happened
# -------------

if __name__ == "__main__":
    message = "RecursionError: maximum recursion depth exceeded while "
    new_interpreter = context.get_start_method() != "fork"
    reproduced = pool_outcome.startswith(message)
    print(
        f"failure reproduced: {'yes' if reproduced else 'no'} ({NODES} nodes in a Pool "
        f"task: {pool_outcome}; the longest chain that pickles: {deepest_default} nodes)"
    )
    fixed = flat_pool == flat_process == f"{NODES} nodes"
    print(f"fix works: {'yes' if fixed else 'no'} (FlatNode: {NODES} nodes arrived)")
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        f"Sending a chain of {NODES} nodes",
        [
            Observation(label="a Pool task", result="RecursionError", ok=not reproduced),
            Observation(
                label="a Process argument",
                result="RecursionError" if new_interpreter else "arrived (fork)",
                ok=not new_interpreter,
            ),
            Observation(
                label="longest that pickles", result=f"{deepest_default} nodes", ok=None
            ),
            Observation(label="FlatNode", result=flat_pool, ok=fixed),
        ],
    )
    assert reproduced
    if new_interpreter:
        assert process_outcome.startswith(f"start() raised {message}")
    else:
        assert process_outcome == f"{NODES} nodes"
    if sys.version_info < (3, 12):
        assert deepest_raised > 2 * deepest_default and 2.5 < levels_per_node < 3.5
        assert raised_limit_outcome == "killed by SIGSEGV"
    else:
        assert deepest_raised == deepest_default
        assert raised_limit_outcome == "RecursionError"
    assert fixed
    assert not multiprocessing.active_children()
