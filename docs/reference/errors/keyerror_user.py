"""The report's KeyError: a managed dict keyed by objects that compare by identity."""

from _producer import report, start_context


class User:
    def __init__(self, name):
        self.name = name


if __name__ == "__main__":
    context = start_context()
    with context.Manager() as manager:
        alice = User("alice")
        user_locks = manager.dict({alice: manager.Lock()})
        try:
            user_locks[alice]  # a pickled copy of alice, equal to no key in the server
        except KeyError as error:
            report(error)
