"""Per-user locks in a Manager dict, keyed by tokens from a key registry."""

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor


class KeyRegistry:
    """Process-wide unique int tokens for objects that have no id of their own.

    The counter lives in shared memory, so no two processes hand out the same
    token. Identity is per process: register objects where they are created and
    send the token along with the object. Registered objects are kept alive, so
    their ids (addresses) are never reused for another object.
    """

    def __init__(self, context):
        self._next_token = context.Value("q", 1)
        self._tokens = {}  # id(obj) -> (obj, token)

    def register(self, obj):
        if id(obj) not in self._tokens:
            with self._next_token.get_lock():
                token = self._next_token.value
                self._next_token.value += 1
            self._tokens[id(obj)] = (obj, token)
        return self._tokens[id(obj)][1]


class User:  # no id, no __eq__: only identity tells users apart
    def __init__(self, name):
        self.name = name


def handle_query(token, user, user_locks, query_times, counter_lock):
    with user_locks[token]:
        pass  # work on this user's data here
    with counter_lock:
        query_times.value += 1


def main():
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    registry = KeyRegistry(context)
    users = [User("sam"), User("sam")]
    tokens = {registry.register(user): user for user in users}
    with context.Manager() as manager:
        user_locks = manager.dict({token: manager.Lock() for token in tokens})
        query_times, counter_lock = manager.Value("i", 0), manager.Lock()
        with ProcessPoolExecutor(max_workers=4, mp_context=context) as pool:
            jobs = [
                pool.submit(
                    handle_query,
                    token=token,
                    user=user,
                    user_locks=user_locks,
                    query_times=query_times,
                    counter_lock=counter_lock,
                )
                for token, user in list(tokens.items()) * 10
            ]
            for job in jobs:
                job.result()  # re-raises any exception from the worker
        print("query_times:", query_times.value)
        assert query_times.value == 20


if __name__ == "__main__":
    main()
