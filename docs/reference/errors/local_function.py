"""A function defined inside another function, sent to a pool."""

from _producer import report, start_context


def main():
    context = start_context()

    def double(x):  # local: pickle cannot name it
        return 2 * x

    with context.Pool(1) as pool:
        try:
            pool.apply(double, (21,))
        except Exception as error:
            report(error)


if __name__ == "__main__":
    main()
