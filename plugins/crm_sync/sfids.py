"""Salesforce record Ids: validation (with the 18-character checksum) before they reach SOQL."""

from __future__ import annotations

import re

_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


class InvalidSalesforceId(ValueError):
    """An Id that is not 15 or 18 characters of Salesforce's alphabet, or fails its checksum."""


def checksum(id15: str) -> str:
    """The 3-character case-safe suffix Salesforce appends to a 15-character Id."""
    suffix = ""
    for chunk in (id15[0:5], id15[5:10], id15[10:15]):
        bits = sum(1 << i for i, ch in enumerate(chunk) if "A" <= ch <= "Z")
        suffix += _SUFFIX_ALPHABET[bits]
    return suffix


def to_18(record_id: str) -> str:
    """Validate an Id and return its 18-character form.

    Raises:
        InvalidSalesforceId: naming the Id and what is wrong with it.
    """
    value = record_id.strip()
    if not _ID.match(value):
        raise InvalidSalesforceId(f"{record_id!r} is not a Salesforce Id (15 or 18 letters and digits)")
    expected = checksum(value[:15])
    if len(value) == 18 and value[15:].upper() != expected:
        raise InvalidSalesforceId(f"{record_id!r} fails the Id checksum (expected suffix {expected})")
    return value[:15] + expected


def validate_ids(record_ids: list[str]) -> list[str]:
    """All Ids in 18-character form, de-duplicated in order; every bad Id is named at once.

    Raises:
        InvalidSalesforceId: listing every invalid Id.
    """
    good: list[str] = []
    problems: list[str] = []
    for record_id in record_ids:
        try:
            value = to_18(record_id)
        except InvalidSalesforceId as exc:
            problems.append(str(exc))
            continue
        if value not in good:
            good.append(value)
    if problems:
        raise InvalidSalesforceId("; ".join(problems))
    return good
