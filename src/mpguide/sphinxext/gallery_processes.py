"""Run sphinx-gallery examples that start processes as if they were scripts.

sphinx-gallery executes an example inside the ``sphinx-build`` process, in a
synthetic ``__main__`` module that has no file. Under the ``spawn`` and
``forkserver`` start methods a child process rebuilds ``__main__`` from the
parent's, so it cannot find classes or functions the example defines
(``AttributeError: Can't get attribute ...``). A Manager's server then fails to
unpickle them; a ``Process`` exits with code 1. A ``Pool`` whose task function
cannot be found loses each task with a dead worker (the pool replaces it) and
then waits in ``map`` forever; its workers die and are replaced forever only
when the pool's *initializer* cannot be found, since the initializer travels
with each worker's start-up data while tasks travel through the task queue
(``multiprocessing/pool.py``, CPython 3.11 to 3.13).

This extension makes every child started while an example runs do what it does
for ``python example.py``: re-import the example file as ``__mp_main__`` (its
``if __name__ == "__main__":`` block does not run). In the build process it
points ``sys.modules["__mp_main__"]`` at the example's module, so objects that
children send back unpickle. It also

* makes the chosen start method (``mpguide_start_method``, else the environment
  variable ``MPGUIDE_START_METHOD``, else ``spawn``) the default while each
  example runs, so ``Pool()``, ``Process`` and ``ProcessPoolExecutor()`` use it;
  only the default, as ``mpguide run`` does, so an example's own first
  ``set_start_method(...)`` still works.
  It is validated, exported to the examples in ``MPGUIDE_START_METHOD``, and
  recorded in each gallery directory with the interpreter's version: when
  either changes, the cached outputs there are deleted, so no page shows what
  another start method or another Python did (sphinx-gallery itself re-runs an
  example only when its source changes);
* restores, after each example, the build process's ``os.environ``, working
  directory, ``sys.path``, signal handlers and default start method, so no
  example changes what runs after it (Dask's Nanny, for one, sets
  ``PYTHONHASHSEED`` in the process that starts it);
* bounds each example's run time (``mpguide_example_timeout`` seconds): an
  example still running then fails with :class:`ExampleTimeoutError` naming it,
  and if even that cannot interrupt it the build exits with every thread's
  traceback shortly after;
* fails an example that has no ``if __name__ == "__main__":`` block and starts a
  process that would import it again (under ``spawn`` or ``forkserver``), with
  :class:`MissingMainGuardError`, instead of letting children re-run it;
* terminates child processes an example left running, with a warning naming the
  example (an error under ``sphinx-build -W``), except the workers of loky's
  reusable executor (joblib's ``Parallel``), which loky keeps for the next call
  on purpose: they are left running, and the executor is shut down with its own
  ``shutdown`` at the end of the build;
* checks that each example listed in ``mpguide_expected_errors`` (path relative
  to the Sphinx source directory, mapped to an exception name) failed with
  exactly that exception, not with some other error;
* shortens the file paths in tracebacks shown on example pages: the examples'
  own paths become relative to their project (``examples/...``), and the
  standard library's begin with ``<stdlib>``, so no page shows where it was
  built (``mpguide_shorten_paths = False`` keeps them absolute).

It brackets each example with a hook that it adds to sphinx-gallery's
``reset_modules``, and sets ``reset_modules_order = "both"`` so the hook runs
after each example too; a project that sets another order, or enables
sphinx-gallery's ``parallel`` execution (examples would run in worker processes
this extension does not control), gets an error saying what to change.
"""

from __future__ import annotations

import ast
import faulthandler
import multiprocessing
import multiprocessing.spawn
import os
import platform
import re
import shutil
import signal
import sys
import sysconfig
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ExtensionError
from sphinx.util import logging

from mpguide.run import (
    StartMethodError,
    check_start_method,
    restore_start_methods,
    start_methods_now,
    use_as_default_start_method,
)

logger = logging.getLogger(__name__)

