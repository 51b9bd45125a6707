"""The demo's write-back scope showcase runs on the test stack and shows what it claims."""

from __future__ import annotations

from devstack.showcase_lists import show
from tests.dags.test_writeback import run_differentials


def test_the_showcase_writes_only_the_segment_s_people(sync_stack, capsys) -> None:
    run_differentials(sync_stack)
    show(sync_stack.admin)
    out = capsys.readouterr().out
    table = [r for r in (line.split() for line in out.splitlines() if line.startswith("  "))
             if len(r) > 3 and r[-3] in ("True", "False")]
    # step 1: the member is written, the other is not; step 2: both are.
    first, second = table[:2], table[2:]
    assert [r[-3] for r in first] == ["True", "False"] and [r[-3] for r in second] == ["True", "True"], out
    assert num(first[0][-2]) == num(first[0][-1]) and num(first[1][-2]) != num(first[1][-1]), out
    assert all(num(r[-2]) == num(r[-1]) for r in second), out


def num(cell: str) -> float | None:
    return None if cell == "None" else float(cell)
