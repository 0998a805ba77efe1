"""
``with Pool()`` ends with ``terminate()``: results that never come, "Pool not running"
======================================================================================

A ``with`` block around a ``Pool`` looks like the clean way to shut it down.
It is not a clean shutdown: leaving the block *terminates* the workers, so a
``map_async`` or ``apply_async`` whose result is read after the block never
completes (``get()`` waits for ever, or raises
``multiprocessing.context.TimeoutError`` when given a timeout), and using the
pool again raises ``ValueError: Pool not running``. A pool never shut down at
all is terminated when it is garbage collected, with a ``ResourceWarning``.
This page shows all three, why, and the fixes.
"""

# %%
# Reproduce: read an async result after the block
# -----------------------------------------------

import gc
import multiprocessing
import os
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

TASK_SECONDS = 0.3
GET_WAIT = 3.0  # seconds: ten times what the tasks take
ITEMS = [1, 2, 3, 4]


def slow_square(value):
    time.sleep(TASK_SECONDS)
    return value * value


def error_line(error):
    """The exception as a traceback's last line shows it."""
    name = f"{type(error).__module__}.{type(error).__qualname__}".removeprefix("builtins.")
    return f"{name}: {error}" if str(error) else name


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    print("start method:", context.get_start_method())
    with context.Pool(2) as pool:
        pending = pool.map_async(slow_square, ITEMS)
    started = time.perf_counter()
    try:
        after_block = pending.get(timeout=GET_WAIT)
    except multiprocessing.TimeoutError as error:
        after_block = error_line(error)
    waited = time.perf_counter() - started
    print("get() after the with block:", after_block)
    was_done = pending.ready()
    print("the task was done:", was_done)
    try:
        pool.map(slow_square, ITEMS)
        reused = "worked"
    except ValueError as error:
        reused = error_line(error)
    print("the pool used again:", reused)

# %%
# ``get(timeout=...)`` gave up after the ``GET_WAIT`` seconds it was allowed;
# without a timeout it would wait for ever.
#
# Why
# ---
# ``Pool.__exit__`` calls ``self.terminate()`` (``multiprocessing/pool.py``,
# 3.11 to 3.13): the workers are killed and the tasks still queued or running
# are dropped, so the result object is never filled in. The pool's state
# becomes ``TERMINATE``, and every later ``map``/``apply`` checks it first
# (``Pool._check_running``) and raises ``ValueError("Pool not running")``.
# Python's documentation says so: the context manager "calls ``terminate()``".
# ``ProcessPoolExecutor`` differs: its ``__exit__`` calls ``shutdown(wait=True)``,
# which waits for every submitted task.

if __name__ == "__main__":
    with ProcessPoolExecutor(2, mp_context=context) as executor:
        futures = [executor.submit(slow_square, value) for value in ITEMS]
    executor_results = [future.result(timeout=GET_WAIT) for future in futures]
    print("an executor's results after its with block:", executor_results)

# %%
# A pool that is never shut down
# ------------------------------
# A function that makes a pool, uses it and returns leaves its workers running
# until the pool object is garbage collected; then a finalizer terminates
# them, and ``Pool.__del__`` warns, with a ``ResourceWarning``
# (hidden by Python's default warning filters, shown in development mode,
# ``python -X dev``).


def squares_with_a_forgotten_pool(context):
    pool = context.Pool(1)
    return pool.map(slow_square, ITEMS)


if __name__ == "__main__":
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        forgotten = squares_with_a_forgotten_pool(context)
        gc.collect()
    pool_warnings = [str(w.message) for w in caught if w.category is ResourceWarning]
    del caught  # each warning holds the pool it warns about, as its source
    gc.collect()
    print("a pool never closed:", forgotten, "and", pool_warnings)
    print("its workers left running:", len(multiprocessing.active_children()))

# %%
# Fix: read every result inside the block, or close and join
# ----------------------------------------------------------
# Either call ``get()`` while the pool is still running (inside the block), or
# end with ``pool.close()`` then ``pool.join()``, which lets the workers finish
# what was queued and exit, before the block terminates them. Or use
# ``ProcessPoolExecutor``, whose ``with`` block waits.

if __name__ == "__main__":
    with context.Pool(2) as pool:
        pending = pool.map_async(slow_square, ITEMS)
        inside = pending.get(timeout=GET_WAIT)
    print("get() inside the block:", inside)
    with context.Pool(2) as pool:
        pending = pool.map_async(slow_square, ITEMS)
        pool.close()
        pool.join()
    joined = pending.get(timeout=GET_WAIT)
    print("close() and join() before the block ends:", joined)

# %%
# In the error index: :ref:`error-pool-not-running`, :ref:`error-pool-timeout`,
# :ref:`error-unclosed-pool`.

# %%
# What happened
# -------------

if __name__ == "__main__":
    expected = [value * value for value in ITEMS]
    lost = after_block == "multiprocessing.context.TimeoutError"
    print(
        f"failure reproduced: {'yes' if lost else 'no'} (after the with block, get() "
        f"gave up after {GET_WAIT} s; the pool used again: {reused})"
    )
    fixed = inside == joined == executor_results == expected
    print(f"fix works: {'yes' if fixed else 'no'} (every result, read in time or joined)")
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        "Results read after `with Pool()`",
        [
            Observation(label="get() after the block", result="never came", ok=not lost),
            Observation(label="get() inside the block", result=str(inside), ok=fixed),
            Observation(label="close() + join() first", result=str(joined), ok=fixed),
            Observation(
                label="ProcessPoolExecutor", result=str(executor_results), ok=fixed
            ),
        ],
    )
    assert lost and not was_done and waited >= GET_WAIT
    assert reused == "ValueError: Pool not running"
    assert forgotten == expected and len(pool_warnings) == 1
    assert pool_warnings[0].startswith("unclosed running multiprocessing pool")
    assert fixed
    assert not multiprocessing.active_children()
