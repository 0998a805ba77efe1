"""The two proxy-lifetime pitfalls, run as scripts under every start method.

The outcome lines are read with the parser the start-method matrix uses, and
asserted exactly per start method.
"""

from __future__ import annotations

import re

from conftest import ROOT, run_example_ok

from mpguide.sphinxext.start_method_matrix import Outcome

PITFALLS = ROOT / "examples" / "pitfalls"


def run_pitfall(name: str, start_method: str) -> tuple[str, Outcome]:
    output = run_example_ok(PITFALLS / name, start_method)
    return output, Outcome.parse(output, name)


def test_stored_lock_proxies_pile_up_in_the_server(start_method: str) -> None:
    output, outcome = run_pitfall("plot_11_proxy_in_managed_object.py", start_method)
    waves = re.findall(
        r"^after (\d+) users came and went: \{'objects': (\d+), "
        r"'kept only as stored proxies': (\d+), '_number_of_objects\(\)': (\d+)\}$",
        output,
        re.M,
    )
    assert len(waves) == 4, output
    leaking, fixed = waves[:3], waves[3]
    # The dict is the only object the server counts; the kept locks grow with the users.
    assert [(int(users), int(kept)) for users, _, kept, _ in leaking] == [
        (50, 50),
        (100, 100),
        (150, 150),
    ]
    assert all(objects == counted == "1" for _, objects, _, counted in leaking)
    assert fixed == ("150", "1", "0", "1")
    assert outcome.reproduced
    assert outcome.reproduced_detail == (
        "locks kept by the server after each wave: [50, 100, 150]"
    )
    assert outcome.fixed
    assert outcome.reason is None


def test_a_spawn_child_loses_the_object_its_argument_points_to(start_method: str) -> None:
    output, outcome = run_pitfall("plot_12_proxy_to_spawn_child.py", start_method)
    is_spawn = start_method == "spawn"
    dropped = "0" if is_spawn else "1"
    assert (
        f"objects the server keeps after the parent dropped its proxy: {dropped}\n"
        in output
    )
    assert "objects the server keeps while the parent holds its proxy: 1\n" in output
    children = re.findall(r"^the child then: (.*)$", output, re.M)
    appended = "appended: ['q1', 'q2']"
    if is_spawn:
        assert children == ["RemoteError ending in KeyError: <referent id>", appended]
    else:
        assert children == [appended, appended]
    assert outcome.reproduced == is_spawn
    assert outcome.fixed and outcome.fixed_detail == f"the child {appended}"
    assert outcome.reason and "spawn child never counts" in outcome.reason