#: The environment variable that examples and tests read.
START_METHOD_VARIABLE = "MPGUIDE_START_METHOD"
#: The start method used when none is chosen. It is what macOS and Windows
#: use, and the strictest, since children inherit nothing.
DEFAULT_START_METHOD = "spawn"
#: File in each gallery output directory naming the method its outputs came from.
BUILD_STAMP = ".mpguide-build"
#: The sphinx-gallery setting this extension needs, and the value it needs.
RESET_ORDER = ("reset_modules_order", "both")

#: The signal that interrupts an example running too long; Windows has none, and
#: there only the faulthandler backstop ends the build.
_ALARM: signal.Signals | None = getattr(signal, "SIGALRM", None)

#: Seconds the build waits, after an example timed out, for it to unwind
#: before faulthandler dumps every thread and exits.
HARD_EXIT_GRACE = 30.0


#: Modules whose ``_executor`` is a process pool that its library keeps for the
#: next call on purpose: loky's reusable executor, on which joblib's ``Parallel``
#: runs. Its workers outlive each example, and the build shuts it down at its end.
REUSABLE_EXECUTOR_MODULES = (
    "joblib.externals.loky.reusable_executor",
    "loky.reusable_executor",
)


class ExampleTimeoutError(RuntimeError):
    """An example ran longer than ``mpguide_example_timeout`` seconds."""


class MissingMainGuardError(RuntimeError):
    """An example without ``if __name__ == "__main__":`` started a child that
    would re-import it, and so run its top-level code again."""


def has_main_guard(source: str) -> bool:
    """Whether a module's top level has an ``if __name__ == "__main__":`` block."""
    for node in ast.parse(source).body:
        if not isinstance(node, ast.If):
            continue
        # __name__ == "__main__", also as one term of an "and"
        tests = node.test.values if isinstance(node.test, ast.BoolOp) else [node.test]
        for test in tests:
            if isinstance(test, ast.Compare):
                operands = [test.left, *test.comparators]
                names = {o.id for o in operands if isinstance(o, ast.Name)}
                constants = {o.value for o in operands if isinstance(o, ast.Constant)}
                if "__name__" in names and "__main__" in constants:
                    return True
    return False


def reusable_executors() -> list[Any]:
    """The reusable executors (see :data:`REUSABLE_EXECUTOR_MODULES`) alive now."""
    executors: list[Any] = []
    for name in REUSABLE_EXECUTOR_MODULES:
        executor = getattr(sys.modules.get(name), "_executor", None)
        if executor is not None and executor not in executors:
            executors.append(executor)
    return executors


def kept_processes() -> set[multiprocessing.process.BaseProcess]:
    """The workers of :func:`reusable_executors`, which their library keeps."""
    kept: set[multiprocessing.process.BaseProcess] = set()
    for executor in reusable_executors():
        kept.update((getattr(executor, "_processes", None) or {}).values())
    return kept


@dataclass
class ProcessSettings:
    """What an example may change in the build process, and ``restore`` puts back."""

    environ: dict[str, str]
    cwd: str
    sys_path: list[str]
    #: What :func:`signal.getsignal` returned for each signal.
    signal_handlers: dict[signal.Signals, Any]
    #: The method set in the process (``None``: none yet), and the default.
    start_methods: tuple[str | None, str]

    @classmethod
    def capture(cls) -> ProcessSettings:
        """The build process's settings now (signal handlers only in the main thread)."""
        in_main_thread = threading.current_thread() is threading.main_thread()
        return cls(
            environ=dict(os.environ),
            cwd=os.getcwd(),
            sys_path=list(sys.path),
            signal_handlers=(
                {sig: signal.getsignal(sig) for sig in signal.valid_signals()}
                if in_main_thread
                else {}
            ),
            start_methods=start_methods_now(),
        )

    def restore(self) -> list[str]:
        """Put every setting back; return what had changed, for the build log."""
        changed = []
        added = sorted(set(os.environ) - set(self.environ))
        modified = sorted(k for k, v in self.environ.items() if os.environ.get(k) != v)
        for name in added:
            del os.environ[name]
        for name in modified:
            os.environ[name] = self.environ[name]
        changed += [f"os.environ[{name!r}]" for name in sorted(added + modified)]
        if os.getcwd() != self.cwd:
            os.chdir(self.cwd)
            changed.append("the working directory")
        if sys.path != self.sys_path:
            sys.path[:] = self.sys_path
            changed.append("sys.path")
        for sig, handler in self.signal_handlers.items():
            if handler is not None and signal.getsignal(sig) != handler:
                signal.signal(sig, handler)
                # Real-time signals are plain ints, without a name.
                changed.append(f"the {getattr(sig, 'name', sig)} handler")
        if start_methods_now() != self.start_methods:
            restore_start_methods(self.start_methods)
            changed.append("the default start method")
        return changed


