"""A worker that writes to a page of shared memory with nothing behind it."""

import faulthandler
import mmap
import os
import re
from multiprocessing import shared_memory

from _producer import not_produced, report, start_context


def write_past_the_file(name):
    faulthandler.disable()  # development mode's handler would print a traceback
    block = shared_memory.SharedMemory(name=name)  # maps both pages
    os.ftruncate(block._fd, mmap.PAGESIZE)  # the file keeps one page
    block.buf[mmap.PAGESIZE] = 1  # the second page has nothing behind it: SIGBUS
    block.close()  # never reached


if __name__ == "__main__":
    context = start_context()
    block = shared_memory.SharedMemory(create=True, size=2 * mmap.PAGESIZE)
    try:
        worker = context.Process(target=write_past_the_file, args=(block.name,))
        worker.start()
        worker.join(timeout=60)
    finally:
        block.close()
        block.unlink()
    if worker.exitcode is None:
        worker.kill()
        worker.join(timeout=5)
        not_produced("the worker did not end")
    else:
        # The worker's process id and its parent's change on every run.
        report(re.sub(r"\bparent=\d+", "parent=…", repr(worker)))
