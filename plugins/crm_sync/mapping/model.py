"""The schema of a mapping file (`include/mappings/<object>.yaml`).

A mapping says which Salesforce fields of one object land in which marketing columns, how
they are cleaned and checked, who owns each field, and how a Salesforce record finds its
marketing row. Validation is strict: an unknown key or a bad value fails with the field
named, so a typo never silently changes what is synced.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from crm_sync.mapping.filters import MembershipTerm, parse_filter

SF_NAME = r"^[A-Za-z][A-Za-z0-9_]*$"
SQL_NAME = r"^[a-z][a-z0-9_]{0,62}$"

# Targets with their own load logic; any other target is a plain table keyed by sf_id.
PEOPLE_TARGET = "people"


class Direction(StrEnum):
    """Who owns a field."""

    FROM_CRM = "from_crm"  # Salesforce owns it; marketing edits are overwritten
    TO_CRM = "to_crm"  # marketing owns it; written back to Salesforce
    BOTH = "both"  # either side may change it; `conflict` decides


class Conflict(StrEnum):
    """How a `both` field resolves when the two sides disagree."""

    CRM_WINS = "crm_wins"
    MARKETING_WINS = "marketing_wins"
    LATEST_WINS = "latest_wins"
    TRUE_WINS = "true_wins"
    SET_WINS = "set_wins"  # a value wins over none (the hard bounce); sticky like true_wins


class Transform(StrEnum):
    """Value clean-ups applied in the warehouse transform (SQL)."""

    NONE = "none"
    TRIM = "trim"
    LOWER_TRIM = "lower_trim"
    UPPER_TRIM = "upper_trim"


class ColumnType(StrEnum):
    """The marketing column type a field is cast to."""

    TEXT = "text"
    INTEGER = "integer"
    NUMERIC = "numeric"
    BOOLEAN = "boolean"
    DATE = "date"
    TIMESTAMP = "timestamp"


class Check(StrEnum):
    """Format checks beyond type and length."""

    EMAIL = "email"


class FieldMap(BaseModel):
    """One Salesforce field mapped to one marketing column."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: Annotated[str, Field(pattern=SF_NAME, max_length=80)]
    target: Annotated[str, Field(pattern=SQL_NAME)]
    type: ColumnType = ColumnType.TEXT
    transform: Transform = Transform.NONE
    required: bool = False
    check: Check | None = None
    max_length: Annotated[int, Field(gt=0)] | None = None
    values: Annotated[str, Field(pattern=SQL_NAME)] | None = None
    direction: Direction = Direction.FROM_CRM
    conflict: Conflict | None = None

    @model_validator(mode="after")
    def _conflict_only_for_both(self) -> FieldMap:
        if self.direction is Direction.BOTH and self.conflict is None:
            raise ValueError(f"field {self.source}: direction 'both' needs a conflict rule")
        if self.direction is not Direction.BOTH and self.conflict is not None:
            raise ValueError(f"field {self.source}: a conflict rule is only for direction 'both'")
        if self.values is not None and self.type is not ColumnType.TEXT:
            raise ValueError(f"field {self.source}: a value map produces text; drop `type`")
        boolean = self.type is ColumnType.BOOLEAN
        if (self.conflict is Conflict.TRUE_WINS and not boolean) or (self.conflict is Conflict.SET_WINS and boolean):
            raise ValueError(f"field {self.source}: true_wins is for boolean fields, set_wins for the others")
        return self

    @property
    def is_sticky(self) -> bool:
        """True for a `both` field whose set value wins from either side (`true_wins`, `set_wins`)."""
        return self.direction is Direction.BOTH and self.conflict in (Conflict.TRUE_WINS, Conflict.SET_WINS)

    @property
    def loads_from_crm(self) -> bool:
        """True when the Salesforce value is loaded into the marketing column."""
        return self.direction is not Direction.TO_CRM


