"""
Fix 2: give ``User`` value equality: ``__eq__`` and ``__hash__``
================================================================

Keep the ``User`` objects as keys, and make equal users *equal*: define
``__eq__`` and ``__hash__`` from fields that identify a user. Then a pickled copy
equals its original and hashes the same, in every process. This page shows it
written by hand and as a frozen dataclass, and runs the report's workload in
worker processes with ``User`` keys.
"""

# %%
# The fix as the lines it changes in the report's program (the build computes
# this diff between the report's program and the :ref:`recipe <recipe-key-by-value>`):
#
# .. literalinclude:: /howto/_generated/key_by_value.diff
#    :language: diff

# %%
# The rules
# ---------
# 1. Equal objects must hash equal: build both from the same fields.
# 2. Hash only fields that never change while the object is a key. Here that is
#    ``id``, which is read-only; a user who renames stays the same key.
# 3. Compute the hash when asked, in the process that asks. Never store a hash
#    on the instance: it would be pickled along, and ``hash()`` of a ``str``
#    differs between interpreters, so the server's copy would carry a number
#    that its own ``hash()`` disagrees with
#    (:ref:`sphx_glr_gallery_pitfalls_plot_04_cached_hash.py` shows it happen).

import dataclasses
import multiprocessing
import os
import pickle
from collections import Counter
from concurrent.futures import ProcessPoolExecutor


class User:
    def __init__(self, id, name):
        self._id = id
        self.name = name

    @property
    def id(self):
        return self._id

    def __eq__(self, other):
        if not isinstance(other, User):
            return NotImplemented
        return self.id == other.id

    def __hash__(self):
        return hash(self.id)

    def __repr__(self):
        return f"User({self.id!r}, {self.name!r})"


# %%
# A ``@dataclass(frozen=True)`` writes the same methods for you, from *all*
# fields (here ``id`` and ``name``), and forbids assignment, so the hash cannot
# go stale. Use ``field(compare=False)`` for fields that should not count.


@dataclasses.dataclass(frozen=True)
class FrozenUser:
    id: int
    name: str


# %%
# A copy now equals its original
# ------------------------------

if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())
    for user in (User(id=1, name="alice"), FrozenUser(id=1, name="alice")):
        copy = pickle.loads(pickle.dumps(user))
        print(
            f"{type(user).__name__}: copy is user: {copy is user},",
            f"copy == user: {copy == user}, same hash: {hash(copy) == hash(user)}",
        )

# %%
# ``python -m mpguide lint`` finds the report's key class without running it (rule
# MPG004, :doc:`/reference/lint`), and prints nothing for the frozen dataclass:

from mpguide.lint import lint_snippet

BROKEN = """\
import multiprocessing


class User:
    def __init__(self, id, name):
        self.id = id
        self.name = name


if __name__ == "__main__":
    manager = multiprocessing.Manager()
    users = [User(1, "alice"), User(2, "bob")]
    user_locks = manager.dict({user: manager.Lock() for user in users})
"""
FIXED = """\
import dataclasses
import multiprocessing


@dataclasses.dataclass(frozen=True)
class User:
    id: int
    name: str


if __name__ == "__main__":
    manager = multiprocessing.Manager()
    users = [User(1, "alice"), User(2, "bob")]
    user_locks = manager.dict({user: manager.Lock() for user in users})
"""

if __name__ == "__main__":
    lint_broken, lint_fixed = lint_snippet(BROKEN), lint_snippet(FIXED)
    print(*lint_broken, sep="\n")
    print("for the fix:", lint_fixed or "nothing")
    assert len(lint_broken) == 1 and all(" MPG004 " in line for line in lint_broken)
    assert lint_fixed == []

# %%
# The report's lookup works, with the objects as keys
# ---------------------------------------------------

if __name__ == "__main__":
    manager = context.Manager()
    users_list = [User(id=1, name="alice"), User(id=2, name="bob")]
    frozen_users = [FrozenUser(id=1, name="alice"), FrozenUser(id=2, name="bob")]
    user_locks = manager.dict({user: manager.Lock() for user in users_list})
    frozen_locks = manager.dict({user: manager.Lock() for user in frozen_users})
    print("user_locks", user_locks)
    print(user_locks[users_list[0]])
    print(frozen_locks[frozen_users[0]])
    print(
        "a new User(1, 'alice') finds it too:",
        User(id=1, name="alice") in user_locks,
    )

# %%
# The workload, in worker processes
# ---------------------------------
# Workers receive copies of the users and use them directly as keys. As on
# :doc:`plot_03_fix_id_keys`, each use fetches the lock again (MPG008).


def handle_query(user, user_locks, queries_per_user, query_times, counter_lock):
    with user_locks[user]:
        queries_per_user[user] += 1
    with counter_lock:
        query_times.value += 1
    return multiprocessing.current_process().name


if __name__ == "__main__":
    query_times = manager.Value("i", 0)
    counter_lock = manager.Lock()
    for users, locks in ((users_list, user_locks), (frozen_users, frozen_locks)):
        queries = users * 6
        queries_per_user = manager.dict({user: 0 for user in users})
        with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
            futures = [
                pool.submit(
                    handle_query,
                    user=user,
                    user_locks=locks,
                    queries_per_user=queries_per_user,
                    query_times=query_times,
                    counter_lock=counter_lock,
                )
                for user in queries
            ]
            answered_by = Counter(future.result() for future in futures)
        print(
            f"{type(users[0]).__name__} keys: per user {dict(queries_per_user)},",
            f"answered by {sorted(answered_by)}",
        )
        assert dict(queries_per_user) == Counter(queries)
    print("query_times:", query_times.value)
    assert query_times.value == 2 * len(queries)
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        "Equal users find their lock",
        [
            *(
                Observation(
                    label=f"a new {type(user).__name__}(1, 'alice')",
                    result=f"found: {'yes' if user in locks else 'no'}",
                    ok=user in locks,
                )
                for user, locks in (
                    (User(id=1, name="alice"), user_locks),
                    (FrozenUser(id=1, name="alice"), frozen_locks),
                )
            ),
            Observation(
                label="query_times",
                result=f"{query_times.value} of {2 * len(queries)} counted",
                ok=query_times.value == 2 * len(queries),
                fraction=query_times.value / (2 * len(queries)),
            ),
        ],
    )
    manager.shutdown()

# %%
# Cost: every lookup pickles the whole object (all its fields) instead of one
# ``int``, and hashes it in the server. The catch: the rules above are yours to
# keep. A mutable field in the hash, or a hash cached on the instance, brings
# the ``KeyError`` back, this time silently and only sometimes. Measured: a
# frozen dataclass key against an ``int`` key on
# :ref:`sphx_glr_gallery_performance_plot_01_costs.py`.
