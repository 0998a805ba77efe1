"""``python -m mpguide.bench`` plus this site's own cost: a cold build of a copy
of the site, then a rebuild with nothing changed (``nox -s bench`` runs it).

Run from anywhere: ``python benchmarks/docs_build.py [--quick] [--json PATH]``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the site's helpers, shared with the tests

from docs_site import build_site, copy_site  # noqa: E402

from mpguide import bench  # noqa: E402


def main() -> int:
    with tempfile.TemporaryDirectory() as scratch:
        docs = copy_site(ROOT / "docs", Path(scratch))

        def build(start_method: str) -> None:
            result = build_site(docs, start_method)
            if result.returncode != 0:
                raise RuntimeError(  # say why: Sphinx's own output
                    f"the docs build failed (exit {result.returncode}):\n"
                    f"{result.stdout[-5000:]}{result.stderr[-5000:]}"
                )

        return bench.main(build_docs=build)


if __name__ == "__main__":
    raise SystemExit(main())
