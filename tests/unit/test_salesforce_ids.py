"""Salesforce Id validation before any Id reaches a query."""

from __future__ import annotations

import pytest

from crm_sync.salesforce.ids import InvalidSalesforceId, checksum, to_18, validate_ids


def test_checksum_matches_salesforce() -> None:
    assert checksum("001A0000006Vm9r") == "IAC"
    assert to_18("001A0000006Vm9r") == "001A0000006Vm9rIAC"
    assert to_18("001A0000006Vm9rIAC") == "001A0000006Vm9rIAC"


@pytest.mark.parametrize("bad", ["", "001A0000006Vm9", "001A0000006Vm9rIAD", "001A0000006Vm9r'; --",
                                 "001A0000006Vm9r IAC", "ÄÖÜ000000000000"])
def test_bad_ids_are_refused(bad: str) -> None:
    with pytest.raises(InvalidSalesforceId):
        to_18(bad)


def test_validate_ids_names_every_bad_id_and_deduplicates() -> None:
    assert validate_ids(["001A0000006Vm9r", "001A0000006Vm9rIAC"]) == ["001A0000006Vm9rIAC"]
    with pytest.raises(InvalidSalesforceId) as caught:
        validate_ids(["x", "001A0000006Vm9r", "y'"])
    assert "'x'" in str(caught.value) and "\"y'\"" in str(caught.value)
