"""check_key and assert_shareable_key: every bad-key category, with a real object."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sample_keys as keys

import mpguide
from mpguide import (
    KeyReport,
    Problem,
    Severity,
    UnshareableKeyError,
    assert_shareable_key,
    check_key,
)

TESTS = Path(__file__).resolve().parent


def problems(report: KeyReport) -> dict[Problem, Severity]:
    return {finding.problem: finding.severity for finding in report.findings}


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        (keys.User("sam"), Problem.IDENTITY_EQUALITY),
        ([1, 2], Problem.UNHASHABLE),
        ({"id": 1}, Problem.UNHASHABLE),
        (keys.MutableDataclassUser(1), Problem.UNHASHABLE),
        (keys.UserWithLock("sam"), Problem.NOT_PICKLABLE),
        (lambda: 1, Problem.NOT_PICKLABLE),
        (keys.RaisingReduce(), Problem.NOT_PICKLABLE),
        (keys.RaisingSetstate(), Problem.NOT_UNPICKLABLE),
        (keys.RaisingHash(), Problem.HASH_RAISES),
        (keys.RecursiveHash(), Problem.HASH_RAISES),
        (keys.RandomHash(), Problem.HASH_UNSTABLE),
        (keys.IdHashUser("sam"), Problem.HASH_CHANGES_AFTER_COPY),
        (keys.ObjectHashUser("sam"), Problem.HASH_CHANGES_AFTER_COPY),
        (keys.ArrayLikeEquality(1), Problem.EQUALITY_RAISES),
        (float("nan"), Problem.COPIES_NOT_EQUAL),
        (keys.make_nested_tuple(), Problem.NOT_PICKLABLE),
    ],
    ids=lambda value: value if isinstance(value, Problem) else type(value).__name__,
)
def test_each_error_is_found_with_its_explanation(key: object, problem: Problem) -> None:
    report = check_key(key, new_process=False)
    assert problems(report) == {problem: Severity.ERROR}
    assert not report.ok
    (finding,) = report.findings
    assert finding.summary and finding.explanation and finding.fix


def test_the_reports_user_is_the_identity_bug() -> None:
    report = check_key(keys.User("sam"))
    (finding,) = report.errors
    assert finding.problem is Problem.IDENTITY_EQUALITY
    assert "KeyError" in finding.explanation
    assert "KeyRegistry" in finding.fix and "frozen=True" in finding.fix
    assert report.type == "sample_keys.User"


def test_a_lock_inside_a_key_is_named_with_its_path() -> None:
    (finding,) = check_key(keys.UserWithLock("sam"), new_process=False).findings
    assert "(the part at .lock, a lock)" in finding.summary
    assert "_thread.lock" in finding.summary


def test_a_multiprocessing_lock_says_inheritance() -> None:
    import multiprocessing

    (finding,) = check_key(multiprocessing.Lock(), new_process=False).findings
    assert finding.problem is Problem.NOT_PICKLABLE
    assert "inheritance" in finding.explanation
    assert "KeyedLocks" in finding.fix


def test_a_local_class_is_not_picklable() -> None:
    class Local:
        pass

    (finding,) = check_key(Local(), new_process=False).findings
    assert finding.problem is Problem.NOT_PICKLABLE
    assert "top level of a module" in finding.fix


def test_a_mutable_dataclass_is_told_to_freeze() -> None:
    (finding,) = check_key(keys.MutableDataclassUser(1), new_process=False).findings
    assert "frozen=False sets __hash__ to None" in finding.explanation
    assert finding.fix == "Use @dataclass(frozen=True)."


def test_an_id_based_hash_is_named() -> None:
    (finding,) = check_key(keys.IdHashUser("sam"), new_process=False).findings
    assert "id()" in finding.explanation


@pytest.mark.parametrize(
    ("key", "attribute"),
    [(keys.UnsafeHashUser(1), "id"), (keys.ValueUser(1), "id")],
    ids=["unsafe_hash dataclass", "plain class"],
)
def test_hash_fed_by_reassignable_state_is_a_warning(key: object, attribute: str) -> None:
    report = check_key(key)
    assert problems(report) == {Problem.MUTABLE_HASH: Severity.WARNING}
    assert report.ok and not report.passes(strict=True)
    assert repr(attribute) in report.warnings[0].summary


def test_unsafe_hash_is_told_to_use_frozen() -> None:
    (finding,) = check_key(keys.UnsafeHashUser(1)).findings
    assert "unsafe_hash=True" in finding.explanation
    assert "frozen=True" in finding.fix


@pytest.mark.parametrize("key", [keys.FrozenId(1), 7, (1, 2.5), frozenset({1, 2})])
def test_good_keys_have_no_findings(key: object) -> None:
    report = check_key(key)
    assert report.findings == ()
    assert report.ok and report.passes(strict=True)
    assert report.checks[-1] == "new process"


def test_a_frozen_dataclass_of_str_only_gets_the_salted_hash_note() -> None:
    report = check_key(keys.FrozenUser(1, "sam"))
    assert problems(report) == {Problem.HASH_VARIES_BETWEEN_PROCESSES: Severity.NOTE}
    assert report.passes(strict=True)
    assert "stable_hash" in report.notes[0].fix


def test_the_note_comes_from_a_real_interpreter_with_another_seed() -> None:
    """With our own seed fixed, the fresh interpreter must still use another."""
    script = """
        import json, sys
        from mpguide import check_key
        print(json.dumps(check_key("sam").to_dict()))
    """
    for seed in ("0", "1", "4294967295"):
        result = run_python(script, env_extra={"PYTHONHASHSEED": seed})
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert [f["problem"] for f in report["findings"]] == [
            "hash-varies-between-processes"
        ], seed


def test_a_lazily_cached_salted_hash_is_a_warning() -> None:
    """Sent unhashed it works; it breaks once a process hashes it before sending."""
    report = check_key(keys.LazilyCachedHashUser("sam"))
    assert problems(report) == {
        Problem.CACHED_HASH: Severity.WARNING,
        Problem.MUTABLE_HASH: Severity.WARNING,  # name is reassignable, and hashed
    }
    assert "cached lazily in '_hash'" in report.warnings[0].summary


def test_a_lazily_cached_hash_already_computed_is_an_error() -> None:
    key = keys.LazilyCachedHashUser("sam")
    hash(key)  # as putting it in a local dict does: now every copy carries it
    report = check_key(key)
    assert problems(report) == {Problem.CACHED_HASH: Severity.ERROR}
    assert "An equal key built in another process is not found" in report.errors[0].summary


def test_an_eagerly_cached_salted_hash_is_an_error() -> None:
    report = check_key(keys.EagerlyCachedHashUser("sam"))
    assert problems(report) == {Problem.CACHED_HASH: Severity.ERROR}
    summary = report.errors[0].summary
    assert "Sent itself, it works" in summary and "'_hash'" in summary


def test_a_cache_traced_to_salted_fields_is_an_error() -> None:
    """hash(("user", name)): the other attributes' hashes differ between seeds."""
    report = check_key(keys.OpaqueCachedHashUser("sam"))
    assert problems(report) == {Problem.CACHED_HASH: Severity.ERROR}
    assert "An equal key built in another process is not found" in report.errors[0].summary


