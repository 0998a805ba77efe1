"""A done-callback of a ProcessPoolExecutor future raises: it is logged and ignored."""

import logging
from concurrent.futures import ProcessPoolExecutor

from _producer import report, start_context


def save(future):
    raise RuntimeError(f"cannot save {future.result()}")


class Keep(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


if __name__ == "__main__":
    context = start_context()
    kept = Keep()
    logger = logging.getLogger("concurrent.futures")
    logger.addHandler(kept)
    with ProcessPoolExecutor(1, mp_context=context) as executor:
        future = executor.submit(abs, -9)
        future.result(timeout=60)
        future.add_done_callback(save)  # done already: called at once, here
    logger.removeHandler(kept)
    for message in kept.messages:
        report(message)
