"""A wrapper whose ``__getattr__`` forwards to the object it wraps, sent through
a queue and to a process pool's worker; then the same wrapper with a
``__getattr__`` that refuses the wrapped object's own name."""

from concurrent.futures import ProcessPoolExecutor

from _producer import report, start_context

WAIT = 5  # seconds: a bound on get(), far more than the round trip takes


class Wrapper:
    """Exposes the wrapped object's attributes as its own."""

    def __init__(self, wrapped):
        self.wrapped = wrapped

    def __getattr__(self, name):
        return getattr(self.wrapped, name)


class FixedWrapper(Wrapper):
    def __getattr__(self, name):
        if name == "wrapped":  # not set yet: the object is being unpickled
            raise AttributeError(name)
        return getattr(self.wrapped, name)


if __name__ == "__main__":
    context = start_context()
    with ProcessPoolExecutor(1, mp_context=context) as executor:
        try:
            executor.submit(len, Wrapper(b"payload")).result(timeout=60)
        except Exception as error:
            print("a worker sent it as a task:", type(error).__name__)
    queue = context.Queue()
    queue.put(Wrapper(b"payload"))
    try:
        queue.get(timeout=WAIT)
    except RecursionError as error:
        report(error)
    queue.put(FixedWrapper(b"payload"))
    received = queue.get(timeout=WAIT)
    print("the fixed wrapper arrives:", received.wrapped, received.upper())
    queue.close()
    queue.join_thread()