@dataclass
class _RunningExample:
    name: str
    timeout: float
    settings: ProcessSettings
    previous_mp_main: ModuleType | None = None
    module: ModuleType | None = None
    main_guard: bool | None = None


class GalleryProcesses:
    """State of the extension: which example runs now, and the patched hooks."""

    def __init__(self) -> None:
        self.build_main: ModuleType | None = sys.modules.get("__main__")
        self.running: _RunningExample | None = None
        self.timeout = 0.0
        self.start_method = DEFAULT_START_METHOD
        self._original_preparation_data: Callable[[str], dict[str, Any]] | None = None

    # -- install / uninstall -------------------------------------------------

    def install(self) -> None:
        """Wrap ``multiprocessing.spawn.get_preparation_data`` (undocumented) once."""
        if self._original_preparation_data is not None:
            return
        original = multiprocessing.spawn.get_preparation_data
        self._original_preparation_data = original

        def get_preparation_data(name: str) -> dict[str, Any]:
            data = original(name)
            self._point_child_at_example(data)
            return data

        multiprocessing.spawn.get_preparation_data = get_preparation_data

    def uninstall(self) -> None:
        if self._original_preparation_data is not None:
            original = self._original_preparation_data
            multiprocessing.spawn.get_preparation_data = original  # type: ignore[assignment]
            self._original_preparation_data = None

    # -- while an example runs ------------------------------------------------

    def _point_child_at_example(self, data: dict[str, Any]) -> None:
        running = self.running
        if running is None:
            return
        example_path = Path(sys.argv[0])
        if example_path.name != running.name:
            raise ExtensionError(
                f"mpguide.sphinxext: a process was started while {running.name} ran, "
                f"but sys.argv[0] is {sys.argv[0]!r}; this sphinx-gallery version "
                "no longer sets it to the example, so children cannot find it"
            )
        if running.main_guard is None:
            running.main_guard = has_main_guard(example_path.read_text(encoding="utf-8"))
        if not running.main_guard:
            raise MissingMainGuardError(
                f"{running.name} has no 'if __name__ == \"__main__\":' block, but "
                "starts a process that re-imports it (the spawn and forkserver start "
                "methods do, for a script too): the child would run the example's top "
                "level again, and start processes again. Put the code that starts "
                "processes under 'if __name__ == \"__main__\":', and keep only "
                "imports, functions and classes above it"
            )
        data.pop("init_main_from_name", None)
        data["init_main_from_path"] = str(example_path.resolve())
        self._alias_mp_main(running)

    def _alias_mp_main(self, running: _RunningExample) -> None:
        # While a code block executes, sphinx-gallery's module is __main__.
        current_main = sys.modules.get("__main__")
        if running.module is None and current_main is not self.build_main:
            running.module = current_main
            running.previous_mp_main = sys.modules.get("__mp_main__")
            sys.modules["__mp_main__"] = current_main  # type: ignore[assignment]

    def reset_hook(self, gallery_conf: dict[str, Any], fname: str, when: str) -> None:
        """sphinx-gallery ``reset_modules`` callable: brackets each example."""
        if fname is None:  # entering a directory of examples
            return
        if when == "before":
            self.running = _RunningExample(
                name=Path(fname).name,
                timeout=self.timeout,
                settings=ProcessSettings.capture(),
            )
            # Only the default, as mpguide run does: the example's own first
            # set_start_method() still works, without force=True.
            use_as_default_start_method(self.start_method)
            self._arm_timer(self.running)
        else:
            self._finish(self.running)
            self.running = None

    def _finish(self, running: _RunningExample | None) -> None:
        self._disarm_timer()
        if running is None:
            return
        alarm_handler = running.settings.signal_handlers.get(_ALARM)  # type: ignore[arg-type]
        if _ALARM is not None and alarm_handler is not None:
            signal.signal(_ALARM, alarm_handler)  # ours, from _arm_timer: no news
        if multiprocessing.get_start_method(allow_none=True) in (None, self.start_method):
            # ours, from reset_hook: no news either
            restore_start_methods(running.settings.start_methods)
        if running.module is not None:
            if running.previous_mp_main is None:
                sys.modules.pop("__mp_main__", None)
            else:
                sys.modules["__mp_main__"] = running.previous_mp_main
        kept = kept_processes()
        leftovers = [c for c in multiprocessing.active_children() if c not in kept]
        for child in leftovers:
            child.terminate()
        for child in leftovers:
            child.join(5)
        if leftovers:
            logger.warning(
                "%s left %d child process(es) running (%s); they were terminated. "
                "Fix the example: shut managers and pools down (use them in a "
                "with block) and join every Process before it ends.",
                running.name,
                len(leftovers),
                ", ".join(child.name for child in leftovers),
                type="mpguide",
                subtype="leftover_process",
            )
        changed = running.settings.restore()
        if changed:
            logger.info(
                "mpguide: %s changed %s; restored for the next example",
                running.name,
                ", ".join(changed),
            )

    # -- time limit ------------------------------------------------------------

    def _arm_timer(self, running: _RunningExample) -> None:
        if running.timeout <= 0:
            return
        if _ALARM is not None and threading.current_thread() is threading.main_thread():
            signal.signal(_ALARM, self._on_alarm)
            signal.setitimer(signal.ITIMER_REAL, running.timeout)
        # Backstop when the alarm cannot interrupt the example.
        faulthandler.dump_traceback_later(running.timeout + HARD_EXIT_GRACE, exit=True)

    def _disarm_timer(self) -> None:
        faulthandler.cancel_dump_traceback_later()
        if _ALARM is not None and threading.current_thread() is threading.main_thread():
            signal.setitimer(signal.ITIMER_REAL, 0)

    def _on_alarm(self, signum: int, frame: FrameType | None) -> None:
        running = self.running
        name = running.name if running is not None else "an example"
        sys.__stderr__.write(  # type: ignore[union-attr]
            f"\nmpguide: {name} is still running after {self.timeout:g} s; "
            "terminating its child processes and interrupting it\n"
        )
        # Otherwise unwinding would wait again, e.g. for a pool's stuck worker.
        for child in multiprocessing.active_children():
            child.terminate()
        raise ExampleTimeoutError(
            f"{name} did not finish within {self.timeout:g} seconds "
            "(mpguide_example_timeout); a worker or the manager is probably stuck. "
            "Make the example finish, or raise mpguide_example_timeout in conf.py "
            "if it is only slow"
        )


