"""
Two programs, one dict and one queue: ``serve_forever()`` and ``connect()``
===========================================================================

Two programs that do not start each other, a producer and a consumer, say,
share a queue of jobs and a dict of results through a Manager: one program
serves the objects with ``serve_forever()``, the other registers the same
names and connects. This page writes the three programs as files and runs
them as three real processes, then shows the two mistakes that make this fail:
a dict registered as ``callable=dict`` (every caller gets a new, empty dict)
and a dict without ``DictProxy`` (``'AutoProxy[get_results]' object does not
support item assignment``).
"""

# %%
# The server
# ----------
# It holds one ``queue.Queue`` and one ``dict`` and returns *those objects*
# from the functions it registers. ``get_server()`` serves them from this
# process, so the registered functions never travel to another process and
# need not pickle. The key comes from the environment, never from the source;
# the address is printed for the others (in real use, a fixed port in their
# configuration).

import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

SERVER = """
import os, queue
from multiprocessing.managers import BaseManager, DictProxy

jobs = queue.Queue()
results = {}


def get_jobs():
    return jobs


def get_results():
    return results


class JobManager(BaseManager):
    pass


JobManager.register("get_jobs", callable=get_jobs)
JobManager.register("get_results", callable=get_results, proxytype=DictProxy)

if __name__ == "__main__":
    key = bytes.fromhex(os.environ["JOBS_KEY"])
    server = JobManager(address=("127.0.0.1", 0), authkey=key).get_server()
    print(server.address[1], flush=True)
    server.serve_forever()
"""

# %%
# The other two programs
# ----------------------
# Each registers the *names* only, with the same proxy types, and connects.
# The producer puts three jobs and a ``None`` to say it is done; the consumer
# takes jobs until ``None`` and writes each result into the shared dict.

CLIENT = """
import os, sys
from multiprocessing.managers import BaseManager, DictProxy


class JobManager(BaseManager):
    pass


JobManager.register("get_jobs")
JobManager.register("get_results", proxytype=DictProxy)

if __name__ == "__main__":
    key = bytes.fromhex(os.environ["JOBS_KEY"])
    manager = JobManager(address=("127.0.0.1", int(sys.argv[2])), authkey=key)
    manager.connect()
    jobs, results = manager.get_jobs(), manager.get_results()
    if sys.argv[1] == "produce":
        for number in (2, 3, 4):
            jobs.put(number)
        jobs.put(None)
    elif sys.argv[1] == "consume":
        while (number := jobs.get(timeout=60)) is not None:
            results[number] = number ** 2
    else:
        print(sorted(results.items()))
"""
WAIT = 60  # seconds: a bound that a working run never reaches


def run_programs(server_source, client_source):
    """Start the server; run the producer, the consumer, then a reader of the
    results, each a program of its own. Return what the reader printed, or the
    last line of the first error."""
    # Plain tracebacks, also in Jupyter, whose kernels set FORCE_COLOR.
    env = {**os.environ, "JOBS_KEY": secrets.token_hex(32), "PYTHON_COLORS": "0"}
    with tempfile.TemporaryDirectory() as directory:
        server_file = Path(directory, "server.py")
        client_file = Path(directory, "client.py")
        server_file.write_text(server_source)
        client_file.write_text(client_source)
        server = subprocess.Popen(
            [sys.executable, str(server_file)], env=env, stdout=subprocess.PIPE, text=True
        )
        try:
            port = server.stdout.readline().strip()
            for role in ("produce", "consume", "read"):
                done = subprocess.run(
                    [sys.executable, str(client_file), role, port],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=WAIT,
                    check=False,
                )
                if done.returncode != 0:
                    return f"{role}: {done.stderr.strip().splitlines()[-1]}"
            return done.stdout.strip()
        finally:
            server.terminate()
            server.wait(timeout=WAIT)
            server.stdout.close()


if __name__ == "__main__":
    print("start method:", os.environ.get("MPGUIDE_START_METHOD") or "not used here")
    shared = run_programs(SERVER, CLIENT)
    print("the reader saw:", shared)

# %%
# The start method plays no part: no program here starts another through
# ``multiprocessing``. Each connects over TCP, proves it knows the key, and
# gets proxies, as in :doc:`/howto/remote-managers`, which says how to keep
# such a server safe.
#
# Mistake 1: ``callable=dict``
# ----------------------------
# ``register`` stores a *callable*, and the server calls it each time a client
# asks for the name (``Server.create`` in ``multiprocessing/managers.py``). With
# ``callable=dict`` every ``get_results()`` makes a new, empty dict: the
# consumer writes into one, and the reader reads another.

if __name__ == "__main__":
    new_each_time = SERVER.replace(
        'register("get_results", callable=get_results,',
        'register("get_results", callable=dict,',
    )
    assert new_each_time != SERVER
    empty = run_programs(new_each_time, CLIENT)
    print("with callable=dict, the reader saw:", empty)

# %%
# Mistake 2: no ``DictProxy``
# ---------------------------
# Without ``proxytype``, the server exposes only the object's public methods
# (``public_methods()`` in ``multiprocessing/managers.py``), and the programs
# get an ``AutoProxy`` with just those: ``get`` and ``update`` work, but not
# ``results[number] = ...``, which needs ``__setitem__``. The server's
# registration is the one that counts: it sends the list of exposed methods
# with every proxy it hands out.

if __name__ == "__main__":
    auto_server, auto_client = (
        source.replace(", proxytype=DictProxy)", ")") for source in (SERVER, CLIENT)
    )
    assert auto_server != SERVER and auto_client != CLIENT
    auto_proxy = run_programs(auto_server, auto_client)
    print("without DictProxy:", auto_proxy)
    only_client = run_programs(SERVER, auto_client)
    print("without DictProxy in the clients only:", only_client)

# %%
# In the error index: :ref:`error-autoproxy-item-assignment`.

# %%
# What happened
# -------------

if __name__ == "__main__":
    expected = str([(2, 4), (3, 9), (4, 16)])
    not_subscriptable = auto_proxy.endswith(
        "TypeError: 'AutoProxy[get_results]' object does not support item assignment"
    )
    print(
        f"failure reproduced: {'yes' if empty == '[]' and not_subscriptable else 'no'} "
        "(callable=dict: the reader saw an empty dict; no DictProxy: a TypeError)"
    )
    works = shared == expected
    print(f"fix works: {'yes' if works else 'no'} (one dict, a DictProxy: {shared})")
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        "Two programs, one dict",
        [
            Observation(
                label="callable=dict", result=f"reader saw {empty}", ok=empty != "[]"
            ),
            Observation(label="no DictProxy", result="TypeError", ok=not not_subscriptable),
            Observation(label="one dict, DictProxy", result=shared, ok=works),
        ],
    )
    assert empty == "[]" and not_subscriptable, (empty, auto_proxy)
    assert works and only_client == expected
