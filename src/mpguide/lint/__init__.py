"""``mpguide lint``: the site's multiprocessing pitfalls, found in source code.

One engine (:func:`analyse`, over the standard library's ``ast``) serves the
command line (``python -m mpguide lint PATH...``), the flake8 plugin, and the
pages, which show what it prints for their broken code (:func:`lint_snippet`).
"""

from __future__ import annotations

import ast
import textwrap

from mpguide.lint.engine import Finding, analyse
from mpguide.lint.output import FileResult, format_text
from mpguide.lint.rules import RULES, Rule

__all__ = ["RULES", "Finding", "Rule", "analyse", "lint_snippet"]


def lint_snippet(source: str, path: str = "snippet.py") -> list[str]:
    """What ``python -m mpguide lint`` prints for ``source`` saved as ``path``, one
    line per finding (``path:line:col: CODE message``); ``source`` may be indented."""
    findings = analyse(ast.parse(textwrap.dedent(source)))
    return list(format_text([FileResult(path, tuple(findings))]))
