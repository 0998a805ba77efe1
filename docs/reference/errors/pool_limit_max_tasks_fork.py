"""A ProcessPoolExecutor that replaces its workers, given a fork context."""

from concurrent.futures import ProcessPoolExecutor

from _producer import not_produced, report, start_context

if __name__ == "__main__":
    context = start_context()
    try:
        with ProcessPoolExecutor(2, mp_context=context, max_tasks_per_child=4) as executor:
            executor.submit(abs, -1).result(timeout=60)
    except ValueError as error:
        report(error)
    else:
        not_produced("the executor accepts spawn and forkserver contexts")
