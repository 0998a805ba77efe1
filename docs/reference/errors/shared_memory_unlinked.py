"""Attaching to a shared memory block by name after it was unlinked."""

from multiprocessing import shared_memory

from _producer import report, start_context

if __name__ == "__main__":
    start_context()
    block = shared_memory.SharedMemory(create=True, size=16)
    name = block.name
    block.close()
    block.unlink()
    try:
        shared_memory.SharedMemory(name=name)
    except FileNotFoundError as error:
        report(error)
