"""
Why the key is not found
========================

The ``KeyError`` is exact, not a fluke of "references that may change". A
Manager keeps the dict in a separate server process. The dict, and every key
you pass to the proxy, reaches that process as a pickled *copy*, and a ``User``
without ``__eq__``/``__hash__`` is equal only to itself. This page shows each
step by running it, with a ``User`` whose copies remember where they came from.
"""

# %%
# A ``User`` that leaves a trail
# ------------------------------
# The same ``User`` as in :doc:`plot_01_reproduce`, plus a ``__getstate__``,
# which pickle calls to make a copy. It records the process and address of the
# object being copied, so each copy carries its family tree. Equality and
# hashing are untouched: they are still ``object``'s.

import multiprocessing
import os
import pickle
import struct

from mpguide.figures import Hop, draw_round_trip


class User:
    def __init__(self, id, name):
        self.id = id
        self.name = name

    def __getstate__(self):
        here = (multiprocessing.current_process().name, hex(id(self)))
        return {**self.__dict__, "trail": (*self.__dict__.get("trail", ()), here)}


def where(user):
    """The copies that led to ``user``, oldest first, and ``user`` itself."""
    here = (multiprocessing.current_process().name, hex(id(user)))
    trail = (*getattr(user, "trail", ()), here)
    return " -> ".join(f"{address} in {process}" for process, address in trail)


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())

# %%
# Step 1: equality and hashing come from ``object``
# -------------------------------------------------
# ``User`` inherits ``object.__eq__``, which compares identity (``a is b``), and
# ``object.__hash__``, which is derived from the object's address. A pickled
# copy has the same data but is a new object, so it is neither equal to the
# original nor hashes like it. No process is involved yet.

if __name__ == "__main__":
    alice = User(id=1, name="alice")
    copy = pickle.loads(pickle.dumps(alice))
    print("User.__eq__ is object.__eq__:    ", User.__eq__ is object.__eq__)
    print("User.__hash__ is object.__hash__:", User.__hash__ is object.__hash__)
    print("same data:", (copy.id, copy.name) == (alice.id, alice.name))
    print("copy == alice:", copy == alice)
    print("hash(copy) == hash(alice):", hash(copy) == hash(alice))
    print("copy:", where(copy))

# %%
# In CPython the identity hash is literally the address *rotated* right by four
# bits: the low four bits move to the top (CPython's pointer hash; an
# implementation detail, shown here only to make "derived from the address"
# concrete). Objects are 16-byte aligned, so those four bits are zero and the
# rotation comes out equal to a plain shift:

if __name__ == "__main__":
    address, bits = id(alice), 8 * struct.calcsize("P")
    rotated = ((address >> 4) | (address << (bits - 4))) % 2**bits
    signed = rotated - 2**bits if rotated >= 2 ** (bits - 1) else rotated
    print("id(alice) % 16:", address % 16)
    print("hash(alice) == id(alice) rotated right by 4 bits:", hash(alice) == signed)
    print("hash(alice) == id(alice) >> 4:", hash(alice) == address >> 4)

# %%
# Step 2: the dict lives in another process
# -----------------------------------------
# Starting a manager starts a server process. ``manager.dict(...)`` pickles the
# whole dict, keys included, and sends it there; the server unpickles new
# ``User`` objects. Printing the proxy asks the server for the dict's ``repr``,
# so the addresses printed are the server's. Under ``spawn`` and ``forkserver``
# the server imported this file as ``__mp_main__``, so its keys read
# ``__mp_main__.User``; under ``fork`` it is a copy of this process and they
# read ``__main__.User``. Either way, they are other objects than
# ``users_list``'s.

if __name__ == "__main__":
    manager = context.Manager()
    print("children:", multiprocessing.active_children())
    users_list = [User(id=1, name="alice"), User(id=2, name="bob")]
    user_locks = manager.dict({user: manager.Lock() for user in users_list})
    print("user_locks", user_locks)
    print("users_list", users_list)

# %%
# ``keys()`` sends the server's keys back to us, pickled once more. Their trails
# show where each came from: our user, then the server's key.

if __name__ == "__main__":
    server_keys = user_locks.keys()
    for key in server_keys:
        print(f"user {key.id}:", where(key))

