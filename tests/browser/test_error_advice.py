"""The console's plain-language explanations of run errors (pure, no services needed)."""

from __future__ import annotations

import pytest

from crm_sync.console.advice import explain_error


@pytest.mark.parametrize(("error", "title_part"), [
    ("extract: INVALID_LOGIN: Invalid username, password, security token; or user locked out.", "refused the sync's login"),
    ("extract: Error Code 403. Response content: [{'errorCode': 'REQUEST_LIMIT_EXCEEDED', "
     "'message': 'TotalRequests Limit exceeded.'}]", "API budget"),
    ("extract: contact.yaml maps field Shoe_Size__c, which no longer exists on Contact", "does not exist"),
    ("validate: batch of run 42 rejected: 35% of rows failed (threshold 20%)", "batch was rejected"),
    ("extract: HTTPSConnectionPool(host='acme.my.salesforce.com', port=443): Max retries exceeded "
     "with url: /services/data (Caused by NameResolutionError)", "host could not be reached"),
    ("prepare: connection to server at \"10.0.0.5\", port 5432 failed: password authentication failed",
     "database"),
    ("full sync manual__2026 is running; differential syncs wait for it", "full sync"),
    ("write: UNABLE_TO_LOCK_ROW: unable to obtain exclusive access to this record", "locked"),
])
def test_known_errors_are_explained_with_what_to_fix(error: str, title_part: str) -> None:
    advice = explain_error(error)
    assert advice is not None and title_part in advice.title
    assert advice.fix


def test_an_unknown_error_points_to_the_task_log_and_no_error_needs_no_advice() -> None:
    assert "task log" in explain_error("load: something nobody foresaw").fix
    assert explain_error(None) is None and explain_error("") is None
