"""
What a Manager keeps: ``Namespace``, ``dict`` and ``list`` proxies
==================================================================

When a Manager is the right tool, know which changes reach its server. A
proxy forwards the calls made *on it*; whatever it returns is a copy, so a
change to that copy is lost. This page makes each kind of change in a worker
process and checks, from the parent, whether it arrived: the table people ask
for.
"""

# %%
# The changes
# -----------
# Each row is one statement run in a worker on a fresh proxy; the parent then
# reads the proxy's value back. ``ns`` is a ``manager.Namespace()``, ``d`` a
# ``manager.dict()``, ``lst`` a ``manager.list()``; a "nested proxy" is a
# ``manager.list()`` or ``manager.dict()`` stored inside another container.

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor


def set_attribute(ns, d, lst):
    ns.count = 1


def mutate_attribute_in_place(ns, d, lst):
    ns.queries.append("q1")


def reassign_attribute(ns, d, lst):
    queries = ns.queries
    queries.append("q1")
    ns.queries = queries


def set_underscore_attribute(ns, d, lst):
    ns._hidden = 1


def append_to_nested_proxy_attribute(ns, d, lst):
    ns.shared_queries.append("q1")


def set_item(ns, d, lst):
    d["count"] = 1


def mutate_item_in_place(ns, d, lst):
    d["queries"].append("q1")


def increment_nested_item(ns, d, lst):
    d["stats"]["count"] += 1


def reassign_item(ns, d, lst):
    stats = d["stats"]
    stats["count"] += 1
    d["stats"] = stats


def append_to_nested_proxy_item(ns, d, lst):
    d["shared_queries"].append("q1")


def append_to_list(ns, d, lst):
    lst.append("q1")


def mutate_list_element_in_place(ns, d, lst):
    lst[0].append("q1")


def set_list_element(ns, d, lst):
    lst[0] = ["q1"]


ROWS = {  # statement: (the change, how to read it back)
    "ns.count = 1": (set_attribute, lambda ns, d, lst: getattr(ns, "count", None) == 1),
    'ns.queries.append("q1")': (
        mutate_attribute_in_place,
        lambda ns, d, lst: ns.queries == ["q1"],
    ),
    "q = ns.queries; q.append(...); ns.queries = q": (
        reassign_attribute,
        lambda ns, d, lst: ns.queries == ["q1"],
    ),
    "ns._hidden = 1": (
        set_underscore_attribute,
        lambda ns, d, lst: getattr(ns, "_hidden", None) == 1,
    ),
    'ns.shared_queries.append("q1") (nested proxy)': (
        append_to_nested_proxy_attribute,
        lambda ns, d, lst: list(ns.shared_queries) == ["q1"],
    ),
    'd["count"] = 1': (set_item, lambda ns, d, lst: d.get("count") == 1),
    'd["queries"].append("q1")': (
        mutate_item_in_place,
        lambda ns, d, lst: d["queries"] == ["q1"],
    ),
    'd["stats"]["count"] += 1': (
        increment_nested_item,
        lambda ns, d, lst: d["stats"] == {"count": 1},
    ),
    's = d["stats"]; s["count"] += 1; d["stats"] = s': (
        reassign_item,
        lambda ns, d, lst: d["stats"] == {"count": 1},
    ),
    'd["shared_queries"].append("q1") (nested proxy)': (
        append_to_nested_proxy_item,
        lambda ns, d, lst: list(d["shared_queries"]) == ["q1"],
    ),
    'lst.append("q1")': (append_to_list, lambda ns, d, lst: lst[-1] == "q1"),
    'lst[0].append("q1")': (
        mutate_list_element_in_place,
        lambda ns, d, lst: lst[0] == ["q1"],
    ),
    'lst[0] = ["q1"]': (set_list_element, lambda ns, d, lst: lst[0] == ["q1"]),
}


def fresh_proxies(manager):
    ns = manager.Namespace()
    ns.queries = []
    ns.shared_queries = manager.list()
    d = manager.dict(queries=[], stats={"count": 0}, shared_queries=manager.list())
    lst = manager.list([[]])
    return ns, d, lst


# %%
# Run each change in a worker
# ---------------------------

if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())
    kept = {}
    with context.Manager() as manager, ProcessPoolExecutor(1, mp_context=context) as pool:
        for statement, (change, arrived) in ROWS.items():
            proxies = fresh_proxies(manager)
            pool.submit(change, *proxies).result()
            kept[statement] = arrived(*proxies)
    width = max(map(len, ROWS))
    print(f"{'statement in a worker':<{width}}  seen by the parent")
    for statement, arrived in kept.items():
        print(f"{statement:<{width}}  {'kept' if arrived else 'LOST'}")

# %%
# The rule behind the table
# -------------------------
# - **Kept**: a call on a proxy itself. Setting an attribute of a ``Namespace``
#   or an item of a ``dict`` or ``list`` proxy sends the new value to the
#   server, and so does calling a method (``append``) on a proxy, including a
#   proxy stored inside another container.
# - **Lost**: a change to what a proxy returned. ``ns.queries``,
#   ``d["queries"]`` and ``lst[0]`` return copies of plain values; mutating the
#   copy changes nothing in the server. Reassigning the changed copy fixes it
#   (under a lock when several processes do it,
#   :ref:`sphx_glr_gallery_pitfalls_plot_01_nested_mutation.py`).
# - **Lost, and a Namespace special**: attributes whose names start with ``_``
#   belong to the proxy object, not to the shared namespace, so ``ns._hidden``
#   never leaves the worker.

if __name__ == "__main__":
    lost = sorted(statement for statement, arrived in kept.items() if not arrived)
    print("lost:", len(lost), "of", len(kept))
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        "Changes made in a worker",
        [
            Observation(
                label="kept",
                result=f"{len(kept) - len(lost)} of {len(kept)} statements",
                ok=None,
                fraction=(len(kept) - len(lost)) / len(kept),
            ),
            Observation(
                label="lost",
                result=f"{len(lost)} of {len(kept)} statements",
                ok=not lost,
                fraction=len(lost) / len(kept),
            ),
        ],
    )
    # The rule, as the run found it: a change to a returned copy is lost, and so
    # is a Namespace attribute starting with ``_``; every call on a proxy is kept.
    assert lost == sorted(
        [
            'ns.queries.append("q1")',
            "ns._hidden = 1",
            'd["queries"].append("q1")',
            'd["stats"]["count"] += 1',
            'lst[0].append("q1")',
        ]
    ), lost
    assert not multiprocessing.active_children()
