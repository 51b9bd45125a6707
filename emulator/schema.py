"""The org's objects and fields: one definition drives storage, SOQL, DML and describe.

Field names are a contract with the sync's mapping files; see the emulator README.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ORG_ID = "00D8d0000000001EAA"

# Salesforce type -> SQLite storage class (None: compound, not stored).
_STORAGE = {
    "id": "TEXT", "reference": "TEXT", "string": "TEXT", "textarea": "TEXT", "picklist": "TEXT",
    "multipicklist": "TEXT", "combobox": "TEXT", "email": "TEXT", "phone": "TEXT", "url": "TEXT",
    "boolean": "INTEGER", "int": "INTEGER", "double": "REAL", "currency": "REAL", "percent": "REAL",
    "date": "TEXT", "datetime": "TEXT", "address": None,
}
_SOAP_TYPE = {
    "id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean", "int": "xsd:int",
    "double": "xsd:double", "currency": "xsd:double", "percent": "xsd:double", "date": "xsd:date",
    "datetime": "xsd:dateTime", "address": "urn:address",
}
TEXT_TYPES = frozenset({"string", "textarea", "picklist", "multipicklist", "combobox", "email", "phone", "url"})
NUMBER_TYPES = frozenset({"double", "currency", "percent", "int"})


@dataclass(frozen=True)
class PicklistValue:
    """One picklist entry. ``closed``/``won``/``probability`` only matter for Opportunity stages."""

    value: str
    label: str = ""
    active: bool = True
    default: bool = False
    closed: bool = False
    won: bool = False
    probability: int | None = None

    def describe(self) -> dict[str, Any]:
        """Describe form of the entry."""
        return {"active": self.active, "defaultValue": self.default, "label": self.label or self.value,
                "validFor": None, "value": self.value}


@dataclass(frozen=True)
class FieldDef:
    """A field: its Salesforce metadata and how it is stored."""

    name: str
    type: str
    label: str
    length: int = 0
    nillable: bool = True
    custom: bool = False
    external_id: bool = False
    unique: bool = False
    calculated: bool = False
    formula: str | None = None
    createable: bool = True
    updateable: bool = True
    defaulted: bool = False
    picklist: tuple[PicklistValue, ...] = ()
    restricted: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    precision: int = 0
    scale: int = 0
    digits: int = 0
    auto_number: bool = False
    name_field: bool = False
    id_lookup: bool = False
    compound: str | None = None
    components: tuple[tuple[str, str], ...] = ()

    @property
    def storage(self) -> str | None:
        """SQLite column type, or None for compound fields."""
        return _STORAGE[self.type]

    @property
    def is_text(self) -> bool:
        """True for string-like types (compared case-insensitively)."""
        return self.type in TEXT_TYPES

    @property
    def required(self) -> bool:
        """True if an insert must supply a value."""
        return not self.nillable and self.createable and not self.defaulted and self.type != "boolean"

    def picklist_value(self, value: str) -> PicklistValue | None:
        """The entry whose value equals ``value`` (exact), if any."""
        for entry in self.picklist:
            if entry.value == value:
                return entry
        return None

    def describe(self) -> dict[str, Any]:
        """Describe form of the field (the keys Salesforce returns)."""
        text_like = self.type in TEXT_TYPES or self.type in ("id", "reference")
        byte_length = self.length * 3 if self.type in TEXT_TYPES else (18 if self.type in ("id", "reference") else 0)
        return {
            "aggregatable": self.type not in ("textarea", "address"),
            "aiPredictionField": False,
            "autoNumber": self.auto_number,
            "byteLength": byte_length,
            "calculated": self.calculated,
            "calculatedFormula": self.formula,
            "cascadeDelete": False,
            "caseSensitive": False,
            "compoundFieldName": self.compound,
            "controllerName": None,
            "createable": self.createable,
            "custom": self.custom,
            "defaultValue": next((p.value for p in self.picklist if p.default), None)
            if self.picklist else (False if self.type == "boolean" else None),
            "defaultValueFormula": None,
            "defaultedOnCreate": self.defaulted or self.type == "boolean",
            "dependentPicklist": False,
            "deprecatedAndHidden": False,
            "digits": self.digits,
            "displayLocationInDecimal": False,
            "encrypted": False,
            "externalId": self.external_id,
            "extraTypeInfo": None,
            "filterable": self.type not in ("textarea", "address"),
            "filteredLookupInfo": None,
            "groupable": self.type not in ("double", "currency", "percent", "datetime", "textarea", "address"),
            "highScaleNumber": False,
            "htmlFormatted": False,
            "idLookup": self.id_lookup,
            "inlineHelpText": None,
            "label": self.label,
            "length": self.length if text_like else 0,
            "mask": None,
            "maskType": None,
            "name": self.name,
            "nameField": self.name_field,
            "namePointing": False,
            "nillable": self.nillable,
            "permissionable": self.nillable and not self.calculated,
            "picklistValues": [p.describe() for p in self.picklist],
            "polymorphicForeignKey": False,
            "precision": self.precision,
            "queryByDistance": False,
            "referenceTargetField": None,
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "relationshipOrder": None,
            "restrictedDelete": False,
            "restrictedPicklist": self.restricted,
            "scale": self.scale,
            "searchPrefilterable": False,
            "soapType": _SOAP_TYPE.get(self.type, "xsd:string"),
            "sortable": self.type not in ("textarea", "address"),
            "type": self.type,
            "unique": self.unique,
            "updateable": self.updateable,
            "writeRequiresMasterRead": False,
        }


@dataclass
class ObjectDef:
    """An sObject: name, key prefix, fields and object-level permissions."""

    name: str
    label: str
    label_plural: str
    key_prefix: str
    fields: tuple[FieldDef, ...]
    custom: bool = False
    createable: bool = True
    updateable: bool = True
    deletable: bool = True
    _by_lower: dict[str, FieldDef] = field(default_factory=dict, repr=False)
    _by_relationship: dict[str, FieldDef] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_lower = {f.name.lower(): f for f in self.fields}
        self._by_relationship = {f.relationship_name.lower(): f for f in self.fields if f.relationship_name}

    def field(self, name: str) -> FieldDef | None:
        """Look a field up by name, case-insensitively."""
        return self._by_lower.get(name.lower())

    def relationship(self, name: str) -> FieldDef | None:
        """Look a reference field up by its relationship name (``Account``, ``Owner``), case-insensitively."""
        return self._by_relationship.get(name.lower())

    @property
    def stored_fields(self) -> list[FieldDef]:
        """Fields with a column of their own (everything but compound fields)."""
        return [f for f in self.fields if f.storage is not None]

    @property
    def has_owner(self) -> bool:
        """True if records carry an OwnerId."""
        return "ownerid" in self._by_lower

    def urls(self, version: str) -> dict[str, str]:
        """The ``urls`` block of describe answers."""
        base = f"/services/data/v{version}/sobjects/{self.name}"
        return {"compactLayouts": f"{base}/describe/compactLayouts", "rowTemplate": f"{base}/{{ID}}",
                "approvalLayouts": f"{base}/describe/approvalLayouts", "defaultValues": f"{base}/defaultValues?recordTypeId&fields",
                "describe": f"{base}/describe", "quickActions": f"{base}/quickActions",
                "layouts": f"{base}/describe/layouts", "sobject": base}

    def summary(self, version: str) -> dict[str, Any]:
        """The entry in the global describe (and the ``objectDescribe`` block)."""
        return {
            "activateable": False, "associateEntityType": None, "associateParentEntity": None,
            "createable": self.createable, "custom": self.custom, "customSetting": False,
            "deepCloneable": False, "deletable": self.deletable, "deprecatedAndHidden": False,
            "feedEnabled": False, "hasSubtypes": False, "isInterface": False, "isSubtype": False,
            "keyPrefix": self.key_prefix, "label": self.label, "labelPlural": self.label_plural,
            "layoutable": True, "mergeable": self.name in ("Account", "Contact", "Lead"), "mruEnabled": True,
            "name": self.name, "queryable": True, "replicateable": True, "retrieveable": True,
            "searchable": True, "triggerable": True, "undeletable": self.deletable,
            "updateable": self.updateable, "urls": self.urls(version),
        }

    def describe(self, version: str) -> dict[str, Any]:
        """The full sObject describe."""
        body = self.summary(version)
        body.update({
            "actionOverrides": [], "childRelationships": [], "compactLayoutable": True,
            "fields": [f.describe() for f in self.fields], "listviewable": None, "lookupLayoutable": None,
            "namedLayoutInfos": [], "networkScopeFieldName": None, "recordTypeInfos": [],
            "searchLayoutable": True, "sobjectDescribeOption": "FULL", "supportedScopes": [],
        })
        return body


# -- field constructors ----------------------------------------------------------------------


def _p(*values: str, inactive: tuple[str, ...] = (), default: str | None = None) -> tuple[PicklistValue, ...]:
    return tuple(PicklistValue(v, v, v not in inactive, v == default) for v in values)


def _string(name: str, label: str, length: int, **kw: Any) -> FieldDef:
    return FieldDef(name, kw.pop("type", "string"), label, length=length, custom=name.endswith("__c"), **kw)


def _pick(name: str, label: str, values: tuple[PicklistValue, ...], **kw: Any) -> FieldDef:
    return FieldDef(name, "picklist", label, length=255, picklist=values, custom=name.endswith("__c"), **kw)


def _ref(name: str, label: str, target: str, relationship: str, **kw: Any) -> FieldDef:
    return FieldDef(name, "reference", label, length=18, reference_to=(target,), relationship_name=relationship,
                    custom=name.endswith("__c"), **kw)


def _bool(name: str, label: str, **kw: Any) -> FieldDef:
    return FieldDef(name, "boolean", label, nillable=False, defaulted=True, custom=name.endswith("__c"), **kw)


def _number(name: str, label: str, kind: str, precision: int, scale: int, **kw: Any) -> FieldDef:
    digits = precision if kind == "int" else 0
    return FieldDef(name, kind, label, precision=0 if kind == "int" else precision,
                    scale=0 if kind == "int" else scale, digits=digits, custom=name.endswith("__c"), **kw)


def _date(name: str, label: str, **kw: Any) -> FieldDef:
    return FieldDef(name, "date", label, custom=name.endswith("__c"), **kw)


def _datetime(name: str, label: str, **kw: Any) -> FieldDef:
    return FieldDef(name, "datetime", label, custom=name.endswith("__c"), **kw)


def _system_fields(label: str, owner: bool, owner_to: tuple[str, ...] = ("User",)
                   ) -> tuple[list[FieldDef], list[FieldDef]]:
    head = [FieldDef("Id", "id", f"{label} ID", length=18, nillable=False, createable=False, updateable=False,
                     defaulted=True, id_lookup=True),
            _bool("IsDeleted", "Deleted", createable=False, updateable=False)]
    if owner:
        head.append(FieldDef("OwnerId", "reference", "Owner ID", length=18, reference_to=owner_to,
                             relationship_name="Owner", nillable=False, defaulted=True))
    readonly = {"createable": False, "updateable": False, "nillable": False, "defaulted": True}
    tail = [
        _datetime("CreatedDate", "Created Date", **readonly),
        _ref("CreatedById", "Created By ID", "User", "CreatedBy", **readonly),
        _datetime("LastModifiedDate", "Last Modified Date", **readonly),
        _ref("LastModifiedById", "Last Modified By ID", "User", "LastModifiedBy", **readonly),
        _datetime("SystemModstamp", "System Modstamp", **readonly),
    ]
    return head, tail


def _address(prefix: str, label: str, parts: tuple[tuple[str, str], ...]) -> FieldDef:
    return FieldDef(f"{prefix}Address", "address", label, createable=False, updateable=False, components=parts)


def _object(name: str, label: str, plural: str, prefix: str, body: list[FieldDef], *, owner: bool = True,
            custom: bool = False, writable: bool = True, owner_to: tuple[str, ...] = ("User",)) -> ObjectDef:
    head, tail = _system_fields(label, owner, owner_to)
    return ObjectDef(name, label, plural, prefix, tuple(head + body + tail), custom=custom,
                     createable=writable, updateable=writable, deletable=writable)


def _marketing_fields(label: str) -> list[FieldDef]:
    """The bounce, lead-source detail and description fields of a real org's marketing set-up."""
    return [
        _datetime("EmailBouncedDate", "Email Bounced Date"),
        _string("EmailBouncedReason", "Email Bounced Reason", 255),
        _string("Lead_Source_Detail__c", "Lead Source Detail", 255),
        _string("Description", f"{label} Description", 32000, type="textarea"),
    ]


