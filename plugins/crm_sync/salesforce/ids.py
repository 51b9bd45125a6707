"""Salesforce record Ids: validation (with the 18-character checksum) before they reach SOQL."""

from __future__ import annotations

import re

_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
#: An Id as Salesforce's APIs return it (18 characters); the staged `sf_id` must match it.
ID18_PATTERN = r"^[a-zA-Z0-9]{18}$"
_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


class InvalidSalesforceId(ValueError):
    """An Id that is not 15 or 18 characters of Salesforce's alphabet, or fails its checksum."""


def is_salesforce_id(value: str) -> bool:
    """True for 15 or 18 letters and digits (the shape of an Id; the checksum is not checked)."""
    return bool(_ID.match(value))


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


def checksum_sql(id_expression: str) -> str:
    """:func:`checksum` as a PostgreSQL expression over the first 15 characters of an Id.

    The same rule, computed in the database for whole batches: per 5-character chunk, the
    upper-case letters (code points 65 to 90) become 1 bits (the first character the
    lowest), and the bits pick the suffix character. ``id_expression`` is SQL (a quoted
    column) holding letters and digits. Written with `ascii` and integer arithmetic: it is
    evaluated for every Id column of every row of a batch, and `translate` over the
    62-letter alphabet cost about three times as much (docs/performance.md, round 7).
    """
    chunks = []
    for k in range(3):
        bits = " + ".join(f"((ascii(substr({id_expression}, {1 + 5 * k + i}, 1)) BETWEEN 65 AND 90)::integer << {i})"
                          for i in range(5))
        chunks.append(f"substr('{_SUFFIX_ALPHABET}', {bits} + 1, 1)")
    return " || ".join(chunks)


#: The key prefixes (first three characters of an Id) of the standard objects the sync maps.
KEY_PREFIXES = {"Account": "001", "Contact": "003", "Opportunity": "006", "Lead": "00Q", "Campaign": "701",
                "User": "005", "Task": "00T", "Event": "00U", "CampaignMember": "00v"}
_SEPARATORS = re.compile(r"[\s,;]+")


def split_ids(text: str) -> list[str]:
    """Ids typed into a form: one per line (commas, semicolons and spaces also separate them)."""
    return [part for part in _SEPARATORS.split(text) if part]


def object_of(record_id: str) -> str | None:
    """The standard object an Id's key prefix belongs to, if it is one the sync knows."""
    prefix = record_id.strip()[:3]
    return next((name for name, known in KEY_PREFIXES.items() if known == prefix), None)


def id_prefix_help(object_names: list[str]) -> str:
    """A sentence saying which Id prefix belongs to which mapped object (for forms)."""
    known = [f"{KEY_PREFIXES[name]}… = {name}" for name in object_names if name in KEY_PREFIXES]
    return "Ids start with the object's key prefix: " + ", ".join(known) + "." if known else ""


def validate_ids(record_ids: list[str], *, object_name: str | None = None) -> list[str]:
    """All Ids in 18-character form, de-duplicated in order; every bad Id is named at once.

    Args:
        record_ids: the Ids as given.
        object_name: when given, an Id whose key prefix belongs to another known object is
            refused, naming the object it belongs to.

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
        owner = object_of(value)
        if object_name and owner and owner != object_name:
            problems.append(f"{record_id!r} is a {owner} Id (prefix {value[:3]}), not a {object_name} Id")
            continue
        if value not in good:
            good.append(value)
    if problems:
        raise InvalidSalesforceId("; ".join(problems))
    return good
