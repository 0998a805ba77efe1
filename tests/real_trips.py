"""Real Manager trips for keys of ``adversarial_keys``, under one start method.

Usage: ``python real_trips.py START_METHOD NAME...``. For each key, a fresh
Manager stores it and looks it up: by a new copy, with ``in``, by every key it
sends back, from another thread (another connection, so another thread of the
server), and by an equal key a worker process builds itself. Prints one JSON
line per key: ``{"begin": name}``, then ``{"name": ..., "works": ..., "why": ...}``.
A key may end this process; the caller then starts it again after that key.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import adversarial_keys as corpus

#: Seconds a trip may take before the key counts as hanging it.
TIMEOUT = 6.0


def lookup_in_worker(shared: Any, name: str) -> object:
    return shared.get(corpus.BUILDERS[name](), "missing")


def trip(shared: Any, pool: ProcessPoolExecutor, name: str) -> str:
    """Return "" if every lookup finds the key, else what failed."""
    key = corpus.BUILDERS[name]()
    shared[key] = "v"
    if shared.get(key, "missing") != "v":
        return "lookup by a new copy"
    if key not in shared:
        return "key in dict"
    for sent_back in shared.keys():  # noqa: SIM118 (a proxy: keys() is a trip)
        if shared.get(sent_back, "missing") != "v":
            return "lookup by a key the server sent back"
    box: list[object] = []
    thread = threading.Thread(target=lambda: box.append(shared.get(key, "missing")))
    thread.start()
    thread.join(TIMEOUT)
    if box != ["v"]:
        return f"lookup from another thread: {box}"
    if pool.submit(lookup_in_worker, shared, name).result(TIMEOUT) != "v":
        return "lookup by an equal key a worker built"
    return ""


def run(shared: Any, pool: ProcessPoolExecutor, name: str, outcome: list[str]) -> None:
    try:
        outcome.append(trip(shared, pool, name))
    except BaseException as error:  # the key's code may raise anything
        outcome.append(f"{type(error).__name__}: {error}")


def started_pool(context: Any) -> ProcessPoolExecutor:
    """A one-worker pool whose worker is up (starting it can be slow on a busy machine)."""
    pool = ProcessPoolExecutor(1, mp_context=context)
    pool.submit(os.getpid).result(120)
    return pool


def main(method: str, names: list[str]) -> None:
    context = multiprocessing.get_context(method)
    pool = started_pool(context)
    for name in names:
        print(json.dumps({"begin": name}), flush=True)
        manager = context.Manager()
        outcome: list[str] = []

        runner = threading.Thread(
            target=run, args=(manager.dict(), pool, name, outcome), daemon=True
        )
        runner.start()
        runner.join(2 * TIMEOUT)
        why = outcome[0] if outcome else "the trip hung"
        assert manager._process is not None  # type: ignore[attr-defined]
        manager._process.kill()  # type: ignore[attr-defined]
        manager._process.join()  # type: ignore[attr-defined]
        if why:  # the worker may be broken or stuck: start another
            for process in list(pool._processes.values()):  # type: ignore[attr-defined]
                process.kill()
            pool.shutdown(wait=False, cancel_futures=True)
            pool = started_pool(context)
        print(json.dumps({"name": name, "works": not why, "why": why[:300]}), flush=True)
    for process in list(pool._processes.values()):  # type: ignore[attr-defined]
        process.kill()
    sys.stdout.flush()
    os._exit(0)  # threads a key started here are the trip's own: do not wait


if __name__ == "__main__":
    corpus.register_main_only()
    main(sys.argv[1], sys.argv[2:])
