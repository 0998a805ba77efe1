"""A Process object passed to a pool's worker: it carries the authentication key."""

from _producer import report, start_context


def wait_for(process):
    process.join()


if __name__ == "__main__":
    context = start_context()
    child = context.Process(target=abs, args=(-1,))
    with context.Pool(1) as pool:
        try:
            pool.apply(wait_for, (child,))
        except Exception as error:
            report(error)
