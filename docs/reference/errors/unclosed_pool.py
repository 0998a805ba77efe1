"""A pool that its function never closes, garbage collected."""

import gc
import warnings

from _producer import report, start_context


def squares(context):
    pool = context.Pool(1)
    return pool.map(abs, [-1, -2])


if __name__ == "__main__":
    context = start_context()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        squares(context)
        gc.collect()
    messages = [f"ResourceWarning: {w.message}" for w in caught]
    del caught  # each warning holds the pool it warns about
    gc.collect()
    for message in messages:
        report(message)
