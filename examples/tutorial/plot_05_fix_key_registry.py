"""
Fix 3: a key registry, for objects without a natural id
=======================================================

Some objects have no id field and no sensible value equality: two users may
share a name, and the object itself is the identity. Give each one a token
from :class:`mpguide.KeyRegistry`, a plain ``int`` that is unique across every
process sharing the registry, and key the shared dict by tokens. Send the token
along with the object wherever the object goes.
"""

# %%
# The fix as the lines it changes in the report's program (the build computes
# this diff between the report's program and the :ref:`recipe <recipe-key-by-token>`):
#
# .. literalinclude:: /howto/_generated/key_by_token.diff
#    :language: diff

# %%
# Users with no id
# ----------------
# Two different users called "sam": neither ``name`` nor anything else tells
# them apart, so only identity does, and identity does not cross processes.

import multiprocessing
import os
import pickle
from collections import Counter
from concurrent.futures import ProcessPoolExecutor

from mpguide import KeyRegistry, UnregisteredObjectError


class User:
    def __init__(self, name):
        self.name = name


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())
    users_list = [User("sam"), User("sam"), User("kim")]

# %%
# Register each user once, where it was created
# ---------------------------------------------
# The registry must come from the context that starts the workers (its counter
# is shared memory). Registering the same object again returns its token.

if __name__ == "__main__":
    registry = KeyRegistry(context)
    tokens = [registry.register(user) for user in users_list]
    print("tokens:", tokens)
    print("again:", [registry.register(user) for user in users_list])

# %%
# A copy is another object, so it has no token. The registry says so clearly
# instead of handing out a second token for the same user:

if __name__ == "__main__":
    copy = pickle.loads(pickle.dumps(users_list[0]))
    try:
        registry.token_of(copy)
    except UnregisteredObjectError as error:
        print("UnregisteredObjectError:", error)

# %%
# The report's lookup, keyed by tokens
# ------------------------------------

if __name__ == "__main__":
    manager = context.Manager()
    user_locks = manager.dict({token: manager.Lock() for token in tokens})
    print("user_locks", user_locks)
    print(user_locks[registry.token_of(users_list[0])])

# %%
# The workload, in worker processes
# ---------------------------------
# Each task gets the token with the user. Workers also create objects of their
# own (a ``Session`` per query) and register them in the shared registry, all
# at once: no token is handed out twice and none is skipped. As on
# :doc:`plot_03_fix_id_keys`, each use fetches the lock again (MPG008).


class Session:
    def __init__(self, user):
        self.user = user


def share_registry(shared):
    global registry
    registry = shared


def handle_query(token, user, user_locks, queries_per_user, query_times, counter_lock):
    with user_locks[token]:
        queries_per_user[token] += 1
    with counter_lock:
        query_times.value += 1
    return registry.register(Session(user))


if __name__ == "__main__":
    query_times = manager.Value("i", 0)
    counter_lock = manager.Lock()
    queries_per_user = manager.dict({token: 0 for token in tokens})
    queries = list(zip(tokens, users_list, strict=True)) * 6
    with ProcessPoolExecutor(
        max_workers=2,
        mp_context=context,
        initializer=share_registry,
        initargs=(registry,),
    ) as pool:
        futures = [
            pool.submit(
                handle_query,
                token=token,
                user=user,
                user_locks=user_locks,
                queries_per_user=queries_per_user,
                query_times=query_times,
                counter_lock=counter_lock,
            )
            for token, user in queries
        ]
        session_tokens = sorted(future.result() for future in futures)
    print("query_times:", query_times.value, "for", len(queries), "queries")
    print("queries per user:", dict(queries_per_user))
    print("session tokens:", session_tokens)
    assert query_times.value == len(queries)
    assert dict(queries_per_user) == Counter(token for token, _ in queries)
    assert session_tokens == list(
        range(len(users_list) + 1, len(users_list) + 1 + len(queries))
    )
    from mpguide.figures import Observation, draw_outcome

    per_token = Counter(token for token, _ in queries)
    draw_outcome(
        "Locks keyed by registry token",
        [
            *(
                Observation(
                    label=f"token {token}",
                    result=f"{count} of {per_token[token]} counted",
                    ok=count == per_token[token],
                    fraction=count / per_token[token],
                )
                for token, count in queries_per_user.items()
            ),
            Observation(
                label="new sessions",
                result=f"{len(set(session_tokens))} distinct tokens",
                ok=len(set(session_tokens)) == len(queries),
            ),
        ],
    )
    manager.shutdown()

# %%
# Cost: one shared-memory counter increment per *new* object; lookups are as
# cheap as ``int`` keys. The catch: the token must travel with the object, and
# the registry keeps every registered object alive until you call
# :meth:`~mpguide.KeyRegistry.forget`. Measured: a token lookup against an
# ``int`` key on :ref:`sphx_glr_gallery_performance_plot_01_costs.py`.
