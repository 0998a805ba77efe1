"""A process forked with ``os.fork()`` and its parent call one proxy at once."""

import os
import signal

from _producer import not_produced, report, start_context

WAIT = 20  # seconds; a read that waits for a message never sent ends with SIGALRM
CALLS = 2000
ATTEMPTS = 20


class Stuck(Exception):
    """Both processes waited for an answer that the other one had read."""


def on_alarm(signum, frame):
    raise Stuck


def read_own_key(shared, key):
    """Call ``shared[key]`` CALLS times; return the first error, if any."""
    for _ in range(CALLS):
        try:
            shared[key]
        except Stuck:
            raise
        except Exception as error:
            return error
    return None


def attempt(manager):
    """The error the parent got, if any; raises Stuck if it waited for good."""
    shared = manager.dict(parent="parent", child="child")
    shared["parent"]  # this thread's connection to the server is open
    pid = os.fork()
    if pid == 0:
        try:
            signal.alarm(WAIT)  # a child starts with no alarm
            read_own_key(shared, "child")
        finally:
            # Skip exit handlers: they would join the parent's children
            # ("can only join a child process").
            os._exit(0)
    signal.alarm(WAIT)
    try:
        return read_own_key(shared, "parent")
    finally:
        signal.alarm(0)
        os.waitpid(pid, 0)


if __name__ == "__main__":
    context = start_context()
    signal.signal(signal.SIGALRM, on_alarm)
    for _ in range(ATTEMPTS):
        # A fresh manager each time: the one before may still have answers
        # waiting on the connection the two processes shared.
        with context.Manager() as manager:
            try:
                error = attempt(manager)
            except Stuck:  # the race took another form: try again
                continue
        if error is not None:
            report(error)
            break
    else:
        not_produced(f"no call failed in {ATTEMPTS} attempts of {CALLS} calls")