def test_a_cache_the_check_cannot_recompute_is_not_passed() -> None:
    """hash(("user", 7)) is salted, yet no attribute's hash shows it: not passed."""
    report = check_key(keys.OpaqueCachedHashUser(7))  # type: ignore[arg-type]
    assert problems(report) == {Problem.CACHED_HASH: Severity.ERROR}
    assert "cannot tell" in report.errors[0].summary


def test_a_cached_hash_of_an_int_is_harmless() -> None:
    report = check_key(keys.LazilyCachedHashUser(12))  # type: ignore[arg-type]
    assert problems(report) == {Problem.MUTABLE_HASH: Severity.WARNING}


def test_a_class_a_new_process_cannot_import() -> None:
    """Defined in ``python -c`` code: fine here, unknown in a spawned process."""
    script = """
        import json
        from mpguide import check_key

        class Point:
            def __init__(self, x):
                self.x = x
            def __eq__(self, other):
                return self.x == other.x
            def __hash__(self):
                return hash(self.x)

        print(json.dumps(check_key(Point(1)).to_dict()))
    """
    result = run_python(script)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    (finding,) = [f for f in report["findings"] if f["severity"] == "error"]
    assert finding["problem"] == "new-process-cannot-load"
    assert "Can't get attribute 'Point'" in finding["summary"]
    assert not report["ok"]


