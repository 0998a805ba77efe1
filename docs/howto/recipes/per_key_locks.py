"""Per-user locks without a Manager: a stripe of locks, handed to pool workers."""

import hashlib
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor


class KeyedLocks:
    """A fixed stripe of locks; each key's lock is picked by a hash every process agrees on.

    Python's hash() of a str is salted per interpreter, so a spawn or forkserver
    worker would pick another lock than its parent: hash the key's repr instead.
    Keys are ints, strs, bytes, floats and tuples of them, and equal keys get
    one lock (1, 1.0 and True are equal, but their reprs differ, so each is
    turned into one form first); any other key is refused. Create the stripe
    before the workers start, from their context, and hand it to them at start.
    """

    def __init__(self, count, context):
        self._locks = [context.Lock() for _ in range(count)]

    def index_for(self, key):
        digest = hashlib.blake2b(repr(one_form(key)).encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") % len(self._locks)

    def hold(self, key):
        return self._locks[self.index_for(key)]


def one_form(key):
    """The same value for keys that compare equal: True and 1.0 become 1."""
    if type(key) is bool or (type(key) is float and key.is_integer()):
        return int(key)
    if type(key) in (int, float, str, bytes):
        return key
    if type(key) is tuple:
        return tuple(one_form(part) for part in key)
    raise TypeError(
        f"a {type(key).__name__} key: use an int, str, bytes, float or a tuple of "
        "them (such as the user's id), whose equal values look alike in every process"
    )


USER_IDS = [1, 2]
shared = {}  # filled once in each worker by share()


def share(locks, query_times, queries_per_user):
    shared.update(locks=locks, query_times=query_times, per_user=queries_per_user)


def handle_query(user_id):
    with shared["locks"].hold(user_id):
        shared["per_user"][USER_IDS.index(user_id)] += 1  # this user's data
    query_times = shared["query_times"]
    with query_times.get_lock():
        query_times.value += 1


def main():
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    # Locks and shared memory reach workers by inheritance: create them first,
    # from the context that starts the workers, and pass them to the initializer.
    locks = KeyedLocks(count=64, context=context)
    query_times = context.Value("q", 0)
    queries_per_user = context.Array("q", len(USER_IDS), lock=False)
    with ProcessPoolExecutor(
        max_workers=4,
        mp_context=context,
        initializer=share,
        initargs=(locks, query_times, queries_per_user),
    ) as pool:
        jobs = [pool.submit(handle_query, user_id) for user_id in USER_IDS * 10]
        for job in jobs:
            job.result()  # re-raises any exception from the worker
    print("query_times:", query_times.value)
    assert query_times.value == 20
    assert list(queries_per_user) == [10, 10]


if __name__ == "__main__":
    main()