#: The extension's state in this build process.
STATE = GalleryProcesses()


class ResetHook:
    """The ``reset_modules`` callable added to sphinx-gallery's configuration.

    Sphinx pickles its configuration, and sphinx-gallery compares its ``repr``
    between builds, so this holds no state and has a constant ``repr``.
    """

    def __call__(self, gallery_conf: dict[str, Any], fname: str, when: str) -> None:
        STATE.reset_hook(gallery_conf, fname, when)

    def __repr__(self) -> str:
        return f"{__name__}.ResetHook()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ResetHook)

    def __hash__(self) -> int:
        return hash(ResetHook)


def start_method_from_environment() -> str:
    """The start method named by ``MPGUIDE_START_METHOD``, or the default.

    :raises StartMethodError: (a ``ValueError``) if the variable names no start
        method of this platform.
    """
    return validate_start_method(os.environ.get(START_METHOD_VARIABLE) or None)


def validate_start_method(method: str | None) -> str:
    """Return ``method`` (or the default for ``None``) if this platform has it.

    :raises StartMethodError: (a ``ValueError``) from
        ``mpguide.run.check_start_method``, naming where the method came from.
    """
    chosen = DEFAULT_START_METHOD if method is None else method
    try:
        check_start_method(chosen)
    except StartMethodError as error:
        raise StartMethodError(
            f"{error} (from mpguide_start_method or {START_METHOD_VARIABLE})"
        ) from None
    return chosen


