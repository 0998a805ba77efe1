"""
Pitfall 9: the Manager stops while workers still hold proxies
=============================================================

A proxy is a connection to the Manager's server. If the server stops (the
``with manager:`` block ended, ``manager.shutdown()`` ran, or the manager object
was garbage collected) while workers still use proxies, the workers get
connection errors that do not mention the Manager: ``BrokenPipeError``,
``EOFError``, ``ConnectionRefusedError`` or ``FileNotFoundError`` (raised
while handling ``AttributeError: 'ForkAwareLocal' object has no attribute
'connection'``, as the :doc:`error index </reference/errors>` shows), depending
on the platform and on whether the proxy had connected yet. The fix is structural:
the workers' pool ends inside the Manager's lifetime, and the parent waits for
every result.
"""

# %%
# Why it happens: :doc:`/explanation/how-a-manager-works`: every proxy talks
# to the :term:`Manager server`.
#
# The messages as the build produced them: :ref:`error-broken-pipe`,
# :ref:`error-file-not-found`, :ref:`error-forkawarelocal`.

# %%
# Reproduce
# ---------
# Two workers receive a proxy; one has already used it (its connection is
# open), one has not. The parent then shuts the Manager down and lets them
# continue.

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor


def use_after_shutdown(queries, warm, ready, go, results):
    if warm:
        queries["warm"] = 1  # opens this worker's connection to the server
    ready.release()
    go.wait()
    try:
        queries["alice"] = 1
        results.put((warm, "ok"))
    except Exception as error:  # what a worker sees, reported to the parent
        results.put((warm, f"{type(error).__name__}: {error}"))


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())
    manager = context.Manager()
    queries = manager.dict()
    ready, go, results = context.Semaphore(0), context.Event(), context.Queue()
    workers = [
        context.Process(target=use_after_shutdown, args=(queries, warm, ready, go, results))
        for warm in (True, False)
    ]
    for worker in workers:
        worker.start()
    for _ in workers:
        ready.acquire()
    manager.shutdown()  # the server stops while both workers hold proxies
    go.set()
    seen = dict(results.get(timeout=60) for _ in workers)
    for worker in workers:
        worker.join(timeout=60)
    print("a worker that had connected:", seen[True])
    print("a worker that had not:      ", seen[False])

# %%
# Why
# ---
# A connected proxy finds its socket closed by the server: writing raises
# ``BrokenPipeError``, reading raises ``EOFError``. A proxy that connects
# afterwards finds nobody at the address: ``ConnectionRefusedError``, or on
# Linux, where the address is a Unix socket file the server removed,
# ``FileNotFoundError``. None of these say "the Manager is gone".
#
# Fix: nest the lifetimes
# -----------------------
# Start the Manager first and stop it last; end the pool inside it; call
# ``result()`` on every job so that a worker's error surfaces before the
# Manager goes away.


def record_query(queries, user):
    queries[user] = queries.get(user, 0) + 1
    return user


if __name__ == "__main__":
    with context.Manager() as manager:  # stops last
        queries = manager.dict()
        with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:  # ends first
            jobs = [pool.submit(record_query, queries, user) for user in ("alice", "bob")]
            for job in jobs:
                job.result()  # every worker has finished its work
        final = dict(queries)
    print("recorded:", final)

# %%
# What happened
# -------------

if __name__ == "__main__":
    connection_errors = (
        "BrokenPipeError",
        "EOFError",
        "ConnectionRefusedError",
        "ConnectionResetError",
        "FileNotFoundError",
    )
    reproduced = all(outcome.startswith(connection_errors) for outcome in seen.values())
    fixed = final == {"alice": 1, "bob": 1}
    errors = sorted({outcome.split(":")[0] for outcome in seen.values()})
    print(f"failure reproduced: {'yes' if reproduced else 'no'} ({', '.join(errors)})")
    print(f"fix works: {'yes' if fixed else 'no'} (both queries recorded)")
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        "Workers after the Manager stopped",
        [
            Observation(
                label="had connected",
                result=seen[True].split(":")[0],
                ok=not reproduced,
            ),
            Observation(
                label="had not connected",
                result=seen[False].split(":")[0],
                ok=not reproduced,
            ),
            Observation(
                label="shutdown after join()",
                result=f"recorded {len(final)} queries",
                ok=fixed,
            ),
        ],
    )
    assert reproduced and fixed
