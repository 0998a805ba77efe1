"""
Pitfall 7: ``==``, ``is`` and ``repr`` on proxies and on what they return
=========================================================================

A proxy is not the object it stands for, and what a proxy returns is a copy.
So ``manager.list([1]) == [1]`` is ``False``, ``d["k"] is d["k"]`` is
``False`` even for the same value, and ``print(proxy)`` shows the referent's ``repr``
while ``repr(proxy)`` shows the proxy. Compare *values*, fetched as copies
(``shared[:]``, ``proxy.copy()``: one message each), never proxies or
identities.
"""

# %%
# Why it happens: :doc:`/explanation/how-a-manager-works`: a :term:`proxy`
# is not its :term:`referent`.

# %%
# Reproduce
# ---------

import multiprocessing
import os

if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())
    manager = context.Manager()
    shared = manager.list([1])
    queries = manager.dict({"alice": ["q1"]})

    list_equal = shared == [1]
    print("manager.list([1]) == [1]:", list_equal)
    print("two proxies of equal lists are equal:", manager.list([1]) == manager.list([1]))
    same_object = queries["alice"] is queries["alice"]
    print('queries["alice"] is queries["alice"]:', same_object)
    print('queries["alice"] == queries["alice"]:', queries["alice"] == queries["alice"])
    print("str(shared): ", str(shared))
    print("repr(shared):", repr(shared))

# %%
# Why
# ---
# - A ``ListProxy`` forwards a fixed set of methods to the server (``append``,
#   ``__getitem__``, ``__len__``...) but not ``__eq__``, so ``==`` falls back to
#   ``object.__eq__``: identity. A proxy equals only itself.
# - ``queries["alice"]`` is a call that returns a freshly unpickled list each
#   time: equal values, different objects. ``is`` and ``id()`` say nothing
#   across a process boundary.
# - ``str()`` of a proxy asks the server for the referent's ``__repr__``
#   (:class:`~multiprocessing.managers.BaseProxy` forwards ``__str__`` as
#   ``_callmethod("__repr__")``), so a referent's own ``__str__`` is never
#   used; ``repr()`` describes the proxy itself (its type, its referent's
#   typeid and its address). Recorded below.

# %%
# Fix: compare copies of the values
# ---------------------------------
# A copy of the whole value compares as a value. How many messages a copy costs
# depends on how you ask for it. ``shared[:]`` is one ``__getitem__`` with a
# slice, and ``queries.copy()`` one ``copy``. ``list(shared)`` and
# ``dict(queries)`` build the copy on your side, message by message: a
# ``ListProxy`` forwards no ``__iter__``, so ``list()`` asks ``__len__`` (a
# size hint) and then ``__getitem__`` for index 0, 1, 2... until one raises
# ``IndexError``; ``dict()`` asks ``keys()`` and then ``__getitem__`` for each
# key. Wrapping a proxy's ``_callmethod`` records the messages it sends.


def messages_sent(proxy, action):
    """Run ``action()``; return the method names ``proxy`` sent to the server."""
    sent = []
    call_server = proxy._callmethod

    def recording_callmethod(methodname, args=(), kwds=None):
        sent.append(methodname)
        return call_server(methodname, args, kwds or {})

    proxy._callmethod = recording_callmethod
    try:
        action()
    finally:
        del proxy._callmethod
    return sent


if __name__ == "__main__":
    print("str(shared) sends:", messages_sent(shared, lambda: str(shared)))
    users = manager.list(["alice", "bob", "carol"])
    profiles = manager.dict({"alice": 1, "bob": 2, "carol": 3})
    for name, proxy, copy in [
        ("users[:]", users, lambda: users[:]),
        ("list(users)", users, lambda: list(users)),
        ("profiles.copy()", profiles, profiles.copy),
        ("dict(profiles)", profiles, lambda: dict(profiles)),
    ]:
        sent = messages_sent(proxy, copy)
        print(f"{name}: {len(sent)} round trips {sent}")
    copy_equal = shared[:] == [1] and list(shared) == [1]
    print("shared[:] == [1] and list(shared) == [1]:", copy_equal)
    dict_equal = queries.copy() == {"alice": ["q1"]}
    print('queries.copy() == {"alice": ["q1"]}:', dict_equal)

# %%
# A copy built message by message is not a snapshot: another process can
# change the dict between ``keys()`` and a ``__getitem__``. Here the page
# deletes ``"bob"`` itself at that moment, through the same server, as another
# process could. ``profiles.copy()`` is one message, a single C call in the
# server, so nothing can fall inside it.


def delete_bob_after_keys(methodname, args=(), kwds=None):
    answer = type(profiles)._callmethod(profiles, methodname, args, kwds or {})
    if methodname == "keys":
        type(profiles)._callmethod(profiles, "__delitem__", ("bob",))
    return answer


if __name__ == "__main__":
    profiles._callmethod = delete_bob_after_keys
    try:
        dict(profiles)
        print("dict(profiles) with bob deleted after keys(): no error")
    except KeyError as error:
        print("dict(profiles) with bob deleted after keys():", repr(error))
    finally:
        del profiles._callmethod
    print("profiles.copy() afterwards:", profiles.copy())
    manager.shutdown()

# %%
# What happened
# -------------

if __name__ == "__main__":
    reproduced = not list_equal and not same_object
    fixed = copy_equal and dict_equal
    print(
        f"failure reproduced: {'yes' if reproduced else 'no'} "
        "(manager.list([1]) == [1] is False)"
    )
    print(f"fix works: {'yes' if fixed else 'no'} (copies compare as values)")
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        "Comparing proxies",
        [
            Observation(
                label="manager.list([1]) == [1]", result=str(list_equal), ok=list_equal
            ),
            Observation(
                label="queries['alice'] is queries['alice']",
                result=str(same_object),
                ok=same_object,
            ),
            Observation(
                label="shared[:] == [1], copies", result=str(copy_equal), ok=copy_equal
            ),
            Observation(
                label="queries.copy() == {...}",
                result=str(dict_equal),
                ok=dict_equal,
            ),
        ],
    )
    assert reproduced and fixed