# -- picklists --------------------------------------------------------------------------------

LEAD_SOURCES = _p("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other", "Trade Show",
                  inactive=("Trade Show",))
CODED_STATUS = (
    PicklistValue("1", "New", True, True), PicklistValue("2", "Engaged"), PicklistValue("3", "Qualified"),
    PicklistValue("4", "Customer"), PicklistValue("5", "Legacy", active=False),
)
INDUSTRIES = _p("Agriculture", "Apparel", "Banking", "Biotechnology", "Chemicals", "Communications",
                "Construction", "Consulting", "Education", "Electronics", "Energy", "Engineering",
                "Entertainment", "Environmental", "Finance", "Food & Beverage", "Government", "Healthcare",
                "Hospitality", "Insurance", "Machinery", "Manufacturing", "Media", "Not For Profit",
                "Recreation", "Retail", "Shipping", "Technology", "Telecommunications", "Transportation",
                "Utilities", "Other")
ACCOUNT_TYPES = _p("Prospect", "Customer - Direct", "Customer - Channel", "Channel Partner / Reseller",
                   "Installation Partner", "Technology Partner", "Other")
LEAD_STATUSES = _p("Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted",
                   default="Open - Not Contacted")
OPPORTUNITY_STAGES = (
    PicklistValue("Prospecting", probability=10), PicklistValue("Qualification", probability=10),
    PicklistValue("Needs Analysis", probability=20), PicklistValue("Value Proposition", probability=50),
    PicklistValue("Id. Decision Makers", probability=60), PicklistValue("Perception Analysis", probability=70),
    PicklistValue("Proposal/Price Quote", probability=75), PicklistValue("Negotiation/Review", probability=90),
    PicklistValue("Closed Won", closed=True, won=True, probability=100),
    PicklistValue("Closed Lost", closed=True, probability=0),
)
OPPORTUNITY_TYPES = _p("Existing Customer - Upgrade", "Existing Customer - Replacement",
                       "Existing Customer - Downgrade", "New Customer")
