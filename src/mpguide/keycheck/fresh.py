"""Fresh interpreters, started as ``spawn`` starts a child, examine a batch of keys.

Nothing here runs a key's code in the caller's process. The caller's
multiprocessing context is left as found (``spawn.get_preparation_data`` sets
it; the check unsets it again when it was unset), and every process started
here runs in a process group of its own, ended (with whatever a key's module
started in it, such as a Manager's server) once the results are in. Should the
caller end first (killed by ``--timeout``), each interpreter kills its own group
(:func:`_child.end_with_parent`).
"""

from __future__ import annotations

import base64
import contextlib
import json
import multiprocessing
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
import time
from multiprocessing import spawn, util
from pathlib import Path
from typing import IO, Any

from mpguide.keycheck._child import PARENT_VARIABLE, RESULT_MARKER, describe

#: Where ``_child.py`` is, run as a script (it must not import mpguide).
SCRIPT = Path(__file__).resolve().parent / "_child.py"
#: One key's task: payloads of separate pickling calls, payloads re-pickled by
#: another interpreter, and whether to run the probes that reassign attributes.
Task = tuple[list[bytes], list[bytes], bool]
#: Serialises the moment the caller's start method is read and restored.
_CONTEXT_LOCK = threading.Lock()
#: Seconds between looks at whether a silent interpreter has ended.
POLL = 0.2


def another_hash_seed(offset: int = 1) -> str:
    """A PYTHONHASHSEED for a fresh interpreter that differs from ours."""
    ours = os.environ.get("PYTHONHASHSEED", "")
    base = int(ours) if ours.isdigit() else 0  # random or unsalted: any fixed seed differs
    return str((base + offset - 1) % 4294967295 + 1)


def preparation_data() -> dict[str, Any]:
    """What ``spawn`` sends a child, without fixing the caller's start method."""
    with _CONTEXT_LOCK:
        was_set = multiprocessing.get_start_method(allow_none=True) is not None
        try:
            data: dict[str, Any] = spawn.get_preparation_data("mpguide-check-key")
        finally:
            if not was_set:  # get_preparation_data calls get_start_method()
                multiprocessing.set_start_method(None, force=True)
    data.pop("authkey", None)  # not needed, and never pickled
    if not was_set:
        data.pop("start_method", None)
    return data


def command() -> list[str]:
    """The interpreter and its flags, as ``spawn`` starts a child."""
    flags: list[str] = util._args_from_interpreter_flags()  # type: ignore[attr-defined]
    return [spawn.get_executable(), *flags, "-P", str(SCRIPT)]


def examine_in_fresh_interpreters(
    tasks: list[Task], timeout: float | None, seed: str
) -> list[dict[str, Any]]:
    """One outcome per task, from as few fresh interpreters as possible.

    An outcome is ``{"result": ...}`` (what :func:`_child.examine` returned), or
    one of ``{"prepare_error": ...}``, ``{"timeout": step}``, ``{"died": step,
    "how": ...}`` and ``{"failed": message}`` (the interpreter could not start).
    A key that hangs or ends its interpreter gets that outcome; the keys after
    it go to a new interpreter.
    """
    outcomes: list[dict[str, Any]] = []
    while len(outcomes) < len(tasks):
        got, prepared = _run_interpreter(tasks[len(outcomes) :], timeout, seed)
        outcomes.extend(got)
        if not prepared or "failed" in got[-1]:  # no key can load: say so for all
            outcomes.extend(got[-1] for _ in range(len(tasks) - len(outcomes)))
    return outcomes


def repickled(outcome: dict[str, Any]) -> list[bytes]:
    """The copy an interpreter pickled again, as payloads for the next one."""
    text = outcome.get("result", {}).get("repickled")
    return [base64.b64decode(text)] if text else []


