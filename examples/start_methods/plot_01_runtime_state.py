"""
What workers no longer see: state set at run time
=================================================

A ``fork`` worker is a copy of its parent at the moment it starts, so it sees
every global the parent set after import: configuration read from the command
line, caches, registries, monkey-patches, logging handlers. A ``spawn`` or
``forkserver`` worker is a fresh interpreter that imports your modules again: it
sees only what importing them sets. This page runs one worker under each start
method, then fixes the code by passing the state to the workers explicitly.
"""

# %%
# Reproduce
# ---------
# At import, ``SETTINGS`` holds defaults and ``greet`` is the real function.
# At run time the parent changes the settings, registers a plugin, and
# monkey-patches ``greet``. Each worker reports what it sees.

import logging
import multiprocessing
import os

SETTINGS = {"mode": "default"}
PLUGINS: list[str] = []
IMPORTED_IN_PROCESS = os.getpid()  # runs again wherever this module is imported


def greet():
    return "hello"


def report(_=None):
    """What a worker sees of the parent's run-time state."""
    return {
        "mode": SETTINGS["mode"],
        "plugins": list(PLUGINS),
        "greet()": greet(),
        "log handlers": len(logging.getLogger("app").handlers),
        "imported in this process": os.getpid() == IMPORTED_IN_PROCESS,
    }


def configure_at_run_time():
    """What a program does in main(): after import, before starting workers."""
    global greet
    SETTINGS["mode"] = "production"
    PLUGINS.append("audit")
    greet = lambda: "patched"  # noqa: E731 (a monkey-patch)
    logging.getLogger("app").addHandler(logging.NullHandler())


def first_worker_report(method):
    with multiprocessing.get_context(method).Pool(1) as pool:
        return pool.apply(report)


if __name__ == "__main__":
    method = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    method = method.get_start_method()
    print("start method:", method)
    configure_at_run_time()
    print("the parent:", report())
    seen = {}
    for each in ("fork", "spawn", "forkserver"):
        if each in multiprocessing.get_all_start_methods():
            seen[each] = first_worker_report(each)
            print(f"a {each} worker:", seen[each])

# %%
# Why
# ---
# Under ``fork`` the worker's memory is a copy of the parent's, changes and
# all, and this module was never imported again. Under ``spawn`` and
# ``forkserver`` the worker imports this module afresh (it is the main module
# here, re-imported as ``__mp_main__``), so it gets the defaults: the
# settings, the plugin list, the real ``greet`` and a logger without the
# handler. ``Pool`` could pickle ``report`` only because it is a top-level
# function: it is sent *by name*, and the worker looks that name up in its own
# copy of the module. The same happens to configuration parsed from
# ``sys.argv`` or the environment inside ``main()``, and to classes defined in
# a notebook (:ref:`sphx_glr_gallery_pitfalls_plot_06_main_module.py`).

# %%
# Fix: send the state, set it up in each worker
# ---------------------------------------------
# Pass what the workers need as arguments, or set it up once per worker with
# the pool's ``initializer``. This works under every start method, the site's
# own included.


def apply_settings(settings, plugins):
    """A Pool initializer: runs once in each worker before any task."""
    SETTINGS.update(settings)
    PLUGINS[:] = plugins
    logger = logging.getLogger("app")
    if not logger.handlers:  # a fork worker inherited the parent's
        logger.addHandler(logging.NullHandler())


if __name__ == "__main__":
    context = multiprocessing.get_context(method)
    with context.Pool(1, initializer=apply_settings, initargs=(SETTINGS, PLUGINS)) as pool:
        fixed = pool.apply(report)
    print(f"a {method} worker, with an initializer:", fixed)

# %%
# The monkey-patch is still missing: a patch is code, and code reaches a fresh
# interpreter only by import. Put it in a module that the workers import (or in
# the initializer), never only in ``main()``.

# %%
# What happened
# -------------

if __name__ == "__main__":
    lost = [name for name, got in seen.items() if got["mode"] != "production"]
    reproduced = seen["fork"]["mode"] == "production" and "spawn" in lost
    settings_arrive = fixed["mode"] == "production" and fixed["plugins"] == ["audit"]
    print(
        f"failure reproduced: {'yes' if reproduced else 'no'} "
        f"(fork workers see the run-time settings; {', '.join(lost)} workers do not)"
    )
    print(
        f"fix works: {'yes' if settings_arrive else 'no'} "
        f"(with an initializer a {method} worker sees mode={fixed['mode']!r})"
    )
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        "Settings made at run time",
        [
            *(
                Observation(
                    label=f"a {name} worker sees",
                    result=f"mode={got['mode']}",
                    ok=got["mode"] == "production",
                )
                for name, got in seen.items()
            ),
            Observation(
                label=f"{method} worker, initializer",
                result=f"mode={fixed['mode']}",
                ok=settings_arrive,
            ),
        ],
    )
    assert reproduced and settings_arrive
