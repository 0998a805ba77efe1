"""
When a proxied call fails: what the error carries, and how to log it
====================================================================

An exception raised by a shared object's method reaches the caller as a
pickled copy of itself (a ``KeyError`` stays a ``KeyError``), but without the
server's traceback: it shows where the *proxy* raised it, not where the method
failed; and an exception class that cannot be rebuilt from its ``args``
arrives as the error of that failed rebuild (here a ``TypeError``) instead.
Any other
failure in the server (a method the proxy may not call, a result that cannot
be pickled, a shared object that is gone) arrives as
``multiprocessing.managers.RemoteError``, whose text *is* the server's
traceback. This page produces both, adds the server's traceback to the first
kind, and logs each.
"""

# %%
# A shared object that fails
# --------------------------
# ``take`` raises ``KeyError`` for an item it does not have; ``lock_for``
# returns a ``threading.Lock``, which cannot be pickled to send back.

import functools
import io
import logging
import multiprocessing
import os
import re
import threading
import traceback
from multiprocessing.managers import BaseManager, RemoteError


class Inventory:
    def __init__(self):
        self._items = {"apples": 3}

    def take(self, item):
        self._items[item] -= 1

    def lock_for(self, item):
        return threading.Lock()


class InventoryManager(BaseManager):
    pass


InventoryManager.register("Inventory", Inventory)


def frames(tb):
    """The function names along a traceback."""
    return [frame.name for frame in traceback.extract_tb(tb)]


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())
    manager = InventoryManager(ctx=context)
    manager.start()
    inventory = manager.Inventory()
    try:
        inventory.take("pears")
    except KeyError as error:
        print("take('pears') raised:", repr(error))
        print("its traceback, in this process:", " -> ".join(frames(error.__traceback__)))
    try:
        inventory.lock_for("apples")
    except RemoteError as error:
        remote = error
        server_text = error.args[0]
        print("lock_for('apples') raised:", type(error).__name__)
        last_line = server_text.strip().splitlines()[-1]
        print("its text ends with the server's error:", last_line)

# %%
# Why
# ---
# The server answers each call with a message (``serve_client`` in
# ``multiprocessing/managers.py``). When the method raises, it sends
# ``('#ERROR', exception)``: the exception object alone, pickled, and the proxy
# raises it again in the caller (``convert_to_error``), so its traceback ends
# in ``_callmethod``. When anything else fails in the server, it sends
# ``('#TRACEBACK', text)`` or ``('#UNSERIALIZABLE', text)`` with
# ``traceback.format_exc()`` as the text, and the proxy raises
# ``RemoteError(text)``: ``error.args[0]`` is the server's traceback (after
# ``Unserializable message:`` for the second kind, which is also what a
# method's exception becomes when it cannot be pickled), and ``str(error)``
# prints it between two lines of dashes. CPython 3.11, 3.12 and 3.13 do the
# same.
#
# An exception that cannot be rebuilt
# -----------------------------------
# "As itself" means as a pickled copy, and ``pickle`` rebuilds an exception by
# calling its class with ``error.args``. ``OutOfStock.__init__`` takes two
# arguments but passes one message to ``Exception.__init__``, so ``args`` holds
# one: the copy cannot be made, and the caller gets the ``TypeError`` of the
# failed rebuild in place of the exception. Passing every argument on to
# ``super().__init__`` (or defining ``__reduce__``) fixes it.


class OutOfStock(Exception):
    def __init__(self, item, left):
        super().__init__(f"{item}: only {left} left")
        self.left = left


class Rebuildable(Exception):
    def __init__(self, item, left):
        super().__init__(item, left)
        self.left = left

    def __str__(self):
        return f"{self.args[0]}: only {self.left} left"


class StrictInventory(Inventory):
    def reserve(self, item, count):
        raise OutOfStock(item, self._items.get(item, 0))

    def reserve_fixed(self, item, count):
        raise Rebuildable(item, self._items.get(item, 0))


InventoryManager.register("StrictInventory", StrictInventory)


def raised_by(call, *args):
    try:
        call(*args)
    except Exception as error:
        return error
    raise AssertionError("the call did not fail")


if __name__ == "__main__":
    manager.shutdown()
    manager = InventoryManager(ctx=context)  # registered after the first start
    manager.start()
    strict = manager.StrictInventory()
    unbuilt = raised_by(strict.reserve, "apples", 5)
    rebuilt = raised_by(strict.reserve_fixed, "apples", 5)
    print("reserve raised OutOfStock in the server; here:", repr(unbuilt))
    print("with every argument passed on:", repr(rebuilt), "->", rebuilt)
    assert isinstance(unbuilt, TypeError) and "missing 1 required" in str(unbuilt)
    assert isinstance(rebuilt, Rebuildable) and rebuilt.left == 3
#
# Keeping the server's traceback of a method's own exception
# ----------------------------------------------------------
# Wrap the shared object's methods, in the server, so that an exception
# carries its traceback as a note (:meth:`BaseException.add_note`, Python
# 3.11+). Notes travel with the pickled exception, and ``traceback`` and
# ``logging`` print them.


def with_server_traceback(cls):
    """Make every public method of ``cls`` attach the server's traceback to errors."""

    def wrap(method):
        @functools.wraps(method)
        def wrapper(*args, **kwargs):
            try:
                return method(*args, **kwargs)
            except Exception as error:
                error.add_note("in the Manager's server:\n" + traceback.format_exc())
                raise

        return wrapper

    for name in dir(cls):
        if not name.startswith("_") and callable(getattr(cls, name)):
            setattr(cls, name, wrap(getattr(cls, name)))
    return cls


@with_server_traceback
class TracedInventory(Inventory):
    pass


InventoryManager.register("TracedInventory", TracedInventory)

# %%
# Logging both
# ------------
# ``logger.exception`` logs the traceback in this process, with the notes;
# for a ``RemoteError`` the message itself is the server's traceback. (The log
# is captured here and printed without directory names.)

if __name__ == "__main__":
    manager.shutdown()
    manager = InventoryManager(ctx=context)  # registered after the first start
    manager.start()
    traced = manager.TracedInventory()
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    logger = logging.getLogger("inventory")
    logger.addHandler(handler)
    logger.propagate = False  # this page's log goes to ``log`` only
    try:
        traced.take("pears")
    except KeyError as error:
        noted = error
        logger.exception("take failed")
    logger.error("lock_for failed: %s", remote)
    logger.removeHandler(handler)
    manager.shutdown()
    logged = log.getvalue()
    for line in logged.splitlines():
        if line.strip() and not set(line.strip()) <= set("-~^"):  # no rules, no carets
            print(re.sub(r'File ".*[/\\]', 'File "', line))

# %%
# The first block is the ``KeyError``: the frames in this process, then the
# note with the server's frames, down to ``take`` and the line that failed.
# The second is the ``RemoteError``: the server's traceback, through
# ``serve_client``, to the pickling error.

if __name__ == "__main__":
    server_frames = "".join(noted.__notes__)
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        "A proxied call fails",
        [
            Observation(
                label="the error raised here",
                result=type(remote).__name__,
                ok=None,
            ),
            Observation(
                label="server frames in its notes",
                result="yes" if "KeyError" in server_frames else "no",
                ok="KeyError" in server_frames,
            ),
            Observation(
                label="server frames in the log",
                result="yes" if "serve_client" in logged else "no",
                ok="serve_client" in logged,
            ),
        ],
    )
    assert "self._items[item] -= 1" in server_frames and "KeyError" in server_frames
    assert "in take" in logged and "serve_client" in logged
    assert "serve_client" in server_text and isinstance(remote, RemoteError)