CAMPAIGN_TYPES = _p("Conference", "Webinar", "Trade Show", "Public Relations", "Partners", "Referral Program",
                    "Advertisement", "Banner Ads", "Direct Mail", "Email", "Telemarketing", "Other")
CAMPAIGN_STATUSES = _p("Planned", "In Progress", "Completed", "Aborted", default="Planned")
MEMBER_STATUSES = _p("Sent", "Responded", default="Sent")
TASK_STATUSES = _p("Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred",
                  default="Not Started")
PRIORITIES = _p("High", "Normal", "Low", default="Normal")
TASK_TYPES = _p("Call", "Email", "Meeting", "Other")
TASK_SUBTYPES = _p("Task", "Email", "Call", "ListEmail")
EVENT_TYPES = _p("Call", "Email", "Meeting", "Webinar", "Other")
ORGANIZATION_TYPES = _p("Developer Edition", "Enterprise Edition", "Unlimited Edition", "Professional Edition")
PLANS = _p("Free", "Pro", "Enterprise")
SUBSCRIPTION_STATUSES = _p("Active", "Cancelled", default="Active")

_BILLING = (("street", "BillingStreet"), ("city", "BillingCity"), ("state", "BillingState"),
            ("postalCode", "BillingPostalCode"), ("country", "BillingCountry"))
