"""A pool asked for zero workers, as ``os.cpu_count() - 1`` asks on one CPU."""

from concurrent.futures import ProcessPoolExecutor

from _producer import report, start_context

if __name__ == "__main__":
    context = start_context()
    workers = 1 - 1  # os.cpu_count() - 1 on a machine with one CPU
    try:
        context.Pool(processes=workers)
    except ValueError as error:
        report(error)
    try:
        ProcessPoolExecutor(max_workers=workers, mp_context=context)
    except ValueError as error:
        report(error)
