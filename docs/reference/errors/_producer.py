"""What every producer on the "Error messages" page shares.

A producer is a script that makes one error (or warning) happen, catches it and
prints it as a line ``message: <JSON string>``, exactly as a traceback would
show its last line. When the start method in use cannot produce it, the script
prints ``not produced: <why>`` instead. ``MPGUIDE_START_METHOD`` chooses the
start method (unset: the platform's default).
"""

import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path


def start_context():
    """The context for ``MPGUIDE_START_METHOD``, announced as every example does."""
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD") or None)
    print("start method:", context.get_start_method())
    return context


def shown(error):
    """The last line(s) of the traceback ``error`` would print."""
    return "".join(traceback.format_exception_only(type(error), error)).rstrip()


def report(message):
    """Print a message: an exception, or text (a warning, a line of stderr)."""
    if isinstance(message, BaseException):
        message = shown(message)
    print("message:", json.dumps(message))


def not_produced(why):
    print("not produced:", why)


def report_start(process, why_not):
    """Start ``process`` and report what starting it raised (pickling its
    target or arguments, under spawn and forkserver); if it started, wait for
    it and say ``why_not``."""
    try:
        process.start()
    except Exception as error:
        report(error)
    else:
        process.join(timeout=60)
        not_produced(why_not)


def run_program(source, start_method, timeout=60):
    """Run ``source`` as a program file in a fresh interpreter; return its stderr.

    For messages that a process prints to stderr as it ends (or that a helper
    process of it prints), which only a parent can capture. The run ends when
    every process holding its stderr has exited, helpers included.
    """
    env = {**os.environ, "MPGUIDE_START_METHOD": start_method}
    with tempfile.TemporaryDirectory() as directory:
        program = Path(directory) / "program.py"
        program.write_text(source)
        done = subprocess.run(
            [sys.executable, str(program)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=directory,
            check=False,
        )
    return done.stderr
