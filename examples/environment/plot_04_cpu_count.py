"""
``Pool()`` starts a worker per CPU of the machine, not of the process
=====================================================================

In a container limited to two CPUs on a 64-CPU host, or a batch job given four
cores of a node, ``Pool()`` starts 64 workers: they share the few CPUs the
process may use, and the work runs slower than with fewer workers, and takes
more memory. This page restricts a process to one CPU, as ``taskset -c 0``, a
container's ``--cpuset-cpus`` or a batch scheduler do, measures what each count
returns there and how many workers ``Pool()`` and ``ProcessPoolExecutor()``
start, under the start method in use, and fixes it by passing the count of
usable CPUs.
"""

# %%
# Reproduce
# ---------
# A child process pins itself to one CPU (``os.sched_setaffinity``, which
# ``taskset`` calls too) and reports the counts and the workers each pool
# starts. The restriction ends with the child; the page's own process keeps
# every CPU.

import multiprocessing
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor

WAIT = 60  # seconds: a bound that a working run never reaches
TASK_SECONDS = 0.2  # each executor task sleeps so that none is idle when counted


def usable_cpus():
    """The CPUs this process may run on: the count to give a pool."""
    if hasattr(os, "process_cpu_count"):  # Python 3.13+
        return os.process_cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):  # Linux and some Unixes; not macOS, Windows
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def count_workers(context):
    """The counts Python gives, and how many workers each pool starts."""
    counts = {
        "os.cpu_count()": os.cpu_count(),
        "len(os.sched_getaffinity(0))": len(os.sched_getaffinity(0)),
        "os.process_cpu_count()": getattr(os, "process_cpu_count", lambda: "absent")(),
    }
    with context.Pool() as pool:
        counts["Pool() workers"] = len(multiprocessing.active_children())
    pool.join()
    with ProcessPoolExecutor(mp_context=context) as executor:
        for _ in range(2 * os.cpu_count()):
            executor.submit(time.sleep, TASK_SECONDS)
        counts["ProcessPoolExecutor() workers"] = len(multiprocessing.active_children())
    with context.Pool(usable_cpus()) as pool:
        counts["Pool(usable_cpus()) workers"] = len(multiprocessing.active_children())
    pool.join()
    return counts


def on_one_cpu(method, results):
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # as `taskset -c 0` does
    results.put(count_workers(multiprocessing.get_context(method)))


if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    method = context.get_start_method()
    print("start method:", method)
    print("Python", sys.version.split()[0])
    machine_cpus = os.cpu_count()
    print(f"this machine: {machine_cpus} CPUs, this process may use", usable_cpus())
    results = context.Queue()
    child = context.Process(target=on_one_cpu, args=(method, results))
    child.start()
    pinned = results.get(timeout=WAIT)  # read before joining the writer
    child.join(timeout=WAIT)
    assert child.exitcode == 0, child.exitcode
    results.close()
    print("in a process pinned to one CPU:")
    for name, value in pinned.items():
        print(f"  {name}: {value}")

# %%
# Why
# ---
# ``os.cpu_count()`` is the number of CPUs the machine has, on every version.
# What a process may use is its affinity, ``os.sched_getaffinity(0)``. Up to
# Python 3.12, ``Pool()`` without ``processes`` starts ``os.cpu_count()``
# workers (``Pool.__init__`` in ``multiprocessing/pool.py``), and so does
# ``ProcessPoolExecutor()`` without ``max_workers``
# (``concurrent/futures/process.py``). Python 3.13 added
# ``os.process_cpu_count()``, the affinity's size, and both pools use it (as
# does ``ThreadPoolExecutor``'s default, ``min(32, process_cpu_count() + 4)``, in
# ``concurrent/futures/thread.py``). ``multiprocessing.cpu_count()`` is still
# ``os.cpu_count()`` on 3.13 (``multiprocessing/context.py``).
#
# A CPU *quota* is another limit: Docker's ``--cpus=2``, a Kubernetes pod's
# ``limits.cpu``, systemd's ``CPUQuota`` let the process run on every CPU, but
# for only a share of the time (cgroup v2's ``cpu.max``). The affinity is the
# whole machine, so no count above sees the quota, on any version: ``Pool()``
# still starts a worker per CPU of the host, and the kernel throttles them.
# This page cannot set a quota (it needs a container or root). CPython's
# discussions: issue 80235 asked ``os.cpu_count()`` to read the quota, and is
# closed; 3.13 added ``os.process_cpu_count()`` instead (gh-109649) and made the
# pools use it; issue 149452 (opened in 2026, open when this page was written)
# asks that it read the cgroup quota.
#
# Fix: give the pool the number of usable CPUs
# --------------------------------------------
# ``Pool(usable_cpus())`` and ``ProcessPoolExecutor(usable_cpus())``, with
# ``usable_cpus`` as defined above: ``os.process_cpu_count()`` on 3.13 and
# later, ``len(os.sched_getaffinity(0))`` where it exists (it does not on
# macOS or Windows), else ``os.cpu_count()``. The child above measured it:
# ``Pool(usable_cpus()) workers``. Under a quota, pass the number yourself
# (from a setting of your program, an environment variable your deployment
# sets, or ``cpu.max``). From Python 3.13, ``-X cpu_count=N`` or
# ``PYTHON_CPU_COUNT=N`` overrides both ``os.cpu_count()`` and
# ``os.process_cpu_count()``, so ``Pool()`` starts ``N`` workers without a
# change to the code; earlier versions ignore both:


