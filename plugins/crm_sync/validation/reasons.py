"""The human-readable reasons a record fails validation.

These strings are stored with quarantined records and shown to users, so they are part of
the contract: change them only on purpose. Each starts with the column it is about, then a
short statement of what is wrong. A reason may hold the placeholder ``{value}``, filled in
per row with the offending value (see :func:`render_reason`).
"""

from __future__ import annotations

#: Placeholder for the offending value in a reason template.
VALUE_PLACEHOLDER = "{value}"
#: Longest value shown in a reason; longer values are cut and end with an ellipsis.
MAX_SHOWN_VALUE = 40


def required_missing(column: str) -> str:
    """A required field is empty: ``email: required value missing``."""
    return f"{column}: required value missing"


def invalid_email(column: str) -> str:
    """A value is not an email address: ``email: not a valid email address``."""
    return f"{column}: not a valid email address"


def not_in_value_map(column: str, value_map: str) -> str:
    """A value is not in its value map (template with ``{value}``).

    Rendered: ``status: value '9' not in value map contact_status``.
    """
    return f"{column}: value '{VALUE_PLACEHOLDER}' not in value map {value_map}"


def too_long(column: str, max_length: int) -> str:
    """A value is longer than allowed: ``title: longer than 100 characters``."""
    return f"{column}: longer than {max_length} characters"


def not_castable(column: str, type_name: str) -> str:
    """A value cannot be cast to its column type: ``annual_revenue: not a valid numeric``."""
    return f"{column}: not a valid {type_name}"


#: The field named in the reasons about the record's own Id (the staged ``sf_id``).
ID_FIELD = "Id"


def id_missing() -> str:
    """A staged record has no Salesforce Id: ``Id: missing``."""
    return f"{ID_FIELD}: missing"


def id_malformed(column: str) -> str:
    """An Id is not 18 letters and digits (template with ``{value}``).

    Rendered: ``Id: '00Q000000000001' is not an 18-character Salesforce Id``.
    """
    return f"{column}: '{VALUE_PLACEHOLDER}' is not an 18-character Salesforce Id"


def id_checksum(column: str) -> str:
    """An 18-character Id whose last 3 characters are not its checksum (template with ``{value}``).

    Rendered: ``account_sf_id: '001000000000001AAB' fails the Salesforce Id checksum``.
    """
    return f"{column}: '{VALUE_PLACEHOLDER}' fails the Salesforce Id checksum"


def modstamp_missing() -> str:
    """A staged record has no SystemModstamp (a batch-level failure)."""
    return "system_modstamp: missing"


def custom_failed(expectation_type: str, column: str | None) -> str:
    """A hand-written expectation failed: ``lead_score: expect_column_values_to_be_between failed``.

    Without a single column (table or multi-column expectations) the prefix is left out.
    """
    return f"{column}: {expectation_type} failed" if column else f"{expectation_type} failed"


def not_evaluated(reason: str, error: str) -> str:
    """An expectation raised instead of answering; always a batch-level failure."""
    return f"{reason} (could not be evaluated: {error})"


def without_value(template: str) -> str:
    """The reason when no single value applies: ``status: value not in value map contact_status``."""
    return template.replace(f" '{VALUE_PLACEHOLDER}'", "").replace(VALUE_PLACEHOLDER, "...")


def render_reason(template: str, value: object) -> str:
    """Fill ``{value}`` in ``template`` with ``value``, shortened and on one line.

    Only the placeholder is replaced (no ``str.format``), so braces in the value or the
    template are kept as they are.
    """
    if VALUE_PLACEHOLDER not in template:
        return template
    shown = "NULL" if value is None else str(value)
    shown = shown.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")
    if len(shown) > MAX_SHOWN_VALUE:
        shown = shown[: MAX_SHOWN_VALUE - 1] + "…"
    return template.replace(VALUE_PLACEHOLDER, shown)
