"""A second ``SharedMemory(name=..., create=True)`` for a name already in use.

The program names its block itself, as a program that shares a block by name
does; the process id in the name keeps runs of this script at once (the site's
builds run several) from meeting each other.
"""

import os
from multiprocessing import shared_memory

from _producer import report, start_context

NAME = f"mpguide_frames_{os.getpid()}"


def create(name):
    """Create a block of that name: raises ``FileExistsError`` while one exists."""
    shared_memory.SharedMemory(name=name, create=True, size=16)


if __name__ == "__main__":
    context = start_context()
    block = shared_memory.SharedMemory(name=NAME, create=True, size=16)
    try:
        with context.Pool(1) as pool:
            try:
                pool.apply(create, (NAME,))  # a second process creates the same name
            except FileExistsError as error:
                report(error)
    finally:
        block.close()
        block.unlink()
