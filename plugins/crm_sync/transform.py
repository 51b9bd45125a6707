"""SQL generated from a mapping: the projections the validate and load steps run.

Everything here composes SQL with psycopg.sql (identifiers quoted, values as literals of
the mapping itself, never of record data); nothing touches a database.
"""

from __future__ import annotations

from psycopg import sql

from crm_sync.mapping.model import Check, ColumnType, Direction, FieldMap, ObjectMapping, Transform
from crm_sync.salesforce.soql import MASTER_FIELD, is_merged_object

SQL_TYPES = {
    ColumnType.TEXT: "text",
    ColumnType.INTEGER: "integer",
    ColumnType.NUMERIC: "numeric",
    ColumnType.BOOLEAN: "boolean",
    ColumnType.DATE: "date",
    ColumnType.TIMESTAMP: "timestamptz",
}

# Lead conversion columns carried to the people loader (see soql.EXTRA_FIELDS).
LEAD_EXTRA_COLUMNS = (("IsConverted", "is_converted", "boolean"),
                      ("ConvertedContactId", "converted_contact_id", "text"))
# A converted Lead's Contact that the sync has already seen deleted (crm_sync.synced_records):
# its person is not handed over to it (people_convert.sql).
CONVERTED_CONTACT_GONE = ("converted_contact_gone", "boolean")
_CONVERTED_CONTACT_GONE_SQL = sql.SQL(
    "EXISTS (SELECT 1 FROM crm_sync.synced_records g WHERE g.object = 'Contact' AND g.is_deleted"
    " AND g.sf_id = r.payload ->> 'ConvertedContactId') AS {}").format(sql.Identifier(CONVERTED_CONTACT_GONE[0]))
# The master of a merged (deleted) record, for the objects Salesforce merges (merges.py).
MERGE_COLUMN = (MASTER_FIELD, "master_record_id", "text")


# Trims strip every kind of blank real data carries, not only spaces: tabs, line breaks,
# form feeds and the non-breaking space that copy-paste brings.
_BLANKS = sql.Literal(" \t\n\r\f\v\u00a0")


def text_expression(field: FieldMap, row: str = "r") -> sql.Composable:
    """The field's value as text after its transform, with empty strings as NULL."""
    raw = sql.SQL("{}.payload ->> {}").format(sql.Identifier(row), sql.Literal(field.source))
    if field.transform is Transform.TRIM:
        raw = sql.SQL("btrim({}, {})").format(raw, _BLANKS)
    elif field.transform is Transform.LOWER_TRIM:
        raw = sql.SQL("lower(btrim({}, {}))").format(raw, _BLANKS)
    elif field.transform is Transform.UPPER_TRIM:
        raw = sql.SQL("upper(btrim({}, {}))").format(raw, _BLANKS)
    return sql.SQL("NULLIF({}, '')").format(raw)


def folds_case(mapping: ObjectMapping) -> bool:
    """True when the mapping's match key is an email: compared case-folded."""
    return mapping.is_people or mapping.match_field.check is Check.EMAIL


def normalised_key(mapping: ObjectMapping, value: sql.Composable) -> sql.Composable:
    """The one normalisation of a match key (docs/mappings.md, "Match keys").

    Every blank trimmed at both ends (spaces, tabs, line breaks, non-breaking spaces);
    emails also lower-cased; external ids otherwise compared exactly. Applied to the incoming
    side by the transform and to the stored keys by the load, so both compare equal forms.
    """
    trimmed = sql.SQL("btrim({}, {})").format(value, _BLANKS)
    return sql.SQL("lower({})").format(trimmed) if folds_case(mapping) else trimmed


def stored_key(mapping: ObjectMapping, row: str) -> sql.Composable:
    """The normalised form of the match key stored in the marketing row aliased `row`."""
    return normalised_key(mapping, sql.SQL("{}.{}").format(sql.Identifier(row), sql.Identifier(mapping.match_key)))


