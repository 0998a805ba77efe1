"""A process started from a script whose ``__main__`` has no ``__spec__``, as a
script run by ``pdb`` before 3.11.9 and 3.12.3, or by a runner that empties
``__main__``'s namespace, has."""

import sys

from _producer import report_start, start_context

if __name__ == "__main__":
    context = start_context()
    main_namespace = sys.modules["__main__"].__dict__
    spec = main_namespace.pop("__spec__")
    try:
        report_start(context.Process(target=len, args=((),)), "fork prepares nothing")
    finally:
        main_namespace["__spec__"] = spec
