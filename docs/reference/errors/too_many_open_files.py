"""Pools kept until the process has no file descriptor left."""

import os
import resource

from _producer import not_produced, report, start_context


def open_descriptors():
    return len(os.listdir("/proc/self/fd"))


if __name__ == "__main__":
    context = start_context()
    with context.Pool(1) as pool:  # starts the start method's helper processes
        pool.map(abs, [-1])
    del pool
    before = open_descriptors()
    pools = [context.Pool(1)]
    per_pool = open_descriptors() - before
    # Room for two more pools and three descriptors: the next pool fails while
    # it makes its queues, before it asks a forkserver for a worker.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(
        resource.RLIMIT_NOFILE, (open_descriptors() + 2 * per_pool + 3, hard)
    )
    try:
        for _ in range(10):
            pools.append(context.Pool(1))
        not_produced("ten pools fitted in the limit")
    except OSError as error:
        report(error)
    finally:
        for pool in pools:
            pool.terminate()
            pool.join()