def _directories(gallery_conf: dict[str, Any], key: str) -> list[str]:
    """``examples_dirs`` or ``gallery_dirs``: sphinx-gallery takes a str or a list."""
    value = gallery_conf.get(key, ())
    return [value] if isinstance(value, str) else [str(item) for item in value]


def build_stamp(method: str) -> str:
    """What a gallery's cached outputs depend on besides the examples' sources."""
    return (
        f"start method {method}, "
        f"{platform.python_implementation()} {platform.python_version()}\n"
    )


def _forget_outputs_of_other_builds(app: Sphinx, method: str) -> None:
    gallery_conf = app.config.sphinx_gallery_conf
    stamp_text = build_stamp(method)
    for gallery_dir in _directories(gallery_conf, "gallery_dirs"):
        target = Path(app.srcdir, gallery_dir)
        stamp = target / BUILD_STAMP
        if target.exists() and (not stamp.exists() or stamp.read_text() != stamp_text):
            logger.info(
                "mpguide: %s was built with another start method or Python; "
                "re-running its examples with %s",
                gallery_dir,
                stamp_text.strip(),
            )
            shutil.rmtree(target)
        target.mkdir(parents=True, exist_ok=True)
        stamp.write_text(stamp_text)


def _users_gallery_conf(config: Config) -> dict[str, Any]:
    """The project's own ``sphinx_gallery_conf``, before sphinx-gallery fills it in."""
    from sphinx_gallery import gen_gallery

    conf = config.sphinx_gallery_conf
    if conf is getattr(gen_gallery, "DEFAULT_GALLERY_CONF", None):
        return {}  # the project sets none: sphinx-gallery's defaults, not its choices
    return dict(conf)


def _set_gallery_options(app: Sphinx, config: Config) -> None:
    """Before sphinx-gallery reads its options: set ours, or refuse conflicting ones."""
    users = _users_gallery_conf(config)
    key, needed = RESET_ORDER
    if key not in users:
        config.sphinx_gallery_conf = {**users, key: needed}
        logger.info(
            "mpguide.sphinxext.gallery_processes: set sphinx_gallery_conf[%r] = %r, "
            "so that it can restore the build process after each example",
            key,
            needed,
        )
    elif users[key] != needed:
        raise ExtensionError(
            f"mpguide.sphinxext.gallery_processes needs sphinx_gallery_conf[{key!r}] "
            f"= {needed!r}, but conf.py sets {users[key]!r}. Remove the setting (the "
            f"extension sets it), or set it to {needed!r}: your reset_modules are "
            "then called before and after each example, with when='before' or 'after'"
        )
    parallel = users.get("parallel", False)
    jobs = app.parallel if parallel is True else parallel
    if jobs and jobs != 1:
        raise ExtensionError(
            "mpguide.sphinxext.gallery_processes cannot work with sphinx-gallery's "
            f"parallel execution (sphinx_gallery_conf['parallel'] = {parallel!r}, "
            f"{jobs} jobs): examples would run in worker processes where it cannot "
            "point their children at the example, bound their time or restore the "
            "process after them. Remove 'parallel' from sphinx_gallery_conf "
            "(or set it to False)"
        )


