"""``mpguide lint``: the site's multiprocessing pitfalls, found in source code.

One engine (:func:`lint_source`, over the standard library's ``ast``) serves the
command line (``python -m mpguide lint PATH...``) and the flake8 plugin.
"""

from __future__ import annotations

from mpguide.lint.engine import Finding, analyse
from mpguide.lint.rules import RULES, Rule

__all__ = ["RULES", "Finding", "Rule", "analyse"]
