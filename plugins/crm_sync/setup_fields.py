"""The set-up command: create the `to_crm` fields the org lacks, through the Tooling API.

    python -m crm_sync.setup_fields [--conn salesforce_default] [--dry-run]

For every mapping, the object's describe says which `to_crm` fields (marketing-owned,
written by `crm_writeback`) Salesforce does not have. Each is created with
`POST /services/data/vXX.X/tooling/sobjects/CustomField` (`FullName: 'Lead.First_Touch_Channel__c'`,
`Metadata: {type, label, length…}`), typed from the field's mapping `type`. The marketing values
those fields could not take so far are queued for the next write-back. A second run finds
nothing missing: it creates nothing and queues nothing. `--dry-run` only says what it would do.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from dataclasses import dataclass
from typing import Any

from psycopg import sql

from crm_sync.context import RunContext
from crm_sync.mapping.model import ColumnType, Direction, FieldMap, ObjectMapping
from crm_sync.salesforce import ApiBudget, RetryPolicy, SalesforceGateway
from crm_sync.sqlfiles import ident, template

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MissingField:
    """A `to_crm` field of a mapping that the org does not have."""

    mapping: ObjectMapping
    field: FieldMap

    @property
    def full_name(self) -> str:
        """`Object.Field__c`, as the Tooling API names it."""
        return f"{self.mapping.object}.{self.field.source}"


def field_metadata(fm: FieldMap) -> dict[str, Any]:
    """The Tooling API `Metadata` of a CustomField for a mapped field, typed from its `type`."""
    label = re.sub(r"__c$", "", fm.source).replace("_", " ").strip()[:40]
    if fm.values is None and fm.type is ColumnType.BOOLEAN:
        return {"type": "Checkbox", "label": label, "defaultValue": "false"}
    if fm.values is None and fm.type in (ColumnType.NUMERIC, ColumnType.INTEGER):
        return {"type": "Number", "label": label, "precision": 18,
                "scale": 0 if fm.type is ColumnType.INTEGER else 2}
    if fm.values is None and fm.type is ColumnType.DATE:
        return {"type": "Date", "label": label}
    if fm.values is None and fm.type is ColumnType.TIMESTAMP:
        return {"type": "DateTime", "label": label}
    length = fm.max_length or 255
    if length > 255:
        return {"type": "LongTextArea", "label": label, "length": length, "visibleLines": 3}
    return {"type": "Text", "label": label, "length": length}


def missing_fields(ctx: RunContext, sf: SalesforceGateway) -> list[MissingField]:
    """The `to_crm` fields of every mapping that the objects' describes lack."""
    found = []
    for mapping in ctx.mappings.objects:
        to_crm = [f for f in mapping.fields if f.direction is Direction.TO_CRM]
        if not to_crm:
            continue
        have = sf.describe_fields(mapping.object)
        found += [MissingField(mapping, f) for f in to_crm if f.source.lower() not in have]
    return found


def create_field(sf: SalesforceGateway, missing: MissingField) -> bool:
    """Create one field through the Tooling API; False when Salesforce says it exists already."""
    from simple_salesforce.exceptions import SalesforceError

    body = {"FullName": missing.full_name, "Metadata": field_metadata(missing.field)}
    try:
        sf.call(f"create {missing.full_name}", lambda api: api.toolingexecute(
            "sobjects/CustomField", method="POST", data=body))
    except SalesforceError as exc:
        content: list[Any] = exc.content if isinstance(exc.content, list) else []
        if content and content[0].get("errorCode") == "DUPLICATE_VALUE":
            return False  # a retried create whose first answer was lost: it is there
        raise
    return True


def queue_values(ctx: RunContext, created: list[MissingField]) -> int:
    """Queue the marketing rows holding values for the created fields; returns how many."""
    by_mapping: dict[str, list[MissingField]] = {}
    for item in created:
        by_mapping.setdefault(item.mapping.object, []).append(item)
    queued = 0
    with ctx.marketing() as mk:
        for items in by_mapping.values():
            mapping = items[0].mapping
            fields = sql.SQL("ARRAY[{}]::text[]").format(sql.SQL(", ").join(
                sql.SQL("CASE WHEN t.{} IS NOT NULL THEN {} END").format(
                    ident(i.field.target), sql.Literal(i.field.target)) for i in items))
            statement = template("setup/queue_created.sql", table=ident(mapping.target),
                                 link=ident(mapping.sf_id_column), fields=fields)
            row = mk.execute(statement, {"table": mapping.target}).fetchone()
            queued += row[0] if row else 0
        mk.commit()
    return queued


def setup_fields(ctx: RunContext, *, conn_id: str | None = None, dry_run: bool = False) -> dict[str, Any]:
    """Create the missing `to_crm` fields and queue their values; returns what it found and did."""
    sf = SalesforceGateway(conn_id or ctx.settings.salesforce_conn_id,
                           retry=RetryPolicy(ctx.settings.api_max_attempts, ctx.settings.api_retry_seconds),
                           budget=ApiBudget(ctx.settings.api_budget_share))
    missing = missing_fields(ctx, sf)
    if dry_run:
        return {"missing": [m.full_name for m in missing], "created": [], "existed": [], "queued": 0}
    created: list[MissingField] = []
    existed: list[MissingField] = []
    for item in missing:
        fresh = create_field(sf, item)
        (created if fresh else existed).append(item)
        log.info("%s %s through the Tooling API", "created" if fresh else "found (already created)", item.full_name)
    queued = queue_values(ctx, created + existed) if missing else 0
    return {"missing": [m.full_name for m in missing], "created": [m.full_name for m in created],
            "existed": [m.full_name for m in existed], "queued": queued}


def main(argv: list[str] | None = None) -> int:
    """The command line: create the missing fields (or, with --dry-run, list them)."""
    parser = argparse.ArgumentParser(prog="python -m crm_sync.setup_fields", description=__doc__.split("\n")[0])
    parser.add_argument("--conn", default=None, help="Airflow connection id of the org (default: CRM_SYNC_SALESFORCE_CONN_ID)")
    parser.add_argument("--dry-run", action="store_true", help="list the missing fields, create nothing")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    outcome = setup_fields(RunContext.load(), conn_id=args.conn, dry_run=args.dry_run)
    if not outcome["missing"]:
        print("Every to_crm field exists in Salesforce: nothing to create.")
    elif args.dry_run:
        print("Would create:", ", ".join(outcome["missing"]))
    else:
        print("Created:", ", ".join(outcome["created"]) or "none",
              "| already there:", ", ".join(outcome["existed"]) or "none",
              f"| {outcome['queued']} marketing row(s) queued for the write-back")
    return 0


if __name__ == "__main__":
    sys.exit(main())
