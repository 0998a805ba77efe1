"""
Pitfall 1: changing a value inside a managed dict is silently lost
==================================================================

``queries["alice"].append(q)`` on a Manager dict raises nothing and changes
nothing: ``queries["alice"]`` is a method call on the proxy that returns a
*copy* of the list, and the append changes the copy. The same goes for
``stats["alice"]["count"] += 1``. Two fixes: write the value back (under a lock
when several processes do it), or store Manager containers inside the dict, so
that the inner value is a proxy too.
"""

# %%
# Reproduce
# ---------
# The parent appends once and increments once; four worker tasks append one
# query each. Nothing sticks.

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor


def record_query(queries, user, query):
    queries[user].append(query)  # appends to a copy, which is then dropped


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())
    manager = context.Manager()
    queries = manager.dict({"alice": []})
    stats = manager.dict({"alice": {"count": 0}})

    queries["alice"].append("q0")
    stats["alice"]["count"] += 1
    print('after queries["alice"].append("q0"):', queries["alice"])
    print('after stats["alice"]["count"] += 1:', stats["alice"])

    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        jobs = [
            pool.submit(record_query, queries=queries, user="alice", query=f"q{n}")
            for n in range(1, 5)
        ]
        for job in jobs:
            job.result()
    lost_kept = len(queries["alice"])
    print("after 4 worker appends:", queries["alice"])

# %%
# Why
# ---
# ``queries["alice"]`` sends ``__getitem__`` to the server, which pickles the
# list it holds and returns it (a ``#RETURN`` message). What arrives is a new,
# ordinary ``list`` with no link back to the server: ``append`` works on it, and
# it is garbage a line later. ``stats["alice"]["count"] += 1`` is a
# ``__getitem__`` on the proxy, then a ``__setitem__`` on that local copy.
# Nothing fails, so nothing tells you. (See :doc:`/explanation/how-a-manager-works`.)

if __name__ == "__main__":
    copy = queries["alice"]
    print("type of queries['alice']:", type(copy).__name__)
    print("a second fetch is another copy:", copy is not queries["alice"])

# %%
# Fix 1: write the value back, under a lock
# -----------------------------------------
# Fetch, change, assign. With several processes this is a read-modify-write,
# so it needs a lock (pitfall 2 shows what happens without one).


def record_query_reassign(queries, lock, user, query):
    with lock:
        items = queries[user]
        items.append(query)
        queries[user] = items


if __name__ == "__main__":
    queries = manager.dict({"alice": []})
    lock = manager.Lock()
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        jobs = [
            pool.submit(
                record_query_reassign,
                queries=queries,
                lock=lock,
                user="alice",
                query=f"q{n}",
            )
            for n in range(1, 5)
        ]
        for job in jobs:
            job.result()
    reassigned = sorted(queries["alice"])
    print("write back under a lock:", reassigned)

# %%
# Fix 2: nested Manager containers
# --------------------------------
# Store a ``manager.list()`` in the dict. The server's dict then holds a proxy,
# and ``queries["alice"]`` returns a copy *of the proxy*, which still talks to
# the same list in the server: ``append`` is one call there, a single C call
# on a built-in list that no other server thread interrupts, so no lock is
# needed (a method of your own that reads and then writes would need one:
# :doc:`plot_02_value_race`). The cost: one more proxy per value, a round trip
# per operation, two connections per fetch of the inner proxy
# (:doc:`plot_08_lock_fetch`), and a list stored this way stays in the server
# until it shuts down (:doc:`/explanation/how-a-manager-works`).

if __name__ == "__main__":
    queries = manager.dict({"alice": manager.list()})
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        jobs = [
            pool.submit(record_query, queries=queries, user="alice", query=f"q{n}")
            for n in range(1, 5)
        ]
        for job in jobs:
            job.result()
    print("type of queries['alice']:", type(queries["alice"]).__name__)
    nested = sorted(queries["alice"])
    print("nested manager list:", nested)
    manager.shutdown()

# %%
# ``python -m mpguide lint`` finds the lost append without running it (rule MPG005,
# :doc:`/reference/lint`), and prints nothing for the write-back:

from mpguide.lint import lint_snippet

BROKEN = """\
import multiprocessing

if __name__ == "__main__":
    queries = multiprocessing.Manager().dict({"alice": []})
    queries["alice"].append("q0")
"""
FIXED = """\
import multiprocessing

if __name__ == "__main__":
    queries = multiprocessing.Manager().dict({"alice": []})
    items = queries["alice"]
    items.append("q0")
    queries["alice"] = items
"""

if __name__ == "__main__":
    lint_broken, lint_fixed = lint_snippet(BROKEN), lint_snippet(FIXED)
    print(*lint_broken, sep="\n")
    print("for the fix:", lint_fixed or "nothing")
    assert len(lint_broken) == 1 and all(" MPG005 " in line for line in lint_broken)
    assert lint_fixed == []

# %%
# What happened
# -------------

if __name__ == "__main__":
    expected = ["q1", "q2", "q3", "q4"]
    reproduced = lost_kept == 0
    fixed = reassigned == expected and nested == expected
    print(
        f"failure reproduced: {'yes' if reproduced else 'no'} (4 appends, {lost_kept} kept)"
    )
    print(f"fix works: {'yes' if fixed else 'no'} (write-back and nested list kept 4 of 4)")
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        "Appending inside a managed dict",
        [
            Observation(
                label="d[key].append(...)",
                result=f"kept {lost_kept} of {len(expected)}",
                ok=lost_kept == len(expected),
                fraction=lost_kept / len(expected),
            ),
            Observation(
                label="append, then write the list back",
                result=f"kept {len(reassigned)} of {len(expected)}",
                ok=reassigned == expected,
                fraction=len(reassigned) / len(expected),
            ),
            Observation(
                label="a nested manager.list()",
                result=f"kept {len(nested)} of {len(expected)}",
                ok=nested == expected,
                fraction=len(nested) / len(expected),
            ),
        ],
    )
    assert reproduced and fixed
