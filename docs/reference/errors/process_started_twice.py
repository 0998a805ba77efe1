"""``start()`` called again on a ``Process`` that has already run."""

from _producer import report, start_context

if __name__ == "__main__":
    context = start_context()
    process = context.Process(target=abs, args=(-1,))
    process.start()
    process.join(timeout=60)
    try:
        process.start()  # finished and joined, but still the same Process
    except AssertionError as error:
        report(error)
