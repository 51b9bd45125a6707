"""Campaign members on the way in: each member is linked to its person, or skipped saying why.

A CampaignMember names its person by `ContactId` or `LeadId`; the marketing row carries the
person's id (`campaign_members.person_id`). The load statements here run inside the plain
record load of the CampaignMember mapping (`load.load_statements`): before the upsert a member
whose person the marketing database does not know is skipped (`unknown_person:ContactId`,
`unknown_person:LeadId`; re-read later, see `reevaluate.py`) and a member the marketing side
added and Salesforce has too is claimed; after it, every member points at its person.
"""

from __future__ import annotations

from psycopg import sql

from crm_sync.mapping.model import ObjectMapping
from crm_sync.sqlfiles import ident, template

#: Skip reasons of members whose person is unknown, by the field that names the person.
NO_PERSON_REASONS = ("unknown_person:ContactId", "unknown_person:LeadId")


def member_statements(mapping: ObjectMapping) -> tuple[list[sql.Composed], list[sql.Composed]]:
    """The member statements to run (before the upsert, after it); empty for other mappings."""
    if not mapping.is_campaign_member:
        return [], []
    target = ident(mapping.target)
    return ([template("load/member_person_unknown.sql"), template("load/member_claim.sql", target=target)],
            [template("load/member_person_link.sql", target=target)])


def person_key_sql(row: str = "r") -> sql.Composable:
    """The Salesforce Id a staged member names its person by: the Contact's, else the Lead's."""
    payload = sql.SQL("{}.payload").format(sql.Identifier(row))
    return sql.SQL("NULLIF(COALESCE(NULLIF({p} ->> 'ContactId', ''), {p} ->> 'LeadId'), '')").format(p=payload)