def _configure(app: Sphinx, config: Config) -> None:
    state = STATE
    try:
        method = validate_start_method(
            config.mpguide_start_method or os.environ.get(START_METHOD_VARIABLE) or None
        )
    except ValueError as error:
        raise ExtensionError(str(error)) from None
    config.mpguide_start_method = method
    state.start_method = method
    os.environ[START_METHOD_VARIABLE] = method
    timeout = config.mpguide_example_timeout
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0:
        raise ExtensionError(
            "mpguide_example_timeout must be a number of seconds >= 0 (0 turns the "
            f"limit off), got {timeout!r}"
        )
    state.timeout = float(timeout)
    expected = config.mpguide_expected_errors
    if not isinstance(expected, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in expected.items()
    ):
        raise ExtensionError(
            "mpguide_expected_errors must map example paths (relative to the "
            "Sphinx source directory) to exception names, for example "
            f"{{'examples/plot_error.py': 'KeyError'}}; got {expected!r}"
        )
    if not isinstance(config.mpguide_shorten_paths, bool):
        raise ExtensionError(
            "mpguide_shorten_paths must be True (the default: tracebacks on example "
            "pages show project-relative paths) or False (absolute paths), got "
            f"{config.mpguide_shorten_paths!r}"
        )
    _forget_outputs_of_other_builds(app, method)
    gallery_conf = config.sphinx_gallery_conf
    resets = tuple(gallery_conf.get("reset_modules", ()))
    if ResetHook() not in resets:
        gallery_conf["reset_modules"] = (*resets, ResetHook())
    listed = set(gallery_conf.get("expected_failing_examples", ()))
    gallery_conf["expected_failing_examples"] = listed | set(expected)
    state.install()


def check_expected_errors(app: Sphinx, *args: Any) -> None:
    """Fail the build if an expected failure failed with another exception."""
    expected: dict[str, str] = app.config.mpguide_expected_errors
    gallery_conf = app.config.sphinx_gallery_conf
    src_dir = Path(gallery_conf["src_dir"])
    failures: dict[str, str] = gallery_conf.get("failing_examples", {})
    problems = []
    for relative, exception_name in expected.items():
        source = str((src_dir / relative).resolve(strict=False))
        traceback_text = failures.get(source)
        if traceback_text is None:
            continue  # not executed in this build, or sphinx-gallery reports it
        last_line = traceback_text.strip().splitlines()[-1]
        # An exception not in builtins is printed with its module: pkg.mod.Name
        if not re.match(rf"([\w.]+\.)?{re.escape(exception_name)}(:|$)", last_line):
            problems.append(
                f"{relative} should fail with {exception_name}, but failed with:\n"
                f"{traceback_text}"
            )
    if problems:
        raise ExtensionError("\n".join(problems))


def _uninstall(app: Sphinx, exception: BaseException | None) -> None:
    STATE.uninstall()
    for executor in reusable_executors():
        logger.info("mpguide: shutting down %r, which the examples shared", executor)
        executor.shutdown(wait=True)


def shorten_paths(app: Sphinx, docname: str, source: list[str]) -> None:
    """``source-read``: machine-independent paths in the gallery's pages."""
    if not app.config.mpguide_shorten_paths:
        return
    gallery_conf = app.config.sphinx_gallery_conf
    galleries = [d.strip("/") + "/" for d in _directories(gallery_conf, "gallery_dirs")]
    if not any(docname.startswith(gallery) for gallery in galleries):
        return
    confdir = Path(app.confdir)
    replacements = {
        sysconfig.get_paths()["stdlib"] + os.sep: "<stdlib>" + os.sep,
    }
    for examples in _directories(gallery_conf, "examples_dirs"):
        project = (confdir / examples).resolve().parent
        replacements[str(project) + os.sep] = ""
    text = source[0]
    for absolute, short in replacements.items():
        text = text.replace(f'File "{absolute}', f'File "{short}')
    source[0] = text


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the extension; sphinx-gallery must be loaded first."""
    if "sphinx_gallery.gen_gallery" not in app.extensions:
        raise ExtensionError(
            "mpguide.sphinxext.gallery_processes needs sphinx_gallery.gen_gallery, "
            "listed before it in extensions"
        )
    app.add_config_value("mpguide_example_timeout", 120.0, "", types=(int, float))
    app.add_config_value("mpguide_expected_errors", {}, "", types=(dict,))
    app.add_config_value("mpguide_start_method", "", "env", types=(str,))
    app.add_config_value("mpguide_shorten_paths", True, "env", types=(bool,))
    # Before sphinx-gallery fills in its defaults (priority 10), to tell the
    # project's own settings from those defaults.
    app.connect("config-inited", _set_gallery_options, priority=5)
    # After: we extend the filled configuration, which is what it reads later.
    app.connect("config-inited", _configure, priority=400)
    app.connect("env-before-read-docs", check_expected_errors)
    app.connect("source-read", shorten_paths)
    app.connect("build-finished", _uninstall)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
