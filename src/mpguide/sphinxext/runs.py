"""The run engine of the build's script-running extensions.

The start-method matrix and the error index both run scripts as a reader would,
on every interpreter and under every start method (:class:`Job`), and keep what
each run printed so that an unchanged rebuild runs nothing. :func:`run_jobs`
runs them in parallel, each in a controlled environment and with a time limit
that takes every process it started; caches each output under a key of the
script, its helper modules, the ``mpguide`` package, the interpreter's version,
the start method and the interpreter's options (:meth:`Runner.key`); keeps every
output that came, even when other runs failed; and reports every failure, not
only the first. Every script runs as the tests run one (:data:`SCRIPT_FLAGS`,
:data:`LEAK_SIGNS`), so that the tests read what a build saved
(:meth:`Runner.saved_output`) instead of running it again. One setting,
``mpguide_pythons``, says which versions both extensions should run
(:func:`interpreters_for`): one the build does not find is named on the page,
or, with ``CI`` set, fails the build.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util import logging

import mpguide
from mpguide.sphinxext.interpreters import (
    Interpreter,
    environment_for,
    find_interpreters,
    stage_package,
)

logger = logging.getLogger(__name__)

CACHE_VARIABLE = "MPGUIDE_CACHE_DIR"
KEPT_MPGUIDE_VARIABLES = ("MPGUIDE_START_METHOD",)
#: How every script runs, in the build and in the tests: development mode's checks
#: (its warnings shown, a fault handler), an unclosed resource an error.
SCRIPT_FLAGS = ("-X", "dev", "-W", "error::ResourceWarning")
#: A line of a run's stderr holding one of these fails the run: a resource left
#: unclosed, or a semaphore or shared memory block that the resource tracker freed.
LEAK_SIGNS = ("ResourceWarning", "leaked semaphore", "leaked shared_memory")
PYTHONS_SETTING = "mpguide_pythons"
SUPPORTED_PYTHONS = ("3.11", "3.12", "3.13")
#: What an extension reads from a run's output (:func:`run_jobs`'s ``parse``).
Result = TypeVar("Result")


def controlled_environment(base: Mapping[str, str], method: str) -> dict[str, str]:
    """``base`` without what would change a run: ``PYTHON*``, other mpguide settings.

    A ``PYTHONHASHSEED`` left in the build's environment by an earlier step
    (Dask's worker nanny sets one in its own process) would give every run one
    hash salt and hide the failures that need two.
    """
    env = {
        name: value
        for name, value in base.items()
        if not name.startswith("PYTHON")
        and (not name.startswith("MPGUIDE_") or name in KEPT_MPGUIDE_VARIABLES)
    }
    env["MPGUIDE_START_METHOD"] = method
    env["MPLBACKEND"] = "Agg"
    # Development mode without its debug allocator, which checks how C code uses
    # memory (no example has any) and adds 15-20 % to a run's CPU time.
    env["PYTHONMALLOC"] = "pymalloc"
    return env


def run_bounded(
    command: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run ``command``; past ``timeout`` kill it with every process it started.

    :raises subprocess.TimeoutExpired: after the kill.
    """
    own_group = os.name == "posix"
    with subprocess.Popen(
        list(command),
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=own_group,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            if own_group:
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()
            process.communicate()
            raise
    return subprocess.CompletedProcess(list(command), process.returncode, stdout, stderr)


def cache_path(app: Sphinx, name: str) -> Path:
    """``name`` in ``MPGUIDE_CACHE_DIR`` if set (shared by builds), else in the doctrees."""
    return Path(os.environ.get(CACHE_VARIABLE) or app.doctreedir) / name


def load_cache(path: Path) -> dict[str, Any]:
    """The cached results, or none when the file is missing or unreadable."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_cache(path: Path, cache: Mapping[str, Any], current: Iterable[str]) -> None:
    """Write the cache: all of it when shared, else only the ``current`` keys.

    A shared cache may be written by several builds at once (the test suite
    builds the site in parallel): entries another build saved meanwhile are
    kept, and the file is replaced in one step, so no reader sees half of it.
    """
    shared = bool(os.environ.get(CACHE_VARIABLE))
    kept = {**load_cache(path), **cache} if shared else dict(cache)
    if not shared:
        wanted = set(current)
        kept = {key: value for key, value in kept.items() if key in wanted}
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    ) as temporary:
        temporary.write(json.dumps(kept, indent=1, sort_keys=True))
    os.replace(temporary.name, path)


def package_digest() -> str:
    """Changes whenever any source file of the ``mpguide`` package does."""
    digest = hashlib.sha256()
    package = Path(mpguide.__file__).parent
    for source in sorted(package.rglob("*.py")):
        digest.update(source.read_bytes())
    return digest.hexdigest()


@dataclasses.dataclass(frozen=True)
class Job:
    """One script, on one interpreter, under one start method."""

    script: Path
    interpreter: Interpreter
    method: str

    def __str__(self) -> str:
        version = self.interpreter.version
        return f"{self.script.name} on Python {version} under {self.method}"


class RunFailed(Exception):
    """A run did not end as it should; the message names its job."""


@dataclasses.dataclass(frozen=True)
class Runner:
    """How an extension runs its scripts.

    Outputs are saved in ``cache_name`` (in ``MPGUIDE_CACHE_DIR`` when set).
    ``flags`` go to the interpreter before the script; a line of the run's
    stderr holding one of ``leak_signs`` fails the run; ``helpers`` is a glob,
    beside each script, of the modules it imports, part of its cache key.
    """

    what: str  # "error index: %d producer runs", for the log
    error: type[ExtensionError]
    cache_name: str
    flags: tuple[str, ...] = SCRIPT_FLAGS
    leak_signs: tuple[str, ...] = LEAK_SIGNS
    helpers: str | None = None

    def key(self, job: Job, package: str) -> str:
        """Changes whenever the script, a helper, ``package`` (a digest of mpguide),
        the interpreter's version, the start method, the flags or the leak signs do."""
        digest = hashlib.sha256()
        helpers = sorted(job.script.parent.glob(self.helpers)) if self.helpers else []
        for path in [job.script, *helpers]:
            data = path.read_bytes()
            digest.update(f"{path.name}\0{len(data)}\0".encode() + data)
        fields = [package, job.interpreter.version, job.method, *self.flags, "|"]
        digest.update("\0".join([*fields, *self.leak_signs]).encode())
        return digest.hexdigest()

    def saved_output(self, job: Job, package: str) -> str | None:
        """What a build's successful run of ``job`` printed, as saved in the shared
        cache (``MPGUIDE_CACHE_DIR``); ``None`` when no such run was saved."""
        cache_dir = os.environ.get(CACHE_VARIABLE)
        if not cache_dir:
            return None
        saved = load_cache(Path(cache_dir) / self.cache_name).get(self.key(job, package))
        return saved if isinstance(saved, str) else None

    def run(self, job: Job, timeout: float, staged: Path) -> str:
        """Run ``job``'s script as a reader would; return what it printed.

        :raises RunFailed: on a time-out, a non-zero exit, or a leak sign on stderr.
        """
        env = environment_for(
            job.interpreter, controlled_environment(os.environ, job.method), staged
        )
        command = [job.interpreter.executable, *self.flags, str(job.script)]
        try:
            done = run_bounded(command, cwd=job.script.parent, env=env, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RunFailed(
                f"{job} did not finish within {timeout:g} s; it was killed with the "
                "processes it started"
            ) from None
        if done.returncode != 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-15:])
            raise RunFailed(f"{job} failed with exit status {done.returncode}:\n{tail}")
        signs = self.leak_signs
        leaks = [line for line in done.stderr.splitlines() if any(s in line for s in signs)]
        if leaks:
            raise RunFailed(f"{job} left resources behind: {leaks}")
        return done.stdout


def run_jobs(
    runner: Runner,
    jobs: Sequence[Job],
    parse: Callable[[str, Job], Result],
    *,
    timeout: float,
    cache_file: Path,
) -> dict[Job, Result]:
    """Every job's output as ``parse`` reads it, cached outputs reused.

    The jobs not cached run in parallel. Each output that ``parse`` accepts is
    cached, and the cache is saved, even when other jobs failed.

    :raises ~sphinx.errors.ExtensionError: ``runner.error``, naming every job
        that failed or whose output ``parse`` refused (with an ``ExtensionError``).
    """
    cache = load_cache(cache_file)
    package = package_digest()
    keys = {job: runner.key(job, package) for job in jobs}
    results: dict[Job, Result] = {}
    to_run = []
    for job in jobs:
        cached = cache.get(keys[job])
        if isinstance(cached, str):
            results[job] = parse(cached, job)
        else:
            to_run.append(job)
    failures = []
    try:
        if to_run:
            logger.info(runner.what, len(to_run))
            with (
                tempfile.TemporaryDirectory(prefix="mpguide-runs-") as directory,
                ThreadPoolExecutor(max_workers=parallel_runs()) as pool,
            ):
                staged = stage_package(Path(directory))
                futures = [pool.submit(runner.run, job, timeout, staged) for job in to_run]
                for job, future in zip(to_run, futures, strict=True):
                    try:
                        output = future.result()
                        results[job] = parse(output, job)
                    except (RunFailed, ExtensionError) as error:
                        failures.append(str(error))
                        continue
                    cache[keys[job]] = output
    finally:  # what did run is kept, even when another run failed
        save_cache(cache_file, cache, keys.values())
    if failures:
        raise runner.error("\n\n".join(failures))
    return results


def parallel_runs() -> int:
    """How many scripts run at once: one more than there are CPUs, at most 4.

    A run mostly waits (on the processes it starts, on its own time bounds): two
    runs at a time on 2 CPUs kept 1.37 of them busy in CI's docs step. The
    tests, too, run one worker more than there are CPUs (``noxfile.py``).
    """
    return max(2, min(4, (os.cpu_count() or 1) + 1))


def add_pythons_setting(app: Sphinx) -> None:
    """Register ``mpguide_pythons``, once for every extension that reads it."""
    if PYTHONS_SETTING not in app.config:
        app.add_config_value(PYTHONS_SETTING, SUPPORTED_PYTHONS, "env", (tuple, list))


def missing_versions(
    expected: Iterable[str], interpreters: Sequence[Interpreter]
) -> list[str]:
    """The ``3.N`` versions in ``expected`` that none of ``interpreters`` is."""
    found = {i.minor for i in interpreters}
    return [version for version in expected if version not in found]


def interpreters_for(
    app: Sphinx, label: str, error: type[ExtensionError]
) -> tuple[list[Interpreter], list[str]]:
    """The interpreters to run on, and the versions of ``mpguide_pythons`` not found.

    :raises ~sphinx.errors.ExtensionError: ``error``, if ``MPGUIDE_PYTHONS`` names
        something that is not a CPython, or a version is missing and the ``CI``
        environment variable is set.
    """
    try:
        interpreters = find_interpreters()
    except ValueError as problem:
        raise error(str(problem)) from None
    missing = missing_versions(getattr(app.config, PYTHONS_SETTING), interpreters)
    if missing:
        message = f"{label}: no Python {', '.join(missing)} found on this machine"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            raise error(f"{message}, and CI is set: CI must run every version")
        logger.info("%s; the page says so", message)
    return interpreters, missing
