"""
Django in a worker: "AppRegistryNotReady: Apps aren't loaded yet."
==================================================================

A Django command or script hands work to a ``Pool`` and every worker fails
with ``django.core.exceptions.AppRegistryNotReady: Apps aren't loaded yet.``
The same code works under ``fork``, the default on Linux up to Python 3.13,
and fails under ``spawn``, the default on Windows and, from Python 3.8, on
macOS, and under ``forkserver``, the default on Linux (and other POSIX systems
but macOS) from Python 3.14: code that worked on Linux breaks there on 3.14.
This page runs a small Django project (one program, a settings module, an
SQLite database in a new directory) set up the two usual ways, shows what
three things a worker does with Django raise, finds why in Django's and
CPython's code, and fixes it in two ways.
"""

# %%
# Reproduce
# ---------
# ``PROGRAM`` is the project's ``manage.py``: it sets Django up inside
# ``if __name__ == "__main__":``, as ``manage.py`` does (``DJANGO_SETTINGS_MODULE``
# in the environment, then ``django.setup()``, which ``execute_from_command_line``
# calls) or as a one-file script does (``settings.configure(...)``, then
# ``django.setup()``). It creates the tables, then a ``Pool`` worker does three
# things the reporters' workers did: import a module that defines models
# (django-q's worker, unpickling its target), unpickle a model instance (an
# argument of a task), and run a query (django-tenants' parallel migrations).
# Settings can be configured once per process, so each way runs as a program of
# its own.

import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import django  # pip install django

WAIT = 120  # seconds: a bound that a working run never reaches
LEAKS_FAIL = ("-X", "dev", "-W", "error::ResourceWarning")  # as this site's tests run
WAYS = ("manage.py", "settings.configure()")
TASK_COUNT = 3  # the things a worker does with Django in PROGRAM

SETTINGS = """
import os

INSTALLED_APPS = ["django.contrib.contenttypes"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(os.path.dirname(__file__), "db.sqlite3"),
    }
}
USE_TZ = True
"""

PROGRAM = """
import importlib, multiprocessing, os, pickle, sys

import django
from django.conf import settings
from django.db import connections

# (the set-up at import goes here)
TASKS = ("import a models module", "unpickle a model instance", "a query")


def set_up_django(way):
    \"\"\"Settings, then the app registry.\"\"\"
    if way == "manage.py":
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite_settings")
    elif not settings.configured:
        import mysite_settings

        settings.configure(
            INSTALLED_APPS=mysite_settings.INSTALLED_APPS,
            DATABASES=mysite_settings.DATABASES,
            USE_TZ=True,
        )
    django.setup()


def in_worker(task, pickled):
    try:
        if task == "import a models module":
            importlib.import_module("django.contrib.contenttypes.models")
        elif task == "unpickle a model instance":
            pickle.loads(pickled)
        else:
            from django.contrib.contenttypes.models import ContentType

            ContentType.objects.count()
            connections.close_all()
        return "ok"
    except Exception as error:
        return f"{type(error).__module__}.{type(error).__name__}: {error}"


if __name__ == "__main__":
    method, way, fix = sys.argv[1:]
    set_up_django(way)
    from django.contrib.contenttypes.models import ContentType
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    pickled = pickle.dumps(ContentType.objects.get(model="contenttype"))
    connections.close_all()  # a forked worker must not use the parent's connection
    initializer = set_up_django if fix == "initializer" else None
    context = multiprocessing.get_context(method)
    with context.Pool(1, initializer=initializer, initargs=(way,)) as pool:
        calls = pool.starmap_async(in_worker, [(task, pickled) for task in TASKS])
        for task, result in zip(TASKS, calls.get(60)):
            print(f"outcome: {task}: {result}")
"""
SET_UP_AT_IMPORT = """
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite_settings")
django.setup()
"""


def run_program(workspace, method, way, fix="none"):
    """Run the project's program; return what each task gave in the worker."""
    done = subprocess.run(
        [sys.executable, *LEAKS_FAIL, workspace / "manage.py", method, way, fix],
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert done.returncode == 0 and "Warning" not in done.stderr, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("outcome: ")]
    results = dict(line.removeprefix("outcome: ").split(": ", 1) for line in lines)
    assert len(results) == TASK_COUNT, done.stdout
    return results


def show(label, results):
    print(label)
    for task, result in results.items():
        print(f"  {task}: {result}")