def test_a_main_module_a_new_process_cannot_rerun(tmp_path: Path) -> None:
    script = tmp_path / "breaks_when_imported.py"
    script.write_text(
        textwrap.dedent(
            """
            import json
            from mpguide import check_key

            if __name__ != "__main__":
                raise RuntimeError("only runs as a script")
            print(json.dumps(check_key(1).to_dict()))
            """
        )
    )
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    (finding,) = json.loads(result.stdout)["findings"]
    assert finding["problem"] == "new-process-cannot-load"
    assert "RuntimeError: only runs as a script" in finding["summary"]


def test_a_class_in_a_scripts_main_is_loaded_like_spawn_does(tmp_path: Path) -> None:
    script = tmp_path / "script_with_key.py"
    script.write_text(
        textwrap.dedent(
            """
            import dataclasses, json
            from mpguide import check_key

            @dataclasses.dataclass(frozen=True)
            class Point:
                x: int

            if __name__ == "__main__":
                print(json.dumps(check_key(Point(1)).to_dict()))
            """
        )
    )
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["findings"] == []


def test_hostile_repr_still_gives_a_report() -> None:
    report = check_key(keys.RaisingRepr(1), new_process=False)
    assert report.key.startswith("<RaisingRepr instance at 0x")
    assert report.findings == ()


def test_a_repr_that_raises_system_exit_is_a_key_error_naming_the_step() -> None:
    report = check_key(keys.ExitingRepr(1), new_process=False)
    assert problems(report) == {Problem.ENDS_PROCESS: Severity.ERROR}
    assert "SystemExit: a repr that exits while calling repr()" in report.errors[0].summary


def test_a_hash_that_never_returns_times_out_quickly() -> None:
    """Run in a child: the abandoned check thread spins until its process exits."""
    script = """
        import json, time
        import sample_keys
        from mpguide import check_key

        started = time.monotonic()
        report = check_key(sample_keys.LoopingHash(), timeout=1)
        print(json.dumps([report.to_dict(), time.monotonic() - started]))
    """
    started = time.monotonic()
    result = run_python(script, timeout=60)
    assert result.returncode == 0, result.stderr
    report, elapsed = json.loads(result.stdout)
    assert [f["problem"] for f in report["findings"]] == ["check-timed-out"]
    assert "calling hash()" in report["findings"][0]["summary"]
    assert elapsed < 5
    assert time.monotonic() - started < 30


def test_assert_shareable_key_raises_with_the_report() -> None:
    with pytest.raises(UnshareableKeyError) as caught:
        assert_shareable_key(keys.User("sam"), new_process=False)
    assert isinstance(caught.value, AssertionError)
    assert caught.value.report.errors[0].problem is Problem.IDENTITY_EQUALITY
    assert "identity-equality" in str(caught.value)


def test_assert_shareable_key_strict_fails_on_warnings_only() -> None:
    report = assert_shareable_key(keys.UnsafeHashUser(1))
    assert report.warnings
    with pytest.raises(UnshareableKeyError):
        assert_shareable_key(keys.UnsafeHashUser(1), strict=True)
    assert_shareable_key(keys.FrozenUser(1, "sam"), strict=True)  # a note only


def test_the_report_reads_and_serializes() -> None:
    report = check_key(keys.User("sam"), new_process=False)
    data = json.loads(report.to_json())
    assert data == report.to_dict()
    assert data["ok"] is False
    assert data["type"] == "sample_keys.User"
    assert data["findings"][0]["problem"] == "identity-equality"
    assert data["findings"][0]["severity"] == "error"
    text = str(report)
    assert text.startswith("<sample_keys.User object at 0x")
    assert "error [identity-equality]" in text
    assert "1 error, 0 warnings, 0 notes. Does not work" in text


