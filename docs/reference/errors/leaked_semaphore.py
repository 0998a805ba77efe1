"""A program that exits without releasing its named semaphore."""

from _producer import not_produced, report, run_program, start_context

LEAKY = """
import multiprocessing, os
context = multiprocessing.get_context(os.environ["MPGUIDE_START_METHOD"])
lock = context.Lock()
os._exit(0)  # the lock's finalizer never runs
"""

if __name__ == "__main__":
    context = start_context()
    stderr = run_program(LEAKY, context.get_start_method())
    lines = [
        line for line in stderr.splitlines() if "UserWarning: resource_tracker" in line
    ]
    if lines:
        report(lines[0][lines[0].index("UserWarning") :])
    else:
        not_produced("under fork a semaphore is unlinked as soon as it is created")
