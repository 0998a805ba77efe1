"""A class defined under ``if __name__ == "__main__":``, sent to a child process."""

from _producer import not_produced, report, start_context


def receive(queue, results):
    try:
        queue.get(timeout=30)
        results.put(None)
    except Exception as error:
        results.put(error)


if __name__ == "__main__":
    context = start_context()

    class User:  # only the parent runs this line
        pass

    queue, results = context.Queue(), context.Queue()
    child = context.Process(target=receive, args=(queue, results))
    child.start()
    queue.put(User())
    error = results.get(timeout=60)
    child.join(timeout=60)
    queue.close()
    results.close()
    if error is None:
        not_produced("the child was forked from a parent that had already defined User")
    else:
        report(error)
