"""
Workers get each other's replies: a connection opened before the workers
========================================================================

A program opens a connection (to a database, a cache, an API), then starts
worker processes that use it too. Replies then reach the wrong process, a
worker waits for an answer another one already read, or the client library
reports a protocol error. This page shows why: under every start method, the
workers get the *same* connection, one byte stream that several processes
read. It measures the damage on a small question-and-answer server, shows what
happens to a ``sqlite3`` connection, and fixes both by connecting in each
worker, with a ``fork`` hook that drops an inherited connection.
"""

# %%
# A server and a client
# ---------------------
# The server, a thread of this page listening on 127.0.0.1 only, answers each
# line ``ask <token>`` with ``answer <token>``, 10 ms later, as a database
# answers a query. The client sends a question and reads one line back: the
# way a database client or a Redis client works.

import atexit
import collections
import multiprocessing
import os
import selectors
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

QUESTIONS = 4  # per process
REPLY_DELAY = 0.01  # seconds the server takes to answer
REPLY_WAIT = 0.3  # seconds a client waits for a reply before giving up
WAIT = 60  # seconds: a bound a working run never reaches
OTHERS = "someone else's"  # an answer to another process's question


class AnswerServer:
    """Answer ``ask <token>`` lines with ``answer <token>``, in one thread."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = self.listener.getsockname()
        self._wake, self._stop = socket.socketpair()
        self._thread = threading.Thread(target=self._serve, name="answer-server")

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.send(b"stop")
        self._thread.join(timeout=WAIT)
        for sock in (self._wake, self._stop, self.listener):
            sock.close()

    def _serve(self):
        pending = {}
        with selectors.DefaultSelector() as selector:
            selector.register(self.listener, selectors.EVENT_READ)
            selector.register(self._wake, selectors.EVENT_READ)
            while True:
                for key, _ in selector.select():
                    sock = key.fileobj
                    if sock is self._wake:
                        for connection in pending:
                            connection.close()
                        return
                    if sock is self.listener:
                        connection, _ = sock.accept()
                        pending[connection] = b""
                        selector.register(connection, selectors.EVENT_READ)
                        continue
                    data = sock.recv(65536)
                    if not data:
                        selector.unregister(sock)
                        del pending[sock]
                        sock.close()
                        continue
                    *lines, pending[sock] = (pending[sock] + data).split(b"\n")
                    for line in lines:
                        time.sleep(REPLY_DELAY)
                        sock.sendall(line.replace(b"ask ", b"answer ", 1) + b"\n")


class Client:
    """One connection; ``ask()`` sends a question and reads one line back."""

    def __init__(self, address):
        self.address = address
        self.sock = socket.create_connection(address, timeout=REPLY_WAIT)
        self.received = b""

    def ask(self, question):
        self.sock.sendall(f"ask {question}\n".encode())
        while b"\n" not in self.received:
            chunk = self.sock.recv(65536)  # TimeoutError after REPLY_WAIT
            if not chunk:
                raise ConnectionError("the server closed the connection")
            self.received += chunk
        line, _, self.received = self.received.partition(b"\n")
        return line.decode().removeprefix("answer ")

    def close(self):
        self.sock.close()


def ask_questions(client, name, start):
    """Ask QUESTIONS questions; return (name, the client's local port, outcomes)."""
    client.sock.settimeout(REPLY_WAIT)  # rebuilt under spawn or forkserver, it has none
    if start is not None:
        start.wait(timeout=WAIT)
    outcomes = []
    for number in range(QUESTIONS):
        question = f"{name}-{number}"
        try:
            answer = client.ask(question)
        except TimeoutError:
            outcomes.append("no reply")
            break  # without a time-out, this process would wait for ever
        outcomes.append("right" if answer == question else OTHERS)
    return name, client.sock.getsockname()[1], outcomes


def ask_in_child(client, name, start, results):
    try:
        results.put(ask_questions(client, name, start))
    finally:
        client.close()  # this process's copy only: the parent's stays open


# %%
# Reproduce: one connection, three processes
# ------------------------------------------
# The parent connects, then starts two children and hands each the client as
# an argument. All three ask their questions at the same time. Each reports
# the local port of the connection it used, and what came back.

CHILDREN = 2


def tally(reports):
    counts = collections.Counter(o for _, _, outcomes in reports for o in outcomes)
    ports = {port for _, port, _ in reports}
    return counts, ports


def report(label, reports):
    counts, ports = tally(reports)
    asked = sum(counts.values())
    print(f"{label}: {len(reports)} processes, connections seen: {len(ports)}; ", end="")
    print(f"{asked} questions: {counts['right']} right, ", end="")
    print(f"{counts[OTHERS]} {OTHERS}, {counts['no reply']} no reply")
    return counts, ports


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    method = context.get_start_method()
    print("start method:", method)
    server = AnswerServer()
    client = Client(server.address)
    start = context.Barrier(CHILDREN + 1)
    results = context.Queue()
    children = [
        context.Process(target=ask_in_child, args=(client, f"child{i}", start, results))
        for i in range(CHILDREN)
    ]
    for child in children:
        child.start()
    with server:  # the server thread starts after the children: no fork with threads
        shared = [ask_questions(client, "parent", start)]
        shared += [results.get(timeout=WAIT) for _ in children]
        client.close()
        for child in children:
            child.join(timeout=WAIT)
    results.close()
    results.join_thread()
    shared_counts, shared_ports = report("shared connection", shared)

# %%
# Why
# ---
# Under ``fork`` the children are copies of the parent, with its open file
# descriptors: the client object in each child holds the parent's socket. Under
# ``spawn`` and ``forkserver`` the client is pickled with the process's
# arguments, and ``multiprocessing`` pickles a socket by duplicating its file
# descriptor into the child (``_reduce_socket`` and ``DupFd`` in
# ``multiprocessing/reduction.py``, 3.11 to 3.13; a socket that travels later,
# in a ``Pool`` task or on a ``Queue``, goes through a helper thread of the
# sender, ``multiprocessing/resource_sharer.py``). On Windows, the same file
# sends a duplicate of the socket (``DupSocket``). Either way every process
# holds the same connection, which the one local port above shows: the server
# sees one client. Replies go back in the order the questions came, to
# whichever process reads first; a process can read two replies at once and
# leave another waiting for an answer that will never come. A socket rebuilt
# from a duplicated descriptor is a new ``socket.socket`` whose
# ``gettimeout()`` is ``None`` (``_rebuild_socket``), yet its descriptor shares
# the parent's non-blocking flag: without ``settimeout()`` its ``recv()``
# raises ``BlockingIOError`` at once instead of waiting. That is why
# ``ask_questions`` sets one.
#
# What happens to a ``sqlite3`` connection
# ----------------------------------------
# A database connection object holds more than a descriptor, so
# ``multiprocessing`` cannot send it at all; under ``fork`` nothing is sent:
# the child simply has a copy.


def count_in_child(connection, results):
    results.put(connection.execute("select count(*) from queries").fetchone()[0])


if __name__ == "__main__":
    directory = tempfile.TemporaryDirectory()
    database = sqlite3.connect(Path(directory.name, "queries.db"))
    database.execute("create table queries (user text)")
    database.executemany("insert into queries values (?)", [("alice",), ("bob",)])
    database.commit()
    results = context.Queue()
    child = context.Process(target=count_in_child, args=(database, results))
    try:
        child.start()
    except TypeError as error:
        sqlite_outcome = f"{type(error).__name__}: {error}"
    else:
        sqlite_outcome = f"the child counted {results.get(timeout=WAIT)} rows through it"
        child.join(timeout=WAIT)
    results.close()
    results.join_thread()
    database.close()
    directory.cleanup()
    print("a sqlite3 connection passed to a child:", sqlite_outcome)

# %%
# Under ``fork`` it works, and should not be done: the child has the
# parent's descriptor of the database file and a copy of SQLite's in-memory
# state (its cache, what it believes about locks), but not the parent's POSIX
# locks, which a child does not inherit. SQLite's "How To Corrupt An SQLite
# Database File" says not to carry an open database connection across a
# ``fork()``: locking problems follow, and a corrupt database. Under
# ``spawn`` and ``forkserver``, and as a ``Pool`` task's argument under any
# method (tasks are always pickled), the call fails with the ``TypeError``
# above: :ref:`error-inherit-sqlite-connection`.
#
# Fix: connect in each worker
# ---------------------------
# Send the *address*, not the connection, and let each worker open its own,
# once, in the pool's initializer. The parent keeps its own connection, and
# asks its questions while the workers ask theirs.

WORKERS = 3
_connection = None  # this worker's client, opened by connect()


def connect(address):
    global _connection
    _connection = Client(address)
    # Closed by the OS when the worker exits; atexit handlers run in a Pool
    # worker only under spawn, or from 3.13 under every method.
    atexit.register(_connection.close)


def ask_in_worker(question):
    answer = _connection.ask(question)
    return question, answer, _connection.sock.getsockname()[1]


if __name__ == "__main__":
    server = AnswerServer()
    client = Client(server.address)
    questions = [f"task-{number}" for number in range(WORKERS * QUESTIONS)]
    # The workers start, and connect, before the server thread: no fork with threads.
    pool = context.Pool(WORKERS, initializer=connect, initargs=(server.address,))
    with pool, server:
        answered = pool.map_async(ask_in_worker, questions, chunksize=1)
        parent_report = ask_questions(client, "parent", start=None)
        answered = answered.get(timeout=WAIT)
        client.close()
    pool.join()
    worker_ports = collections.defaultdict(list)
    for question, answer, port in answered:
        worker_ports[port].append("right" if answer == question else OTHERS)
    per_worker = [("worker", port, outcomes) for port, outcomes in worker_ports.items()]
    connected_counts, connected_ports = report(
        "a connection per worker", [parent_report, *per_worker]
    )

# %%
# Each worker's connection is its own (its own local port), and every answer
# reaches the process that asked.
#
# Fix, in the client: drop a connection inherited through ``fork``
# ------------------------------------------------------------------
# Code you do not control (a library, a module-level client) may open the
# connection before the workers start. A client can protect itself: it
# connects on first use, ``os.register_at_fork(after_in_child=...)`` makes
# every ``fork`` child forget the parent's connection, and ``__reduce__``
# makes it travel to a ``spawn`` or ``forkserver`` child as its address only.
# Forgetting means closing the child's *copy* of the descriptor: the
# connection stays open for the parent, which still holds its own. Calling
# ``shutdown()``, or sending the server a goodbye, would end it for the parent
# too. A hook registered with ``os.register_at_fork`` stays for the life of
# the process, and keeps its client alive (a library with many clients
# registers one hook that walks a ``weakref.WeakSet``), so this runs as a
# program of its own: its parent asks once
# (and connects), hands the client to two children, all three ask together,
# and the parent asks again after the children have exited.

FORK_SAFE_PROGRAM = """
import multiprocessing, os, socket, sys

QUESTIONS, REPLY_WAIT = 4, 0.3


class Client:
    def __init__(self, address):
        self.address, self.sock, self.received = address, None, b""
        if hasattr(os, "register_at_fork"):  # not on Windows, which cannot fork
            os.register_at_fork(after_in_child=self.forget_connection)

    def forget_connection(self):
        if self.sock is not None:
            self.sock.close()  # this process's descriptor only
        self.sock, self.received = None, b""

    def __reduce__(self):
        return Client, (self.address,)

    def ask(self, question):
        if self.sock is None:
            self.sock = socket.create_connection(self.address, timeout=REPLY_WAIT)
        self.sock.sendall(f"ask {question}\\n".encode())
        while b"\\n" not in self.received:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            self.received += chunk
        line, _, self.received = self.received.partition(b"\\n")
        return line.decode().removeprefix("answer ")


def ask_questions(client, name, start=None):
    if start is not None:
        start.wait(timeout=60)
    answers = [client.ask(f"{name}-{n}") == f"{name}-{n}" for n in range(QUESTIONS)]
    outcomes = ["right" if right else "wrong" for right in answers]
    print(name, client.sock.getsockname()[1], *outcomes, flush=True)


def ask_in_child(client, name, start):
    ask_questions(client, name, start)
    client.forget_connection()  # closes this child's own connection


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ["MPGUIDE_START_METHOD"])
    client = Client(("127.0.0.1", int(sys.argv[1])))
    client.ask("hello")  # the parent is connected before the children start
    start = context.Barrier(3)
    children = [
        context.Process(target=ask_in_child, args=(client, f"child{i}", start))
        for i in range(2)
    ]
    for child in children:
        child.start()
    ask_questions(client, "parent", start)
    for child in children:
        child.join(timeout=60)
    ask_questions(client, "parent-after")
    client.forget_connection()
"""


def run_fork_safe_program(port):
    """Run FORK_SAFE_PROGRAM; return its lines as (name, port, outcomes)."""
    with tempfile.TemporaryDirectory() as workdir:
        Path(workdir, "program.py").write_text(FORK_SAFE_PROGRAM)
        done = subprocess.run(
            [sys.executable, "program.py", str(port)],
            capture_output=True,
            text=True,
            env={**os.environ, "MPGUIDE_START_METHOD": method},
            cwd=workdir,
            timeout=WAIT,
        )
    assert done.returncode == 0, done.stderr
    lines = [line.split() for line in done.stdout.splitlines()]
    return [(name, int(port), outcomes) for name, port, *outcomes in lines]


if __name__ == "__main__":
    server = AnswerServer()
    with server:
        fork_safe = run_fork_safe_program(server.address[1])
    before, after = (port for name, port, _ in fork_safe if name.startswith("parent"))
    fork_safe_counts, fork_safe_ports = report("fork-safe client", fork_safe[:-1])
    same = before == after
    print(f"the parent, after its children exited, on its first connection: {same}")
    print("and its answers:", *fork_safe[-1][2])

# %%
# What happened
# -------------

if __name__ == "__main__":
    wrong = shared_counts[OTHERS] + shared_counts["no reply"]
    shared_asked = sum(shared_counts.values())
    print(
        f"failure reproduced: {'yes' if wrong else 'no'} (one connection for "
        f"{len(shared)} processes: {wrong} of {shared_asked} questions got someone "
        "else's answer or none)"
    )
    connected_right = connected_counts["right"] == sum(connected_counts.values())
    fork_safe_right = fork_safe_counts["right"] == sum(fork_safe_counts.values())
    works = connected_right and fork_safe_right and before == after
    print(
        f"fix works: {'yes' if works else 'no'} (a connection per process: every "
        "answer reached the process that asked)"
    )
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        f"One connection, {len(shared)} processes",
        [
            Observation(
                label="shared: right answers",
                result=f"{shared_counts['right']} of {shared_asked}",
                ok=not wrong,
                fraction=shared_counts["right"] / shared_asked,
            ),
            Observation(
                label="sqlite3 connection to a child",
                result=sqlite_outcome.split(":")[0],
                ok=None,
            ),
            Observation(
                label="connect in each worker",
                result=f"{connected_counts['right']} of {sum(connected_counts.values())}",
                ok=connected_right,
                fraction=connected_counts["right"] / sum(connected_counts.values()),
            ),
            Observation(
                label="fork-safe client",
                result=f"{fork_safe_counts['right']} of {sum(fork_safe_counts.values())}",
                ok=fork_safe_right,
                fraction=fork_safe_counts["right"] / sum(fork_safe_counts.values()),
            ),
        ],
    )
    assert wrong > 0 and len(shared_ports) == 1 and len(shared) == CHILDREN + 1
    if method == "fork":
        assert sqlite_outcome == "the child counted 2 rows through it"
    else:
        assert sqlite_outcome == "TypeError: cannot pickle 'sqlite3.Connection' object"
    assert connected_right and len(connected_ports) == len(worker_ports) + 1
    assert connected_counts["right"] == (WORKERS + 1) * QUESTIONS
    assert fork_safe_right and len(fork_safe_ports) == 3 and before == after
    assert fork_safe_counts["right"] == 3 * QUESTIONS and fork_safe[-1][2] == ["right"] * 4
    assert not multiprocessing.active_children()
