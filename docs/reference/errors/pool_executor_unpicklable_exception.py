"""A ProcessPoolExecutor worker raises an exception that cannot be rebuilt in the
parent: the executor breaks, and the unpickling error is the cause."""

import re
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from _producer import report, shown, start_context


class QueryError(Exception):
    def __init__(self, query, code):
        super().__init__(f"query {query!r} failed with code {code}")


def run_query(query):
    raise QueryError(query, code=42)


if __name__ == "__main__":
    context = start_context()
    with ProcessPoolExecutor(1, mp_context=context) as executor:
        try:
            executor.submit(run_query, "SELECT 1").result(timeout=60)
        except BrokenProcessPool as error:
            # The end of the traceback as printed: the cause's last line, the
            # chaining sentence, and the BrokenProcessPool line.
            cause = re.findall(r"^\w+Error: .*$", str(error.__cause__), re.M)[-1]
            report(
                f"{cause}\n'''\n\nThe above exception was the direct cause of the "
                f"following exception:\n\n…\n{shown(error)}"
            )
