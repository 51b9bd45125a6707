"""The demo's owners showcase runs on the test stack and shows what it promises."""

from __future__ import annotations

from devstack.showcase_owners import show
from tests.dags.test_writeback import run_differentials


def test_the_owners_showcase_prints_queues_owners_and_codes(sync_stack, capsys) -> None:
    run_differentials(sync_stack)
    show(sync_stack.admin)
    out = capsys.readouterr().out
    assert "Web Leads" in out and "Standard Lead Assignment" in out
    assert "queue Web Leads" in out and "queue Lead Inbox" in out and "user " in out  # owners by rule
    assert "not created" not in out
    assert "status_code" in out and "Subscriber" in out
