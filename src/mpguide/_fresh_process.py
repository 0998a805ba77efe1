"""Run by :func:`mpguide.check_key` as a fresh interpreter, like a spawned process.

It reads the parent's preparation data and a pickled key from stdin, prepares
itself exactly as a ``spawn`` or ``forkserver`` child does (same ``sys.path``,
same working directory, the parent's ``__main__`` re-imported as
``__mp_main__``), unpickles the key and reports what this interpreter makes of
it on the last line of stdout. The key's own code may print; only the marked
line is the result. This file imports nothing from ``mpguide``: the child knows
the parent's ``sys.path`` only once prepared.
"""

from __future__ import annotations

import json
import pickle
import sys
from multiprocessing import spawn

RESULT_MARKER = "mpguide-fresh-process-result:"


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def hash_of(key: object) -> tuple[int | None, str | None]:
    try:
        return hash(key), None
    except BaseException as error:  # the key's own code: report, never crash
        if isinstance(error, KeyboardInterrupt):
            raise
        return None, describe(error)


def main() -> None:
    preparation, payload, cached_attribute = pickle.load(sys.stdin.buffer)
    result: dict[str, object] = {}
    try:
        spawn.prepare(preparation)
    except BaseException as error:  # the parent's __main__, re-run here, failed
        if isinstance(error, KeyboardInterrupt):
            raise
        result["prepare_error"] = describe(error)
        print(RESULT_MARKER + json.dumps(result), flush=True)
        return
    try:
        key = pickle.loads(payload)
    except BaseException as error:
        if isinstance(error, KeyboardInterrupt):
            raise
        result["unpickle_error"] = describe(error)
    else:
        result["hash"], result["hash_error"] = hash_of(key)
        if cached_attribute is not None:
            uncached = pickle.loads(payload)
            vars(uncached).pop(cached_attribute, None)
            result["recomputed_hash"], result["recompute_error"] = hash_of(uncached)
    print(RESULT_MARKER + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