def test_findings_come_errors_first() -> None:
    report = check_key(keys.CachedAndReassignable("sam", 1))
    assert [f.severity for f in report.findings] == [Severity.ERROR, Severity.WARNING]
    assert [f.problem for f in report.findings] == [
        Problem.CACHED_HASH,
        Problem.MUTABLE_HASH,
    ]


def snapshot(obj: object) -> tuple[object, ...]:
    """What a caller can observe of a key: its repr, hash, and every attribute."""
    attributes = {
        name: repr(getattr(obj, name, None))
        for name in (*vars(type(obj)), *getattr(obj, "__dict__", {}), "name", "value")
        if not name.startswith("__")
    }
    return repr(obj), hash(obj), attributes


SINGLETONS_AND_AN_ORDINARY_KEY = [
    keys.Colour.RED,
    keys.Level.HIGH,
    keys.MISSING,  # __reduce__ returns a global's name
    keys.DEFAULT_SETTINGS,  # registered with copyreg
    keys.ORIGIN,  # a module-level constant pickled by reference
    keys.ValueUser(1),
]


@pytest.mark.parametrize("new_process", [True, False], ids=["new process", "here only"])
@pytest.mark.parametrize(
    "key", SINGLETONS_AND_AN_ORDINARY_KEY, ids=lambda key: type(key).__name__
)
def test_the_check_leaves_the_key_as_it_found_it(key: object, new_process: bool) -> None:
    built_before = {key: "found"}
    before = snapshot(key)
    check_key(key, new_process=new_process)
    assert snapshot(key) == before
    assert key == key
    assert built_before[key] == "found"


@pytest.mark.parametrize("new_process", [True, False], ids=["new process", "here only"])
def test_a_singleton_is_not_even_hashed_here(new_process: bool) -> None:
    """Its __hash__ would cache a hash on the caller's own object."""
    constant = keys.LAZY_CONSTANT
    vars(constant).pop("_hash", None)
    report = check_key(constant, new_process=new_process)
    assert "_hash" not in vars(constant)
    assert report.ok


@pytest.mark.parametrize("member", [keys.Colour.RED, keys.Level.HIGH])
def test_an_enum_member_passes_strict(member: object) -> None:
    report = check_key(member)
    assert report.passes(strict=True), report
    assert Problem.MUTABLE_HASH not in problems(report)


@pytest.mark.parametrize(
    "make",
    [
        keys.make_path,
        keys.make_pure_posix_path,
        keys.make_slots_point,
        keys.make_user_id,
        keys.make_slug,
    ],
)
def test_good_keys_an_earlier_check_rejected(make: Callable[[], object]) -> None:
    """Slots (Path caches its hash in one, never pickled), keys sent as another type."""
    report = check_key(make())
    assert report.ok, report
    assert Problem.CACHED_HASH not in problems(report)


