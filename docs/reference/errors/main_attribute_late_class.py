"""A class defined after the Manager started, used as a key in a managed dict.

The server cannot load the key; the client gets a ``RemoteError`` carrying the
server's traceback, whose last line is reported here.
"""

from multiprocessing.managers import RemoteError

from _producer import report, start_context

if __name__ == "__main__":
    context = start_context()
    with context.Manager() as manager:
        users = manager.dict()

        class User:  # the server started before this line ran
            pass

        try:
            users["alice"] = User()
        except RemoteError as error:
            server_lines = [line for line in str(error).splitlines() if line.strip("-")]
            report(server_lines[-1])
