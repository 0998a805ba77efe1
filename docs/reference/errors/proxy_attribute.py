"""An attribute read through the proxy of a registered class."""

from multiprocessing.managers import BaseManager

from _producer import report, start_context


class Counter:
    def __init__(self):
        self.value = 0

    def increment(self):
        self.value += 1


class CounterManager(BaseManager):
    pass


CounterManager.register("Counter", Counter)

if __name__ == "__main__":
    context = start_context()
    with CounterManager(ctx=context) as manager:
        counter = manager.Counter()
        counter.increment()
        try:
            print(counter.value)
        except AttributeError as error:
            report(error)