@pytest.mark.parametrize("depth", [950, 2000])
def test_deep_nesting_is_judged_by_the_servers_limits(depth: int) -> None:
    """Whatever this process's recursion limit, the server has the default one."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(10 * depth)
    try:
        report = check_key(keys.make_nested_tuple(depth))
    finally:
        sys.setrecursionlimit(limit)
    assert problems(report) == {Problem.NOT_PICKLABLE: Severity.ERROR}
    assert "nests containers more than" in report.errors[0].summary


def test_a_batch_gets_one_report_per_key_in_order() -> None:
    """Run in a child: the abandoned check thread spins until its process exits."""
    script = """
        import json
        import sample_keys as keys
        from mpguide import check_keys

        batch = [keys.FrozenId(1), keys.User("sam"), keys.LoopingHash(), 7]
        print(json.dumps([report.to_dict() for report in check_keys(batch, timeout=1)]))
    """
    result = run_python(script, timeout=60)
    assert result.returncode == 0, result.stderr
    reports = json.loads(result.stdout)
    assert [report["ok"] for report in reports] == [True, False, False, True]
    assert reports[1]["findings"][0]["problem"] == "identity-equality"
    assert reports[2]["findings"][0]["problem"] == "check-timed-out"
    assert all(report["checks"][-1] == "new process" for report in (reports[0], reports[3]))


def lookup_in_worker(shared: Any, builder: str, hash_first: bool) -> object:
    """A worker builds an equal key itself and looks it up."""
    key = getattr(keys, builder)()
    if hash_first:
        hash(key)
    return shared.get(key, "missing")


TRIPS = [
    ("make_path", False),
    ("make_slots_point", False),
    ("make_user_id", False),
    ("make_colour", False),
    ("make_frozen_user", False),
    ("make_user", False),
    ("make_eagerly_cached", False),
    ("make_lazily_cached", False),
    ("make_lazily_cached", True),  # hashed before it is sent, as a local dict does
]


def test_a_key_that_passes_works_in_a_real_manager_trip(start_method: str) -> None:
    context = multiprocessing.get_context(start_method)
    failures = {}
    with context.Manager() as manager, ProcessPoolExecutor(1, mp_context=context) as pool:
        for builder, hash_first in TRIPS:
            key = getattr(keys, builder)()
            if hash_first:
                hash(key)
            report = check_key(key)
            shared = manager.dict()
            shared[key] = "found"
            here = shared.get(key, "missing")
            there = pool.submit(lookup_in_worker, shared, builder, hash_first).result()
            works = here == there == "found"
            if report.ok and not works:
                failures[builder, hash_first] = (here, there)
            if builder in ("make_eagerly_cached",) or hash_first:
                assert not report.ok
                assert works == (start_method == "fork"), (builder, here, there)
    assert not failures, f"passed the check, failed the trip: {failures}"


def run_python(
    code: str, *, env_extra: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(TESTS), **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def test_the_checks_own_failure_is_reported_apart_and_never_passes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from multiprocessing import spawn

    monkeypatch.setattr(spawn, "get_executable", lambda: str(tmp_path / "no-such-python"))
    report = check_key(keys.FrozenId(1))
    assert problems(report) == {Problem.CHECK_FAILED: Severity.ERROR}
    assert not report.ok


def test_a_bug_in_the_check_is_a_check_failed_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mpguide.keycheck import trip

    def broken(self: object, result: object, *, where: str) -> None:
        raise LookupError("a bug of the check's own")

    monkeypatch.setattr(trip.Trip, "interpret", broken)
    report = check_key(keys.FrozenId(1), new_process=False)
    assert problems(report) == {Problem.CHECK_FAILED: Severity.ERROR}
    assert "LookupError: a bug of the check's own" in report.errors[0].summary


# -- a corpus of adversarial keys, judged by real Manager trips ---------------------


def real_trips(method: str, names: list[str]) -> dict[str, tuple[bool, str]]:
    """Each key's outcome in real Manager trips under ``method`` (real_trips.py)."""
    outcomes: dict[str, tuple[bool, str]] = {}
    remaining = list(names)
    while remaining:
        result = subprocess.run(
            [sys.executable, str(TESTS / "real_trips.py"), method, *remaining],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(TESTS)},
            timeout=600,
            check=False,
        )
        current = None
        for line in result.stdout.splitlines():
            message = json.loads(line)
            if "begin" in message:
                current = message["begin"]
            else:
                outcomes[message["name"]] = (message["works"], message["why"])
                current = None
        if current is None:  # every key reported, or none began
            assert not (set(remaining) - set(outcomes)), result.stderr
            break
        outcomes[current] = (
            False,
            f"the key ended the process of the trip: {result.stderr[-200:]}",
        )
        remaining = remaining[remaining.index(current) + 1 :]
    return outcomes


def cli_verdicts(names: list[str], timeout: float) -> dict[str, bool]:
    targets = [f"adversarial_keys:{name}" for name in names]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mpguide",
            "check",
            "--json",
            "--timeout",
            f"{timeout:g}",
            *targets,
        ],
        capture_output=True,
        text=True,
        cwd=TESTS,
        timeout=timeout + 60,
        check=False,
    )
    entries = json.loads(result.stdout)
    entries = entries if isinstance(entries, list) else [entries]
    return {entry["target"].partition(":")[2]: entry["ok"] for entry in entries}


