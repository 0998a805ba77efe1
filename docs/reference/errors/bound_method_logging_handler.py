"""A pool's task is a method of an object that holds a logging handler."""

import logging

from _producer import report, start_context


class Fetcher:
    def __init__(self):
        self.handler = logging.StreamHandler()

    def fetch(self, item):
        return item


if __name__ == "__main__":
    context = start_context()
    with context.Pool(1) as pool:
        try:
            pool.map(Fetcher().fetch, [1])
        except TypeError as error:
            report(error)
