"""A worker loops over a managed dict it received."""

from _producer import report, start_context


def loop_over(shared, results):
    try:
        results.put([key for key in shared])
    except AttributeError as error:
        results.put(error)


if __name__ == "__main__":
    context = start_context()
    with context.Manager() as manager:
        shared = manager.dict(a=1)
        results = context.Queue()
        worker = context.Process(target=loop_over, args=(shared, results))
        worker.start()
        report(results.get(timeout=60))
        worker.join(timeout=60)
        results.close()
        results.join_thread()
