"""Find the CPython interpreters a build can run examples on.

The site shows what examples did on every CPython the build machine has, not
only on the one running Sphinx. An interpreter is found when it answers as
``python3.N`` (N from 11 up) next to the running interpreter or on ``PATH``, or
is named in ``MPGUIDE_PYTHONS`` (executables separated by ``os.pathsep``),
which, when set, replaces the search.
The running interpreter always comes first. Interpreters are told apart by
their ``major.minor`` version; the first found of each is kept.

``mpguide`` is pure Python with no dependencies, so another interpreter runs an
example with the running one's ``mpguide`` on ``PYTHONPATH``
(:func:`environment_for`), without installing anything.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import mpguide

OLDEST_MINOR = 11
NEWEST_MINOR = 20
VARIABLE = "MPGUIDE_PYTHONS"


@dataclasses.dataclass(frozen=True, order=True)
class Interpreter:
    """One CPython: its full version (``3.12.1``) and its executable."""

    version: str
    executable: str

    @property
    def minor(self) -> str:
        """``3.12`` for ``3.12.1``."""
        return ".".join(self.version.split(".")[:2])

    @property
    def is_running(self) -> bool:
        """Whether this is the interpreter running the build."""
        return self.executable == sys.executable


def running() -> Interpreter:
    """The interpreter running this code."""
    return Interpreter(platform.python_version(), sys.executable)


def probe(executable: str, timeout: float = 20) -> Interpreter | None:
    """The CPython that ``executable`` runs, or None if it does not answer as one.

    A pyenv shim for a version that is not enabled exits with an error; so does
    anything that is not a CPython 3. A shim or a symlink is resolved to the
    interpreter's own ``sys.executable``.
    """
    code = (
        "import platform, sys; "
        "print(platform.python_implementation(), platform.python_version(), "
        "sys.version_info[0]); print(sys.executable)"
    )
    try:
        done = subprocess.run(
            [executable, "-I", "-c", code],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = done.stdout.splitlines()
    if done.returncode != 0 or len(lines) != 2:
        return None
    words = lines[0].split()
    if len(words) != 3 or words[0] != "CPython" or words[2] != "3" or not lines[1]:
        return None
    return Interpreter(words[1], lines[1])


def candidates(environ: Mapping[str, str]) -> list[str]:
    """Executables to try: ``MPGUIDE_PYTHONS`` if set, else ``python3.N`` next to the
    running interpreter (a virtual environment's ``bin``) or on ``PATH``."""
    named = environ.get(VARIABLE, "").strip()
    if named:
        return [part for part in named.split(os.pathsep) if part.strip()]
    beside = str(Path(sys.executable).parent)
    search = os.pathsep.join(filter(None, [beside, environ.get("PATH")]))
    found = []
    for minor in range(OLDEST_MINOR, NEWEST_MINOR + 1):
        path = shutil.which(f"python3.{minor}", path=search)
        if path:
            found.append(path)
    return found


def find_interpreters(environ: Mapping[str, str] | None = None) -> list[Interpreter]:
    """The running interpreter, then every other CPython found, one per minor version.

    :raises ValueError: if ``MPGUIDE_PYTHONS`` names something that is not a
        working CPython 3 (a typo there should not quietly shrink the matrix).
    """
    environ = os.environ if environ is None else environ
    found = [running()]
    explicit = bool(environ.get(VARIABLE, "").strip())
    for executable in candidates(environ):
        interpreter = probe(executable)
        if interpreter is None:
            if explicit:
                raise ValueError(
                    f"{VARIABLE} names {executable!r}, which is not a CPython 3"
                )
            continue
        if all(known.minor != interpreter.minor for known in found):
            found.append(interpreter)
    head, rest = found[0], sorted(found[1:], key=lambda i: version_key(i.version))
    return [head, *rest]


def version_key(version: str) -> tuple[int, ...]:
    """``"3.12.1"`` as ``(3, 12, 1)``, for sorting (a suffix such as ``rc1`` is dropped)."""
    parts = []
    for part in version.split("."):
        digits = "".join(c for c in part if c.isdigit()) or "0"
        parts.append(int(digits))
    return tuple(parts)


def by_version(interpreters: list[Interpreter]) -> list[Interpreter]:
    """The same interpreters, oldest first."""
    return sorted(interpreters, key=lambda i: version_key(i.version))


def stage_package(directory: Path) -> Path:
    """Copy this ``mpguide``'s source into ``directory``; return what to put on PYTHONPATH.

    Another interpreter must not see the running one's ``site-packages`` (its
    compiled modules and backports are for another version), so only the
    package itself is copied. Unchanged files are left alone.
    """
    source = Path(mpguide.__file__).resolve().parent
    target = directory / "mpguide"
    for path in sorted(source.rglob("*")):
        if "__pycache__" in path.parts or path.is_dir():
            continue
        copy = target / path.relative_to(source)
        data = path.read_bytes()
        if not copy.exists() or copy.read_bytes() != data:
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_bytes(data)
    return directory


def environment_for(
    interpreter: Interpreter, base: Mapping[str, str], staged: Path
) -> dict[str, str]:
    """``base`` with ``mpguide`` importable by ``interpreter`` from ``staged``."""
    env = dict(base)
    if interpreter.is_running:
        return env
    existing = env.get("PYTHONPATH")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(staged), existing]))
    return env
