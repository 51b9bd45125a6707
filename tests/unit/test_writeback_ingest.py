"""The pure parts of the Bulk API 2.0 write: CSV uploads, error parsing, backoff, the API budget."""

from __future__ import annotations

import csv
import io

from crm_sync.salesforce.budget import ApiBudget
from crm_sync.salesforce.gateway import backoff_seconds
from crm_sync.writeback.ingest import rows_to_csv, split_error


def test_upload_has_one_column_per_field_and_empty_cells_for_fields_a_row_leaves_alone() -> None:
    text = rows_to_csv([{"Id": "003A", "Lead_Score__c": "5"}, {"Id": "003B", "HasOptedOutOfEmail": "true"},
                        {"Id": "003C", "Title": 'Say "hi", then\nleave', "Lead_Score__c": "#N/A"}])
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [["Id", "Lead_Score__c", "HasOptedOutOfEmail", "Title"], ["003A", "5", "", ""],
                    ["003B", "", "true", ""], ["003C", "#N/A", "", 'Say "hi", then\nleave']]


def test_salesforce_row_errors_split_into_code_and_message() -> None:
    assert split_error("UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record or 1 records: 003A:--") == (
        "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or 1 records: 003A")
    assert split_error("NUMBER_OUTSIDE_VALID_RANGE:Lead Score: value outside of valid range on numeric field: 1e20:"
                       "Lead_Score__c --") == (
        "NUMBER_OUTSIDE_VALID_RANGE", "Lead Score: value outside of valid range on numeric field: 1e20")
    assert split_error("weird") == ("weird", "weird")


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff_seconds(n, 2.0) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]
    assert backoff_seconds(12, 2.0) == 60.0


def test_budget_is_a_share_of_what_remained_when_the_run_began() -> None:
    budget = ApiBudget(0.5)
    assert budget.allows(10**9, 1)  # unknown until Salesforce reports its usage
    budget.start(used=4_980, maximum=5_000, calls_so_far=2)  # 22 remained when the run began
    assert (budget.remaining_at_start, budget.allowance) == (22, 11)
    budget.start(used=1, maximum=5_000, calls_so_far=0)  # fixed once known
    assert budget.allowance == 11
    assert budget.allows(4, 7) and not budget.allows(5, 7)
    reason = budget.stop(5, 7, "writing 3 Contact(s) (update)")
    assert budget.stopped == reason and "5 of the allowed 11 used" in reason and "next run" in reason
