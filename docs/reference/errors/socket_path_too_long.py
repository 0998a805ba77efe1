"""A Manager started with a TMPDIR too long for its socket's path: what its
server process prints, and the last line of the parent's own traceback."""

import os
import tempfile
from pathlib import Path

from _producer import report, run_program, start_context

PROGRAM = """
import multiprocessing, os

if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ["MPGUIDE_START_METHOD"])
    with context.Manager() as manager:
        manager.dict()
"""

if __name__ == "__main__":
    method = start_context().get_start_method()
    with tempfile.TemporaryDirectory() as directory:
        long_tmpdir = Path(directory) / ("x" * (90 - len(directory)))
        long_tmpdir.mkdir()
        os.environ["TMPDIR"] = str(long_tmpdir)
        stderr = run_program(PROGRAM, method)
    lines = stderr.splitlines()
    for message in dict.fromkeys(
        [next(line for line in lines if line.startswith("OSError")), lines[-1]]
    ):
        report(message)
