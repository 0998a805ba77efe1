"""Per-user locks in a Manager dict, keyed by User objects: the report's KeyError."""

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor


class User:
    def __init__(self, id, name):
        self.id = id
        self.name = name


def handle_query(user, user_locks, query_times, counter_lock):
    with user_locks[user]:
        pass  # work on this user's data here
    with counter_lock:
        query_times.value += 1


def main():
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    users = [User(id=1, name="alice"), User(id=2, name="bob")]
    with context.Manager() as manager:
        user_locks = manager.dict({user: manager.Lock() for user in users})
        query_times, counter_lock = manager.Value("i", 0), manager.Lock()
        with ProcessPoolExecutor(max_workers=4, mp_context=context) as pool:
            jobs = [
                pool.submit(
                    handle_query,
                    user=user,
                    user_locks=user_locks,
                    query_times=query_times,
                    counter_lock=counter_lock,
                )
                for user in users * 10
            ]
            for job in jobs:
                job.result()  # re-raises any exception from the worker
        print("query_times:", query_times.value)
        assert query_times.value == 20


if __name__ == "__main__":
    main()