def write_project(workspace, set_up_at_import=False):
    (workspace / "mysite_settings.py").write_text(SETTINGS)
    program = PROGRAM
    if set_up_at_import:
        program = program.replace("# (the set-up at import goes here)", SET_UP_AT_IMPORT)
    (workspace / "manage.py").write_text(program)
    (workspace / "db.sqlite3").unlink(missing_ok=True)


if __name__ == "__main__":
    method = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    method = method.get_start_method()
    print("start method:", method)
    print("Django", django.__version__)
    workspace = Path(tempfile.mkdtemp(prefix="mysite-"))
    write_project(workspace)
    unfixed = {way: run_program(workspace, method, way) for way in WAYS}
    for way, results in unfixed.items():
        show(f"set up the {way} way, the worker got:", results)

# %%
# Why
# ---
# A ``spawn`` worker is a new interpreter, and a ``forkserver`` worker is a
# fork of a server started for the purpose: neither holds what the parent did
# under its main guard. Each gets the parent's ``sys.path`` and the name of
# its main file (``get_preparation_data`` in ``multiprocessing/spawn.py``) and
# runs that file again under the name ``__mp_main__``
# (``_fixup_main_from_path``, the same in CPython 3.11, 3.12 and 3.13; a
# ``forkserver`` worker does it through ``spawn._main``, called by
# ``_serve_one`` in ``multiprocessing/forkserver.py``, up to 3.13.7). From
# 3.13.8, and in 3.14, the forkserver runs the main file once, as
# ``__mp_main__``, when it starts (gh-126631), and its workers are forks of
# it. Either way ``if __name__ == "__main__":`` is false there, and neither
# the settings nor ``django.setup()`` under it run. A ``fork`` worker is a
# copy of the parent after ``django.setup()``: its app registry is already
# full.
#
# ``django.setup()`` (``django/__init__.py``) reads the settings and fills the
# app registry, ``apps.populate(settings.INSTALLED_APPS)``. Until then, a model
# class cannot be defined: ``ModelBase.__new__`` (``django/db/models/base.py``)
# asks ``apps.get_containing_app_config``, which calls ``check_apps_ready``
# (``django/apps/registry.py``). That method first reads
# ``settings.INSTALLED_APPS``, and only then raises ``AppRegistryNotReady("Apps
# aren't loaded yet.")``. Which error a worker gets depends on its settings:
#
# * the ``manage.py`` way, the worker has settings: ``DJANGO_SETTINGS_MODULE`` is
#   in the environment, which a ``spawn`` worker and the forkserver (when it
#   starts, with the first pool) inherit (``util.spawnv_passfds`` passes no
#   environment of their own to ``fork_exec``); and the settings module is on
#   the ``sys.path`` they are given. Only ``django.setup()`` is missing:
#   ``AppRegistryNotReady``, the reports' error;
# * the ``settings.configure()`` way, the worker has none, and reading
#   ``INSTALLED_APPS`` raises ``ImproperlyConfigured`` first.
#
# A model instance is pickled as ``model_unpickle`` with its app and model name
# (``Model.__reduce__``); unpickling calls ``apps.get_model``, which checks
# ``check_models_ready`` and raises ``AppRegistryNotReady: Models aren't loaded
# yet.`` both ways, without reading settings. (Django 5.2 and 6.1, the versions
# this site's builds install.)

# %%
# Fix 1: ``django.setup()`` in an initializer
# -------------------------------------------
# A pool's ``initializer`` runs in each worker before its first task: give it
# the function that ``manage.py`` or the script runs, settings then
# ``django.setup()`` (``ProcessPoolExecutor(initializer=...)`` is the same).
# Under ``fork`` it finds the settings configured and the registry full, and
# ``django.setup()`` does little (``apps.populate`` returns at once when
# ``ready``; logging and the URL prefix are set again).
# Django's own parallel test runner does this: ``_init_worker`` in
# ``django/test/runner.py`` calls ``django.setup()`` in each worker under
# ``spawn`` (Django 5.2), and under ``spawn`` or ``forkserver`` (Django 6.1).

if __name__ == "__main__":
    per_worker = {
        way: run_program(workspace, method, way, fix="initializer") for way in WAYS
    }
    for way, results in per_worker.items():
        show(f"set up the {way} way, and in an initializer:", results)

