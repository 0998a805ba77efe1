"""A sqlite3 connection, opened in the parent, passed to a new process as an argument."""

import sqlite3

from _producer import report_start, start_context


def ask_database(connection):
    return connection.execute("select 1").fetchone()


if __name__ == "__main__":
    context = start_context()
    connection = sqlite3.connect(":memory:")
    try:
        report_start(
            context.Process(target=ask_database, args=(connection,)),
            "a forked child gets a copy of the connection without pickling it",
        )
    finally:
        connection.close()
