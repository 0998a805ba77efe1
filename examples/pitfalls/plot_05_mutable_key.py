"""
Pitfall 5: a key whose hash changes after it went in
====================================================

A key hashed from a field you can still change (``@dataclass(unsafe_hash=True)``
is the usual way to get one) breaks any dict once the field changes. With a
Manager dict it breaks differently: the server holds its own copy of the key,
which did not change, so the entry silently answers to the *old* value and no
longer to your object. The fix is a key that cannot change:
``@dataclass(frozen=True)``, and a new key (with the entry moved) when the
identifying field really changes.
"""

# %%
# Why it happens: :doc:`/explanation/copies-not-references`.

# %%
# Reproduce
# ---------
# A user is renamed after being used as a key, in a local dict and in a Manager
# dict.

import dataclasses
import multiprocessing
import os


@dataclasses.dataclass(unsafe_hash=True)
class User:
    name: str


@dataclasses.dataclass(frozen=True)
class FrozenUser:
    name: str


def lookups(mapping, user_class):
    """Whether ``mapping`` finds a user named "alicia", and one named "alice"."""
    return user_class("alicia") in mapping, user_class("alice") in mapping


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())
    manager = context.Manager()

    user = User("alice")
    local = {user: "alice's lock"}
    shared = manager.dict({user: "alice's lock"})
    user.name = "alicia"  # renamed, after going in as a key

    print("local dict keys:", list(local.keys()))
    print("manager dict keys:", list(shared.keys()))
    local_found = lookups(local, User)
    shared_found = lookups(shared, User)
    print("local dict finds (User('alicia'), User('alice')):", local_found)
    print("manager dict finds (User('alicia'), User('alice')):", shared_found)

# %%
# Why
# ---
# A dict files a key in the slot of the hash it had when it went in.
#
# - The local dict holds *your* object, now named "alicia", in the slot of
#   "alice": a lookup of "alicia" looks in another slot; a lookup of "alice"
#   finds the slot, but the key there no longer equals it. No value reaches
#   the entry. (The renamed object itself sometimes still does, by luck: when
#   "alicia" happens to probe the same slot, identity is checked first.)
# - The Manager dict holds a *copy* made when it was sent, still "alice". The
#   entry still answers to "alice", not to the renamed user: your process and
#   the server disagree, and nothing says so.

# %%
# Fix: a key that cannot change
# -----------------------------
# A frozen dataclass refuses the assignment. When the identifying field does
# change, make a new key and move the entry, which ``pop`` and a set do.

if __name__ == "__main__":
    frozen = FrozenUser("alice")
    shared = manager.dict({frozen: "alice's lock"})
    try:
        frozen.name = "alicia"
        refused = False
    except dataclasses.FrozenInstanceError as error:
        refused = True
        print("FrozenInstanceError:", error)
    renamed = dataclasses.replace(frozen, name="alicia")
    shared[renamed] = shared.pop(frozen)
    moved = lookups(shared, FrozenUser)
    print(
        "after moving the entry, finds (FrozenUser('alicia'), FrozenUser('alice')):", moved
    )
    manager.shutdown()

# %%
# What happened
# -------------

if __name__ == "__main__":
    reproduced = local_found == (False, False) and shared_found == (False, True)
    fixed = refused and moved == (True, False)
    print(
        f"failure reproduced: {'yes' if reproduced else 'no'} (the local entry "
        "answers to no name; the Manager's to the old name only)"
    )
    print(f"fix works: {'yes' if fixed else 'no'} (frozen key refused the change)")
    from mpguide.figures import Observation, draw_outcome

    yes_no = {True: "yes", False: "no"}
    draw_outcome(
        "A key renamed after it went in",
        [
            Observation(
                label="dict: found as the new name?",
                result=yes_no[local_found[0]],
                ok=local_found[0],
            ),
            Observation(
                label="manager.dict: found as the new name?",
                result=yes_no[shared_found[0]],
                ok=shared_found[0],
            ),
            Observation(
                label="frozen key: rename refused?", result=yes_no[refused], ok=refused
            ),
        ],
    )
    assert reproduced and fixed