# %%
# Fix 2: set Django up when the module is imported
# ------------------------------------------------
# The worker runs the main file's top level, and imports every module the
# task's function lives in: code there runs in every worker. Setting
# ``DJANGO_SETTINGS_MODULE`` and calling ``django.setup()`` at the top of the
# module, as a project's ``wsgi.py`` does (``get_wsgi_application`` calls
# ``django.setup()``, in ``django/core/wsgi.py``), sets up each worker as it
# starts (a ``fork`` worker gets the parent's, set up once before the copy; a
# ``forkserver`` worker from 3.13.8 gets the server's).
# ``DJANGO_SETTINGS_MODULE`` in the environment alone is no fix: it is
# what turned ``ImproperlyConfigured`` into ``AppRegistryNotReady`` above.

if __name__ == "__main__":
    write_project(workspace, set_up_at_import=True)
    at_import = run_program(workspace, method, "manage.py")
    show("set up at import:", at_import)

# %%
# The database connection
# -----------------------
# ``PROGRAM`` closes its connections (``django.db.connections.close_all()``)
# before it starts the pool. A ``fork`` worker would otherwise get a copy of
# the parent's open connection, and a parent and its workers talking over one
# connection corrupt each other's conversation with the server: see
# :ref:`sphx_glr_gallery_inherit_plot_02_connection_across_fork.py`. Django
# opens a new connection at the next query, in the parent and in each worker.
# A ``spawn`` or ``forkserver`` worker never holds the parent's connection.
#
# What happened
# -------------

if __name__ == "__main__":
    shutil.rmtree(workspace)
    fresh_interpreter = method in ("spawn", "forkserver")

    def errors(results):
        """The names of the errors the tasks got, in the tasks' order, each once."""
        names = (r.split(":")[0].split(".")[-1] for r in results.values() if r != "ok")
        return list(dict.fromkeys(names))

    def all_ok(results):
        return not errors(results)

    def summary(results):
        """The first error's name, or how many tasks ran: a card's result."""
        return next(iter(errors(results)), f"{len(results)} of {len(results)} ok")

    def described(results):
        failed = sum(result != "ok" for result in results.values())
        names = " and ".join(errors(results))
        return f"{failed} of {len(results)} tasks failed, {names}" if failed else "ok"

    reproduced = not all_ok(unfixed["manage.py"])
    print(
        f"failure reproduced: {'yes' if reproduced else 'no'} (in the worker, set up "
        f"the manage.py way: {described(unfixed['manage.py'])}; with "
        f"settings.configure(): {described(unfixed['settings.configure()'])})"
    )
    initializer_works = all(all_ok(results) for results in per_worker.values())
    works = initializer_works and all_ok(at_import)
    print(
        f"fix works: {'yes' if works else 'no'} (django.setup() in an initializer, "
        "both ways, and at import: every task ran)"
    )
    print(
        "depends on the start method: a fork worker is a copy of the parent after "
        "django.setup(); spawn and forkserver workers run the main module as "
        "__mp_main__, without the set-up under its main guard"
    )
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        f"Django in {method} workers",
        [
            Observation(
                label="manage.py way, no fix",
                result=summary(unfixed["manage.py"]),
                ok=not reproduced,
            ),
            Observation(
                label="settings.configure(), no fix",
                result=summary(unfixed["settings.configure()"]),
                ok=all_ok(unfixed["settings.configure()"]),
            ),
            Observation(
                label="django.setup() in initializer",
                result=f"{sum(map(all_ok, per_worker.values()))} of {len(WAYS)} ways ok",
                ok=initializer_works,
            ),
            Observation(
                label="django.setup() at import",
                result=summary(at_import),
                ok=all_ok(at_import),
            ),
        ],
    )
    if fresh_interpreter:
        not_ready = "django.core.exceptions.AppRegistryNotReady"
        apps_not_loaded = f"{not_ready}: Apps aren't loaded yet."
        models_not_loaded = f"{not_ready}: Models aren't loaded yet."
        assert unfixed["manage.py"] == {
            "import a models module": apps_not_loaded,
            "unpickle a model instance": models_not_loaded,
            "a query": apps_not_loaded,
        }, unfixed
        no_settings = (
            "django.core.exceptions.ImproperlyConfigured: Requested setting "
            "INSTALLED_APPS, but settings are not configured."
        )
        configured = unfixed["settings.configure()"]
        assert configured["import a models module"].startswith(no_settings)
        assert configured["a query"].startswith(no_settings)
        assert configured["unpickle a model instance"] == models_not_loaded
    else:
        assert all(all_ok(results) for results in unfixed.values()), unfixed
    assert works, (per_worker, at_import)
    assert not workspace.exists()
    assert not multiprocessing.active_children()
