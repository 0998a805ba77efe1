"""A program without ``if __name__ == "__main__":`` that starts a process."""

from _producer import not_produced, report, run_program, start_context

UNGUARDED = """
import multiprocessing, os
context = multiprocessing.get_context(os.environ["MPGUIDE_START_METHOD"])
child = context.Process(target=print, args=("child",))
child.start()
child.join(timeout=60)
"""

if __name__ == "__main__":
    context = start_context()
    stderr = run_program(UNGUARDED, context.get_start_method())
    _, found, message = stderr.partition("RuntimeError: ")
    if found:
        paragraphs = message.strip().split("\n\n")
        report("RuntimeError: " + " ".join(paragraphs[0].split()))
    else:
        not_produced("a forked child does not re-import the main module")
