"""Turn Salesforce records (REST JSON or Bulk CSV) into staging rows (pure functions).

Both paths treat text the same way: NUL characters (which PostgreSQL text and JSONB cannot
hold) are removed, every other character is kept; a record without an Id is staged with an
empty ``sf_id`` (validation quarantines it: ``Id: missing``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from typing import Any

from crm_sync.salesforce import FieldInfo

StagingRow = tuple[str, str, bool, dict[str, Any]]  # sf_id, SystemModstamp, IsDeleted, payload

NUMBER_TYPES = {"double", "currency", "percent"}

#: The character no PostgreSQL text value can hold; removed from every staged value.
NUL = "\x00"


def without_nul(value: Any) -> Any:
    """`value` with NUL characters removed from every string in it (keys too), nested or not."""
    if isinstance(value, str):
        return value.replace(NUL, "")
    if isinstance(value, dict):
        return {without_nul(key): without_nul(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_nul(item) for item in value]
    return value


def from_rest(record: Mapping[str, Any]) -> StagingRow:
    """A REST query record (with `attributes`) as a staging row.

    NUL characters are removed when the row is staged (`staging.stage_rows`), where finding
    them costs nothing for the records that have none.
    """
    payload = {key: value for key, value in record.items() if key != "attributes"}
    return payload.get("Id") or "", payload["SystemModstamp"], bool(payload["IsDeleted"]), payload


def _typed(value: str, field: FieldInfo | None) -> Any:
    """A Bulk CSV cell as the JSON value REST would have returned."""
    if value == "":
        return None  # Bulk CSV cannot tell null from an empty string; Salesforce stores null
    kind = field.type if field else "string"
    if kind == "boolean":
        return value == "true"
    if kind == "int":
        return int(value)
    if kind in NUMBER_TYPES:
        return float(value)
    return value


def from_bulk_csv(page: str, fields: Mapping[str, FieldInfo]) -> Iterator[StagingRow]:
    """Staging rows from one Bulk API 2.0 CSV page (header row first), NUL characters removed."""
    reader = csv.reader(io.StringIO(page.replace(NUL, "")))
    header = next(reader, None)
    if not header:
        return
    infos = [fields.get(name.lower()) for name in header]
    for cells in reader:
        payload = {name: _typed(cell, info) for name, cell, info in zip(header, cells, infos, strict=True)}
        yield payload.get("Id") or "", payload["SystemModstamp"], bool(payload["IsDeleted"]), payload