@pytest.mark.skipif(sys.platform != "linux", reason="counts child processes in /proc")
def test_a_corpus_of_adversarial_keys_gets_no_false_pass_and_does_no_harm() -> None:
    """Every key check_key passes works in real trips under every start method;
    the check leaves the calling program as it found it; the CLI agrees."""
    from concurrent.futures import ThreadPoolExecutor

    import adversarial_keys as corpus

    names = list(corpus.BUILDERS)
    hanging = [name for name in names if corpus.KINDS[name] == "hangs"]
    methods = multiprocessing.get_all_start_methods()
    with ThreadPoolExecutor(len(methods) + 3) as runner:
        trips = {method: runner.submit(real_trips, method, names) for method in methods}
        checked = runner.submit(
            run_python_file, TESTS / "check_corpus.py", names, timeout=300
        )
        cli = runner.submit(cli_verdicts, [n for n in names if n not in hanging], 120)
        cli_hanging = runner.submit(cli_verdicts, hanging, 10)
        result = checked.result()
        works = {method: future.result() for method, future in trips.items()}
        by_cli = {**cli.result(), **cli_hanging.result()}
    assert result.returncode == 0, result.stderr[-2000:]
    run = json.loads(result.stdout)
    assert run["before"] == run["after"], "the check changed the calling program"
    assert run["after"]["start_method"] is None and run["after"]["children"] == []
    reports = run["reports"]
    assert len(reports) == len(names) >= 70
    assert len(set(corpus.KINDS.values())) >= 15
    false_passes = {
        name: {
            method: works[method][name][1]
            for method in methods
            if not works[method][name][0]
        }
        for name in names
        if reports[name]["ok"] and not all(works[method][name][0] for method in methods)
    }
    assert false_passes == {}
    for name in names:  # the good keys work, and pass
        if corpus.KINDS[name] == "good":
            assert all(works[method][name][0] for method in methods), name
            assert reports[name]["ok"], reports[name]
    disagreements = {
        name: (reports[name]["ok"], by_cli[name])
        for name in names
        if reports[name]["ok"] != by_cli[name]
    }
    assert disagreements == {}


def run_python_file(
    script: Path, args: list[str], *, timeout: float
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(TESTS)},
        timeout=timeout,
        check=False,
    )


# -- the calling program is left as found -------------------------------------------


