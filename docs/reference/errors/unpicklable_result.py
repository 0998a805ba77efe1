"""A worker that returns a generator: the result cannot travel back."""

from _producer import report, start_context


def users():
    return (name for name in ("alice", "bob"))


if __name__ == "__main__":
    context = start_context()
    with context.Pool(1) as pool:
        try:
            pool.apply(users)
        except Exception as error:
            report(error)