def counts_with_cpu_count_option(cpus):
    """``os.cpu_count()`` and ``os.process_cpu_count()`` in ``python -X cpu_count=N``."""
    done = subprocess.run(
        [sys.executable, "-X", f"cpu_count={cpus}", "-c", PRINT_COUNTS],
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=True,
    )
    return done.stdout.strip()


PRINT_COUNTS = (
    "import os; print(os.cpu_count(), "
    "os.process_cpu_count() if hasattr(os, 'process_cpu_count') else 'absent')"
)

if __name__ == "__main__":
    with_option = counts_with_cpu_count_option(1)
    print("python -X cpu_count=1: os.cpu_count(), os.process_cpu_count():", with_option)

# %%
# What happened
# -------------

if __name__ == "__main__":
    allowed = pinned["len(os.sched_getaffinity(0))"]
    started = pinned["Pool() workers"], pinned["ProcessPoolExecutor() workers"]
    counts_process = sys.version_info >= (3, 13)
    can_restrict = machine_cpus > 1
    too_many = max(started) > allowed
    if not can_restrict:
        print("this machine has one CPU: pinning to one restricts nothing")
    print(
        f"failure reproduced: {'yes' if too_many else 'no'} (pinned to {allowed} CPU of "
        f"{machine_cpus}: workers started by Pool(): {started[0]}, by "
        f"ProcessPoolExecutor(): {started[1]})"
    )
    fixed = pinned["Pool(usable_cpus()) workers"] == allowed
    print(
        f"fix works: {'yes' if fixed else 'no'} (workers started by Pool(usable_cpus()): "
        f"{pinned['Pool(usable_cpus()) workers']})"
    )
    if can_restrict:
        print(
            "depends on the Python version: from 3.13, Pool() and ProcessPoolExecutor() "
            "count os.process_cpu_count(), the CPUs the process may use"
        )
    from mpguide.figures import Observation, draw_outcome

    draw_outcome(
        f"A process pinned to {allowed} CPU of {machine_cpus}",
        [
            Observation(label="os.cpu_count()", result=str(machine_cpus), ok=None),
            Observation(label="Pool()", result=f"{started[0]} workers", ok=not too_many),
            Observation(
                label="ProcessPoolExecutor()",
                result=f"{started[1]} workers",
                ok=not too_many,
            ),
            Observation(
                label="Pool(usable_cpus())",
                result=f"{pinned['Pool(usable_cpus()) workers']} worker",
                ok=fixed,
            ),
        ],
    )
    assert allowed == 1 and pinned["os.cpu_count()"] == machine_cpus
    expected_workers = allowed if counts_process else machine_cpus
    assert started == (expected_workers, expected_workers), pinned
    assert too_many == (can_restrict and not counts_process)
    if counts_process:
        assert pinned["os.process_cpu_count()"] == allowed
        assert with_option == "1 1", with_option
    else:
        assert pinned["os.process_cpu_count()"] == "absent"
        assert with_option == f"{machine_cpus} absent", with_option
    assert fixed
    assert not multiprocessing.active_children()
