"""
``OSError: AF_UNIX path too long``: a long ``TMPDIR``
=====================================================

The same program works on a laptop and fails on a cluster node, in a CI job or
in a container, where ``TMPDIR`` points somewhere deep (a job's scratch
directory, a build tree). A Manager fails under every start method, and under
``forkserver`` so does every ``Process`` and ``Pool``. The reason is a socket
file that ``multiprocessing`` makes inside the temporary directory, and a
kernel limit on the length of a socket's path. This page runs a small program
with a long ``TMPDIR``, measures the limit and the path, and fixes it.
"""

# %%
# The program
# -----------
# It starts a ``Process``, a ``Pool`` or a ``Manager`` with the start method it
# is given, and prints ``ok``. The page runs it as a reader would, in a new
# interpreter, once with the usual temporary directory and once with a
# ``TMPDIR`` about 80 characters long.

import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

PROGRAM = """
import multiprocessing, sys

def square(x):
    return x * x

if __name__ == "__main__":
    context = multiprocessing.get_context(sys.argv[1])
    started = sys.argv[2]
    if started == "Process":
        child = context.Process(target=square, args=(2,))
        child.start()
        child.join()
    elif started == "Pool":
        with context.Pool(1) as pool:
            pool.map(square, [2])
    elif started == "Manager":
        with context.Manager() as manager:
            manager.dict()[1] = 2
    elif started == "Manager on TCP":
        from multiprocessing.managers import SyncManager
        with SyncManager(address=("127.0.0.1", 0), ctx=context) as manager:
            manager.dict()[1] = 2
    print("ok")
"""
WAIT = 60  # seconds: a bound that a working run never reaches
STARTED = ("Process", "Pool", "Manager")


def run_all(program, method, tmpdir):
    """``run_program`` for each of ``STARTED``."""
    return {started: run_program(program, method, started, tmpdir) for started in STARTED}


