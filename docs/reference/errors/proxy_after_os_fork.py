"""A process forked with ``os.fork()`` and its parent call one proxy at once."""

import os
import signal

from _producer import not_produced, report, start_context

WAIT = 60  # seconds; a read that waits for a message never sent ends with SIGALRM
CALLS = 2000
ATTEMPTS = 20


def read_own_key(shared, key):
    """Call ``shared[key]`` CALLS times; return the first error, if any."""
    for _ in range(CALLS):
        try:
            shared[key]
        except Exception as error:
            return error
    return None


def attempt(manager):
    shared = manager.dict(parent="parent", child="child")
    shared["parent"]  # this thread's connection to the server is open
    signal.alarm(WAIT)
    pid = os.fork()
    if pid == 0:
        signal.alarm(WAIT)  # a child starts with no alarm
        read_own_key(shared, "child")
        os._exit(0)  # no exit handlers: they would unregister the parent's proxies
    error = read_own_key(shared, "parent")
    os.waitpid(pid, 0)
    signal.alarm(0)
    return error


if __name__ == "__main__":
    context = start_context()
    for _ in range(ATTEMPTS):
        # A fresh manager each time: the one before may still have answers
        # waiting on the connection the two processes shared.
        with context.Manager() as manager:
            error = attempt(manager)
        if error is not None:
            report(error)
            break
    else:
        not_produced(f"no call failed in {ATTEMPTS} attempts of {CALLS} calls")
