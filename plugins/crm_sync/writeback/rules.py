"""Who owns a field, how a conflict resolves, and how values travel to Salesforce (pure).

A field in a pending marketing change is decided by its direction and conflict rule:

| direction / rule     | decision                                                           |
|----------------------|--------------------------------------------------------------------|
| `from_crm`           | never written; the marketing edit is overwritten from Salesforce   |
| `to_crm`             | written                                                            |
| `both`, `true_wins`  | `true` is written; a change to `false` is re-resolved (OR) from Salesforce |
| `both`, `set_wins`   | a value is written; clearing it is re-resolved from Salesforce (the bounce) |
| `both`, `marketing_wins` | written                                                        |
| `both`, `crm_wins`   | written unless Salesforce changed the field too; then Salesforce's value stays |
| `both`, `latest_wins`| written unless Salesforce changed the field later than the marketing side |

"Salesforce changed the field too" means its current value differs both from the marketing
value and from the value the marketing change replaced (the change's *base*).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from crm_sync.mapping.loader import ValueMap
from crm_sync.mapping.model import ColumnType, Conflict, Direction, FieldMap, Transform

#: Bulk API 2.0 CSV: an empty cell leaves a field unchanged; this sets it to null.
NULL_MARKER = "#N/A"
#: A change without a recorded base value (a row created on the marketing side).
MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()

WRITE = "write"
RESTORE = "restore"
NOTHING = "nothing"

_BLANKS = " \t\n\r\f\v\u00a0"


class UnmappableValue(ValueError):
    """A marketing value has no Salesforce value in the field's value map."""


@dataclass(frozen=True)
class Decision:
    """What to do with one field of a pending change, and why when a conflict decided it."""

    action: str  # WRITE, RESTORE or NOTHING
    conflict: str | None = None


def needs_salesforce_value(field: FieldMap) -> bool:
    """True when deciding the field needs Salesforce's current value (crm_wins, latest_wins)."""
    return field.direction is Direction.BOTH and field.conflict in (Conflict.CRM_WINS, Conflict.LATEST_WINS)


def decide(field: FieldMap, *, current: str | None, base: Any = MISSING, salesforce: Any = MISSING,
           salesforce_modstamp: datetime | None = None, changed_at: datetime | None = None) -> Decision:
    """Decide one changed field. Values are canonical texts (see `canonical`), None for null.

    Args:
        field: The field's mapping.
        current: The marketing value now.
        base: The marketing value before the pending change (MISSING for a new row).
        salesforce: Salesforce's current value, in marketing terms (MISSING if not read).
        salesforce_modstamp: The Salesforce record's SystemModstamp.
        changed_at: When the marketing side last changed the field.
    """
    if field.direction is Direction.FROM_CRM:
        return Decision(RESTORE)
    if field.direction is Direction.TO_CRM or field.conflict is Conflict.MARKETING_WINS:
        return Decision(WRITE)
    if field.conflict is Conflict.TRUE_WINS:
        if current == "true":
            return Decision(WRITE)
        # Turned false on the marketing side: an opt-out elsewhere still wins (OR), so the
        # value is resolved again from Salesforce rather than written.
        return Decision(RESTORE if base == "true" else NOTHING)
    if field.conflict is Conflict.SET_WINS:
        # Like true_wins for a value: a set value is written; a cleared one is resolved again
        # from Salesforce (a bounce recorded on either side stays).
        if current is not None:
            return Decision(WRITE)
        return Decision(RESTORE if base not in (None, MISSING) else NOTHING)
    if salesforce is MISSING:
        return Decision(WRITE)  # the record could not be read (e.g. deleted): the write reports it
    if salesforce == current:
        return Decision(NOTHING)
    if base is not MISSING and salesforce == base:
        return Decision(WRITE)  # only the marketing side changed it: no conflict
    if field.conflict is Conflict.CRM_WINS:
        return Decision(RESTORE, "crm_wins: both sides changed it; Salesforce's value stays")
    if changed_at is not None and (salesforce_modstamp is None or changed_at > salesforce_modstamp):
        return Decision(WRITE, "latest_wins: the marketing change is newer")
    return Decision(RESTORE, "latest_wins: the Salesforce change is newer")


def _column_type(field: FieldMap) -> ColumnType:
    return ColumnType.TEXT if field.values else field.type


def parse_timestamp(value: Any) -> datetime:
    """A timestamp from the database, JSON or Salesforce (`…+0000`, `…Z`, `…+00:00`), in UTC."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def salesforce_datetime(value: Any) -> str:
    """`2024-01-02T10:00:00.000Z`: UTC with milliseconds, as Salesforce stores datetimes."""
    moment = parse_timestamp(value)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _decimal_text(value: Any) -> str:
    try:
        number = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {value!r}") from exc
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "") else text


def canonical(value: Any, field: FieldMap) -> str | None:
    """A marketing-side value as text two sides can be compared by (None for null)."""
    if value is None:
        return None
    kind = _column_type(field)
    if kind is ColumnType.BOOLEAN:
        return "true" if value is True or str(value).strip().lower() == "true" else "false"
    if kind in (ColumnType.INTEGER, ColumnType.NUMERIC):
        return _decimal_text(value)
    if kind is ColumnType.TIMESTAMP:
        return salesforce_datetime(value)
    if kind is ColumnType.DATE:
        return value.isoformat() if isinstance(value, date) else str(value)[:10]
    text = str(value)
    return text if text != "" else None


def from_salesforce(value: Any, field: FieldMap, value_maps: dict[str, ValueMap]) -> str | None:
    """Salesforce's value of a field (REST JSON) as the canonical marketing-side text.

    Applies the same clean-up and value map as the inbound transform.
    """
    if value is None:
        return None
    if isinstance(value, str):
        if field.transform is Transform.TRIM:
            value = value.strip(_BLANKS)
        elif field.transform is Transform.LOWER_TRIM:
            value = value.strip(_BLANKS).lower()
        elif field.transform is Transform.UPPER_TRIM:
            value = value.strip(_BLANKS).upper()
        if value == "":
            return None
    if field.values:
        mapped = dict(value_maps[field.values].pairs).get(str(value))
        return mapped if mapped is not None else f"<unmapped {value}>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return canonical(value, field)


def encode(value: Any, field: FieldMap, value_maps: dict[str, ValueMap]) -> str:
    """A marketing value as a Bulk API 2.0 CSV cell for the field (null as `#N/A`).

    Raises:
        UnmappableValue: when the field has a value map that lacks the marketing value.
    """
    text = canonical(value, field)
    if text is None:
        return NULL_MARKER
    if field.values:
        for crm_value, marketing_value in value_maps[field.values].pairs:
            if marketing_value == text:
                return crm_value
        raise UnmappableValue(f"{field.target}: {text!r} is not a marketing value of value map {field.values!r}")
    return text


def derived_last_name(last_name: Any, email: str) -> str:
    """A Lead's required LastName: the marketing last name, else the email's local part."""
    if isinstance(last_name, str) and last_name.strip(_BLANKS):
        return last_name.strip(_BLANKS)[:80]
    return email.split("@", 1)[0][:80] or "[not provided]"


#: What Salesforce itself puts in a Lead's required Company when a form does not ask for it.
COMPANY_NOT_PROVIDED = "[not provided]"