_MAILING = (("city", "MailingCity"), ("country", "MailingCountry"))

# -- objects ----------------------------------------------------------------------------------

# Objects a queue may own (OwnerId points at a User or a queue, a Group of type Queue).
QUEUE_OWNED = ("User", "Group")

USER = _object("User", "User", "Users", "005", [
    _string("Username", "Username", 80, nillable=False, unique=True, id_lookup=True),
    _string("Email", "Email", 128, type="email", nillable=False),
    _string("FirstName", "First Name", 40),
    _string("LastName", "Last Name", 80, nillable=False),
    _string("Name", "Full Name", 121, calculated=True, createable=False, updateable=False, name_field=True,
            formula="FirstName & ' ' & LastName"),
    _bool("IsActive", "Active"),
    _string("Title", "Title", 80),
], owner=False, writable=False)

ACCOUNT = _object("Account", "Account", "Accounts", "001", [
    _ref("MasterRecordId", "Master Record ID", "Account", "MasterRecord", createable=False, updateable=False),
    _string("Name", "Account Name", 255, nillable=False, name_field=True),
    _pick("Type", "Account Type", ACCOUNT_TYPES),
    _pick("Industry", "Industry", INDUSTRIES),
    _string("Website", "Website", 255, type="url"),
    _string("Phone", "Account Phone", 40, type="phone"),
    _number("AnnualRevenue", "Annual Revenue", "currency", 18, 0),
    _number("NumberOfEmployees", "Employees", "int", 8, 0),
    _string("BillingStreet", "Billing Street", 255, type="textarea", compound="BillingAddress"),
    _string("BillingCity", "Billing City", 40, compound="BillingAddress"),
    _string("BillingState", "Billing State/Province", 80, compound="BillingAddress"),
    _string("BillingPostalCode", "Billing Zip/Postal Code", 20, compound="BillingAddress"),
    _string("BillingCountry", "Billing Country", 80, compound="BillingAddress"),
    _address("Billing", "Billing Address", _BILLING),
    _string("External_Id__c", "External Id", 40, external_id=True, unique=True, id_lookup=True),
])

