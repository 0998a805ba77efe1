"""``submit()`` to a ``ProcessPoolExecutor`` whose initializer raised."""

import contextlib
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from _producer import report, start_context


def connect_to_database():
    raise ConnectionRefusedError("the database at db:5432 refused the connection")


if __name__ == "__main__":
    context = start_context()
    with ProcessPoolExecutor(
        1, mp_context=context, initializer=connect_to_database
    ) as executor:
        with contextlib.suppress(BrokenProcessPool):  # the pool breaks here
            executor.submit(abs, -1).result(timeout=60)
        try:
            executor.submit(abs, -1)
        except BrokenProcessPool as error:
            report(error)