def match_key_text(mapping: ObjectMapping, row: str = "r") -> sql.Composable:
    """The record's normalised match key as text (NULL when empty), whatever the field's transform."""
    raw = sql.SQL("{}.payload ->> {}").format(sql.Identifier(row), sql.Literal(mapping.match_field.source))
    return sql.SQL("NULLIF({}, '')").format(normalised_key(mapping, raw))


def _field_text(mapping: ObjectMapping, field: FieldMap) -> sql.Composable:
    """A field's text: the normalised key for the match key, else `text_expression`."""
    if mapping.match_key != "sf_id" and field.target == mapping.match_key and not field.values:
        return match_key_text(mapping)
    return text_expression(field)


def column_type(field: FieldMap) -> str:
    """The SQL type of a field's marketing column (value-mapped fields are text)."""
    return "text" if field.values else SQL_TYPES[field.type]


def value_map_alias(field: FieldMap) -> sql.Identifier:
    """The join alias of a field's value map."""
    return sql.Identifier(f"vm_{field.target}")


def typed_expression(mapping: ObjectMapping, field: FieldMap) -> sql.Composable:
    """The marketing value of a field: value-mapped or cast to its column type."""
    if field.values:
        return sql.SQL("{}.marketing_value").format(value_map_alias(field))
    text = _field_text(mapping, field)
    if field.type is ColumnType.TEXT:
        return text
    if field.type is ColumnType.INTEGER:
        return sql.SQL("({})::numeric::integer").format(text)
    return sql.SQL("({})::{}").format(text, sql.SQL(SQL_TYPES[field.type]))


def _run_rows_filter() -> sql.Composable:
    """Rows of the run that are neither skipped nor rejected by validation (a dry run's too)."""
    return sql.SQL(
        "r.run_id = %(run_id)s"
        " AND NOT EXISTS (SELECT 1 FROM crm_sync.skipped s WHERE s.run_id = r.run_id AND s.row_id = r.row_id)"
        " AND NOT EXISTS (SELECT 1 FROM crm_staging.rejected q WHERE q.run_id = r.run_id AND q.row_id = r.row_id)"
    )


def validation_query(mapping: ObjectMapping, run_id: int) -> str:
    """The rows Great Expectations checks: live, not skipped, one text column per field.

    A record staged without an Id (``sf_id`` empty) shows a NULL ``sf_id``; a Lead also shows
    its ``converted_contact_id`` (an Id the people loader reads). Returned as a plain string
    with the run id inlined, because GX takes a query text.
    """
    columns: list[sql.Composable] = [sql.SQL("r.row_id"), sql.SQL("NULLIF(r.sf_id, '') AS sf_id"),
                                     sql.SQL("r.system_modstamp")]
    columns += [sql.SQL("{} AS {}").format(_field_text(mapping, f), sql.Identifier(f.target)) for f in mapping.fields]
    if mapping.is_lead:
        columns += [sql.SQL("NULLIF(r.payload ->> {}, '') AS {}").format(sql.Literal(source), sql.Identifier(name))
                    for source, name, kind in LEAD_EXTRA_COLUMNS if kind == "text"]
    query = sql.SQL(
        "SELECT {columns} FROM crm_staging.records r WHERE r.run_id = {run_id} AND NOT r.is_deleted"
        " AND NOT EXISTS (SELECT 1 FROM crm_sync.skipped s WHERE s.run_id = r.run_id AND s.row_id = r.row_id)"
    ).format(columns=sql.SQL(", ").join(columns), run_id=sql.Literal(int(run_id)))
    return query.as_string(None)


def missing_match_key_condition(mapping: ObjectMapping) -> sql.Composable | None:
    """The condition of live rows that have no match key (None when matching by sf_id)."""
    if mapping.match_key == "sf_id":
        return None
    return sql.SQL("{} IS NULL").format(_field_text(mapping, mapping.match_field))


