"""``put()`` on a ``Queue(maxsize)`` whose slots are all taken, with a timeout.

Also prints this platform's ``SEM_VALUE_MAX``: the size of a ``Queue()`` given
no ``maxsize``, and the largest one it accepts.
"""

import queue
import time
from multiprocessing.synchronize import SEM_VALUE_MAX

from _producer import report, start_context

SLOTS = 3
WAIT = 0.2  # seconds: how long put() may wait for a free slot

if __name__ == "__main__":
    context = start_context()
    print("SEM_VALUE_MAX:", SEM_VALUE_MAX)
    items = context.Queue(maxsize=SLOTS)
    for number in range(SLOTS):
        items.put(number, timeout=5)
    began = time.monotonic()
    try:
        items.put(SLOTS, timeout=WAIT)
    except queue.Full as error:
        print(f"put(timeout={WAIT}) gave up after {time.monotonic() - began:.2f} s")
        report(error)
    print("then get() returned:", [items.get(timeout=5) for _ in range(SLOTS)])
    items.put(SLOTS, timeout=WAIT)
    print("and put() found a free slot:", items.get(timeout=5))
    items.close()
    items.join_thread()
