"""A second ``SharedMemory(name=..., create=True)`` for a name already in use.

The name is fixed, as a program's own names are, so two runs of this script at
once (the site's builds run several) would meet each other: the first creation
waits while another run holds the name.
"""

import time
from multiprocessing import shared_memory

from _producer import report, start_context

NAME = "mpguide_frames"


def create(name):
    """Create a block of that name: raises ``FileExistsError`` while one exists."""
    shared_memory.SharedMemory(name=name, create=True, size=16)


def create_first(name, wait=30):
    """The block, once no other run of this script holds the name."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return shared_memory.SharedMemory(name=name, create=True, size=16)
        except FileExistsError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


if __name__ == "__main__":
    context = start_context()
    block = create_first(NAME)
    try:
        with context.Pool(1) as pool:
            try:
                pool.apply(create, (NAME,))  # a second process creates the same name
            except FileExistsError as error:
                report(error)
    finally:
        block.close()
        block.unlink()
