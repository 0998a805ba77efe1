"""
Pitfall 7: ``==``, ``is`` and ``repr`` on proxies and on what they return
=========================================================================

A proxy is not the object it stands for, and what a proxy returns is a copy.
So ``manager.list([1]) == [1]`` is ``False``, ``d["k"] is d["k"]`` is
``False`` even for the same value, and ``print(proxy)`` shows the referent
while ``repr(proxy)`` shows the proxy. Compare *values*, fetched as copies,
never proxies or identities.
"""

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
# - ``str()`` of a proxy asks the server for ``str()`` of the referent;
#   ``repr()`` describes the proxy itself (its type, its referent's typeid and
#   its address).

# %%
# Fix: compare copies of the values
# ---------------------------------
# ``shared[:]`` or ``list(shared)`` fetches a copy of the whole list (one round
# trip), and copies compare as values. ``dict(proxy)`` does the same for a
# ``DictProxy``.

if __name__ == "__main__":
    copy_equal = shared[:] == [1] and list(shared) == [1]
    print("shared[:] == [1] and list(shared) == [1]:", copy_equal)
    dict_equal = dict(queries) == {"alice": ["q1"]}
    print('dict(queries) == {"alice": ["q1"]}:', dict_equal)
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
    assert reproduced and fixed