def publish_columns(mapping: ObjectMapping) -> list[tuple[str, str]]:
    """(column, SQL type) of the rows handed to the marketing loader, in order."""
    columns = [("row_id", "bigint"), ("sf_id", "text"), ("is_deleted", "boolean"),
               ("system_modstamp", "timestamptz")]
    columns += [(f.target, column_type(f)) for f in mapping.loaded_fields]
    columns += [(name, kind) for _, name, kind in extra_columns(mapping)]
    if mapping.is_lead:
        columns.append(CONVERTED_CONTACT_GONE)
    return columns


def extra_columns(mapping: ObjectMapping) -> list[tuple[str, str, str]]:
    """(Salesforce field, column, SQL type) the loader needs besides the mapped fields."""
    return [*(LEAD_EXTRA_COLUMNS if mapping.is_lead else ()), *((MERGE_COLUMN,) if is_merged_object(mapping) else ())]


def publish_query(mapping: ObjectMapping) -> sql.Composed:
    """The transform: typed, value-mapped rows of a run, bound by `%(run_id)s`."""
    selected: list[sql.Composable] = [sql.SQL("r.row_id"), sql.SQL("r.sf_id"), sql.SQL("r.is_deleted"),
                                      sql.SQL("r.system_modstamp")]
    joins: list[sql.Composable] = []
    for field in mapping.loaded_fields:
        selected.append(sql.SQL("CASE WHEN r.is_deleted THEN NULL ELSE {} END AS {}").format(
            typed_expression(mapping, field), sql.Identifier(field.target)))
        if field.values:
            alias = value_map_alias(field)
            joins.append(sql.SQL(
                "LEFT JOIN crm_mapping.value_maps {alias} ON {alias}.map_name = {name}"
                " AND {alias}.crm_value = {value}"
            ).format(alias=alias, name=sql.Literal(field.values), value=text_expression(field)))
    for source, name, kind in extra_columns(mapping):
        selected.append(sql.SQL("(r.payload ->> {})::{} AS {}").format(
            sql.Literal(source), sql.SQL(kind), sql.Identifier(name)))
    if mapping.is_lead:
        selected.append(_CONVERTED_CONTACT_GONE_SQL)
    return sql.SQL("SELECT {selected} FROM crm_staging.records r {joins} WHERE {where}").format(
        selected=sql.SQL(", ").join(selected),
        joins=sql.SQL(" ").join(joins),
        where=_run_rows_filter(),
    )


def value_hash(mapping: ObjectMapping, shared: frozenset[str] | None, row: str = "t") -> sql.Composable:
    """The hash of the Salesforce-owned values a record sets on its marketing row (`row`).

    Only `from_crm` columns: `both` and `to_crm` columns may legitimately differ, the
    marketing side changes them. A Lead sets a person's columns it shares with the Contact
    only while no live Contact is linked (see `load.load_statements`), so its hash then
    covers its own columns alone. The load stores this hash, reconciliation recomputes it
    over the marketing table: the same expression on both sides.

    Args:
        mapping: the object's mapping.
        shared: for people, the columns the other people object also loads (None otherwise).
        row: the alias of the marketing table in the query.
    """
    owned = [f.target for f in mapping.fields if f.direction is Direction.FROM_CRM]

    def digest(columns: list[str]) -> sql.Composable:
        values = sql.SQL(", ").join(sql.SQL("{}.{}").format(sql.Identifier(row), sql.Identifier(c)) for c in columns)
        return sql.SQL("md5(ROW({})::text)").format(values)

    if not mapping.is_lead or shared is None:
        return digest(owned)
    alone = [c for c in owned if c not in shared]
    return sql.SQL("CASE WHEN {r}.contact_sf_id IS NULL OR {r}.archived_at IS NOT NULL THEN {all} ELSE {alone} END").format(
        r=sql.Identifier(row), all=digest(owned), alone=digest(alone))