CONTACT = _object("Contact", "Contact", "Contacts", "003", [
    _ref("MasterRecordId", "Master Record ID", "Contact", "MasterRecord", createable=False, updateable=False),
    _ref("AccountId", "Account ID", "Account", "Account"),
    _string("FirstName", "First Name", 40),
    _string("LastName", "Last Name", 80, nillable=False),
    _string("Name", "Full Name", 121, calculated=True, createable=False, updateable=False, name_field=True,
            formula="FirstName & ' ' & LastName"),
    _string("Email", "Email", 80, type="email", id_lookup=True),
    _string("Phone", "Business Phone", 40, type="phone"),
    _string("Title", "Title", 128),
    _string("MailingCity", "Mailing City", 40, compound="MailingAddress"),
    _string("MailingCountry", "Mailing Country", 80, compound="MailingAddress"),
    _address("Mailing", "Mailing Address", _MAILING),
    _pick("LeadSource", "Lead Source", LEAD_SOURCES),
    _bool("HasOptedOutOfEmail", "Email Opt Out"),
    _pick("Status__c", "Status", CODED_STATUS, restricted=True),
    _number("Lead_Score__c", "Lead Score", "double", 18, 0),
    _datetime("Last_Visit__c", "Last Visit"),
    *_marketing_fields("Contact"),
])

