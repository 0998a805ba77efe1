"""The error index extension: producers run, messages checked, the page says where."""

from __future__ import annotations

import importlib.util
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, line_after, other_interpreters, run_example_ok

from mpguide.sphinxext.error_index import (
    Results,
    Run,
    describe_where,
    group_wordings,
    parse_versions,
    shorten,
)
from mpguide.sphinxext.interpreters import Interpreter, running, version_key
from mpguide.sphinxext.runs import run_bounded

PAGE = """\
# Errors

:::{{error-runs}}
:::

## `ValueError: no such user`

:::{{error-message}} producer.py
:expect: ^ValueError: no such user
{options}
:::
"""

PRODUCER = """\
import json, os
print("start method:", os.environ["MPGUIDE_START_METHOD"])
{body}
"""
PRODUCES = 'print("message:", json.dumps("ValueError: no such user"))'


def make_project(root: Path, body: str, options: str = "", timeout: float = 20) -> Path:
    (root / "errors").mkdir(parents=True, exist_ok=True)
    (root / "conf.py").write_text(
        "extensions = ['myst_parser', 'mpguide.sphinxext.error_index']\n"
        "myst_enable_extensions = ['colon_fence']\n"
        "mpguide_error_scripts = 'errors/*.py'\n"
        f"mpguide_error_timeout = {timeout}\n"
    )
    (root / "index.md").write_text(PAGE.format(options=options))
    (root / "errors" / "producer.py").write_text(PRODUCER.format(body=body))
    return root


def build(root: Path, *others: Interpreter) -> subprocess.CompletedProcess[str]:
    """Build with only the running interpreter, as a machine without others would
    (and ``others``), and a cache of the project's own."""
    env = {k: v for k, v in os.environ.items() if k not in ("MPGUIDE_CACHE_DIR", "CI")}
    env["MPGUIDE_PYTHONS"] = os.pathsep.join(
        [sys.executable, *(i.executable for i in others)]
    )
    return subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-b", "html", ".", "_build"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def page_text(root: Path) -> str:
    html = (root / "_build" / "index.html").read_text()
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_a_produced_message_is_shown_with_where_it_was_produced(tmp_path: Path) -> None:
    root = make_project(tmp_path, PRODUCES)
    done = build(root)
    assert done.returncode == 0, done.stderr
    text = page_text(root)
    version = platform.python_version()
    assert "ValueError: no such user" in text
    assert f"Produced under fork, spawn, forkserver on Python {version}." in text
    assert "error index: 3 producer runs" in done.stdout

    again = build(root)  # unchanged: every run comes from the cache
    assert again.returncode == 0, again.stderr
    assert "producer runs" not in again.stdout


QUOTED = """
## `ValueError: cannot find context for 'fork'`

:::{{error-quoted}} ValueError: cannot find context for 'fork'
:platforms: Windows
:module: multiprocessing.context
:source-line: {line}
:::
"""
RAISE_LINE = "raise ValueError('cannot find context for %r' % method) from None"


def line_number(path: str, text: str) -> int:
    lines = [line.strip() for line in Path(path).read_text().splitlines()]
    return lines.index(text) + 1


