"""An object whose class comes from a module loaded from its file's path (a plugin)."""

import importlib
import importlib.util
import sys
import tempfile
from pathlib import Path

from _producer import report, start_context

PLUGIN = """
class Square:
    def __init__(self, side):
        self.side = side

    def area(self):
        return self.side**2
"""
RESULT_WAIT = 30  # seconds: a bound on each task, which takes milliseconds


def load_from_path(path):
    """Load a module from its file, as plugin loaders do: it is in no
    ``sys.modules`` and on no ``sys.path``, so no other process can import it."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def area(shape):
    return shape.area()


if __name__ == "__main__":
    context = start_context()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "shapes_plugin.py"
        path.write_text(PLUGIN)
        plugin = load_from_path(path)
        with context.Pool(1) as pool:
            try:
                pool.apply_async(area, (plugin.Square(3),)).get(RESULT_WAIT)
            except Exception as error:
                report(error)
        # The fix: the plugin's directory on sys.path before the pool starts,
        # and the plugin imported by its name.
        sys.path.insert(0, directory)
        plugin = importlib.import_module(path.stem)
        with context.Pool(1) as pool:
            result = pool.apply_async(area, (plugin.Square(3),)).get(RESULT_WAIT)
            print("imported by name, the worker computes area:", result)
        sys.path.remove(directory)
