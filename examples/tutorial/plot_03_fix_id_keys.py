"""
Fix 1: key the dict by a stable ``id``
======================================

The report's own fix, and the simplest: key the shared dict by ``user.id``, an
``int``. Ints compare and hash by value, so the server's copy of the key finds
the server's copy of the dict entry. This page runs the report's lookup again,
then the real workload: worker processes take a user's lock and update
``query_times``.
"""

# %%
# The fix as the lines it changes in the report's program (the build computes
# this diff between the report's program and the :ref:`recipe <recipe-key-by-id>`):
#
# .. literalinclude:: /howto/_generated/key_by_id.diff
#    :language: diff

# %%
# The same ``User``, still without ``__eq__``/``__hash__``: it no longer matters.

import multiprocessing
import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor


class User:
    def __init__(self, id, name):
        self.id = id
        self.name = name


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())
    users_list = [User(id=1, name="alice"), User(id=2, name="bob")]

# %%
# The lookup that failed now works
# --------------------------------
# Only the dict's keys change: ``user.id`` instead of ``user``.

if __name__ == "__main__":
    manager = context.Manager()
    query_times = manager.Value("i", 0)
    user_locks = manager.dict({user.id: manager.Lock() for user in users_list})
    print("user_locks", user_locks)
    print(user_locks[users_list[0].id])

# %%
# The workload, in worker processes
# ---------------------------------
# Each query takes its user's lock (found by id, in the worker) and counts the
# query. ``query_times.value += 1`` is a read and then a write, two round trips
# to the server, so it needs a lock of its own; the per-user count is guarded
# by the user's lock.
#
# Each ``user_locks[user_id]`` fetches a new lock proxy, which opens connections
# of its own (:ref:`pitfall 8 <sphx_glr_gallery_pitfalls_plot_08_lock_fetch.py>`
# counts them), and ``mpguide lint`` reports the line (MPG008). It costs time,
# not counts; the tutorial keeps the report's code so that only the keys change.


def handle_query(user_id, user_locks, queries_per_user, query_times, counter_lock):
    with user_locks[user_id]:
        queries_per_user[user_id] += 1
    with counter_lock:
        query_times.value += 1
    return multiprocessing.current_process().name


if __name__ == "__main__":
    queries = [user.id for user in users_list] * 6
    queries_per_user = manager.dict({user.id: 0 for user in users_list})
    counter_lock = manager.Lock()
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        futures = [
            pool.submit(
                handle_query,
                user_id=user_id,
                user_locks=user_locks,
                queries_per_user=queries_per_user,
                query_times=query_times,
                counter_lock=counter_lock,
            )
            for user_id in queries
        ]
        answered_by = Counter(future.result() for future in futures)
    print("query_times:", query_times.value, "for", len(queries), "queries")
    print("queries per user:", dict(queries_per_user))
    print("answered by:", sorted(answered_by))
    assert query_times.value == len(queries)
    assert dict(queries_per_user) == Counter(queries)
    from mpguide.figures import Observation, draw_outcome

    per_user = Counter(queries)
    draw_outcome(
        "Locks keyed by user.id",
        [
            *(
                Observation(
                    label=f"user id {user_id}",
                    result=f"{count} of {per_user[user_id]} counted",
                    ok=count == per_user[user_id],
                    fraction=count / per_user[user_id],
                )
                for user_id, count in queries_per_user.items()
            ),
            Observation(
                label="query_times",
                result=f"{query_times.value} of {len(queries)} counted",
                ok=query_times.value == len(queries),
                fraction=query_times.value / len(queries),
            ),
        ],
    )
    manager.shutdown()

# %%
# Cost: none beyond the dict itself; an ``int`` pickles in a few bytes. The
# catch: you need an id that is unique and does not change, and every caller
# must remember to use it instead of the object. When ``User`` should be the key
# itself, give it value equality (:doc:`plot_04_fix_eq_hash`). Measured costs,
# side by side: :ref:`sphx_glr_gallery_performance_plot_01_costs.py`.