def test_a_quoted_message_is_marked_and_numbers_its_line_on_each_interpreter(
    tmp_path: Path,
) -> None:
    other = other_interpreters()[0]
    root = make_project(tmp_path, PRODUCES)
    with (root / "index.md").open("a") as page:
        page.write(QUOTED.format(line=RAISE_LINE))
    done = build(root, other)
    assert done.returncode == 0, done.stderr
    text = page_text(root)
    assert "ValueError: cannot find context for 'fork'" in text
    assert "Quoted, not produced: this message appears only on Windows." in text
    import multiprocessing.context

    here = line_number(multiprocessing.context.__file__, RAISE_LINE)
    there = subprocess.run(
        [other.executable, "-c", "import multiprocessing.context as m; print(m.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    lines = {here: platform.python_version(), line_number(there, RAISE_LINE): other.version}
    assert "multiprocessing/context.py" in text
    for number, version in lines.items():
        where = rf"line {number} in Python (?:[\d.]+, )*{re.escape(version)}\b"
        assert re.search(where, text), (where, text)


def test_a_quote_of_older_versions_names_its_fix_and_the_fix_s_line(
    tmp_path: Path,
) -> None:
    root = make_project(tmp_path, PRODUCES)
    quoted = QUOTED.format(line=RAISE_LINE).replace(
        ":platforms: Windows\n", ":platforms: Python 2.7\n:fixed-by: bpo-1 (in 3.0)\n"
    )
    with (root / "index.md").open("a") as page:
        page.write(quoted)
    done = build(root)
    assert done.returncode == 0, done.stderr
    text = page_text(root)
    assert (
        "Quoted, not produced: this message appears only on Python 2.7; bpo-1 (in 3.0) "
        f"fixed it. The line of the fix, {RAISE_LINE} in multiprocessing/context.py"
    ) in text.replace("&#x27;", "'")


def test_a_quote_that_no_longer_matches_the_source_fails_the_build(tmp_path: Path) -> None:
    root = make_project(tmp_path, PRODUCES)
    with (root / "index.md").open("a") as page:
        page.write(QUOTED.format(line="raise ValueError('no such context')"))
    done = build(root)
    assert done.returncode != 0
    assert "has no line \"raise ValueError('no such context')\"" in done.stderr
    assert "no longer matches" in done.stderr


def test_a_quote_limited_to_versions_needs_its_line_there_and_nowhere_else(
    tmp_path: Path,
) -> None:
    other = other_interpreters()[0]
    minors = sorted({running().minor, other.minor}, key=version_key)
    root = make_project(tmp_path, PRODUCES)
    quoted = QUOTED.format(line=RAISE_LINE)
    with (root / "index.md").open("a") as page:
        page.write(quoted.replace(":::\n", f":versions: {minors[0]}\n:::\n", 1))
    done = build(root, other)
    assert done.returncode != 0
    assert f"has the line {RAISE_LINE!r} too" in done.stderr
    assert f"is not limited to Python {minors[0]}" in done.stderr


def test_a_producer_that_stops_producing_its_message_fails_the_build(
    tmp_path: Path,
) -> None:
    root = make_project(tmp_path, PRODUCES)
    assert build(root).returncode == 0
    (root / "errors" / "producer.py").write_text(
        PRODUCER.format(body='print("message:", json.dumps("ValueError: other wording"))')
    )
    done = build(root)
    assert done.returncode != 0
    assert "producer.py no longer produces '^ValueError: no such user'" in done.stderr
    assert "ValueError: other wording" in done.stderr


def test_a_message_missing_under_a_required_method_fails_the_build(tmp_path: Path) -> None:
    body = (
        'if os.environ["MPGUIDE_START_METHOD"] == "fork":\n'
        '    print("not produced: fork copies the parent")\n'
        f"else:\n    {PRODUCES}"
    )
    root = make_project(tmp_path, body)
    done = build(root)
    assert done.returncode != 0
    assert "producer.py no longer produces" in done.stderr
    assert "under fork" in done.stderr

    make_project(root, body, options=":methods: spawn forkserver")
    done = build(root)
    assert done.returncode == 0, done.stderr
    assert "Not produced under fork on Python" in page_text(root)
    assert "fork copies the parent" in page_text(root)


def test_a_message_missing_on_another_interpreter_fails_the_build(tmp_path: Path) -> None:
    other = other_interpreters()[0]
    body = (
        f"import sys\nif sys.version_info[:2] == {sys.version_info[:2]}:\n    {PRODUCES}\n"
        'else:\n    print("not produced: only the running version produces it")'
    )
    root = make_project(tmp_path, body)
    assert build(root).returncode == 0
    done = build(root, other)
    assert done.returncode != 0
    assert f"under fork on Python {other.version}; it printed: only the" in done.stderr


def test_a_changed_helper_runs_its_producers_again(tmp_path: Path) -> None:
    body = 'from _helper import MESSAGE\nprint("message:", json.dumps(MESSAGE))'
    root = make_project(tmp_path, body)
    helper = root / "errors" / "_helper.py"
    helper.write_text('MESSAGE = "ValueError: no such user"\n')
    assert build(root).returncode == 0
    helper.write_text('MESSAGE = "ValueError: other wording"\n')
    done = build(root)
    assert done.returncode != 0
    assert "producer.py no longer produces '^ValueError: no such user'" in done.stderr


def test_the_expected_message_must_start_the_message_not_sit_inside_it(
    tmp_path: Path,
) -> None:
    """A ``RemoteError`` that carries the ``ValueError`` is not the ``ValueError``."""
    remote = (
        "multiprocessing.managers.RemoteError: \n" + "-" * 20 + "\n"
        "Traceback (most recent call last):\nValueError: no such user\n" + "-" * 20
    )
    root = make_project(tmp_path, f'print("message:", json.dumps({remote!r}))')
    done = build(root)
    assert done.returncode != 0
    assert "producer.py no longer produces '^ValueError: no such user'" in done.stderr


def test_a_message_marked_for_other_versions_does_not_fail_the_build(
    tmp_path: Path,
) -> None:
    body = 'print("not produced: this wording is from a future Python")'
    root = make_project(tmp_path, body, options=":versions: 3.99+")
    done = build(root)
    assert done.returncode == 0, done.stderr
    text = page_text(root)
    assert "this wording is from a future Python" in text
    assert "belongs to Python 3.99+ only" in text


def test_the_page_names_the_versions_it_did_not_run(tmp_path: Path) -> None:
    root = make_project(tmp_path, PRODUCES)
    assert build(root).returncode == 0
    text = page_text(root)
    others = [v for v in ("3.11", "3.12", "3.13") if v != running().minor]
    assert f"It did not run Python {', '.join(others)}" in text


@pytest.mark.parametrize(
    ("body", "expected", "timeout"),
    [
        ("raise SystemExit(3)", "failed with exit status 3", 20),
        # A short limit, so that the hanging producer is cut off soon.
        ("import time; time.sleep(60)", "did not finish within 5 s", 5),
        (
            "unclosed = open(__file__)\ndel unclosed\n" + PRODUCES,
            "left resources behind",
            20,
        ),
        (
            "import sys\nsys.stderr.write('UserWarning: resource_tracker: There appear "
            "to be 1 leaked semaphore objects to clean up at shutdown')\n" + PRODUCES,
            "left resources behind",
            20,
        ),
    ],
    ids=["exit status", "time limit", "unclosed file", "resource warning"],
)
def test_a_producer_that_misbehaves_fails_the_build_naming_it(
    tmp_path: Path, body: str, expected: str, timeout: float
) -> None:
    done = build(make_project(tmp_path, body, timeout=timeout))
    assert done.returncode != 0
    assert "producer.py on Python " in done.stderr
    assert expected in done.stderr


def test_run_reads_messages_and_the_reason() -> None:
    output = 'start method: spawn\nmessage: "A: 1"\nmessage: "B:\\n2"\nnot produced: why\n'
    assert Run.parse(output) == Run(("A: 1", "B:\n2"), "why")
    assert Run.parse("start method: fork\n") == Run((), None)


def test_versions_ranges() -> None:
    assert parse_versions("3.12+")("3.13") and not parse_versions("3.12+")("3.11")
    assert parse_versions("3.11-3.12")("3.12") and not parse_versions("3.11-3.12")("3.13")
    assert parse_versions("3.11 3.13")("3.13") and not parse_versions("3.11 3.13")("3.12")
    with pytest.raises(ValueError, match="not a version range"):
        parse_versions("py3.12")


def test_per_run_details_and_directories_are_shortened(tmp_path: Path) -> None:
    message = (
        f"KeyError: <__main__.User object at 0x7f13e178df10> pid=123 '/psm_3e16' "
        f"'/mp-xv_t' KeyError: '7f1efe10ee40' File \"/opt/py/lib/python3.12/x.py\" "
        f"'{tmp_path}{os.sep}script.py' 'wnsm_5c1b2d7e' objc[72091]:"
    )
    assert shorten(message, tmp_path) == (
        "KeyError: <__main__.User object at 0x…> pid=… '/psm_…' '/mp-…' KeyError: '…' "
        "File \"…/lib/python3.12/x.py\" 'script.py' 'wnsm_…' objc[…]:"
    )


def test_where_groups_methods_by_interpreter() -> None:
    old, new = Interpreter("3.11.7", "a"), Interpreter("3.13.0", "b")
    results = Results([old, new], {}, {})
    pairs = {("3.11", "fork"), ("3.11", "spawn"), ("3.13", "fork"), ("3.13", "spawn")}
    assert describe_where(pairs, results) == "fork, spawn on Python 3.11.7, 3.13.0"
    assert describe_where({("3.11", "fork"), ("3.13", "spawn")}, results) == (
        "fork on Python 3.11.7; spawn on Python 3.13.0"
    )


def test_the_page_shows_every_producer_and_at_least_twenty_messages() -> None:
    page = (ROOT / "docs" / "reference" / "errors.md").read_text()
    used = set(re.findall(r"^:::\{error-message\} (\S+)$", page, re.MULTILINE))
    scripts = {
        p.name
        for p in (ROOT / "docs" / "reference" / "errors").glob("*.py")
        if not p.name.startswith("_")
    }
    assert used == scripts
    sections = re.findall(r"^### (.+)$", page, re.MULTILINE)
    produced = page.count(":::{error-message}")
    assert len(sections) == produced + page.count(":::{error-quoted}")
    assert produced >= 20


PRODUCERS_DIR = ROOT / "docs" / "reference" / "errors"
PRODUCERS = sorted(p for p in PRODUCERS_DIR.glob("*.py") if p.name[0] != "_")


@pytest.mark.parametrize("path", PRODUCERS, ids=[p.stem for p in PRODUCERS])
def test_each_producer_runs_on_its_own_without_leaks(path: Path, start_method: str) -> None:
    output = run_example_ok(path, start_method)
    run = Run.parse(output)
    assert run.messages or run.not_produced, output


def test_a_worker_that_writes_where_no_page_can_be_had_dies_of_sigbus(
    start_method: str,
) -> None:
    # The section's claim: no exception, the worker killed by SIGBUS, which the
    # Process's repr names as its exit code, under every start method.
    output = run_example_ok(PRODUCERS_DIR / "shared_memory_bus_error.py", start_method)
    (message,) = Run.parse(output).messages
    kind = {"fork": "Fork", "spawn": "Spawn", "forkserver": "ForkServer"}[start_method]
    assert re.fullmatch(
        rf"<{kind}Process name='{kind}Process-1' pid=\d+ parent=… stopped "
        r"exitcode=-SIGBUS>",
        message,
    ), message


QUOTED_BLOCK = re.compile(
    r"^:::\{error-quoted\} .*\n((?::[\w-]+: .*\n)+):::$", re.MULTILINE
)


def test_each_quoted_line_is_in_this_python_s_standard_library() -> None:
    # What the build checks on every interpreter it finds, here on the one that
    # runs the tests: each quote's line of CPython, where its versions say so.
    page = (ROOT / "docs" / "reference" / "errors.md").read_text()
    minor = f"{sys.version_info.major}.{sys.version_info.minor}"
    quotes = [
        dict(re.findall(r"^:([\w-]+): (.*)$", block, re.M))
        for block in QUOTED_BLOCK.findall(page)
    ]
    assert len(quotes) == page.count(":::{error-quoted}")
    for options in quotes:
        if "versions" in options and not parse_versions(options["versions"])(minor):
            continue
        spec = importlib.util.find_spec(options["module"])
        assert spec and spec.origin, options["module"]
        lines = {line.strip() for line in Path(spec.origin).read_text().splitlines()}
        assert options["source-line"].strip() in lines, options


PARENT_GONE = """
import multiprocessing, os, sys

def work(queue, path):
    queue.put("sent")  # the queue's pipe, which it got when it started
    with open(path, "w") as done:
        done.write("ran")

if __name__ == "__main__":
    context = multiprocessing.get_context(os.environ["MPGUIDE_START_METHOD"])
    queue = context.Queue()
    context.Process(target=work, args=(queue, sys.argv[1])).start()
    os._exit(0)  # the parent ends at once, before the worker has run
"""


@pytest.mark.skipif(sys.platform == "win32", reason="the POSIX half of the section")
@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_a_posix_worker_needs_nothing_from_its_parent_once_started(
    method: str, tmp_path: Path
) -> None:
    # The access-denied section: on Windows a starting worker takes its pipe and
    # its queues' handles from the parent's process; on POSIX it is given them
    # when it is created, so it runs though the parent has already ended.
    program, marker = tmp_path / "program.py", tmp_path / "ran"
    program.write_text(PARENT_GONE)
    env = {**os.environ, "MPGUIDE_START_METHOD": method}
    # Ends when every process holding its output has: the worker included.
    done = run_bounded(
        [sys.executable, str(program), str(marker)], cwd=tmp_path, env=env, timeout=60
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert marker.read_text() == "ran"


def test_a_full_queue_makes_put_give_up_after_its_timeout_and_a_get_frees_a_slot(
    start_method: str,
) -> None:
    output = run_example_ok(
        ROOT / "docs" / "reference" / "errors" / "queue_full.py", start_method
    )
    assert Run.parse(output) == Run(("queue.Full",), None)
    waited = float(line_after("put(timeout=0.2) gave up after", output).removesuffix(" s"))
    assert waited >= 0.19  # it did wait for a slot
    assert line_after("then get() returned:", output) == "[0, 1, 2]"
    assert line_after("and put() found a free slot:", output) == "3"
    from multiprocessing.synchronize import SEM_VALUE_MAX

    assert line_after("SEM_VALUE_MAX:", output) == str(SEM_VALUE_MAX)
    if sys.platform == "linux":  # the value the page gives for Linux
        assert SEM_VALUE_MAX == 2**31 - 1


REMOTE_TRACEBACK = """RemoteError:
Traceback (most recent call last):
  File "…/lib/python{version}/multiprocessing/managers.py", line {line}, in incref
    self.id_to_refcount[ident] += 1
{markers}KeyError: '…'"""


def test_tracebacks_that_differ_only_in_line_numbers_paths_and_markers_are_shown_once() -> (
    None
):
    old = REMOTE_TRACEBACK.format(version="3.11", line=426, markers="    ~~~~~^^^^^\n")
    new = REMOTE_TRACEBACK.format(version="3.13", line=429, markers="")
    worded_otherwise = new.replace("KeyError", "LookupError")
    groups = group_wordings(
        {
            old: {("3.11", "fork")},
            new: {("3.13", "fork")},
            worded_otherwise: {("3.12", "spawn")},
        }
    )
    assert groups == [
        (old, {("3.11", "fork"), ("3.13", "fork")}, True),
        (worded_otherwise, {("3.12", "spawn")}, False),
    ]


def test_different_wordings_stay_apart() -> None:
    wordings = {
        "AttributeError: Can't pickle local object 'f'": {("3.12", "fork")},
        "AttributeError: Can't get local object 'f'": {("3.13", "fork")},
    }
    assert [shown for shown, _, _ in group_wordings(wordings)] == list(wordings)


WORKAROUND = ROOT / "docs" / "reference" / "workarounds" / "autoproxy_manager_owned.py"
MANAGER_OWNED = "TypeError: AutoProxy() got an unexpected keyword argument 'manager_owned'"


def python_before_the_manager_owned_fix() -> str:
    """A CPython from 3.6 to 3.8 that pyenv has, which the quoted message belongs to."""
    versions = subprocess.run(
        ["pyenv", "versions", "--bare"], capture_output=True, text=True, check=False
    ).stdout.split()
    old = sorted(
        (v for v in versions if re.fullmatch(r"3\.[678]\.\d+", v)), key=version_key
    )
    if not old:
        pytest.skip("no CPython 3.6 to 3.8 under pyenv: the quote is not run here")
    prefix = subprocess.run(
        ["pyenv", "prefix", old[-1]], capture_output=True, text=True, check=True
    ).stdout.strip()
    return str(Path(prefix) / "bin" / "python")


def run_workaround(
    path: Path, start_method: str, python: str
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MPGUIDE_START_METHOD": start_method}
    return subprocess.run(
        [python, "-X", "dev", "-W", "error::ResourceWarning", str(path)],
        capture_output=True, text=True, env=env, timeout=120, check=False, cwd=path.parent,
    )  # fmt: skip


def test_the_manager_owned_workaround_changes_nothing_where_python_has_the_fix(
    start_method: str,
) -> None:
    done = run_workaround(WORKAROUND, start_method, sys.executable)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "a queue stored in a managed dict gives: hello\n"
    assert "ResourceWarning" not in done.stderr


def test_the_quoted_manager_owned_error_happens_before_3_9_7_and_the_workaround_fixes_it(
    start_method: str, tmp_path: Path
) -> None:
    python = python_before_the_manager_owned_fix()
    unpatched = tmp_path / WORKAROUND.name
    text = WORKAROUND.read_text()
    assert text.count("if BEFORE_THE_FIX:") == 1, "the patch's guard moved"
    unpatched.write_text(text.replace("if BEFORE_THE_FIX:", "if False:"))
    failed = run_workaround(unpatched, start_method, python)
    assert failed.returncode != 0 and MANAGER_OWNED in failed.stderr, failed.stderr
    fixed = run_workaround(WORKAROUND, start_method, python)
    assert fixed.returncode == 0, fixed.stderr
    assert fixed.stdout == "a queue stored in a managed dict gives: hello\n"


# A connection's real ``_send_bytes`` given a stand-in of 2**31 bytes: the
# stand-in is never written, since ``_send`` only records what it is handed.
HEADER_PROBE = """
import multiprocessing, struct
class TwoGiB:
    def __len__(self):
        return 2**31
reader, writer = multiprocessing.Pipe(duplex=False)
sent = []
writer._send = sent.append
try:
    writer._send_bytes(TwoGiB())
except struct.error as error:
    print("struct.error:", error)
else:
    print("headers:", [struct.unpack(f, s) for f, s in zip(("!i", "!Q"), sent)])
writer.close()
reader.close()
"""
SEND_OVER_2GIB = "struct.error: 'i' format requires -2147483648 <= number <= 2147483647"


def older_python(first: int, last: int) -> str:
    """The newest CPython 3.``first`` to 3.``last`` that pyenv has, which a quoted
    message belongs to; the test is skipped, saying so, where there is none."""
    versions = subprocess.run(
        ["pyenv", "versions", "--bare"], capture_output=True, text=True, check=False
    ).stdout.split()
    minors = {str(minor) for minor in range(first, last + 1)}
    old = sorted(
        (
            v
            for v in versions
            if re.fullmatch(r"3\.\d+\.\d+", v) and v.split(".")[1] in minors
        ),
        key=version_key,
    )
    if not old:
        pytest.skip(
            f"no CPython 3.{first} to 3.{last} under pyenv: the quote is not run here"
        )
    prefix = subprocess.run(
        ["pyenv", "prefix", old[-1]], capture_output=True, text=True, check=True
    ).stdout.strip()
    return str(Path(prefix) / "bin" / "python")


def probe_header(python: str) -> str:
    done = subprocess.run(
        [python, "-X", "dev", "-c", HEADER_PROBE],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and not done.stderr, done.stderr
    return done.stdout.strip()


def test_a_message_of_2_gib_fails_its_header_before_3_8() -> None:
    assert probe_header(older_python(6, 7)) == SEND_OVER_2GIB


def test_a_message_of_2_gib_gets_a_long_header_where_python_has_the_fix() -> None:
    assert probe_header(sys.executable) == "headers: [(-1,), (2147483648,)]"


def test_a_client_made_in_each_worker_serves_the_tasks_its_pickle_could_not(
    start_method: str,
) -> None:
    output = run_example_ok(PRODUCERS_DIR / "ssl_context_argument.py", start_method)
    assert Run.parse(output) == Run(("TypeError: cannot pickle 'SSLContext' object",), None)
    fetched = line_after("each worker's own client fetched:", output)
    assert fetched == str(
        [
            (f"https://api.example.com{path}", "SSLContext")
            for path in ("/items", "/users", "/orders")
        ]
    )


def test_a_forwarding_getattr_fails_the_receiver_and_the_guarded_one_arrives(
    start_method: str,
) -> None:
    output = run_example_ok(PRODUCERS_DIR / "getattr_forwarding_wrapper.py", start_method)
    run = Run.parse(output)
    assert len(run.messages) == 1
    assert run.messages[0].startswith("RecursionError: maximum recursion depth exceeded")
    assert line_after("a worker sent it as a task:", output) == "BrokenProcessPool"
    assert line_after("the fixed wrapper arrives:", output) == "b'payload' b'PAYLOAD'"


def test_a_reader_terminated_in_get_keeps_the_lock_and_a_sentinel_stop_does_not(
    start_method: str,
) -> None:
    output = run_example_ok(PRODUCERS_DIR / "queue_reader_terminated.py", start_method)
    assert Run.parse(output) == Run(("_queue.Empty",), None)
    waited = float(line_after("get(timeout=1.0) gave up after", output).removesuffix(" s"))
    assert waited >= 0.95  # it waited for the lock, not for an item
    assert line_after("empty() says:", output) == "False"
    assert line_after("after a consumer stopped by a sentinel, get() returns:", output) == (
        "item"
    )


# Locks made until sem_open() fails, then a Queue, which holds one.
SEMAPHORES_UNTIL_FULL = """
import multiprocessing, sys
context = multiprocessing.get_context(sys.argv[1])
locks = []
try:
    while len(locks) < 1000:
        locks.append(context.Lock())
except OSError as error:
    print(len(locks), "locks, then", f"{type(error).__name__}: {error}")
try:
    context.Queue()
except OSError as error:
    print("Queue():", f"{type(error).__name__}: {error}")
"""


def test_a_full_dev_shm_refuses_the_next_semaphore(start_method: str) -> None:
    if sys.platform != "linux" or not shutil.which("unshare"):
        pytest.skip("needs Linux's unshare to mount a /dev/shm of its own")
    page = os.sysconf("SC_PAGE_SIZE")
    mount = f"mount -t tmpfs -o size={4 * page} tmpfs /dev/shm"
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", mount],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a /dev/shm of its own here: {probe.stderr.strip()}")
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", f'{mount} && exec "$0" -c "$1" "$2"',
         sys.executable, SEMAPHORES_UNTIL_FULL, start_method],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    quoted = "OSError: [Errno 28] No space left on device"
    assert done.stdout.splitlines() == [f"4 locks, then {quoted}", f"Queue(): {quoted}"]


def test_a_plugin_imported_by_name_reaches_the_worker(start_method: str) -> None:
    output = run_example_ok(
        ROOT / "docs" / "reference" / "errors" / "dynamically_loaded_module.py",
        start_method,
    )
    run = Run.parse(output)
    assert (
        len(run.messages) == 1
        and "import of module 'shapes_plugin' failed" in run.messages[0]
    )
    assert re.search(
        r"^imported by name, the worker computes area: 9$", output, re.MULTILINE
    ), output


SHUTDOWN_NOWAIT = (
    ROOT / "docs" / "reference" / "workarounds" / "executor_shutdown_nowait.py"
)
RESULT_LINE = re.compile(r"^the task's result after shutdown\(\): (.+)$", re.MULTILINE)


def with_shutdown_nowait(tmp_path: Path) -> Path:
    """The program with ``shutdown(wait=False)`` on every version, ending at
    exit the workers that the executor's dead thread leaves."""
    text = SHUTDOWN_NOWAIT.read_text()
    call, main = (
        "executor.shutdown(wait=BEFORE_THE_FIX)",
        'if __name__ == "__main__":\n    main()\n',
    )
    assert text.count(call) == 1 and text.endswith(main), "the program changed"
    text = text.replace(call, "executor.shutdown(wait=False)") + (
        "    for child in multiprocessing.active_children():\n"
        "        child.terminate()\n"
        "        child.join(RESULT_WAIT)\n"
    )
    program = tmp_path / SHUTDOWN_NOWAIT.name
    program.write_text(text)
    return program


# The thread dies of the closed pipe with the quoted message, or, when the close
# races its read (seen under spawn and forkserver), with one of these.
CLOSED_PIPE = re.compile(
    r"^(OSError: handle is closed|EOFError|OSError: \[Errno 9\] Bad file descriptor)$",
    re.MULTILINE,
)
RACE_TRIES = 10  # runs at most, until one dies with the quoted message


def test_shutdown_without_waiting_closes_a_handle_in_use_before_3_9(
    start_method: str, tmp_path: Path
) -> None:
    python = older_python(7, 8)
    program = with_shutdown_nowait(tmp_path)
    deaths = []
    while "OSError: handle is closed" not in deaths and len(deaths) < RACE_TRIES:
        failed = run_workaround(program, start_method, python)
        assert "Exception in thread QueueManagerThread:" in failed.stderr, failed.stderr
        died_of = CLOSED_PIPE.search(failed.stderr)
        assert died_of, failed.stderr
        deaths.append(died_of.group(1))
        assert RESULT_LINE.findall(failed.stdout) == ["none within 3 s"], failed.stdout
    assert "OSError: handle is closed" in deaths, deaths
    fixed = run_workaround(SHUTDOWN_NOWAIT, start_method, python)
    assert fixed.returncode == 0, fixed.stderr
    assert RESULT_LINE.findall(fixed.stdout) == ["0.2"], fixed.stdout


def test_shutdown_without_waiting_gives_the_result_where_python_has_the_fix(
    start_method: str, tmp_path: Path
) -> None:
    for program in (SHUTDOWN_NOWAIT, with_shutdown_nowait(tmp_path)):
        done = run_workaround(program, start_method, sys.executable)
        assert done.returncode == 0 and "handle is closed" not in done.stderr, done.stderr
        assert "ResourceWarning" not in done.stderr
        assert RESULT_LINE.findall(done.stdout) == ["0.2"], done.stdout