LEAD = _object("Lead", "Lead", "Leads", "00Q", [
    _ref("MasterRecordId", "Master Record ID", "Lead", "MasterRecord", createable=False, updateable=False),
    _string("FirstName", "First Name", 40),
    _string("LastName", "Last Name", 80, nillable=False),
    _string("Name", "Full Name", 121, calculated=True, createable=False, updateable=False, name_field=True,
            formula="FirstName & ' ' & LastName"),
    _string("Company", "Company", 255, nillable=False),
    _string("Email", "Email", 80, type="email", id_lookup=True),
    _string("Phone", "Phone", 40, type="phone"),
    _string("Title", "Title", 128),
    _pick("Status", "Status", LEAD_STATUSES, nillable=False, defaulted=True),
    _pick("Status__c", "Marketing Status", CODED_STATUS, restricted=True),
    _pick("LeadSource", "Lead Source", LEAD_SOURCES),
    _pick("Industry", "Industry", INDUSTRIES),
    _bool("HasOptedOutOfEmail", "Email Opt Out"),
    _number("Lead_Score__c", "Lead Score", "double", 18, 0),
    _datetime("Last_Visit__c", "Last Visit"),
    _bool("IsConverted", "Converted", createable=False, updateable=False),
    _ref("ConvertedContactId", "Converted Contact ID", "Contact", "ConvertedContact",
         createable=False, updateable=False),
    _ref("ConvertedAccountId", "Converted Account ID", "Account", "ConvertedAccount",
         createable=False, updateable=False),
    _date("ConvertedDate", "Converted Date", createable=False, updateable=False),
    *_marketing_fields("Lead"),
], owner_to=QUEUE_OWNED)

OPPORTUNITY = _object("Opportunity", "Opportunity", "Opportunities", "006", [
    _string("Name", "Name", 120, nillable=False, name_field=True),
    _ref("AccountId", "Account ID", "Account", "Account"),
    _pick("StageName", "Stage", OPPORTUNITY_STAGES, nillable=False),
    _number("Amount", "Amount", "currency", 16, 2),
    _date("CloseDate", "Close Date", nillable=False),
    _number("Probability", "Probability (%)", "percent", 3, 0, defaulted=True),
    _pick("Type", "Opportunity Type", OPPORTUNITY_TYPES),
    _pick("LeadSource", "Lead Source", LEAD_SOURCES),
    _bool("IsClosed", "Closed", createable=False, updateable=False),
    _bool("IsWon", "Won", createable=False, updateable=False),
    _ref("CampaignId", "Campaign ID", "Campaign", "Campaign"),
])

CAMPAIGN = _object("Campaign", "Campaign", "Campaigns", "701", [
    _string("Name", "Name", 80, nillable=False, name_field=True),
    _pick("Type", "Type", CAMPAIGN_TYPES),
    _pick("Status", "Status", CAMPAIGN_STATUSES),
    _date("StartDate", "Start Date"),
    _date("EndDate", "End Date"),
    _bool("IsActive", "Active"),
    _number("BudgetedCost", "Budgeted Cost in Campaign", "currency", 18, 0),
    _number("ActualCost", "Actual Cost in Campaign", "currency", 18, 0),
    _ref("ParentId", "Parent Campaign ID", "Campaign", "Parent"),
    _string("Marketing_Channel__c", "Marketing Channel", 80),
    _number("Emails_Sent__c", "Emails Sent", "double", 18, 0),
])

CAMPAIGN_MEMBER = _object("CampaignMember", "Campaign Member", "Campaign Members", "00v", [
    _ref("CampaignId", "Campaign ID", "Campaign", "Campaign", nillable=False, updateable=False),
    _ref("LeadId", "Lead ID", "Lead", "Lead", updateable=False),
    _ref("ContactId", "Contact ID", "Contact", "Contact", updateable=False),
    _pick("Status", "Status", MEMBER_STATUSES, defaulted=True),
    _bool("HasResponded", "Responded", createable=False, updateable=False),
], owner=False)

WHO = ("Contact", "Lead")
WHAT = ("Account", "Opportunity", "Campaign")


