"""A function defined with no main file (a notebook, ``python -c``), run by a child."""

from _producer import not_produced, report, run_program, start_context

# What a notebook cell or ``python -c`` runs: __main__ has no file to re-import.
INTERACTIVE = """
import multiprocessing, os, subprocess, sys
code = '''
import multiprocessing, os
context = multiprocessing.get_context(os.environ["MPGUIDE_START_METHOD"])
def double(x):
    return 2 * x
child = context.Process(target=double, args=(21,))
child.start()
child.join(timeout=60)
'''
subprocess.run([sys.executable, "-c", code], timeout=60, check=False)
"""

if __name__ == "__main__":
    context = start_context()
    stderr = run_program(INTERACTIVE, context.get_start_method())
    lines = [line for line in stderr.splitlines() if "Can't get attribute" in line]
    if lines:
        report(lines[-1])
    else:
        not_produced("a forked child inherits the function from its parent's memory")