def test_the_check_leaves_the_start_method_unset_and_the_program_can_set_it() -> None:
    script = """
        import multiprocessing
        from mpguide import check_key

        assert multiprocessing.get_start_method(allow_none=True) is None
        assert check_key(("a", 1)).ok
        assert multiprocessing.get_start_method(allow_none=True) is None
        multiprocessing.set_start_method("spawn")
        print("set")
    """
    result = run_python(script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "set"


def test_concurrent_checks_leave_the_stack_size_as_found() -> None:
    script = """
        import threading
        from mpguide import check_key

        def check():
            for _ in range(3):
                check_key(7, new_process=False)

        threads = [threading.Thread(target=check) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print(threading.stack_size())
    """
    result = run_python(script, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"


def test_a_key_that_exits_when_unpickled_does_not_end_the_caller() -> None:
    """Before, os._exit(0) in __setstate__ ended pytest with status 0: a green CI."""
    script = """
        import sample_keys, adversarial_keys as corpus
        from mpguide import check_key

        report = check_key(corpus.BUILDERS["ends_in_setstate"]())
        print(report.ok, [f.problem.value for f in report.findings])
        print(report.errors[0].summary)
    """
    result = run_python(script)
    assert result.returncode == 0, result.stderr
    verdict, summary = result.stdout.strip().splitlines()
    assert verdict == "False ['ends-process']"
    assert "ended while unpickling it (exit status 0)" in summary


def test_keyboard_interrupt_in_reduce_is_an_error_not_an_empty_pass() -> None:
    import adversarial_keys as corpus

    report = check_key(corpus.BUILDERS["reduce_keyboard_interrupt"]())
    assert problems(report) == {Problem.ENDS_PROCESS: Severity.ERROR}
    assert (
        "KeyboardInterrupt: from __reduce__ while pickling it" in report.errors[0].summary
    )


def test_a_non_daemon_thread_started_when_the_key_module_is_imported_does_not_hold_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "threaded_key.py").write_text(
        textwrap.dedent(
            """
            import dataclasses, threading, time

            threading.Thread(target=time.sleep, args=(120,)).start()

            @dataclasses.dataclass(frozen=True)
            class Key:
                id: int
            """
        )
    )
    script = """
        import json, threading, time
        from mpguide import check_key

        started = time.monotonic()
        import threaded_key
        report = check_key(threaded_key.Key(1), timeout=20)
        print(json.dumps([report.ok, time.monotonic() - started]))
        import os
        os._exit(0)  # the module's own thread would hold this process
    """
    result = run_python(script, env_extra={"PYTHONPATH": f"{TESTS}:{tmp_path}"})
    assert result.returncode == 0, result.stderr
    ok, elapsed = json.loads(result.stdout)
    assert ok and elapsed < 15


def test_fresh_interpreters_get_the_callers_interpreter_flags(tmp_path: Path) -> None:
    (tmp_path / "optimised_key.py").write_text(
        textwrap.dedent(
            """
            import dataclasses, sys

            @dataclasses.dataclass(frozen=True)
            class Key:
                id: int

                def __setstate__(self, state):
                    if not sys.flags.optimize:  # a spawn child of python -O has it too
                        raise RuntimeError("unpickled without -O")
                    object.__setattr__(self, "id", state["id"])

                def __getstate__(self):
                    return {"id": self.id}
            """
        )
    )
    script = """
        import json
        import optimised_key
        from mpguide import check_key
        print(json.dumps(check_key(optimised_key.Key(1)).to_dict()))
    """
    env = {**os.environ, "PYTHONPATH": f"{TESTS}:{tmp_path}"}
    result = subprocess.run(
        [sys.executable, "-O", "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["findings"] == []


def test_a_verdict_that_a_fixed_hash_seed_hides_says_so() -> None:
    script = """
        import adversarial_keys as corpus
        from mpguide import check_key

        report = check_key(corpus.BUILDERS["eager_salted"]())
        print(report.errors[0].explanation)
    """
    result = run_python(script, env_extra={"PYTHONHASHSEED": "0"})
    assert result.returncode == 0, result.stderr
    assert "This program runs with PYTHONHASHSEED=0" in result.stdout
    result = run_python(script)
    assert "This program runs with PYTHONHASHSEED" not in result.stdout


def test_an_ip_network_gets_no_mutable_hash_warning() -> None:
    import ipaddress

    report = check_key(ipaddress.ip_network("10.0.0.0/8"))
    assert report.passes(strict=True), report


#: (method, the innermost function of mpguide's that led to it) for each call of
#: a Loud* method in this process.
CALLS: list[tuple[str, str]] = []
PACKAGE = str(Path(mpguide.__file__).parent)


def record(method: str) -> None:
    frame = sys._getframe(2)
    while frame is not None and not frame.f_code.co_filename.startswith(PACKAGE):
        frame = frame.f_back  # type: ignore[assignment]
    CALLS.append((method, frame.f_code.co_name if frame is not None else "?"))


class LoudKey:
    def __repr__(self) -> str:
        record("__repr__")
        return "LoudKey()"


class LoudHolder:
    def __init__(self) -> None:
        self.d = {LoudKey(): threading.Lock()}


class LoudList(list[object]):
    def __iter__(self) -> Any:
        record("__iter__")
        return super().__iter__()


class LoudClass:
    def __init__(self) -> None:
        self.lock = threading.Lock()

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        record("__class__")
        return LoudClass


class LoudError(Exception):
    def __str__(self) -> str:
        record("__str__")
        return "loud"


class RaisesLoud:
    def __reduce__(self) -> Any:
        raise LoudError(LoudKey())


@pytest.mark.parametrize(
    "make", [LoudHolder, lambda: LoudList([threading.Lock()]), LoudClass, RaisesLoud]
)
def test_in_the_callers_process_only_pickling_runs_the_keys_code(
    make: Callable[[], object],
) -> None:
    key = make()
    CALLS.clear()
    report = check_key(key, timeout=60)
    assert report.errors[0].problem is Problem.NOT_PICKLABLE
    assert [call for call in CALLS if call[1] != "dumps"] == []
