"""Starting a process by fork while another thread runs."""

import sys
import threading
import warnings

from _producer import not_produced, report, start_context

if __name__ == "__main__":
    context = start_context()
    stop = threading.Event()
    busy = threading.Thread(target=stop.wait)
    busy.start()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        child = context.Process(target=abs, args=(-1,))
        child.start()
        child.join(timeout=60)
    stop.set()
    busy.join(timeout=60)
    forks = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    if forks:
        report(f"{forks[0].category.__name__}: {forks[0].message}")
    elif context.get_start_method() != "fork":
        not_produced("spawn and forkserver do not fork this process")
    elif sys.version_info < (3, 12):
        not_produced("Python before 3.12 does not warn")
    else:
        not_produced("fork() did not warn")
