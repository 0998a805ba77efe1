"""
``breakpoint()`` in a worker: the debugger quits at once
========================================================

A ``breakpoint()`` (or ``pdb.set_trace()``) in a function that runs in the
main process stops there and waits for commands. Move the call into a
``Process`` or a ``Pool`` worker and the debugger shows its prompt, reads
nothing, and quits: the ``Process`` ends with ``bdb.BdbQuit``, ``pool.map``
raises it, and what the reader typed is still waiting, unread, on the terminal.
This page runs a small program three ways, with commands on its standard input
as a reader would type them, shows why the child reads nothing, and debugs the
worker over a socket instead.
"""

# %%
# Reproduce
# ---------
# The program calls ``work(4)`` in the main process, in a ``Process`` or in a
# ``Pool`` worker, under the start method it is given. ``work`` has a
# ``breakpoint()``; the commands ``p y`` (print ``y``) and ``c`` (continue) wait
# on the program's standard input, as typed at a terminal. At the end the
# program prints what it still has unread there.

import multiprocessing
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

PROGRAM = """
import multiprocessing, sys

def work(x):
    y = x * 10
    breakpoint()
    return y + 1

if __name__ == "__main__":
    context = multiprocessing.get_context(sys.argv[1])
    where = sys.argv[2]
    if where == "main process":
        print("outcome: result", work(4))
    elif where == "Process":
        child = context.Process(target=work, args=(4,))
        child.start()
        child.join(60)
        print("outcome: exit code", child.exitcode)
    else:
        with context.Pool(1) as pool:
            try:
                print("outcome: result", pool.map(work, [4]))
            except Exception as error:
                print("outcome: pool.map raised", type(error).__name__)
    print("unread input:", repr(sys.stdin.read()))
"""
COMMANDS = "p y\nc\n"  # what the reader types: print y, continue
WAIT = 60  # seconds: a bound that a working run never reaches
WHERE = ("main process", "Process", "Pool")


def run_program(program, method, where, env=None):
    """Run the program with ``COMMANDS`` on its standard input; return what it
    printed on standard output and standard error."""
    done = subprocess.run(
        [sys.executable, str(program), method, where],
        input=COMMANDS,
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
        env={**os.environ, "PYTHON_COLORS": "0", **(env or {})},
        cwd=program.parent,
    )
    return done.stdout, done.stderr


def summary(stdout, stderr):
    """What a run shows: the debugger's prompts, the answer to ``p y``, the
    outcome, the last line of a traceback, and the input left unread."""
    error_lines = [line for line in stderr.splitlines() if re.match(r"^\w[\w.]*:?", line)]
    return {
        "debugger prompts": stdout.count("(Pdb)"),
        "answered p y": "(Pdb) 40" in stdout,
        "outcome": re.search(r"outcome: (.*)$", stdout, re.M)[1],
        "traceback ends with": error_lines[-1] if error_lines else None,
        "raised in": (re.findall(r"bdb\.py.*, in (\w+)", stderr) or [None])[-1],
        "unread input": re.search(r"unread input: (.*)$", stdout, re.M)[1],
    }


if __name__ == "__main__":
    method = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    method = method.get_start_method()
    print("start method:", method)
    workspace = Path(tempfile.mkdtemp(prefix="debugger-"))
    program = workspace / "program.py"
    program.write_text(PROGRAM)
    runs = {where: summary(*run_program(program, method, where)) for where in WHERE}
    for where, seen in runs.items():
        print(f"breakpoint() in the {where}:", seen)

