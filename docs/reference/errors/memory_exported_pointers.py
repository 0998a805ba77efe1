"""Closing a shared memory block while a view of its memory still exists.

``np.frombuffer(block.buf, ...)`` holds the same kind of view as the
``memoryview`` cast here, and ``close()`` refuses in the same words.
"""

from multiprocessing import shared_memory

from _producer import report, start_context

if __name__ == "__main__":
    start_context()
    block = shared_memory.SharedMemory(create=True, size=8 * 4)
    try:
        values = block.buf.cast("d")  # a view, like an array made with np.frombuffer
        try:
            block.close()
        except BufferError as error:
            report(error)
        values.release()
    finally:
        block.close()
        block.unlink()
