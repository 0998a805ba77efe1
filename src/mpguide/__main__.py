"""``python -m mpguide``: see :mod:`mpguide.cli`."""

from mpguide.cli import main

if __name__ == "__main__":
    raise SystemExit(main(prog="python -m mpguide"))
