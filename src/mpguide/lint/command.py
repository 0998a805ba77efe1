"""``python -m mpguide lint PATH...``: the command line of the linter."""

from __future__ import annotations

import argparse
import os
import sys

from mpguide.lint.output import format_json, format_text, lint_file, python_files
from mpguide.lint.rules import RULES

__all__ = ["EXIT_CLEAN", "EXIT_FINDINGS", "EXIT_UNPARSABLE", "add_lint_parser", "run_lint"]

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
#: A file could not be read or parsed (it is named on standard error).
EXIT_UNPARSABLE = 3

LINT_DESCRIPTION = """\
Find multiprocessing pitfalls in Python source, without running it. Each
finding is printed as path:line:col: CODE message, where the message says the
fix and names the page of the guide that explains it. As in flake8, a line
with "# noqa: MPG001" is not reported for MPG001, and one with a bare "# noqa"
for no code.

rules:
{rules}

exit status:
  0  nothing found
  1  something found
  2  bad arguments (an unknown option, a PATH that does not exist)
  3  a file could not be read or parsed (named on standard error)
"""


def add_lint_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    rules = "\n".join(f"  {code}  {rule.name}" for code, rule in RULES.items())
    lint = commands.add_parser(
        "lint",
        help="find multiprocessing pitfalls in source code",
        description=LINT_DESCRIPTION.format(rules=rules),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    lint.set_defaults(run=run_lint, debug=False)
    lint.add_argument("paths", metavar="PATH", nargs="+", help="a file or a directory")
    lint.add_argument(
        "--select",
        type=codes,
        default=[],
        metavar="CODES",
        help="report only these codes or prefixes, comma-separated (default: all)",
    )
    lint.add_argument(
        "--ignore",
        type=codes,
        default=[],
        metavar="CODES",
        help="do not report these codes or prefixes, comma-separated",
    )
    lint.add_argument(
        "--format", choices=("text", "json"), default="text", help="output format"
    )


def codes(text: str) -> list[str]:
    items = [item.strip().upper() for item in text.split(",") if item.strip()]
    for item in items:
        if not item.isalnum():
            raise argparse.ArgumentTypeError(f"not a code or prefix: {item!r}")
    return items


def run_lint(args: argparse.Namespace, prog: str) -> int:
    missing = [path for path in args.paths if not os.path.exists(path)]
    if missing:
        print(f"{prog}: error: no such file or directory: {missing[0]}", file=sys.stderr)
        return EXIT_USAGE
    results = [
        lint_file(path, args.select, args.ignore) for path in python_files(args.paths)
    ]
    if args.format == "json":
        print(format_json(results))
    else:
        for line in format_text(results):
            print(line)
    status = EXIT_FINDINGS if any(result.findings for result in results) else EXIT_CLEAN
    for result in results:
        if result.failure is not None:
            failure = result.failure
            print(
                f"{prog}: error: {failure.path}:{failure.line}:{failure.col}: "
                f"cannot parse: {failure.message}",
                file=sys.stderr,
            )
            status = EXIT_UNPARSABLE
    return status
