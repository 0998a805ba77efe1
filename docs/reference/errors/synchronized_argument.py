"""A multiprocessing.Value passed to an executor's task as an argument."""

from concurrent.futures import ProcessPoolExecutor

from _producer import report, start_context


def add_one(counter):
    with counter.get_lock():
        counter.value += 1


if __name__ == "__main__":
    context = start_context()
    counter = context.Value("q", 0)
    with ProcessPoolExecutor(1, mp_context=context) as executor:
        try:
            executor.submit(add_one, counter).result(timeout=60)
        except RuntimeError as error:
            report(error)
