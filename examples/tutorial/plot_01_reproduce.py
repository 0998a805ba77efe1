"""
Reproduce the ``KeyError``
==========================

A ``manager.dict`` keyed by ``User`` objects cannot find ``users_list[0]``,
although printing the dict seems to show that user right there. This page runs
the code of the original report, as it was written, and ends with the same
``KeyError: <__main__.User object at 0x...>``. The next page explains it; the
pages after it fix it.
"""

# %%
# The message, with the Python versions and start methods that print it:
# :ref:`error-keyerror-user`.

# %%
# The ingredients
# ---------------
# A ``User`` class that defines neither ``__eq__`` nor ``__hash__``, as in the
# report. ``MPGUIDE_START_METHOD`` chooses how processes start; unset, it is
# your platform's default (``spawn`` on Windows and macOS, ``fork`` on Linux
# before Python 3.14, ``forkserver`` from 3.14).
#
# Every cell that does work sits under ``if __name__ == "__main__":``. Under
# ``spawn`` and ``forkserver`` each new process imports this file again (as a
# module named ``__mp_main__``) to find ``User``; the guard stops it from
# running the demonstration a second time.

import multiprocessing
import os


class User:
    def __init__(self, id, name):
        self.id = id
        self.name = name


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())
    users_list = [User(1, "alice"), User(2, "bob")]

# %%
# The report's code
# -----------------
# Counters as ``manager.Value``, and one ``manager.Lock`` per user in a
# ``manager.dict`` keyed by the ``User`` objects themselves. Printing shows
# both sides: the dict's keys and the users we will look up.

if __name__ == "__main__":
    manager = context.Manager()
    query_times = manager.Value("i", 0)
    constraints_num = manager.Value("i", 0)
    user_locks = manager.dict({user: manager.Lock() for user in users_list})
    print("user_locks", user_locks)
    print("users_list", users_list)
    from mpguide.figures import Observation, draw_outcome

    # sphinx_gallery_failing_thumbnail = False
    # (the page ends with the report's KeyError; its card shows this figure)
    keys = user_locks.keys()  # copies of the dict's keys
    equal_key = any(key == users_list[0] for key in keys)
    draw_outcome(
        "Same users, other objects",
        [
            Observation(
                label="ids of the dict's keys",
                result=", ".join(str(key.id) for key in keys),
                ok=None,
            ),
            Observation(
                label="a key == users_list[0]",
                result="yes" if equal_key else "no",
                ok=equal_key,
            ),
            *(
                Observation(
                    label=f"users_list[{index}]: {user.name}, id {user.id}",
                    result=(
                        f"found in user_locks: {'yes' if user in user_locks else 'no'}"
                    ),
                    ok=user in user_locks,
                )
                for index, user in enumerate(users_list)
            ),
        ],
    )

# %%
# Read the addresses. The dict's keys print at other addresses than the users
# in ``users_list``: they are other objects. Now the report's lookup (we only
# add ``try``/``finally``, so that the manager shuts down although it raises):

if __name__ == "__main__":
    try:
        print(user_locks[users_list[0]])
    finally:
        manager.shutdown()

# %%
# ``KeyError``, exactly as in the report, and the user it names is at yet another
# address: a third object. A ``User`` without ``__eq__`` is equal only to itself,
# so none of these objects matches another. :doc:`plot_02_why` takes the round
# trip apart step by step.