# %%
# Step 3: every lookup pickles the key again
# ------------------------------------------
# ``user_locks[user]`` does not look anything up here. The proxy's
# ``__getitem__`` calls ``_callmethod("__getitem__", (user,))``, which sends the
# tuple ``(object id, method name, args, kwargs)`` over a connection to the
# server, pickling ``user`` on the way. We wrap ``_callmethod`` on this proxy to
# print what it sends.

if __name__ == "__main__":

    def print_and_send(methodname, args=(), kwds={}):
        print("sends:", (user_locks._id, methodname, args, kwds))
        return type(user_locks)._callmethod(user_locks, methodname, args, kwds)

    user_locks._callmethod = print_and_send

# %%
# Step 4: the server looks up a third object, and its ``KeyError`` travels back
# -----------------------------------------------------------------------------
# The server unpickles the key into a brand-new ``User`` and looks *that* up
# in the dict. It equals none of the keys, so the server raises ``KeyError``,
# pickles the exception (the key inside it too) and sends it back, and the proxy
# re-raises it here. The object the message names is therefore yet another copy,
# made in this process, of the server's copy of our user.

if __name__ == "__main__":
    try:
        user_locks[users_list[0]]
    except KeyError as error:
        lost = error.args[0]
    del user_locks._callmethod
    print("KeyError names:", where(lost))
    print("lost is users_list[0]:", lost is users_list[0])
    print("lost == users_list[0]:", lost == users_list[0])

# %%
# The trail reads: our user; the server's unpickled copy, the one it looked up
# (not the dict's key, whose address step 2 printed); the copy of that copy
# that came back inside the ``KeyError``. Three objects, equal to nothing but
# themselves.
#
# Why the report's addresses look so different
# --------------------------------------------
# The report printed the dict's keys at ``0x000001F7A5A40550`` and the users at
# ``0x0000025AE8A7AB90``. It ran on Windows, where processes always start with
# ``spawn``: the server is a fresh interpreter with its own address space, so its
# objects live at unrelated addresses. Under ``fork`` the server starts as a copy
# of this process and addresses can look alike, but the objects are still
# distinct copies and the lookup fails all the same.
#
# The round trip, as this run saw it
# ----------------------------------
# Each arrow is one pickled copy; each box is an object, with the address this
# build's run observed.

if __name__ == "__main__":
    (_, original), (server, dict_key) = server_keys[0].trail
    _, looked_up = lost.trail[-1]
    here = multiprocessing.current_process().name
    figure = draw_round_trip(
        processes=[here, server],
        hops=[
            Hop(
                source_process=here,
                source_address=original,
                target_process=server,
                target_address=dict_key,
                caption="manager.dict(...)",
                source_role="users_list[0]",
                target_role="dict key",
            ),
            Hop(
                source_process=here,
                source_address=original,
                target_process=server,
                target_address=looked_up,
                caption="user_locks[user]",
                source_role="users_list[0]",
                target_role="looked up",
            ),
            Hop(
                source_process=server,
                source_address=looked_up,
                target_process=here,
                target_address=hex(id(lost)),
                caption="KeyError sent back",
                source_role="looked up",
                target_role="in the KeyError",
            ),
        ],
        title="users_list[0] and its copies: none equals another",
    )
    manager.shutdown()
    # Each step, as this run found it: equality and hashing are object's, a
    # copy equals nothing, and the server looked up a third object.
    assert User.__eq__ is object.__eq__ and User.__hash__ is object.__hash__
    assert (copy.id, copy.name) == (alice.id, alice.name)
    assert copy != alice and hash(copy) != hash(alice)
    assert address % 16 == 0 and hash(alice) == signed == address >> 4
    assert server.startswith("SyncManager-"), server
    assert [process for process, _ in lost.trail] == ["MainProcess", server]
    assert original == hex(id(users_list[0])) and looked_up != dict_key
    assert lost is not users_list[0] and lost != users_list[0]
    assert not multiprocessing.active_children()

# %%
# Next: fix it, by keying on a stable ``id`` (:doc:`plot_03_fix_id_keys`), by
# giving ``User`` value equality (:doc:`plot_04_fix_eq_hash`), or with a key
# registry (:doc:`plot_05_fix_key_registry`).