def _polymorphic(name: str, label: str, targets: tuple[str, ...], relationship: str) -> FieldDef:
    return FieldDef(name, "reference", label, length=18, reference_to=targets, relationship_name=relationship)


TASK = _object("Task", "Task", "Tasks", "00T", [
    _polymorphic("WhoId", "Name ID", WHO, "Who"),
    _polymorphic("WhatId", "Related To ID", WHAT, "What"),
    _string("Subject", "Subject", 255, type="combobox"),
    _date("ActivityDate", "Due Date Only"),
    _pick("Status", "Status", TASK_STATUSES, nillable=False, defaulted=True),
    _pick("Priority", "Priority", PRIORITIES, nillable=False, defaulted=True),
    _pick("Type", "Type", TASK_TYPES),
    _pick("TaskSubtype", "Task Subtype", TASK_SUBTYPES, defaulted=True),
    _string("Description", "Description", 32000, type="textarea"),
    _bool("IsClosed", "Closed", createable=False, updateable=False),
    _number("CallDurationInSeconds", "Call Duration", "int", 8, 0),
    # The marketing activity a Task was written from (the write-back upserts by it).
    _string("Marketing_Activity_Id__c", "Marketing Activity Id", 80, external_id=True, unique=True, id_lookup=True),
])

EVENT = _object("Event", "Event", "Events", "00U", [
    _polymorphic("WhoId", "Name ID", WHO, "Who"),
    _polymorphic("WhatId", "Related To ID", WHAT, "What"),
    _string("Subject", "Subject", 255, type="combobox"),
    _datetime("StartDateTime", "Start Date Time", nillable=False),
    _datetime("EndDateTime", "End Date Time", nillable=False),
    _number("DurationInMinutes", "Duration", "int", 8, 0, createable=False, updateable=False),
    _date("ActivityDate", "Due Date Only", createable=False, updateable=False),
    _bool("IsAllDayEvent", "All-Day Event"),
    _string("Location", "Location", 255),
    _pick("Type", "Type", EVENT_TYPES),
    _string("Description", "Description", 32000, type="textarea"),
])

ORGANIZATION = _object("Organization", "Organization", "Organizations", "00D", [
    _string("Name", "Name", 80, nillable=False, name_field=True),
    _string("Division", "Division", 80),
    _bool("IsSandbox", "Is Sandbox", createable=False, updateable=False),
    _string("InstanceName", "Instance Name", 5, createable=False, updateable=False),
    _pick("OrganizationType", "Edition", ORGANIZATION_TYPES, createable=False, updateable=False),
    _string("NamespacePrefix", "Namespace Prefix", 15, createable=False, updateable=False),
    _string("Country", "Country", 80),
    _string("DefaultLocaleSidKey", "Locale", 40),
    _string("LanguageLocaleKey", "Language", 40),
    _string("TimeZoneSidKey", "Time Zone", 40),
], owner=False, writable=False)

SUBSCRIPTION = _object("Subscription__c", "Subscription", "Subscriptions", "a01", [
    _string("Name", "Subscription Number", 80, nillable=False, createable=False, updateable=False,
            auto_number=True, defaulted=True, name_field=True),
    _ref("Contact__c", "Contact", "Contact", "Contact__r"),
    _pick("Plan__c", "Plan", PLANS, restricted=True),
    _pick("Status__c", "Status", SUBSCRIPTION_STATUSES, restricted=True),
    _date("Start_Date__c", "Start Date"),
    _number("Amount__c", "Amount", "currency", 16, 2),
], custom=True)

