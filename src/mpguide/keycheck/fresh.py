"""One fresh interpreter, started as ``spawn`` starts a child, examines a batch of keys."""

from __future__ import annotations

import json
import os
import pickle
import queue
import subprocess
import sys
import threading
from multiprocessing import spawn
from pathlib import Path
from typing import IO, Any

from mpguide._fresh_process import RESULT_MARKER

#: Where ``_fresh_process.py`` is, run as a script (it must not import mpguide).
SCRIPT = Path(__file__).resolve().parent.parent / "_fresh_process.py"


def another_hash_seed() -> str:
    """A PYTHONHASHSEED for the fresh interpreter that differs from ours."""
    ours = os.environ.get("PYTHONHASHSEED", "")
    if ours.isdigit():
        return str(int(ours) % 4294967295 + 1)
    # Ours is random (or hashing unsalted): any fixed seed differs.
    return "1"


def examine_in_fresh_interpreter(
    payloads: list[bytes], timeout: float | None
) -> list[dict[str, Any]]:
    """One result per payload, from as few fresh interpreters as possible.

    A result is what :func:`mpguide._fresh_process.examine` returns, or one of
    ``{"prepare_error": ...}``, ``{"timeout": step}`` and ``{"failed": message}``.
    A key that times out or kills its interpreter gets that result; the keys
    after it go to a new interpreter.
    """
    results: list[dict[str, Any]] = []
    while len(results) < len(payloads):
        batch = payloads[len(results) :]
        got, prepared = _run_interpreter(batch, timeout)
        results.extend(got)
        if not prepared:  # the program itself cannot start: no key can load
            results.extend(got[-1] for _ in range(len(payloads) - len(results)))
    return results


def _run_interpreter(
    payloads: list[bytes], timeout: float | None
) -> tuple[list[dict[str, Any]], bool]:
    """Results for a prefix of ``payloads`` (the last may be a failure), and
    whether the interpreter got as far as preparing itself."""
    preparation = spawn.get_preparation_data("mpguide-check-key")
    preparation.pop("authkey", None)  # not needed, and never pickled
    request = pickle.dumps((preparation, payloads))
    env = {**os.environ, "PYTHONHASHSEED": another_hash_seed()}
    lines: queue.Queue[str | None] = queue.Queue()
    errors: list[str] = []
    with subprocess.Popen(
        [sys.executable, "-P", str(SCRIPT)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    ) as process:
        assert process.stdin and process.stdout and process.stderr
        helpers = [
            threading.Thread(target=_write, args=(process.stdin, request), daemon=True),
            threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True),
            threading.Thread(target=_read_tail, args=(process.stderr, errors), daemon=True),
        ]
        for helper in helpers:
            helper.start()
        results, prepared = _collect(lines, len(payloads), timeout)
        if results and "timeout" in results[-1]:
            process.kill()
        process.wait()
        for helper in helpers:
            helper.join()
    if len(results) < len(payloads) and not (results and _is_failure(results[-1])):
        last = errors[-1] if errors else f"exit status {process.returncode}"
        results.append({"failed": f"the interpreter ended before reporting: {last}"})
    return results, prepared


def _collect(
    lines: queue.Queue[str | None], count: int, timeout: float | None
) -> tuple[list[dict[str, Any]], bool]:
    results: list[dict[str, Any]] = []
    prepared = False
    step = "starting and re-importing the main module"
    while len(results) < count:
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            results.append({"timeout": step})
            break
        if line is None:  # the interpreter closed its output
            break
        if not line.startswith(RESULT_MARKER):
            continue
        result: dict[str, Any] = json.loads(line[len(RESULT_MARKER) :])
        if "prepared" in result:
            prepared, step = True, "unpickling and examining it"
            continue
        results.append(result)
        if "prepare_error" in result:
            break
    return results, prepared


def _is_failure(result: dict[str, Any]) -> bool:
    return any(kind in result for kind in ("timeout", "failed", "prepare_error"))


def _write(stream: IO[bytes], data: bytes) -> None:
    try:
        stream.write(data)
        stream.close()
    except OSError:  # the interpreter ended first; its exit status says why
        pass


def _read_lines(stream: IO[bytes], lines: queue.Queue[str | None]) -> None:
    for raw in stream:
        lines.put(raw.decode("utf-8", "replace"))
    lines.put(None)


def _read_tail(stream: IO[bytes], tail: list[str]) -> None:
    for raw in stream:
        text = raw.decode("utf-8", "replace").strip()
        if text:
            tail[:] = [*tail[-4:], text]
