"""``mpguide lint`` and its flake8 plugin: each rule fires on its pitfall and not
on the near misses; the command line and flake8 give the same findings."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mpguide.lint import RULES, analyse, lint_snippet

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def codes(source: str) -> list[tuple[int, str]]:
    """(line, code) of each finding in ``source``."""
    tree = ast.parse(textwrap.dedent(source))
    return [(finding.line, finding.code) for finding in analyse(tree)]


def only(source: str) -> set[str]:
    return {code for _, code in codes(source)}


# -- the rules, each with its pitfall and its near misses ----------------------------

FIRES = {
    "MPG001 lambda target": (
        "MPG001",
        """
        import multiprocessing
        if __name__ == "__main__":
            multiprocessing.Process(target=lambda: None).start()
        """,
    ),
    "MPG001 nested function in a pool": (
        "MPG001",
        """
        from multiprocessing import Pool
        def main():
            def double(x):
                return 2 * x
            with Pool(2) as pool:
                pool.map(double, range(3))
        """,
    ),
    "MPG001 executor initializer": (
        "MPG001",
        """
        from concurrent.futures import ProcessPoolExecutor
        def main():
            with ProcessPoolExecutor(initializer=lambda: None) as pool:
                pool.submit(print, 1)
        """,
    ),
    "MPG001 class defined in a function": (
        "MPG001",
        """
        import multiprocessing as mp
        def main():
            class Job:
                def __call__(self):
                    pass
            ctx = mp.get_context("spawn")
            ctx.Process(target=Job).start()
        """,
    ),
    "MPG001 lambda to a fork context's pool": (
        "MPG001",
        """
        import multiprocessing
        def main():
            fork = multiprocessing.get_context("fork")
            fork.Pool(2).map(lambda x: x, range(3))
            multiprocessing.get_context("spawn").Process(target=lambda: None).start()
        """,
    ),
    "MPG001 lambda initializer of a spawn context's executor": (
        "MPG001",
        """
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        def main():
            spawn = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(2, mp_context=spawn, initializer=lambda: None) as ex:
                ex.submit(abs, 1)
        """,
    ),
    "MPG002 pool at module level": (
        "MPG002",
        """
        from multiprocessing import Pool
        def square(x):
            return x * x
        with Pool(2) as pool:
            print(pool.map(square, range(3)))
        """,
    ),
    "MPG002 process started at module level": (
        "MPG002",
        """
        import multiprocessing
        def work():
            pass
        process = multiprocessing.Process(target=work)
        process.start()
        """,
    ),
    "MPG003 set_start_method on import": (
        "MPG003",
        """
        import multiprocessing
        multiprocessing.set_start_method("spawn")
        """,
    ),
    "MPG004 identity key": (
        "MPG004",
        """
        import multiprocessing
        class User:
            def __init__(self, name):
                self.name = name
        if __name__ == "__main__":
            manager = multiprocessing.Manager()
            users = [User("alice"), User("bob")]
            locks = manager.dict({user: manager.Lock() for user in users})
        """,
    ),
    "MPG004 identity key by subscript": (
        "MPG004",
        """
        import multiprocessing
        class User:
            pass
        def main():
            with multiprocessing.Manager() as manager:
                seen = manager.dict()
                user = User()
                seen[user] = True
        """,
    ),
    "MPG005 append to a copy": (
        "MPG005",
        """
        import multiprocessing
        if __name__ == "__main__":
            manager = multiprocessing.Manager()
            queries = manager.dict({"alice": []})
            queries["alice"].append("q0")
        """,
    ),
    "MPG005 item of a copy": (
        "MPG005",
        """
        import multiprocessing
        def main():
            manager = multiprocessing.Manager()
            stats = manager.dict()
            stats["alice"]["count"] += 1
        """,
    ),
    "MPG005 Namespace attribute": (
        "MPG005",
        """
        import multiprocessing
        def main():
            manager = multiprocessing.Manager()
            ns = manager.Namespace()
            ns.items.append(1)
        """,
    ),
    "MPG005 Namespace passed to a process": (
        "MPG005",
        """
        import multiprocessing
        def producer(ns):
            ns.items.append(1)
        if __name__ == "__main__":
            manager = multiprocessing.Manager()
            namespace = manager.Namespace()
            namespace.items = []
            multiprocessing.Process(target=producer, args=(namespace,)).start()
        """,
    ),
    "MPG005 list in a managed list": (
        "MPG005",
        """
        import multiprocessing
        def main():
            manager = multiprocessing.Manager()
            results = manager.list([[], []])
            results[0].append(1)
        """,
    ),
    "MPG008 lock dict submitted by keyword": (
        "MPG008",
        """
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        def work(locks, user):
            with locks[user]:
                pass
        def main():
            manager = multiprocessing.Manager()
            locks = manager.dict({1: manager.Lock()})
            with ProcessPoolExecutor() as pool:
                pool.submit(work, locks=locks, user=1)
        """,
    ),
    "MPG006 Value += in a worker": (
        "MPG006",
        """
        import multiprocessing
        def count(counter):
            counter.value += 1
        if __name__ == "__main__":
            counter = multiprocessing.Value("i", 0)
            multiprocessing.Process(target=count, args=(counter,)).start()
        """,
    ),
    "MPG006 Array item in a worker": (
        "MPG006",
        """
        import multiprocessing
        def add(totals):
            totals[0] += 1
        def main():
            totals = multiprocessing.Array("i", 4)
            multiprocessing.Process(target=add, args=(totals,)).start()
        """,
    ),
    "MPG007 hash shard": (
        "MPG007",
        """
        import multiprocessing
        SHARDS = 4
        def shard(key):
            return hash(key) % SHARDS
        """,
    ),
    "MPG008 lock fetched per use": (
        "MPG008",
        """
        import multiprocessing
        def work(user_locks, user):
            for _ in range(10):
                with user_locks[user]:
                    pass
        if __name__ == "__main__":
            manager = multiprocessing.Manager()
            user_locks = manager.dict({1: manager.Lock()})
        """,
    ),
    "MPG009 queue as a task argument": (
        "MPG009",
        """
        import multiprocessing
        def work(queue):
            queue.put(1)
        if __name__ == "__main__":
            queue = multiprocessing.Queue()
            with multiprocessing.Pool(2) as pool:
                pool.apply_async(work, (queue,)).get()
        """,
    ),
    "MPG009 lock submitted": (
        "MPG009",
        """
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        def work(lock):
            pass
        def main():
            lock = multiprocessing.Lock()
            with ProcessPoolExecutor() as pool:
                pool.submit(work, lock)
        """,
    ),
    "MPG010 join before get": (
        "MPG010",
        """
        import multiprocessing
        def produce(results):
            results.put(b"x" * 1_000_000)
        if __name__ == "__main__":
            results = multiprocessing.Queue()
            child = multiprocessing.Process(target=produce, args=(results,))
            child.start()
            child.join()
            print(results.get())
        """,
    ),
    "MPG011 global set under the guard": (
        "MPG011",
        """
        import multiprocessing
        def work():
            print(settings)
        if __name__ == "__main__":
            settings = {"debug": True}
            multiprocessing.Process(target=work).start()
        """,
    ),
}

NEAR_MISSES = {
    "a target defined at module level": """
        import multiprocessing
        def double(x):
            return 2 * x
        def main():
            with multiprocessing.Pool(2) as pool:
                pool.map(double, range(3))
            multiprocessing.Process(target=double, args=(1,)).start()
        """,
    "a lambda as a fork context's Process target (not pickled)": """
        import multiprocessing
        def main():
            fork = multiprocessing.get_context("fork")
            fork.Process(target=lambda: None).start()
        """,
    "a lambda as a fork context's pool initializer (not pickled)": """
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        def main():
            fork = multiprocessing.get_context("fork")
            with fork.Pool(2, initializer=lambda: None) as pool:
                pool.map(abs, range(3))
            with ProcessPoolExecutor(2, mp_context=fork, initializer=lambda: None) as ex:
                ex.submit(abs, 1)
        """,
    "a lambda given to multiprocess, which pickles with dill": """
        import multiprocess as mp
        from multiprocess import Process
        def main():
            with mp.Pool(2) as pool:
                pool.map(lambda x: x, range(3))
            mp.get_context("spawn").Process(target=lambda: None).start()
            Process(target=lambda: None).start()
        """,
    "a lambda given to a thread pool": """
        from concurrent.futures import ThreadPoolExecutor
        def main():
            with ThreadPoolExecutor() as pool:
                pool.submit(lambda: None)
                pool.map(lambda x: x, range(3))
        """,
    "a lambda given to the builtin map": """
        import multiprocessing
        print(list(map(lambda x: x, range(3))))
        """,
    "a pool under the guard": """
        from multiprocessing import Pool
        def square(x):
            return x * x
        if __name__ == "__main__":
            with Pool(2) as pool:
                print(pool.map(square, range(3)))
        """,
    "a process started under current_process().name == 'MainProcess'": """
        from multiprocessing import Process, current_process
        def work():
            pass
        if current_process().name == "MainProcess":
            Process(target=work).start()
        """,
    "a pool inside a function": """
        from multiprocessing import Pool
        def square(x):
            return x * x
        def main():
            with Pool(2) as pool:
                return pool.map(square, range(3))
        """,
    "set_start_method under the guard, and a context": """
        import multiprocessing
        ctx = multiprocessing.get_context("spawn")
        if __name__ == "__main__":
            multiprocessing.set_start_method("spawn")
        """,
    "a frozen dataclass key": """
        import dataclasses
        import multiprocessing
        @dataclasses.dataclass(frozen=True)
        class User:
            name: str
        def main():
            manager = multiprocessing.Manager()
            users = [User("alice")]
            locks = manager.dict({user: manager.Lock() for user in users})
            locks[User("bob")] = manager.Lock()
        """,
    "a key class with __eq__ and __hash__": """
        import multiprocessing
        class User:
            def __init__(self, name):
                self.name = name
            def __eq__(self, other):
                return self.name == other.name
            def __hash__(self):
                return hash(self.name)
        def main():
            manager = multiprocessing.Manager()
            seen = manager.dict()
            seen[User("alice")] = True
        """,
    "an identity key in a plain dict": """
        import multiprocessing
        class User:
            pass
        def main():
            seen = {}
            seen[User()] = True
        """,
    "written back, and nested Manager containers": """
        import multiprocessing
        def main():
            manager = multiprocessing.Manager()
            queries = manager.dict({"alice": []})
            items = queries["alice"]
            items.append("q0")
            queries["alice"] = items
            queries = manager.dict({"alice": manager.list()})
            queries["alice"].append("q1")
        """,
    "calls that disagree on what a parameter holds": """
        import multiprocessing
        def record(queries, user):
            queries[user].append(1)
        def main():
            manager = multiprocessing.Manager()
            plain = manager.dict({"alice": []})
            nested = manager.dict({"alice": manager.list()})
            multiprocessing.Process(target=record, args=(plain, "alice")).start()
            multiprocessing.Process(target=record, args=(nested, "alice")).start()
        """,
    "Manager lists stored by assignment": """
        import multiprocessing
        def fill(scores, key):
            scores[key].append(1)
        def main():
            manager = multiprocessing.Manager()
            scores = manager.dict()
            scores["a"] = manager.dict()
            scores["a"]["ids"] = manager.list()
            scores["b"] = manager.list()
            multiprocessing.Process(target=fill, args=(scores, "b")).start()
        """,
    "Manager containers in a managed list or Namespace": """
        import multiprocessing
        def work(ns, results, appended):
            ns.items.append(1)
            results[0].append(2)
            appended[0].append(3)
        if __name__ == "__main__":
            manager = multiprocessing.Manager()
            ns = manager.Namespace()
            ns.items = manager.list()
            results = manager.list([manager.list() for _ in range(2)])
            appended = manager.list()
            appended.append(manager.list())
            multiprocessing.Process(target=work, args=(ns, results, appended)).start()
        """,
    "a plain dict of lists": """
        import multiprocessing
        def main():
            queries = {"alice": []}
            queries["alice"].append("q0")
        """,
    "Value += under its lock": """
        import multiprocessing
        def count(counter):
            with counter.get_lock():
                counter.value += 1
        if __name__ == "__main__":
            counter = multiprocessing.Value("i", 0)
            multiprocessing.Process(target=count, args=(counter,)).start()
        """,
    "Value += between acquire() and release()": """
        import multiprocessing
        def count(counter, lock):
            lock.acquire()
            counter.value += 1
            lock.release()
        if __name__ == "__main__":
            counter = multiprocessing.Value("i", 0)
        """,
    "the parent's own += on a Value": """
        import multiprocessing
        def show(counter):
            print(counter.value)
        if __name__ == "__main__":
            counter = multiprocessing.Value("i", 0)
            for _ in range(3):
                counter.value += 1
                multiprocessing.Process(target=show, args=(counter,)).start()
        """,
    "a method's .value +=": """
        import multiprocessing
        class Meter:
            def add(self, other):
                self.value += 1
                other.value += 1
        counter = multiprocessing.Value("i", 0)
        """,
    "hash() % n in a module without processes": """
        def bucket(key, size):
            return hash(key) % size
        """,
    "a fetch cached once": """
        import multiprocessing
        def work(user_locks, user):
            lock = user_locks[user]
            for _ in range(10):
                with lock:
                    pass
        if __name__ == "__main__":
            manager = multiprocessing.Manager()
            user_locks = manager.dict({1: manager.Lock()})
        """,
    "a plain dict of thread locks": """
        import multiprocessing
        import threading
        def work(locks, user):
            with locks[user]:
                pass
        if __name__ == "__main__":
            locks = {1: threading.Lock()}
        """,
    "a Manager queue as a task argument, a queue through the initializer": """
        import multiprocessing
        def init(queue):
            pass
        def work(queue):
            queue.put(1)
        if __name__ == "__main__":
            manager = multiprocessing.Manager()
            shared = manager.Queue()
            queue = multiprocessing.Queue()
            with multiprocessing.Pool(2, initializer=init, initargs=(queue,)) as pool:
                pool.apply_async(work, (shared,)).get()
        """,
    "a queue drained before join": """
        import multiprocessing
        def produce(results):
            results.put(1)
        if __name__ == "__main__":
            results = multiprocessing.Queue()
            child = multiprocessing.Process(target=produce, args=(results,))
            child.start()
            print(results.get())
            child.join()
        """,
    "a queue.Queue, not a multiprocessing one": """
        import multiprocessing
        import queue
        import threading
        def main():
            results = queue.Queue()
            thread = threading.Thread(target=results.put, args=(1,))
            thread.start()
            thread.join()
            results.get()
        """,
    "a global set at module level, and one passed as an argument": """
        import multiprocessing
        SETTINGS = {"debug": True}
        def work(config):
            print(SETTINGS, config)
        if __name__ == "__main__":
            config = {"debug": False}
            multiprocessing.Process(target=work, args=(config,)).start()
        """,
}


@pytest.mark.parametrize("name", sorted(FIRES))
def test_rule_fires_on_its_pitfall(name: str) -> None:
    code, source = FIRES[name]
    assert only(source) == {code}


@pytest.mark.parametrize("name", sorted(NEAR_MISSES))
def test_rule_is_silent_on_a_near_miss(name: str) -> None:
    assert codes(NEAR_MISSES[name]) == []


def test_every_rule_is_tested_and_links_a_page() -> None:
    assert {code for code, _ in FIRES.values()} == set(RULES)
    for code, rule in RULES.items():
        message = rule.format("x")
        assert message.startswith(f"{code} ")
        assert message.endswith(f"(see {rule.page})")
        path, _, anchor = rule.page.partition("#")
        stem = path.removesuffix(".html")
        if stem.startswith("gallery/"):
            assert (EXAMPLES / (stem.removeprefix("gallery/") + ".py")).is_file(), code
        else:
            page = (ROOT / "docs" / stem).with_suffix(".md")
            assert page.is_file(), code
            if anchor:
                assert f"({anchor})=" in page.read_text(encoding="utf-8"), code


# -- the command line ----------------------------------------------------------------


def mpguide_lint(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, "-m", "mpguide", "lint", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )


BROKEN = textwrap.dedent(
    """\
    import multiprocessing
    multiprocessing.set_start_method("spawn")
    SHARD = hash("alice") % 4
    """
)


def test_output_and_exit_statuses(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text(BROKEN, encoding="utf-8")
    (tmp_path / "clean.py").write_text("import multiprocessing\n", encoding="utf-8")
    result = mpguide_lint("broken.py", "clean.py", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(" ", 2)[:2] for line in lines] == [
        ["broken.py:2:1:", "MPG003"],
        ["broken.py:3:9:", "MPG007"],
    ]
    assert result.stderr == ""
    clean = mpguide_lint("clean.py", cwd=tmp_path)
    assert (clean.returncode, clean.stdout) == (0, "")


def test_json_output(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text(BROKEN, encoding="utf-8")
    result = mpguide_lint("--format", "json", str(tmp_path))
    assert result.returncode == 1
    entries = json.loads(result.stdout)
    assert [(e["line"], e["col"], e["code"]) for e in entries] == [
        (2, 1, "MPG003"),
        (3, 9, "MPG007"),
    ]
    assert entries[0]["path"] == str(tmp_path / "broken.py")
    assert entries[0]["message"] == RULES["MPG003"].format()[len("MPG003 ") :]


def test_bad_usage_and_unparsable_files(tmp_path: Path) -> None:
    missing = mpguide_lint(str(tmp_path / "missing.py"))
    assert missing.returncode == 2
    assert "no such file or directory" in missing.stderr
    unknown = mpguide_lint("--no-such-option", str(tmp_path))
    assert unknown.returncode == 2
    (tmp_path / "broken.py").write_text(BROKEN, encoding="utf-8")
    (tmp_path / "syntax.py").write_text("def f(:\n", encoding="utf-8")
    result = mpguide_lint(str(tmp_path))
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    assert re.search(r"syntax\.py:1:\d+: cannot parse: SyntaxError", result.stderr)
    assert "MPG003" in result.stdout  # the other file is still checked


def test_noqa_select_and_ignore(tmp_path: Path) -> None:
    source = BROKEN.replace('("spawn")', '("spawn")  # noqa: MPG003')
    (tmp_path / "a.py").write_text(source, encoding="utf-8")
    assert [
        line.split()[1] for line in mpguide_lint("a.py", cwd=tmp_path).stdout.splitlines()
    ] == ["MPG007"]
    (tmp_path / "a.py").write_text(source.replace("% 4", "% 4  # noqa"), encoding="utf-8")
    assert mpguide_lint("a.py", cwd=tmp_path).returncode == 0
    (tmp_path / "a.py").write_text(
        BROKEN.replace('("spawn")', '("spawn")  # noqa: E501'), encoding="utf-8"
    )
    assert "MPG003" in mpguide_lint("a.py", cwd=tmp_path).stdout  # another code's noqa
    (tmp_path / "a.py").write_text(BROKEN, encoding="utf-8")

    def found(*options: str) -> list[str]:
        result = mpguide_lint(*options, "a.py", cwd=tmp_path)
        return [line.split()[1] for line in result.stdout.splitlines()]

    assert found("--select", "MPG007") == ["MPG007"]
    assert found("--ignore", "MPG007") == ["MPG003"]
    assert found("--ignore", "MPG") == []
    assert found("--select", "MPG", "--ignore", "MPG00") == []
    assert found("--select", "MPG003,MPG007", "--ignore", "MPG00") == ["MPG003", "MPG007"]
    assert found("--select", "E") == []


# -- flake8 --------------------------------------------------------------------------


def flake8(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flake8", "--isolated", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        check=False,
    )


def test_flake8_plugin_gives_the_same_findings(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text(BROKEN, encoding="utf-8")
    ours = mpguide_lint(str(EXAMPLES), str(tmp_path))
    theirs = flake8("--select=MPG", str(EXAMPLES), str(tmp_path))
    assert theirs.returncode == 1, theirs.stderr
    assert sorted(theirs.stdout.splitlines()) == sorted(ours.stdout.splitlines())
    assert len(ours.stdout.splitlines()) > 10
    (tmp_path / "broken.py").write_text(
        BROKEN.replace('("spawn")', '("spawn")  # noqa: MPG003'), encoding="utf-8"
    )
    silenced = flake8("--select=MPG", "broken.py", cwd=tmp_path)
    assert [line.split()[1] for line in silenced.stdout.splitlines()] == ["MPG007"]


# -- the site's own examples ---------------------------------------------------------

#: Every finding in examples/: (file, code, text of the flagged line). Each is a
#: broken snippet a page shows; the pages' fixes are in the same files and must
#: stay silent, which the exact comparison checks.
EXPECTED_IN_EXAMPLES = {
    ("alternatives/plot_02_value_array.py", "MPG006", "query_times.value += 1"),
    ("inherit/plot_03_join_before_drain.py", "MPG010", "child.join(timeout=JOIN_WAIT)"),
    # Twice more: a few items joined first (they fit in the pipe, which is why a
    # small test does not hang) and cancel_join_thread(), which loses items.
    ("inherit/plot_03_join_before_drain.py", "MPG010", "child.join(timeout=WAIT)"),
    ("library/plot_02_keyed_locks.py", "MPG007", "return hash(key) % len(self._locks)"),
    ("pitfalls/plot_01_nested_mutation.py", "MPG005", 'queries["alice"].append("q0")'),
    ("pitfalls/plot_01_nested_mutation.py", "MPG005", 'stats["alice"]["count"] += 1'),
    ("pitfalls/plot_02_value_race.py", "MPG006", "query_times.value += 1"),
    ("pitfalls/plot_03_salted_hash.py", "MPG007", "return hash(name) % SHARDS"),
    ("pitfalls/plot_08_lock_fetch.py", "MPG008", "with user_locks[user_id]:"),
    (
        "pitfalls/plot_08_lock_fetch.py",
        "MPG008",
        "with cache.setdefault(user_id, user_locks[user_id]):  # fetches every time",
    ),
    # The report's KeyError, reproduced to tell it from this page's other KeyError.
    (
        "pitfalls/plot_10_not_this_keyerror.py",
        "MPG004",
        'user_locks = manager.dict({User("alice"): manager.Lock()})',
    ),
    ("pitfalls/plot_10_not_this_keyerror.py", "MPG004", 'user_locks[User("alice")]'),
    (
        "start_methods/plot_02_must_pickle.py",
        "MPG001",
        "pool_outcome = f\"ran: {pool.apply(lambda: 'done')}\"",
    ),
    (
        "tutorial/plot_01_reproduce.py",
        "MPG004",
        "user_locks = manager.dict({user: manager.Lock() for user in users_list})",
    ),
    (
        "tutorial/plot_02_why.py",
        "MPG004",
        "user_locks = manager.dict({user: manager.Lock() for user in users_list})",
    ),
    # The tutorial's fixes keep the report's `with user_locks[...]:`, which pitfall 8
    # shows fetching a new proxy on every use.
    ("tutorial/plot_03_fix_id_keys.py", "MPG008", "with user_locks[user_id]:"),
    ("tutorial/plot_04_fix_eq_hash.py", "MPG008", "with user_locks[user]:"),
    ("tutorial/plot_05_fix_key_registry.py", "MPG008", "with user_locks[token]:"),
}


def test_examples_flag_the_broken_snippets_and_not_the_fixes() -> None:
    result = mpguide_lint("examples")
    assert result.returncode == 1, result.stderr
    found = set()
    for line in result.stdout.splitlines():
        path, number, _, rest = line.split(":", 3)
        code = rest.split()[0]
        text = (ROOT / path).read_text(encoding="utf-8").splitlines()[int(number) - 1]
        found.add((path.removeprefix("examples/"), code, text.strip()))
    assert found == EXPECTED_IN_EXAMPLES


def test_lint_snippet_prints_what_the_command_prints(tmp_path: Path) -> None:
    (tmp_path / "snippet.py").write_text(BROKEN, encoding="utf-8")
    command = mpguide_lint("snippet.py", cwd=tmp_path)
    assert lint_snippet(textwrap.indent(BROKEN, "    ")) == command.stdout.splitlines()
    assert len(command.stdout.splitlines()) > 1


#: A page that shows what the linter prints for its broken code asserts the code.
SHOWN_CODE = re.compile(r'all\(" (MPG\d{3}) " in line for line in lint_broken\)')


def test_pitfall_pages_show_their_rule() -> None:
    """Each rule whose page is in the gallery is shown, by the build, on a page of
    that page's section, flagging the broken snippet and not the fix."""
    shown: dict[str, str] = {}
    for path in sorted(EXAMPLES.glob("*/plot_*.py")):
        text = path.read_text(encoding="utf-8")
        for code in SHOWN_CODE.findall(text):
            assert "assert lint_fixed == []" in text, path
            shown[code] = path.parent.name
    in_gallery = {
        code: rule.page.split("/")[1]
        for code, rule in RULES.items()
        if rule.page.startswith("gallery/")
    }
    assert {code: shown.get(code) for code in in_gallery} == in_gallery
    assert "MPG001" in shown  # its page is in the error index; the gallery shows it too


# -- the reference page --------------------------------------------------------------


def test_reference_page_examples_are_broken_and_fixed() -> None:
    """Each rule's section on the reference page shows code the rule reports, then
    code it does not; every rule has a section."""
    page = (ROOT / "docs" / "reference" / "lint.md").read_text(encoding="utf-8")
    sections = re.split(r"^## (MPG\d{3}):", page, flags=re.M)[1:]
    documented = sections[0::2]
    assert documented == sorted(RULES)
    for code, body in zip(sections[0::2], sections[1::2], strict=True):
        blocks = re.findall(r"```python\n(.*?)```", body, flags=re.S)
        assert [block.splitlines()[0] for block in blocks] == ["# broken", "# fixed"], code
        broken, fixed = blocks
        assert only(broken) == {code}, code
        assert codes(fixed) == [], code


def test_howto_shows_what_the_linter_prints() -> None:
    page = (ROOT / "docs" / "howto" / "lint.md").read_text(encoding="utf-8")
    (line,) = re.findall(r"^app/report\.py:35:5: (MPG005 .*)$", page, flags=re.M)
    assert line == RULES["MPG005"].format("queries['alice'].append()")
