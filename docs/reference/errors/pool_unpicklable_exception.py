"""A Pool worker raises an exception that cannot be rebuilt in the parent."""

import re

from _producer import not_produced, report, run_program, start_context

PROGRAM = """
import multiprocessing, os, threading, time


class QueryError(Exception):
    def __init__(self, query, code):
        super().__init__(f"query {query!r} failed with code {code}")


def run_query(query):
    raise QueryError(query, code=42)


def result_thread_alive():
    return any(t.name.endswith("(_handle_results)") for t in threading.enumerate())


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ["MPGUIDE_START_METHOD"])
    pool = context.Pool(1)
    pool.apply_async(run_query, ("SELECT 1",))
    deadline = time.monotonic() + 30
    while result_thread_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    pool.terminate()  # raises: a result is pending, and no thread to receive it
"""

if __name__ == "__main__":
    context = start_context()
    stderr = run_program(PROGRAM, context.get_start_method())
    found = re.findall(r"^(?:TypeError|AssertionError): .*$", stderr, re.M)
    for line in found:
        report(line)
    if not found:
        not_produced(f"the program printed {stderr[-300:]!r}")
