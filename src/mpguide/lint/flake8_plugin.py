"""The flake8 plugin: ``flake8 --select=MPG`` reports what ``mpguide lint`` does.

flake8 itself applies ``# noqa``, ``--select`` and ``--ignore``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from mpguide import __version__
from mpguide.lint.engine import analyse

__all__ = ["Plugin"]


class Plugin:
    name = "mpguide"
    version = __version__

    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree

    def run(self) -> Iterator[tuple[int, int, str, type[Plugin]]]:
        for finding in analyse(self.tree):
            yield finding.line, finding.col - 1, finding.message, type(self)
