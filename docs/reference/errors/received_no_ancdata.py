"""Sockets received through a Queue and kept, by a process near its fd limit."""

import os
import resource
import socket

from _producer import not_produced, report, start_context

SENT = 20
HEADROOM = 8  # free descriptors left to the receiver: it fails well before SENT
WAIT = 60


def open_descriptors():
    return len(os.listdir("/proc/self/fd"))


def send_sockets(queue, done):
    """Put SENT sockets on the queue; each is pickled as a ``DupFd``, which this
    process's resource sharer hands over when the receiver unpickles it."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(SENT)]
    for sock in sockets:
        queue.put(sock)
    queue.close()
    queue.join_thread()  # every socket pickled, so each one's duplicate is kept
    for sock in sockets:
        sock.close()
    done.wait(WAIT)  # serve the duplicates until the receiver is done


if __name__ == "__main__":
    context = start_context()
    queue, done = context.Queue(), context.Event()
    sender = context.Process(target=send_sockets, args=(queue, done))
    sender.start()
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (open_descriptors() + HEADROOM, limit[1]))
    received = []
    try:
        for _ in range(SENT):
            received.append(queue.get(timeout=WAIT))  # kept, as tensors are
        not_produced(f"{SENT} sockets fitted in the limit")
    except RuntimeError as error:
        report(error)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, limit)
        done.set()
        sender.join(WAIT)
        for sock in received:
            sock.close()
        print("received before the error:", len(received))
