"""A program that exits without unlinking its shared memory."""

from _producer import report, run_program, start_context

LEAKY = """
import os
from multiprocessing import shared_memory
block = shared_memory.SharedMemory(create=True, size=16)
block.close()
os._exit(0)  # no unlink(): the resource tracker cleans up, and says so
"""

if __name__ == "__main__":
    context = start_context()
    stderr = run_program(LEAKY, context.get_start_method())
    for line in stderr.splitlines():
        if "UserWarning: resource_tracker:" in line:
            report(line[line.index("UserWarning") :])
