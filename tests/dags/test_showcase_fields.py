"""The demo's fields showcase runs on the test stack: the bounce reaches the Contact, and the
locked-field edit is refused with its message."""

from __future__ import annotations

from devstack.showcase_fields import show
from tests.dags.test_writeback import synced  # noqa: F401  (a fixture)


def test_the_showcase_shows_the_bounce_written_back_and_the_refused_edit(synced, capsys) -> None:  # noqa: F811
    show(synced.admin)
    out = capsys.readouterr().out
    assert "Set-up command (python -m crm_sync.setup_fields, Tooling API)" in out
    before, after = [line for line in out.splitlines() if line.strip().startswith(("before", "after crm_writeback"))]
    assert "550 5.1.1 mailbox unavailable" not in before and "550 5.1.1 mailbox unavailable" in after
    assert "email" in after and "pricing page" in after
    assert "refused: people.title is locked: Salesforce owns it (Contact.Title, Lead.Title)" in out