# A custom activity object, for a marketing-activity write-back that targets one instead of
# Task (include/activity.yaml: `object: Marketing_Activity__c`). Seeded empty.
MARKETING_ACTIVITY = _object("Marketing_Activity__c", "Marketing Activity", "Marketing Activities", "a02", [
    _string("Name", "Activity", 80, name_field=True),
    _string("Activity_Key__c", "Activity Key", 120, external_id=True, unique=True, id_lookup=True),
    _ref("Contact__c", "Contact", "Contact", "Contact__r"),
    _ref("Lead__c", "Lead", "Lead", "Lead__r"),
    _datetime("Occurred_At__c", "Occurred At"),
    _string("Kind__c", "Kind", 40),
    _string("Details__c", "Details", 32000, type="textarea"),
], custom=True)

# -- routing: queues, queue objects, assignment rules, and the Cases they route (emulator/assignment.py) --

GROUP_TYPES = _p("Regular", "Queue", "Role", "Organization")
CASE_STATUSES = _p("New", "Working", "Escalated", "Closed", default="New")
CASE_PRIORITIES = _p("High", "Medium", "Low", "Critical", inactive=("Critical",), default="Medium")
CASE_ORIGINS = _p("Phone", "Email", "Web")

GROUP = _object("Group", "Group", "Groups", "00G", [
    _string("Name", "Name", 40, nillable=False, name_field=True),
    _string("DeveloperName", "Developer Name", 80, nillable=False, unique=True),
    _pick("Type", "Type", GROUP_TYPES, nillable=False),
    _string("Email", "Email", 80, type="email"),
], owner=False, writable=False)

QUEUE_SOBJECT = _object("QueueSobject", "Queue Sobject", "Queue Sobjects", "03g", [
    _ref("QueueId", "Group ID", "Group", "Queue", nillable=False),
    _string("SobjectType", "Sobject Type", 40, nillable=False),
], owner=False, writable=False)

ASSIGNMENT_RULE = _object("AssignmentRule", "Assignment Rule", "Assignment Rules", "01Q", [
    _string("Name", "Name", 120, nillable=False, name_field=True),
    _string("SobjectType", "Sobject Type", 40, nillable=False),
    _bool("Active", "Active"),
], owner=False, writable=False)

CASE = _object("Case", "Case", "Cases", "500", [
    _ref("ContactId", "Contact ID", "Contact", "Contact"),
    _string("Subject", "Subject", 255),
    _pick("Status", "Status", CASE_STATUSES, nillable=False, defaulted=True),
    _pick("Priority", "Priority", CASE_PRIORITIES, defaulted=True),
    _pick("Origin", "Case Origin", CASE_ORIGINS),
], owner_to=QUEUE_OWNED)

OBJECTS: dict[str, ObjectDef] = {o.name: o for o in (
    ACCOUNT, ASSIGNMENT_RULE, CAMPAIGN, CAMPAIGN_MEMBER, CASE, CONTACT, EVENT, GROUP, LEAD, MARKETING_ACTIVITY,
    OPPORTUNITY, ORGANIZATION, QUEUE_SOBJECT, SUBSCRIPTION, TASK, USER)}
_BY_LOWER = {name.lower(): obj for name, obj in OBJECTS.items()}
_BY_PREFIX = {obj.key_prefix: obj for obj in OBJECTS.values()}


def add_custom_field(obj: ObjectDef, fdef: FieldDef) -> None:
    """Add a custom field to an object, before its system fields (the Tooling API's CustomField create)."""
    tail = len(obj.fields) - 5  # CreatedDate … SystemModstamp close every object
    obj.fields = obj.fields[:tail] + (fdef,) + obj.fields[tail:]
    obj.__post_init__()


def get_object(name: str) -> ObjectDef | None:
    """Look an sObject up by name, case-insensitively."""
    return _BY_LOWER.get(name.lower())


def object_for_id(record_id: str) -> ObjectDef | None:
    """The sObject whose key prefix starts ``record_id``."""
    return _BY_PREFIX.get(record_id[:3])


def global_describe(version: str) -> dict[str, Any]:
    """The ``GET /sobjects`` answer."""
    return {"encoding": "UTF-8", "maxBatchSize": 200,
            "sobjects": [OBJECTS[name].summary(version) for name in sorted(OBJECTS)]}
