"""Salesforce merges: the loser's marketing-owned values go to the master, the loser is archived.

Salesforce merges up to three Accounts, Contacts or Leads into one: the losers are deleted
with `MasterRecordId` naming the master (`soql.MASTER_FIELD`, extracted with the deleted
records of those objects). The load (`include/sql/load/people_merge.sql`,
`records_merge.sql`) archives a loser's marketing row with reason `merged` and the master's
Id (`merged_into_sf_id`), after carrying the values the marketing side owns to the master's
row, by one rule per kind of value:

* a sticky flag (`both`, `true_wins`: the opt-out): true wins (OR);
* a number, date or timestamp owned by the marketing side (`to_crm`, or `both` with
  `marketing_wins`; the lead score, the last visit): the higher;
* any other marketing-owned value: the master's, unless it is empty.

Salesforce-owned values (`from_crm`, `crm_wins`, `latest_wins`) are the master's own. A
carried value is queued for the write-back (`crm_outbox`), which writes it to the master in
Salesforce. A loser whose master has no active marketing row is archived without carrying.
"""

from __future__ import annotations

from psycopg import sql

from crm_sync.mapping.model import ColumnType, Conflict, Direction, FieldMap, ObjectMapping
from crm_sync.salesforce.soql import is_merged_object
from crm_sync.sqlfiles import person_parts, target_parts, template

_ORDERED = (ColumnType.INTEGER, ColumnType.NUMERIC, ColumnType.DATE, ColumnType.TIMESTAMP)


def carried_fields(mapping: ObjectMapping) -> list[FieldMap]:
    """The fields whose marketing value a merged loser hands to its master."""
    return [f for f in mapping.fields if f.direction is Direction.TO_CRM
            or f.is_sticky or (f.direction is Direction.BOTH and f.conflict is Conflict.MARKETING_WINS)]


def _rule(f: FieldMap) -> tuple[str, str]:
    """(aggregate over the losers `l`, combination of the master `m` with them `x`) of a field."""
    if f.direction is Direction.BOTH and f.conflict is Conflict.TRUE_WINS:
        return "bool_or(COALESCE(l.{c}, false))", "(COALESCE(m.{c}, false) OR x.{c})"
    if f.type in _ORDERED and not f.values:
        return "max(l.{c})", "GREATEST(m.{c}, x.{c})"  # GREATEST ignores nulls
    return "(array_agg(l.{c} ORDER BY l.id) FILTER (WHERE l.{c} IS NOT NULL))[1]", "COALESCE(m.{c}, x.{c})"


def merge_statement(mapping: ObjectMapping) -> sql.Composed | None:
    """The load statement that handles the batch's merged losers (None for objects Salesforce never merges).

    It must run before the delete statement (`people_delete.sql` / `records_delete.sql`).
    """
    if not is_merged_object(mapping):
        return None
    fields = carried_fields(mapping)
    aggregates: list[sql.Composable] = [sql.SQL("count(*) AS losers")]
    combined: list[sql.Composable] = [sql.SQL("x.losers")]
    changed: list[sql.Composable] = [sql.SQL("NULL")]
    sets: list[sql.Composable] = []
    for f in fields:
        col = sql.Identifier(f.target)
        aggregate, combination = _rule(f)
        value = sql.SQL(combination).format(c=col)
        aggregates.append(sql.SQL("{} AS {}").format(sql.SQL(aggregate).format(c=col), col))
        combined.append(sql.SQL("{} AS {}").format(value, col))
        changed.append(sql.SQL("CASE WHEN {v} IS DISTINCT FROM m.{c} THEN {name} END").format(
            v=value, c=col, name=sql.Literal(f.target)))
        sets.append(sql.SQL("{c} = c.{c}").format(c=col))
    sets.append(sql.SQL("updated_at = now()"))
    parts: dict[str, sql.Composable] = {
        "aggregates": sql.SQL(", ").join(aggregates), "combined": sql.SQL(", ").join(combined),
        "changed": sql.SQL(", ").join(changed), "set_list": sql.SQL(", ").join(sets)}
    if mapping.is_people:
        return template("load/people_merge.sql", **parts, **person_parts(mapping))
    return template("load/records_merge.sql", **parts, **target_parts(mapping),
                    table_name=sql.Literal(mapping.target))