# %%
# In the main process the debugger stops, answers ``p y`` with 40, continues,
# and the program reads its whole input. In a ``Process`` or a ``Pool`` worker
# the debugger starts (its prompt appears once), receives end-of-file at once,
# and quits: the ``Process`` exits with code 1 and a ``bdb.BdbQuit``
# traceback, and the pool sends that exception back to ``pool.map``. The two
# commands were never read.
#
# Why
# ---
# Every process that ``multiprocessing`` starts, under every start method,
# runs ``BaseProcess._bootstrap`` (``multiprocessing/process.py``), which
# calls ``util._close_stdin()`` before the target: it closes ``sys.stdin`` and
# replaces it with a file open on ``os.devnull`` (``_close_stdin`` in
# ``multiprocessing/util.py``; the same code in CPython 3.11, 3.12 and 3.13).
# The forkserver process does the same to itself (``main`` in
# ``multiprocessing/forkserver.py``). The ``multiprocessing`` documentation
# describes it in its programming guidelines ("Beware of replacing
# ``sys.stdin`` with a file like object").
#
# ``pdb`` reads its commands from ``sys.stdin`` with ``input()``, which
# raises ``EOFError`` on ``os.devnull``; ``cmd.Cmd.cmdloop`` turns that into
# the command ``EOF``, and ``Pdb.do_EOF`` (``pdb.py``, 3.11 to 3.13) quits the
# debugger: it calls ``set_quit()``, and the next trace event raises
# ``bdb.BdbQuit`` in the debugged code (``Bdb.dispatch_line`` in ``bdb.py``;
# on 3.13 the traceback shows ``Bdb.dispatch_opcode``, which does the same).
# ``BdbQuit`` is an ``Exception``: ``_bootstrap`` prints it and exits with 1,
# and a pool worker sends it back as the task's result.
#
# Fix 1: debug the function in the main process
# ---------------------------------------------
# The worker function is a plain function: call it once in the main process
# (``work(4)`` instead of ``pool.map(work, [4])``), with the same arguments,
# and its breakpoint works, as the first run above shows. Most bugs in a worker
# function show there. What needs the child itself (its copy of the data, its
# environment) needs the next fix.
#
# Fix 2: a debugger on a socket
# -----------------------------
# Give the child's ``pdb`` its own input and output instead of the terminal:
# ``pdb.Pdb(stdin=..., stdout=...)`` takes any file, here a TCP connection.
# ``PYTHONBREAKPOINT`` names the function that ``breakpoint()`` calls (the
# variable is read at each call, and children inherit the environment), so the
# program's code does not change. This is what ``remote-pdb`` on PyPI does
# (``PYTHONBREAKPOINT=remote_pdb.set_trace``, with ``REMOTE_PDB_HOST`` and
# ``REMOTE_PDB_PORT``; there the child listens and the reader connects with
# ``nc`` or ``telnet``). Here, the other way round, the page listens, as a
# reader's terminal running netcat in listening mode would, and the child
# connects:

REMOTE_DEBUGGER = '''
"""breakpoint() on a TCP connection: PYTHONBREAKPOINT=remote_debugger.set_trace"""
import os, pdb, socket, sys


class SocketPdb(pdb.Pdb):
    """A pdb that reads its commands from a connection and writes to it."""

    def __init__(self, connection):
        self.connection = connection
        # Two files: a text file open for both discards what it read ahead
        # when written to, and would lose the commands typed in advance.
        self.typed = connection.makefile("r")
        self.replies = connection.makefile("w")
        super().__init__(stdin=self.typed, stdout=self.replies)

    def do_continue(self, arg):
        resumed = super().do_continue(arg)
        self.replies.flush()
        for file in (self.typed, self.replies, self.connection):
            file.close()  # the reader's side sees the session end
        return resumed

    do_c = do_cont = do_continue


def set_trace():
    port = int(os.environ["REMOTE_PDB_PORT"])
    connection = socket.create_connection(("127.0.0.1", port), timeout=60)
    SocketPdb(connection).set_trace(sys._getframe(1))
'''


