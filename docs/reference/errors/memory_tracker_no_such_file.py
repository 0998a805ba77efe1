"""A fork worker attaches to a block created after it started, then exits.

The worker was forked before its parent's resource tracker was running, so it
starts a tracker of its own, which, when the worker exits, unlinks the block
again (the creator already has) and warns.
"""

from _producer import not_produced, report, run_program, start_context

PROGRAM = """
import multiprocessing, os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import shared_memory

def attach(name):
    block = shared_memory.SharedMemory(name=name)
    block.close()

if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ["MPGUIDE_START_METHOD"])
    with ProcessPoolExecutor(1, mp_context=context) as executor:
        executor.submit(int).result(timeout=60)  # the worker exists
        block = shared_memory.SharedMemory(create=True, size=16)
        executor.submit(attach, block.name).result(timeout=60)
        block.unlink()
        block.close()
"""

if __name__ == "__main__":
    method = start_context().get_start_method()
    if method != "fork":
        not_produced(f"{method} workers use their parent's resource tracker")
    else:
        for line in run_program(PROGRAM, method).splitlines():
            if "UserWarning: resource_tracker: '" in line:
                report(line[line.index("UserWarning") :])