def run_program(program, method, started, tmpdir):
    """Run the program in a new interpreter with ``TMPDIR`` set; return ``ok`` or
    the last line of the error it printed."""
    done = subprocess.run(
        [sys.executable, str(program), method, started],
        env={**os.environ, "TMPDIR": str(tmpdir)},
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    if done.returncode == 0 and done.stdout.strip() == "ok":
        return "ok"
    errors = [line for line in done.stderr.splitlines() if "Error" in line]
    return errors[0] if errors else f"exit code {done.returncode}"


if __name__ == "__main__":
    method = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    method = method.get_start_method()
    print("start method:", method)
    workspace = Path(tempfile.mkdtemp(prefix="tmpdir-"))
    program = workspace / "program.py"
    program.write_text(PROGRAM)
    usual_tmpdir = tempfile.gettempdir()
    long_tmpdir = workspace / ("scratch-" + "x" * (80 - len(str(workspace)) - 9))
    long_tmpdir.mkdir()
    usual = run_all(program, method, usual_tmpdir)
    long = run_all(program, method, long_tmpdir)
    print(f"TMPDIR of {len(usual_tmpdir)} characters:", usual)
    print(f"TMPDIR of {len(str(long_tmpdir))} characters:", long)

# %%
# A Manager's own process prints the ``OSError``; the parent, waiting for the
# server's address, gets only an ``EOFError`` (above, the first line of the
# program's stderr that names an error is shown). Under ``forkserver``,
# ``start()`` itself raises it, for every kind of process.
#
# Why --- A Manager's server listens on a Unix socket, a file whose path
# ``multiprocessing`` chooses: ``listener-XXXXXXXX`` in a directory
# ``pymp-XXXXXXXX`` that it makes in the temporary directory
# (``arbitrary_address`` in ``multiprocessing/connection.py``, ``get_temp_dir``
# in ``multiprocessing/util.py``), which ``TMPDIR`` sets. The forkserver listens
# on one too (``ForkServer.ensure_running`` in
# ``multiprocessing/forkserver.py``), so under ``forkserver`` every process
# start needs it. ``fork`` and ``spawn`` start a ``Process`` or a ``Pool`` with
# pipes, which have no path. (Under every method, a ``Listener()`` without an
# address, and the helper that hands a socket or file descriptor sent through a
# queue or pool to its receiver, make a socket there too.) A socket's path has
# to fit in the ``sun_path`` field of the kernel's ``sockaddr_un``: measured
# here by binding sockets of growing length.


def longest_socket_path(directory):
    """The longest path a Unix socket can be bound to, measured in ``directory``,
    and the error that binding one character more raised."""
    longest = 0
    for length in range(len(str(directory)) + 2, 200):
        path = Path(directory) / ("s" * (length - len(str(directory)) - 1))
        with socket.socket(socket.AF_UNIX) as probe:
            try:
                probe.bind(str(path))
            except OSError as error:
                return longest, error
        path.unlink()
        longest = length
    raise AssertionError("no limit below 200 characters")


if __name__ == "__main__":
    limit, refused = longest_socket_path(workspace)
    with multiprocessing.Manager() as manager:
        address = manager.address
    socket_name_length = len(address) - len(str(Path(address).parent.parent))
    long_address_length = len(str(long_tmpdir)) + socket_name_length
    print("the longest socket path bind() took:", limit, "characters")
    print(f"one more: {type(refused).__name__}: {refused}, errno {refused.errno}")
    print(f"a Manager's socket: {Path(address).parent.name}/{Path(address).name}")
    print(
        f"in the long TMPDIR its path would be {long_address_length} characters; "
        f"in the usual one, {len(address)}"
    )
    fallback = hasattr(multiprocessing.util, "_SUN_PATH_MAX")
    print("this Python's multiprocessing checks the length first:", fallback)

# %%
# ``sun_path`` holds 108 bytes on Linux and 104 on macOS, and CPython keeps
# one for a final zero byte (the limit is in bytes: a path with non-ASCII
# characters reaches it sooner): it refuses a longer path itself, before any system
# call, which is why the error has no ``errno`` (``getsockaddrarg`` in
# ``Modules/socketmodule.c``). On macOS the usual temporary directory
# (``/var/folders/...``) already takes about half of that.
#
# Later CPython releases change this: the fix for cpython issue 132124 (merged
# in May 2025; the issue is labelled 3.13, 3.14 and 3.15) makes ``get_temp_dir``
# fall back to the system's temporary directory when ``TMPDIR`` is too long for
# a socket, and shortens the socket's name; cpython issues 140734 (an off-by-one
# in that length check) and 149527 (a forkserver regression, reported in May
# 2026) followed. The line above says whether the Python that built this page
# has the check (``_SUN_PATH_MAX`` in ``multiprocessing/util.py``).
#
# Fix: a short ``TMPDIR`` for the program
# ---------------------------------------
# Start the program with a short temporary directory (``TMPDIR=/tmp python
# program.py``, or in the job's script). That fixes every start method and
# every kind of process. Files the program itself makes in ``TMPDIR`` go there
# too; point them elsewhere explicitly (``tempfile.mkdtemp(dir=...)``) if they
# must stay in the scratch directory.

if __name__ == "__main__":
    short_tmpdir = Path(tempfile.mkdtemp(prefix="t", dir="/tmp"))
    short = run_all(program, method, short_tmpdir)
    print(f"TMPDIR of {len(str(short_tmpdir))} characters:", short)

# %%
# When the environment is not yours: a Manager on TCP
# ---------------------------------------------------
# A Manager given an ``address=("127.0.0.1", 0)`` listens on a local TCP port
# instead of a socket file, so ``TMPDIR`` no longer matters to it. Any local
# user can then connect to that port, and the Manager's authentication key is
# what keeps them out (see :doc:`/howto/remote-managers`). It does not help
# under ``forkserver``, whose own socket is still in ``TMPDIR``.

if __name__ == "__main__":
    tcp = run_program(program, method, "Manager on TCP", long_tmpdir)
    print(f"a Manager on TCP, TMPDIR of {len(str(long_tmpdir))} characters:", tcp)

# %%
# In the error index: :ref:`error-socket-path-too-long`, :ref:`error-manager-eoferror`.

# %%
# What happened
# -------------

if __name__ == "__main__":
    import shutil

    shutil.rmtree(workspace)
    shutil.rmtree(short_tmpdir)
    too_long = "OSError: AF_UNIX path too long"
    failed = [started for started, outcome in long.items() if outcome != "ok"]
    print(
        f"failure reproduced: {'yes' if failed else 'no'} (a TMPDIR of "
        f"{len(str(long_tmpdir))} characters: {', '.join(failed) or 'nothing'} failed)"
    )
    fixed = all(outcome == "ok" for outcome in short.values())
    print(f"fix works: {'yes' if fixed else 'no'} (a short TMPDIR: everything started)")
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        f"A TMPDIR of {len(str(long_tmpdir))} characters",
        [
            Observation(
                label="long TMPDIR",
                result=f"{', '.join(failed)} failed" if failed else "ok",
                ok=not failed,
            ),
            Observation(label="everything, short TMPDIR", result="ok", ok=fixed),
            Observation(label="Manager on TCP, long TMPDIR", result=tcp, ok=tcp == "ok"),
        ],
    )
    assert not fallback and all(outcome == "ok" for outcome in usual.values())
    assert len(address) <= limit < long_address_length
    assert str(refused) == "AF_UNIX path too long" and refused.errno is None
    if method == "forkserver":
        assert long == dict.fromkeys(STARTED, too_long), long
        assert tcp == too_long
    else:
        assert long == {"Process": "ok", "Pool": "ok", "Manager": too_long}, long
        assert tcp == "ok"
    assert fixed
    assert not multiprocessing.active_children()
