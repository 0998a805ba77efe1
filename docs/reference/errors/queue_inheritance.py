"""A ``multiprocessing`` Queue passed to a pool's worker as a task argument."""

from _producer import report, start_context


def send(results):
    results.put("done")


if __name__ == "__main__":
    context = start_context()
    results = context.Queue()
    with context.Pool(1) as pool:
        try:
            pool.apply(send, (results,))
        except Exception as error:
            report(error)
    results.close()
    results.join_thread()
