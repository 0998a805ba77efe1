"""
Pitfall 10: not *this* ``KeyError``: a proxy whose referent is gone
===================================================================

Searching for "Manager KeyError" also finds a different error:
``RemoteError`` with ``KeyError: '7f3a...'`` at the end of a server traceback.
That key is not yours: it is the id under which the server keeps a shared
object, and the object was already released because no proxy to it was alive
when another process tried to use it. This page produces both errors and shows
how to tell them apart, and how to keep a shared object alive until every
process that needs it holds its own proxy.
"""

# %%
# Why it happens: :doc:`/explanation/how-a-manager-works`.
#
# The message as the build produced it: :ref:`error-remote-keyerror-referent`.

# %%
# The report's ``KeyError``
# -------------------------
# A lookup in the managed dict that finds nothing. The exception *is* a
# ``KeyError``, and its argument is your key.

import multiprocessing
import os
import pickle
import re
from multiprocessing.managers import RemoteError


class User:
    def __init__(self, name):
        self.name = name


def describe(error):
    """Say which of the two errors this is."""
    if isinstance(error, KeyError):
        return f"your key was not found: KeyError({error.args[0]!r})"
    if isinstance(error, RemoteError) and "KeyError: '" in str(error):
        referent_id = str(error).rsplit("KeyError: ", 1)[1].split()[0]
        return (
            f"a shared object was released: referent id {referent_id} unknown to the server"
        )
    return f"something else: {type(error).__name__}"


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())
    manager = context.Manager()
    user_locks = manager.dict({User("alice"): manager.Lock()})
    try:
        user_locks[User("alice")]
    except KeyError as error:
        lookup_error = error
        print(type(error).__name__, "->", describe(error))

# %%
# The other one: a proxy outliving its referent
# ---------------------------------------------
# The server keeps each shared object in a table under an id, with a count of
# the proxies alive anywhere. When the count drops to zero it deletes the
# object. A pickled proxy is not a live proxy: if the last live one dies before
# the pickle is loaded (a proxy put on a queue and dropped by its sender, a
# proxy returned by a worker that then exits), loading it asks the server to
# count one more proxy for an id it has already deleted.

if __name__ == "__main__":
    queries = manager.list(["q1"])
    sent = pickle.dumps(queries)  # what a queue or a pipe would carry
    del queries  # the only live proxy: the server deletes the list now
    try:
        pickle.loads(sent)
    except RemoteError as error:
        released_error = error
        print(type(error).__name__, "->", describe(error))
        server_lines = [line.strip() for line in str(error).splitlines()]
        print("the server's traceback passes through:")
        for line in server_lines:
            if line.startswith(("File", "KeyError")):
                print("   ", re.sub(r'File ".*[/\\]', 'File "', line))  # no directories

# %%
# Telling them apart
# ------------------
# - The report's error is a plain ``KeyError`` raised by a lookup
#   (``__getitem__``), and its argument is the key you passed.
# - The other is a ``multiprocessing.managers.RemoteError`` whose text is the
#   server's traceback, through ``incref`` or ``serve_client``, ending in
#   ``KeyError: '<hex id>'``. It happens when a proxy is *received* (unpickled),
#   or on first use, not on a dict lookup.
#
# Fix: keep a live proxy until the receiver has its own
# -----------------------------------------------------
# Create shared objects in the process that outlives their users (usually the
# parent), keep a reference there while others work, and pass proxies as task
# arguments. Once loaded, the receiver's proxy counts too.

if __name__ == "__main__":
    queries = manager.list(["q1"])
    sent = pickle.dumps(queries)
    received = pickle.loads(sent)  # while ``queries`` is still alive
    del queries  # the received proxy keeps the list alive now
    kept = list(received)
    print("received proxy, after the sender dropped its own:", kept)
    manager.shutdown()

# %%
# What happened
# -------------

if __name__ == "__main__":
    reproduced = describe(released_error).startswith("a shared object was released")
    told_apart = describe(lookup_error).startswith("your key was not found")
    print(
        f"failure reproduced: {'yes' if reproduced else 'no'} "
        "(RemoteError wrapping the server's KeyError on a referent id)"
    )
    print(f"fix works: {'yes' if kept == ['q1'] else 'no'} (a live proxy kept it)")
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        "Two KeyErrors told apart",
        [
            Observation(
                label="referent released",
                result=describe(released_error).split(":")[0],
                ok=not reproduced,
            ),
            Observation(
                label="key not in the dict",
                result=describe(lookup_error).split(":")[0],
                ok=told_apart,
            ),
            Observation(
                label="a live proxy kept",
                result=f"kept {kept}",
                ok=kept == ["q1"],
            ),
        ],
    )
    assert reproduced and told_apart and kept == ["q1"]
