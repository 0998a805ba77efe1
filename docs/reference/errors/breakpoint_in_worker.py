"""A pool's worker that calls breakpoint(): its debugger reads end-of-file."""

import sys

from _producer import report, start_context


def stop_here(x):
    # pdb's prompt, which ends with no newline, goes to stderr: on stdout it
    # could run into the parent's message line.
    sys.stdout = sys.stderr
    breakpoint()  # a worker's stdin is os.devnull: pdb reads EOF and quits
    return x


if __name__ == "__main__":
    context = start_context()
    with context.Pool(1) as pool:
        try:
            pool.apply(stop_here, (1,))
        except Exception as error:
            report(error)