def debug_over_socket(program, method):
    """Run the program's ``Pool`` with ``breakpoint()`` sent to a socket; type
    ``COMMANDS`` there. Return the debugging session and the program's output."""
    with socket.create_server(("127.0.0.1", 0)) as terminal:
        terminal.settimeout(WAIT)
        env = {
            **os.environ,
            "PYTHONBREAKPOINT": "remote_debugger.set_trace",
            "REMOTE_PDB_PORT": str(terminal.getsockname()[1]),
            "PYTHON_COLORS": "0",
        }
        with subprocess.Popen(
            [sys.executable, str(program), method, "Pool"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=program.parent,
        ) as running:
            try:
                connection, _ = terminal.accept()
                with connection, connection.makefile("r") as session:
                    connection.sendall(COMMANDS.encode())
                    transcript = session.read()
                stdout, _ = running.communicate(timeout=WAIT)
            finally:
                if running.poll() is None:
                    running.kill()
    return transcript, stdout


if __name__ == "__main__":
    (workspace / "remote_debugger.py").write_text(REMOTE_DEBUGGER)
    transcript, remote_stdout = debug_over_socket(program, method)
    print("the session on the socket:")
    print(transcript.replace(f"{workspace}{os.sep}", ""))
    remote_outcome = re.search(r"outcome: (.*)$", remote_stdout, re.M)[1]
    print("the program:", remote_outcome)

# %%
# The worker stopped at its breakpoint, answered ``p y`` with 40 on the
# socket, continued when told, and ``pool.map`` returned. The same function
# serves every ``breakpoint()`` of every child, one connection each. Keep the
# listener on ``127.0.0.1``: a debugger runs any code sent to it.
#
# ``PYTHONBREAKPOINT=0`` turns every ``breakpoint()`` into nothing, in the
# children too: the way to run a program that still has some, without the
# ``BdbQuit``:

if __name__ == "__main__":
    stdout, _ = run_program(program, method, "Pool", env={"PYTHONBREAKPOINT": "0"})
    disabled = summary(stdout, "")
    print("PYTHONBREAKPOINT=0, breakpoint() in the Pool:", disabled["outcome"])

# %%
# In the error index: :ref:`error-bdbquit`.

# %%
# IDE debuggers
# -------------
# VS Code's Python debugger, debugpy, follows child processes itself: its
# ``subProcess`` setting, true unless a launch configuration sets it to
# ``false``, starts its tracer in each new Python process, and an attached
# process sets it with ``debugpy.configure(subProcess=...)`` (debugpy's
# documentation of ``configure``). PyCharm's Python Debugger settings have
# "Attach to subprocess automatically while debugging" (its help page,
# "Debugger"). The reports this page answers (debugpy issues 712, 850 and
# 1767, "Failed launch debugger for child process"; Spyder issue 18474) are
# cases where following the child fails or is not offered; this page
# cannot run those IDEs. In issue 712 debugpy's maintainers traced one case to
# the pool: its ``with`` block ends by terminating workers whose debugger
# connection was still being set up. Where the IDE does not stop in the child,
# fix 1 and fix 2 still work.

# %%
# What happened
# -------------

if __name__ == "__main__":
    shutil.rmtree(workspace)
    in_children = [runs["Process"], runs["Pool"]]
    quit_at_once = all(
        seen["debugger prompts"] == 1
        and not seen["answered p y"]
        and seen["unread input"] == repr(COMMANDS)
        for seen in in_children
    )
    print(
        f"failure reproduced: {'yes' if quit_at_once else 'no'} (breakpoint() in a "
        f"Process: {runs['Process']['outcome']}, {runs['Process']['traceback ends with']}; "
        f"in a Pool: {runs['Pool']['outcome']}; the typed commands were never read)"
    )
    answered = re.search(r"^\(Pdb\) 40$", transcript, re.M) is not None
    fixed = answered and remote_outcome == "result [41]"
    print(
        f"fix works: {'yes' if fixed else 'no'} (pdb on a socket: the worker stopped, "
        f"answered p y with 40 and returned {remote_outcome.removeprefix('result ')})"
    )
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        "breakpoint() in a worker",
        [
            Observation(label="main process", result="stops, p y → 40", ok=True),
            Observation(
                label="Process", result=runs["Process"]["outcome"], ok=not quit_at_once
            ),
            Observation(label="Pool", result=runs["Pool"]["outcome"], ok=not quit_at_once),
            Observation(label="Pool, pdb on a socket", result="stops, p y → 40", ok=fixed),
        ],
    )
    main_run = runs["main process"]
    assert main_run["answered p y"] and main_run["outcome"] == "result 41", main_run
    assert main_run["unread input"] == "''", main_run
    assert runs["Process"]["outcome"] == "exit code 1", runs
    assert runs["Process"]["traceback ends with"] == "bdb.BdbQuit", runs
    raised_in = "dispatch_opcode" if sys.version_info >= (3, 13) else "dispatch_line"
    assert runs["Process"]["raised in"] == raised_in, runs
    assert runs["Pool"]["outcome"] == "pool.map raised BdbQuit", runs
    assert quit_at_once, runs
    assert fixed, (transcript, remote_stdout)
    assert disabled["outcome"] == "result [41]" and disabled["debugger prompts"] == 0
    assert not multiprocessing.active_children()