def _run_interpreter(
    tasks: list[Task], timeout: float | None, seed: str
) -> tuple[list[dict[str, Any]], bool]:
    """Outcomes for a prefix of ``tasks`` (the last may be a failure), and
    whether the interpreter got as far as preparing itself."""
    request = pickle.dumps((preparation_data(), tasks))
    env = {**os.environ, "PYTHONHASHSEED": seed, PARENT_VARIABLE: str(os.getpid())}
    lines: queue.Queue[str | None] = queue.Queue()
    errors: list[str] = []
    try:
        process = subprocess.Popen(
            command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            bufsize=0,
            start_new_session=os.name == "posix",
        )
    except OSError as error:
        return [{"failed": f"could not start {command()[0]}: {describe(error)}"}], False
    assert process.stdin and process.stdout and process.stderr
    helpers = [
        threading.Thread(target=_write, args=(process.stdin, request), daemon=True),
        threading.Thread(target=read_lines, args=(process.stdout, lines.put), daemon=True),
        threading.Thread(
            target=read_lines, args=(process.stderr, _tail(errors)), daemon=True
        ),
    ]
    for helper in helpers:
        helper.start()
    try:
        outcomes, prepared, step = _collect(lines, len(tasks), timeout, process)
    finally:
        end_group(process)
    for helper in helpers:
        helper.join(1.0)  # a process that left the group may hold a pipe: do not wait
    if len(outcomes) < len(tasks) and not (outcomes and "timeout" in outcomes[-1]):
        how = describe_exit(process.returncode)
        tail = errors[-1] if errors else ""
        if prepared:
            outcomes.append({"died": step, "how": how, "stderr": tail})
        else:
            outcomes.append({"prepare_error": f"the interpreter ended ({how}) {tail}"})
    return outcomes, prepared


def end_group(process: subprocess.Popen[bytes]) -> None:
    """Kill ``process`` and everything still in its process group; reap it."""
    try:
        if os.name == "posix":
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


def describe_exit(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name}"
    return f"exit status {returncode}"


def _collect(
    lines: queue.Queue[str | None],
    count: int,
    timeout: float | None,
    process: subprocess.Popen[bytes],
) -> tuple[list[dict[str, Any]], bool, str]:
    outcomes: list[dict[str, Any]] = []
    prepared = False
    step = "starting and re-importing the main module"
    deadline = None if timeout is None else time.monotonic() + timeout
    while len(outcomes) < count:
        wait = POLL if deadline is None else min(POLL, deadline - time.monotonic())
        try:
            line = lines.get(timeout=max(0.0, wait))
        except queue.Empty:
            if process.poll() is not None:  # ended; a process it started holds the pipe
                try:
                    line = lines.get(timeout=POLL)
                except queue.Empty:
                    break
            elif deadline is not None and time.monotonic() >= deadline:
                outcomes.append({"timeout": step})
                break
            else:
                continue
        if line is None:  # the interpreter closed its output: it ended
            break
        if not line.startswith(RESULT_MARKER):
            continue
        message: dict[str, Any] = json.loads(line[len(RESULT_MARKER) :])
        if "step" in message:
            step = message["step"]
            continue
        if "prepare_error" in message:
            outcomes.append(message)
            break
        if "prepared" in message:
            prepared = True
        else:
            outcomes.append(message)
        step = "unpickling it"
        deadline = None if timeout is None else time.monotonic() + timeout
    return outcomes, prepared, step


def _write(stream: IO[bytes], data: bytes) -> None:
    try:
        stream.write(data)
    except OSError:  # the interpreter ended first; its exit status says why
        pass
    finally:
        with contextlib.suppress(OSError):
            stream.close()


def read_lines(stream: IO[bytes], put: Any) -> None:
    """Pass each line of ``stream`` to ``put``, then ``None``; raw reads, no lock
    that closing the stream elsewhere would wait for. The reader closes it."""
    pending = b""
    with stream:
        fd = stream.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for raw in complete:
                put(raw.decode("utf-8", "replace"))
    if pending:
        put(pending.decode("utf-8", "replace"))
    put(None)


def _tail(tail: list[str]) -> Any:
    """Pass the interpreter's error output on to ours, keeping its last lines."""

    def keep(text: str | None) -> None:
        if text is None:
            return
        with contextlib.suppress(Exception):
            print(text, file=sys.stderr, flush=True)
        if text.strip():
            tail[:] = [*tail[-4:], text.strip()]

    return keep
