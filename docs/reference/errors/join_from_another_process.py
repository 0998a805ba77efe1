"""A child that joins a sibling: a ``Process`` object its parent started."""

from _producer import not_produced, report, shown, start_context


def check_on(worker, results):
    """What ``join()`` and ``is_alive()`` on the parent's ``Process`` raise here."""
    raised = []
    for call in (worker.join, worker.is_alive):
        try:
            call()
        except AssertionError as error:
            raised.append(shown(error))
    results.send(raised)
    results.close()


if __name__ == "__main__":
    context = start_context()
    worker = context.Process(target=abs, args=(-1,))
    worker.start()
    receiving, sending = context.Pipe(duplex=False)
    checker = context.Process(target=check_on, args=(worker, sending))
    try:
        checker.start()  # under fork the child gets the Process without pickling
    except TypeError as error:
        not_produced(f"a started Process cannot be sent to a new process: {shown(error)}")
    else:
        sending.close()
        for message in receiving.recv():
            report(message)
        checker.join(timeout=60)
    sending.close()
    receiving.close()
    worker.join(timeout=60)