class Expectation(BaseModel):
    """A hand-written Great Expectations expectation added to the generated suite."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Annotated[str, Field(pattern=r"^expect_[a-z_]+$")]
    kwargs: dict[str, Any] = Field(default_factory=dict)
    level: Literal["row", "batch"] = "row"


class Owner(BaseModel):
    """Who owns a Lead the write-back creates: exactly one of a user, a queue or an assignment rule.

    `user`: a Username or a User Id; `queue`: a queue's name (or DeveloperName); both are
    resolved from the reference data (`crm_users`, `crm_queues`) and set as `OwnerId`.
    `assignment_rule`: `default` (the active Lead assignment rule) or a rule's name:
    Salesforce assigns the owner (Bulk API 2.0's `assignmentRuleId`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    user: Annotated[str, Field(min_length=1, max_length=80)] | None = None
    queue: Annotated[str, Field(min_length=1, max_length=80)] | None = None
    assignment_rule: Annotated[str, Field(min_length=1, max_length=120)] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Owner:
        given = [name for name in ("user", "queue", "assignment_rule") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("writeback > owner: give exactly one of user, queue or assignment_rule")
        return self


class AccountChoice(BaseModel):
    """The Account a Contact the write-back creates goes under: exactly one way.

    `match: company_name`: the Account whose Name equals the person's `company` (created when
    there is none); `id`: one fixed Account Id. Either way a person who already has an
    `account_sf_id` keeps it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    match: Literal["company_name"] | None = None
    id: Annotated[str, Field(pattern=r"^001[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?$")] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> AccountChoice:
        if (self.match is None) == (self.id is None):
            raise ValueError("writeback > account: give exactly one of match: company_name or id: 001…")
        return self


class Writeback(BaseModel):
    """What the write-back may do beyond updating linked records (all off by default).

    `create`: a marketing row with no Salesforce record becomes one. For people (exactly one
    of the Lead and Contact mappings may create them) the record is inserted after a look-up
    by email, so a retry never duplicates it; for other targets it is upserted by
    `external_id`, a mapped Salesforce external id field. `owner` (Leads only) says who owns
    a created Lead; `account` (Contacts only, required there) says which Account a created
    Contact goes under.

    `scope`: only people in this marketing segment (`crm_segment_members`) are created or
    updated in Salesforce through this mapping (`crm_sync.writeback.scope`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    create: bool = False
    external_id: Annotated[str, Field(pattern=SF_NAME, max_length=80)] | None = None
    scope: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")] | None = None
    owner: Owner | None = None
    account: AccountChoice | None = None


def check_soql_filter(condition: str) -> str:
    """Validate a list-based-sync filter (`crm_sync.mapping.filters`) and return it stripped.

    Raises:
        ValueError: naming what is wrong with the condition.
    """
    return parse_filter(condition).text


@dataclass(frozen=True)
class PersonLink:
    """How a Lead or a Contact links to its person in `people` (one person per email).

    A person carries up to two links, `lead_sf_id` and `contact_sf_id`; the Contact owns the
    person's Salesforce-owned values once it exists (a converted Lead hands its person over).
    """

    object: str  # "Lead" or "Contact"
    column: str  # this object's link column
    other_column: str  # the other object's link column
    other_object: str

    @property
    def is_lead(self) -> bool:
        """True for the Lead side (the side a conversion hands over from)."""
        return self.object == "Lead"


PERSON_LINKS = {
    "lead": PersonLink("Lead", "lead_sf_id", "contact_sf_id", "Contact"),
    "contact": PersonLink("Contact", "contact_sf_id", "lead_sf_id", "Lead"),
}


class ObjectMapping(BaseModel):
    """The whole mapping of one Salesforce object."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    object: Annotated[str, Field(pattern=SF_NAME, max_length=80)]
    target: Annotated[str, Field(pattern=SQL_NAME)]
    match_key: Annotated[str, Field(pattern=SQL_NAME)] = "sf_id"
    on_missing_match_key: Literal["skip", "quarantine", "sf_id"] = "skip"
    mode: Literal["create_and_update", "update_only"] = "create_and_update"
    filter: str | None = None
    schedule: str | None = None
    fields: Annotated[list[FieldMap], Field(min_length=1)]
    expectations: list[Expectation] = Field(default_factory=list)
    quarantine_threshold: Annotated[float, Field(ge=0, le=1)] | None = None
    writeback: Writeback = Field(default_factory=Writeback)

    @field_validator("filter")
    @classmethod
    def _valid_filter(cls, value: str | None) -> str | None:
        return None if value is None else check_soql_filter(value)

    @model_validator(mode="after")
    def _consistent(self) -> ObjectMapping:
        seen_sources: set[str] = set()
        seen_targets: set[str] = set()
        written_sources: set[str] = set()
        for field in self.fields:
            if field.direction is not Direction.FROM_CRM:
                if field.source.lower() in written_sources:
                    raise ValueError(f"field {field.source}: mapped to several columns, of which only one may be "
                                     "to_crm or both (the write-back needs one source of truth)")
                written_sources.add(field.source.lower())
            if field.target in seen_targets:
                raise ValueError(f"field {field.source}: target column {field.target!r} used twice")
            if field.target in RESERVED_COLUMNS or (self.target == PEOPLE_TARGET and field.target in PEOPLE_COLUMNS):
                raise ValueError(f"field {field.source}: target column {field.target!r} is reserved")
            seen_sources.add(field.source.lower())
            seen_targets.add(field.target)
        if self.match_key != "sf_id" and self.match_key not in seen_targets:
            raise ValueError(f"match_key {self.match_key!r} is not the target of any field")
        if self.target == PEOPLE_TARGET and self.match_key != "email":
            raise ValueError("target 'people' is matched by email: set match_key: email")
        if self.target == PEOPLE_TARGET and self.on_missing_match_key == "sf_id":
            raise ValueError("on_missing_match_key: a person needs an email; use skip or quarantine")
        if self.match_key != "sf_id" and self.match_field.direction is Direction.TO_CRM:
            raise ValueError(f"match_key {self.match_key!r} must come from Salesforce, not be to_crm")
        self._check_writeback(seen_sources)
        self._check_memberships()
        return self

    def _check_memberships(self) -> None:
        expected = f"{self.object}Id"
        for term in self.memberships:
            if term.field.lower() != expected.lower():
                raise ValueError(f"filter: a {self.object} is a member through {expected}, not {term.field} "
                                 f"({term.object} links Contacts by ContactId and Leads by LeadId)")

    def _check_writeback(self, sources: set[str]) -> None:
        if self.writeback.scope is not None and self.target != PEOPLE_TARGET:
            raise ValueError("writeback > scope: a segment holds people; only people mappings may have a scope")
        external_id = self.writeback.external_id
        if external_id is not None and external_id.lower() not in sources:
            raise ValueError(f"writeback > external_id: {external_id!r} is not the source of any field")
        if self.writeback.owner is not None and not (self.is_lead and self.writeback.create):
            raise ValueError("writeback > owner: only for the Lead mapping with create: true")
        if self.writeback.account is not None and not (self.object.lower() == "contact" and self.writeback.create):
            raise ValueError("writeback > account: only for the Contact mapping with create: true")
        if not self.writeback.create:
            return
        if self.is_people and self.object.lower() == "contact" and self.writeback.account is None:
            raise ValueError("writeback > create: a new Contact needs an Account; set writeback.account "
                             "(match: company_name, or id: 001…)")
        if self.target == PEOPLE_TARGET and self.object.lower() not in PERSON_LINKS:
            raise ValueError("writeback > create: a new person becomes a Lead or a Contact; only those mappings "
                             "may create people")
        # CampaignMember has no external id: the write-back matches by campaign and person.
        if self.target != PEOPLE_TARGET and external_id is None and not self.is_campaign_member:
            raise ValueError("writeback > create: needs writeback.external_id (an external id field to upsert by, "
                             "so a retried write-back never creates a duplicate)")

    @property
    def memberships(self) -> tuple[MembershipTerm, ...]:
        """The filter's membership sub-queries (campaign lists); empty without them."""
        return parse_filter(self.filter).memberships if self.filter else ()

    @property
    def dag_id(self) -> str:
        """The id of this object's differential DAG."""
        return f"crm_differential_{self.object.lower()}"

    @property
    def file_name(self) -> str:
        """The mapping file's name, for messages that say what to fix."""
        return f"{self.object.lower()}.yaml"

    @property
    def is_people(self) -> bool:
        """True for Leads and Contacts, which merge into one person per email."""
        return self.target == PEOPLE_TARGET

    @property
    def person_link(self) -> PersonLink:
        """The link of a people mapping (Leads and Contacts only).

        Raises:
            ValueError: for a mapping that does not target `people`.
        """
        link = PERSON_LINKS.get(self.object.lower())
        if not self.is_people or link is None:
            raise ValueError(f"{self.object} does not link people (target {self.target!r})")
        return link

    @property
    def sf_id_column(self) -> str:
        """The column of the target table that holds this object's Salesforce Id."""
        return self.person_link.column if self.is_people else "sf_id"

    @property
    def is_lead(self) -> bool:
        """True for the Lead mapping (conversion fields are extracted and followed)."""
        return self.object.lower() == "lead"

    @property
    def is_campaign_member(self) -> bool:
        """True for CampaignMember: linked to a person, matched by campaign and person on the way back."""
        return self.object.lower() == "campaignmember"

    @property
    def match_field(self) -> FieldMap:
        """The field whose target is the match key (not defined for sf_id matching)."""
        for field in self.fields:
            if field.target == self.match_key:
                return field
        raise KeyError(self.match_key)

    @property
    def loaded_fields(self) -> list[FieldMap]:
        """Fields whose Salesforce value is loaded into the marketing side."""
        return [f for f in self.fields if f.loads_from_crm]

    @property
    def written_fields(self) -> list[FieldMap]:
        """Fields the write-back may send to Salesforce (direction `to_crm` or `both`)."""
        return [f for f in self.fields if f.direction is not Direction.FROM_CRM]

    @property
    def value_map_names(self) -> list[str]:
        """Names of the value maps this mapping uses, sorted."""
        return sorted({f.values for f in self.fields if f.values})


# Columns the sync itself manages on every target table.
RESERVED_COLUMNS = frozenset({"id", "sf_id", "archived_at", "archive_reason", "created_at", "updated_at"})
# ...and on people, the links to the Lead and the Contact.
PEOPLE_COLUMNS = frozenset({"lead_sf_id", "contact_sf_id", "sf_object"})
