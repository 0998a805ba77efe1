"""The memory pages, run as scripts under every start method, measure what they say.

Memory is read as ratios to the data's size, printed by each page from one run;
the bounds here are wide. Timings are printed but not asserted, except that
sending the whole array in every task is slower than shared memory at all.
"""

from __future__ import annotations

import re
import sys

from conftest import ROOT, line_after, run_example_ok

from mpguide.sphinxext.start_method_matrix import Outcome

MEMORY = ROOT / "examples" / "memory"


def run_ok(name: str, start_method: str) -> tuple[str, Outcome]:
    output = run_example_ok(MEMORY / name, start_method)
    return output, Outcome.parse(output, name)


def ratios(text: str) -> list[float]:
    """``0.84x, 0.85x`` -> [0.84, 0.85]."""
    values = [float(value.removesuffix("x")) for value in text.split(", ")]
    assert len(values) == 2, text  # one per worker
    return values


def test_reading_inherited_records_copies_them_and_flat_buffers_do_not(
    start_method: str,
) -> None:
    output, outcome = run_ok("plot_01_copy_on_write.py", start_method)
    size = re.fullmatch(
        r"([\d.]+) MiB", line_after("the parent holds 300000 records:", output)
    )
    assert size and float(size[1]) > 20
    arrived = ratios(line_after("  on arrival (beyond a worker given nothing):", output))
    by_reading = ratios(line_after("  added by reading every record:", output))
    flat = re.search(r"^  on arrival: (.*); added by reading: (.*)$", output, re.M)
    assert flat, output
    flat_arrived, flat_reading = ratios(flat[1]), ratios(flat[2])
    flat_size = float(line_after("the same numbers as two arrays:", output).split("x")[0])
    shared = ratios(line_after("  after attaching and reading:", output))

    if start_method == "fork":
        # Nothing private on arrival; reading copies most of the records.
        assert max(arrived) < 0.05 and min(by_reading) > 0.7
        assert min(ratios(line_after("  gc.collect(), no freeze:", output))) > 0.3
        frozen = line_after("  gc.collect() after gc.freeze() in the parent:", output)
        assert max(ratios(frozen)) < 0.05
        frozen = line_after("  reading after gc.freeze() in the parent:", output)
        assert min(ratios(frozen)) > 0.7
        assert max(flat_arrived + flat_reading) < 0.05
        assert outcome.reproduced
    else:
        # A private copy on arrival, and nothing more from reading.
        assert min(arrived) > 0.7 and max(by_reading) < 0.1
        assert f"gc.freeze(): not measured under {start_method}" in output
        assert min(flat_arrived) > 0.5 * flat_size and max(flat_reading) < 0.05
        assert not outcome.reproduced
        assert outcome.reproduced_detail.startswith("nothing inherited")
    assert outcome.reason and "only a fork child shares" in outcome.reason
    assert outcome.version_reason is None
    assert 0 < flat_size < 0.2
    assert max(shared) < 0.05 and outcome.fixed

    immortal = line_after("immortal here:", output)
    if sys.version_info >= (3, 12):
        assert immortal.startswith("None, True, 7, '', 'a', ()")
    else:
        assert immortal == "nothing"
    counted = line_after("reference counted:", output)
    assert counted.endswith("1007 (a user_id), 0.5 (a score), [1007, 0.5] (a record)")
    assert line_after("processes left running:", output) == "0"


def test_a_shared_array_sends_names_not_data_and_its_lifetime_is_shown(
    start_method: str,
) -> None:
    output, outcome = run_ok("plot_02_numpy_shared_memory.py", start_method)
    sent = {
        way: (int(sent.replace(",", "")), int(returned.replace(",", "")))
        for way, sent, returned in re.findall(
            r"^(.+): per task, sent ([\d,]+) bytes, returned ([\d,]+)$", output, re.M
        )
    }
    assert list(sent) == [
        "whole array in every task",
        "its own slice in each task",
        "shared memory",
    ]
    assert sent["whole array in every task"][0] > 16_000_000
    assert 2_000_000 < sent["its own slice in each task"][0] < 2_100_000
    assert sent["shared memory"][0] < 1000 and sent["shared memory"][1] < 10
    assert line_after("results correct:", output) == "True, True, True"
    assert line_after("processes left running:", output) == "0"
    assert outcome.reproduced and outcome.fixed
    assert outcome.reason is None and outcome.version_reason is None

    assert line_after("np.ndarray(buffer=block.buf):", output) == (
        "the array's base is mmap; close(): no error"
    )
    assert line_after("np.frombuffer(block.buf):", output) == (
        "the array's base is memoryview; close(): "
        "BufferError: cannot close exported pointers exist"
    )
    assert line_after("np.frombuffer: the array reads", output) == "6.0"
    assert "np.ndarray(buffer=...): the array reads" not in output
    assert line_after("the program:", output).startswith("killed by SIG")
    assert line_after("its stderr:", output) == (
        "Exception ignored in: <function SharedMemory.__del__> ... "
        "BufferError: cannot close exported pointers exist"
    )

    first = output.index(f"workers first, then the block ({start_method}):")
    warnings = output[first:].splitlines()[1:3]
    if start_method == "fork":
        assert "1 leaked shared_memory objects to clean up at shutdown" in warnings[0]
        assert warnings[1].strip() == (
            "resource_tracker: '/psm_...': [Errno 2] No such file or directory: '/psm_...'"
        )
    else:
        assert warnings[0].strip() == "no warning"
    assert line_after(f"the block first ({start_method}):", output) == "no warning"
    if sys.version_info >= (3, 13):
        untracked = f"workers first, attached with track=False ({start_method}):"
        assert line_after(untracked, output) == "no warning"
    else:
        assert "SharedMemory(track=False): not in this Python (3.13 and later)" in output


def test_a_shareable_list_loses_trailing_zeros_and_cuts_utf8_and_a_tag_keeps_both(
    start_method: str,
) -> None:
    output, outcome = run_ok("plot_04_shareable_list_nulls.py", start_method)
    reads = re.findall(r"^stored (.+?) +read (.+)$", output, re.M)
    assert len(reads) == 10, output
    failing, fixed = reads[:5], reads[5:]
    assert [read for _, read in failing[:4]] == [
        r"b'\x00\x01'",
        "b''",
        "'tab'",
        "'" + "é" * 8 + "'",
    ]
    assert failing[4][1].startswith("'UnicodeDecodeError: ")
    assert all(stored == read for stored, read in fixed), fixed
    assert fixed[2][0] == r"'\x00\x00'"  # the value replaced through __setitem__
    assert line_after("the list's struct format:", output) == "8s8s8s16s8s"
    assert outcome.reproduced and outcome.fixed
    assert outcome.reason is None and outcome.version_reason is None
