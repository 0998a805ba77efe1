"""A process terminated while it waits in ``Queue.get()``: the queue's read lock
stays taken, so a later ``get()`` fails although the queue holds an item. Then
the same consumer stopped by a sentinel, after which the queue still works."""

import queue
import time

from _producer import report, start_context

WAIT = 1.0  # seconds: get()'s timeout, far more than an item takes to arrive


def consume(items):
    items.get()  # waits for an item, holding the queue's read lock


def wait_until_taken(lock, timeout=60):
    """Return once another process holds ``lock``: the consumer, inside get()."""
    deadline = time.monotonic() + timeout
    while lock.acquire(block=False):
        lock.release()
        if time.monotonic() > deadline:
            raise TimeoutError(f"no other process took the lock in {timeout} s")
        time.sleep(0.01)


def consume_until_none(items):
    while items.get() is not None:
        pass


if __name__ == "__main__":
    context = start_context()
    items = context.Queue()
    consumer = context.Process(target=consume, args=(items,))
    consumer.start()
    wait_until_taken(items._rlock)  # the queue's read lock (a private attribute)
    consumer.terminate()
    consumer.join()
    items.put("item")
    began = time.monotonic()
    try:
        items.get(timeout=WAIT)
    except queue.Empty as error:
        print(f"get(timeout={WAIT}) gave up after {time.monotonic() - began:.1f} s")
        report(error)
    print("empty() says:", items.empty())  # it reads the pipe: the item is there
    items.close()
    items.join_thread()  # its item is in the pipe: the feeder thread has ended

    items = context.Queue()
    consumer = context.Process(target=consume_until_none, args=(items,))
    consumer.start()
    items.put(None)  # the sentinel: the consumer leaves get() and returns
    consumer.join()
    items.put("item")
    print("after a consumer stopped by a sentinel, get() returns:", items.get(timeout=WAIT))
