"""check_keys on keys of ``adversarial_keys``, and what it left of this process.

Usage: ``python check_corpus.py NAME...``. Prints one JSON object: the state
of this process before and after (start method, threads, child processes,
stack size) and each key's report. Run as a script, as a program would: the
copyreg reducer of ``Guarded`` is registered under the main guard.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import threading
from pathlib import Path
from typing import Any

import adversarial_keys as corpus

from mpguide import check_keys


def children() -> list[int]:
    """Pids of this process's live children (Linux)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return sorted(found)


def state() -> dict[str, Any]:
    return {
        "start_method": multiprocessing.get_start_method(allow_none=True),
        "threads": sorted(thread.name for thread in threading.enumerate()),
        "children": children(),
        "stack_size": threading.stack_size(),
    }


if __name__ == "__main__":
    corpus.register_main_only()
    names = sys.argv[1:]
    keys = [corpus.BUILDERS[name]() for name in names]
    before = state()
    reports = check_keys(keys, timeout=5)
    after = state()
    print(
        json.dumps(
            {
                "before": before,
                "after": after,
                "reports": {
                    name: r.to_dict() for name, r in zip(names, reports, strict=True)
                },
            }
        ),
        flush=True,
    )
