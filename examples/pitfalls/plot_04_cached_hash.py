"""
Pitfall 4: a hash stored on the instance travels with every copy
================================================================

Caching a key's hash on the instance looks harmless: the hash of an immutable
object never changes. But pickling copies the cache, so every copy carries the
hash computed by *the process that first hashed it*, while an equal key made in
a worker, never hashed there, arrives bare and is hashed by the Manager's
server with the server's salt. Two equal keys, two slots of the server's dict:
``KeyError``. A hash computed from ``id()`` fails the same way, under
every start method. The fix is to compute the hash on every call, from the
fields ``__eq__`` compares.
"""

# %%
# Why it happens: :doc:`/explanation/copies-not-references`.

# %%
# Reproduce
# ---------
# The parent fills the dict; workers build their own ``User("alice")``, as a
# worker that loads users from a database or a request would, and look it up.

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor


class CachedHashUser:
    def __init__(self, name):
        self.name = name

    def __eq__(self, other):
        return isinstance(other, type(self)) and other.name == self.name

    def __hash__(self):
        if "_hash" not in self.__dict__:  # computed once, then pickled along
            self._hash = hash(self.name)
        return self._hash


class AddressHashUser(CachedHashUser):
    def __hash__(self):
        return id(self)


class User(CachedHashUser):
    def __hash__(self):
        return hash(self.name)  # computed in the process that asks, every time


def queries_of(queries, user_class, name):
    """In a worker: look up a user built here, not received from the parent."""
    try:
        return queries[user_class(name)]
    except KeyError:
        return "KeyError"


def look_up_everyone(manager, pool, user_class):
    names = ["alice", "bob", "carol"]
    queries = manager.dict({user_class(name): 0 for name in names})
    answers = [
        pool.submit(queries_of, queries=queries, user_class=user_class, name=n).result()
        for n in names
    ]
    print(f"{user_class.__name__}: workers got {answers}")
    return answers.count("KeyError")


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    method = context.get_start_method()
    print("start method:", method)
    manager = context.Manager()
    pool = ProcessPoolExecutor(max_workers=2, mp_context=context)
    cached_failures = look_up_everyone(
        manager=manager, pool=pool, user_class=CachedHashUser
    )

# %%
# Why
# ---
# The dict's keys were hashed in the parent when the local dict was built, so
# each carries the parent's ``hash("alice")`` into the server. The worker's
# ``CachedHashUser("alice")`` is never hashed in the worker: pickling does not
# call ``__hash__``, so the key arrives without a cache, and the server computes
# its hash, with the *server's* salt, and caches it. The lookup compares the
# parent's number with the server's. Under ``fork`` the server is a copy of the
# parent, salt included, so they agree: by inheritance, not by luck. Under
# ``spawn`` and ``forkserver`` the server is (a fork of) a fresh interpreter
# with a salt of its own, so they do not.
#
# Shown directly: a key stored without being hashed first keeps no cache on its
# way out, and comes back from the server carrying the hash the server
# computed.

if __name__ == "__main__":
    seed = os.environ.get("PYTHONHASHSEED")
    salt_shared = seed not in (None, "random")
    if salt_shared:
        print(f"failure hidden: PYTHONHASHSEED is set to {seed}: one salt everywhere")
    unhashed = CachedHashUser("dave")
    stored = manager.dict()
    stored[unhashed] = 0
    print("pickling the key cached a hash on it:", "_hash" in unhashed.__dict__)
    (server_key,) = stored.keys()
    same_salt = server_key._hash == hash("dave")
    print("the server's cached hash equals this process's hash('dave'):", same_salt)
    print(
        "depends on the start method: a fork server inherits the parent's hash salt, "
        "so the hashes it computes match the ones the parent cached; spawn and "
        "forkserver servers have a salt of their own"
    )

# %%
# The same failure from ``id()``
# ------------------------------
# A hash from the object's address (``AddressHashUser``, defined with the
# others at the top: a ``fork`` server only knows the classes that existed when
# it was forked) differs between any two copies, in any process, under every
# start method: even the parent cannot find its own key.

if __name__ == "__main__":
    alice = AddressHashUser("alice")
    queries = manager.dict({alice: 0})
    try:
        queries[alice]
        address_failure = False
    except KeyError:
        address_failure = True
    print("AddressHashUser: the parent's own key raises KeyError:", address_failure)

# %%
# Fix: compute the hash when asked
# --------------------------------
# ``User.__hash__`` returns ``hash(self.name)`` on every call. The server
# hashes both the stored key and the looked-up key itself, with its own salt,
# so they always agree. :func:`mpguide.check_key` flags a cached hash before it
# bites (see :ref:`sphx_glr_gallery_library_plot_01_check_key.py`).

if __name__ == "__main__":
    fixed_failures = look_up_everyone(manager=manager, pool=pool, user_class=User)
    pool.shutdown()
    manager.shutdown()

# %%
# What happened
# -------------

if __name__ == "__main__":
    hidden_by = f"; PYTHONHASHSEED={seed} hides it" if salt_shared else ""
    print(
        f"failure reproduced: {'yes' if cached_failures else 'no'} "
        f"({cached_failures} of 3 lookups raised KeyError{hidden_by})"
    )
    print(
        f"fix works: {'yes' if fixed_failures == 0 else 'no'} "
        f"({3 - fixed_failures} of 3 lookups found)"
    )
    from mpguide.figures import Observation, draw_outcome

    lookups = 3  # look_up_everyone asks for the three users
    draw_outcome(
        f"Lookups in a {method} worker",
        [
            Observation(
                label="hash cached on the instance",
                result=f"found {lookups - cached_failures} of {lookups}",
                ok=cached_failures == 0,
                fraction=(lookups - cached_failures) / lookups,
            ),
            Observation(
                label="hash computed on each call",
                result=f"found {lookups - fixed_failures} of {lookups}",
                ok=fixed_failures == 0,
                fraction=(lookups - fixed_failures) / lookups,
            ),
        ],
    )
    assert fixed_failures == 0 and address_failure
    salts_differ = method != "fork" and not salt_shared
    assert (cached_failures > 0) == salts_differ == (not same_salt)
    assert "_hash" not in unhashed.__dict__
