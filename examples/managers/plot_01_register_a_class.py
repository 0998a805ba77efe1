"""
Serving your own class: ``register``, ``exposed`` and ``method_to_typeid``
==========================================================================

``BaseManager.register("UserStore", UserStore)`` lets a Manager create
``UserStore`` objects in its server and hand out proxies to them. A proxy
forwards method calls only: which ones is ``exposed``; attributes and
properties are not forwarded. A method's return value comes back as a copy,
unless ``method_to_typeid`` says to return a proxy to it instead. This page
shows each, and how to reach an attribute.
"""

# %%
# A class, registered as it is
# ----------------------------
# Without ``exposed``, the proxy (an ``AutoProxy``) forwards every *public
# method*: each attribute of the object that is callable and whose name does
# not start with ``_`` (``public_methods`` in ``multiprocessing/managers.py``).

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.managers import BaseManager, BaseProxy, RemoteError


class UserRecord:
    def __init__(self, name):
        self.name = name
        self.queries = 0

    def add_query(self):
        self.queries += 1

    def summary(self):
        return f"{self.name}: {self.queries} queries"


class UserStore:
    def __init__(self):
        self.size = 0  # a plain attribute
        self._records = {}

    def add(self, name):
        self._records[name] = UserRecord(name)
        self.size += 1

    def names(self):
        return sorted(self._records)

    def record(self, name):
        return self._records[name]

    def get_size(self):
        return self.size

    def _check(self):
        return "private"


class StoreManager(BaseManager):
    pass


StoreManager.register("UserStore", UserStore)


def attempt(call):
    """What a call returns, or the error it raises, as text."""
    try:
        return repr(call())
    except RemoteError as error:  # the server's traceback: show its last line
        return f"RemoteError ending in {str(error).strip('-').strip().splitlines()[-1]}"
    except Exception as error:
        return f"{type(error).__name__}: {error}"


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())
    manager = StoreManager(ctx=context)
    manager.start()
    store = manager.UserStore()
    store.add("alice")
    seen = {
        "proxy type:": type(store).__name__,
        "forwarded methods:": sorted(store._exposed_),
        "store.names():": attempt(store.names),
        "store.size:": attempt(lambda: store.size),
        "store._check():": attempt(lambda: store._check()),
        'store._callmethod("_check"):': attempt(lambda: store._callmethod("_check")),
    }
    for label, value in seen.items():
        print(label, value)

# %%
# A returned object is a copy
# ---------------------------
# ``store.record("alice")`` runs in the server and sends back the record,
# pickled: the caller changes its own copy, and the server never sees it.

if __name__ == "__main__":
    copy = store.record("alice")
    copy.add_query()
    copy_summary = store.record("alice").summary()
    print("type of store.record('alice'):", type(copy).__name__)
    print("after add_query() on it, the server has:", copy_summary)
    del store
    manager.shutdown()

# %%
# ``exposed``, ``method_to_typeid``, and attributes through the proxy
# -------------------------------------------------------------------
# - ``exposed`` lists the methods the proxy forwards; anything else is refused
#   by the server.
# - ``method_to_typeid={"record": "UserRecord"}`` makes the server keep the
#   returned record and send a proxy to it (of the registered type
#   ``"UserRecord"``; ``create_method=False`` registers that type without a
#   ``manager.UserRecord()`` of its own).
# - An attribute needs a method that returns it: ``get_size()`` on the class
#   itself, or ``__getattribute__`` in ``exposed`` and a proxy class whose
#   property calls it, as the standard ``NamespaceProxy`` does.
#
# Register every type before ``start()``: the server learns the registry when
# it starts, so this page starts a second manager after these registrations.


class UserStoreProxy(BaseProxy):
    _exposed_ = ("add", "names", "record", "__getattribute__")
    _method_to_typeid_ = {"record": "UserRecord"}  # noqa: RUF012 (read by register)

    def add(self, name):
        return self._callmethod("add", (name,))

    def names(self):
        return self._callmethod("names")

    def record(self, name):
        return self._callmethod("record", (name,))

    @property
    def size(self):
        return self._callmethod("__getattribute__", ("size",))


StoreManager.register("SharedUserStore", UserStore, proxytype=UserStoreProxy)
StoreManager.register(
    "UserRecord", proxytype=None, exposed=("add_query", "summary"), create_method=False
)

if __name__ == "__main__":
    manager = StoreManager(ctx=context)
    manager.start()
    shared = manager.SharedUserStore()
    shared.add("alice")
    record = shared.record("alice")
    record.add_query()
    proxy_summary = shared.record("alice").summary()
    shared_size = shared.size
    not_exposed = attempt(lambda: shared._callmethod("get_size"))
    print("type of shared.record('alice'):", type(record).__name__)
    print("after add_query() on it, the server has:", proxy_summary)
    print("shared.size:", shared_size)
    print("get_size, not in exposed:", not_exposed)

# %%
# A proxy from ``method_to_typeid`` in another process
# ----------------------------------------------------
# A proxy that reaches another process forgets its manager, and a
# ``method_to_typeid`` method needs the manager's registry to build the proxy
# it returns. So in a worker, ``shared.record("alice")`` fails with
# ``AttributeError`` (CPython 3.11, 3.12 and 3.13;
# `issue 99595 <https://github.com/python/cpython/issues/99595>`_). In workers,
# call methods that return plain values (``shared.names()``), or give the
# worker a proxy to the record itself.


def in_a_worker(shared, record):
    return attempt(lambda: shared.record("alice")), record.summary()


if __name__ == "__main__":
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        via_store, direct = pool.submit(in_a_worker, shared, record).result(timeout=120)
    print("in a worker, shared.record('alice'):", via_store)
    print("in a worker, a proxy to the record itself:", direct)
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        "A registered class in a worker",
        [
            Observation(
                label="shared.record('alice')",
                result=via_store.split(":")[0],
                ok=not via_store.startswith(("AttributeError", "RemoteError")),
            ),
            Observation(label="a proxy to the record itself", result=direct, ok=True),
        ],
    )
    record_type = type(record).__name__
    del shared, record
    manager.shutdown()
    # What the page shows, as this run found it.
    assert seen["proxy type:"] == "AutoProxy[UserStore]"
    assert seen["forwarded methods:"] == ["add", "get_size", "names", "record"]
    assert seen["store.names():"] == "['alice']"
    assert seen["store.size:"].startswith("AttributeError: ")
    assert seen["store._check():"].startswith("AttributeError: ")
    assert seen['store._callmethod("_check"):'].startswith("RemoteError ending in ")
    assert type(copy).__name__ == "UserRecord" and copy_summary == "alice: 0 queries"
    assert record_type == "AutoProxy[UserRecord]" and proxy_summary == "alice: 1 queries"
    assert shared_size == 1 and not_exposed.startswith("RemoteError")
    assert via_store.startswith("AttributeError: ") and "_registry" in via_store
    assert direct == "alice: 1 queries"
    assert not multiprocessing.active_children()
