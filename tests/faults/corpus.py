"""A corpus of bad and hostile Salesforce records, each with the end it must come to.

Every case is planted verbatim (``AdminClient.plant``: no coercion, no validation, any Id
shape) into an org of its own and synced through the REST and the Bulk path. A case ends:

- ``load``: the record's row is active with the given column values;
- ``quarantine``: an open quarantine row for the record whose reasons name ``field``;
- ``skip``: a skip logged for the record whose reason starts with ``reason``;
- ``one_of``: of the cases sharing ``group``, exactly one loads and the others are skipped
  with ``reason`` (which one keeps the key is the sync's rule, not the corpus's).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def id18(id15: str) -> str:
    """A 15-character Id with its correct case-safe suffix."""
    suffix = ""
    for chunk in (id15[0:5], id15[5:10], id15[10:15]):
        suffix += _SUFFIX[sum(1 << i for i, ch in enumerate(chunk) if "A" <= ch <= "Z")]
    return id15 + suffix


def bad_checksum(id15: str) -> str:
    """An 18-character Id whose suffix is wrong."""
    good = id18(id15)
    wrong = "".join("B" if ch == "A" else "A" for ch in good[15:])
    return id15 + wrong


@dataclass(frozen=True)
class Case:
    """One planted record and the end it must come to."""

    name: str
    object: str
    fields: dict[str, Any]
    end: str  # load | quarantine | skip | one_of
    values: dict[str, Any] = field(default_factory=dict)  # load: column -> value
    field: str = ""  # quarantine: the column its reason names
    reason: str = ""  # skip / one_of: the skip reason's prefix
    group: str = ""  # one_of: cases competing for one key


def _contact(name: str, end: str, fields: dict[str, Any] | None = None, **kw: Any) -> Case:
    base: dict[str, Any] = {"LastName": f"Corpus {name}", "Email": f"corpus.{name.replace('_', '.')}@example.com"}
    base.update(fields or {})
    return Case(name, "Contact", base, end, **kw)


def _title(name: str, title: str, expected: str | None = None) -> Case:
    return _contact(name, "load", {"Title": title}, values={"title": title if expected is None else expected})


def _account(name: str, end: str, fields: dict[str, Any], **kw: Any) -> Case:
    return Case(name, "Account", {"Name": f"Corpus {name}", **fields}, end, **kw)


def _opportunity(name: str, end: str, fields: dict[str, Any], **kw: Any) -> Case:
    return Case(name, "Opportunity", {"Name": f"Corpus {name}", "StageName": "Prospecting",
                                      "CloseDate": "2025-06-30", **fields}, end, **kw)


def _campaign(name: str, end: str, fields: dict[str, Any], **kw: Any) -> Case:
    return Case(name, "Campaign", {"Name": f"Corpus {name}", **fields}, end, **kw)


def _lead(name: str, end: str, fields: dict[str, Any], **kw: Any) -> Case:
    return Case(name, "Lead", {"LastName": f"Corpus {name}", "Company": "Corpus Ltd", **fields}, end, **kw)


CASES: list[Case] = [
    # --- emails -----------------------------------------------------------------------
    _contact("email_missing", "skip", {"Email": None}, reason="missing_match_key:Email"),
    _contact("email_blank", "skip", {"Email": " \t "}, reason="missing_match_key:Email"),
    _contact("email_no_at", "quarantine", {"Email": "jane.doe.example.com"}, field="email"),
    _contact("email_double_at", "quarantine", {"Email": "a@@corpus.example.com"}, field="email"),
    _contact("email_space_inside", "quarantine", {"Email": "jane doe@corpus.example.com"}, field="email"),
    _contact("email_no_tld", "quarantine", {"Email": "corpus@gmail"}, field="email"),
    _contact("email_unicode_local", "quarantine", {"Email": "zoë@corpus.example.com"}, field="email"),
    _contact("email_too_long", "quarantine", {"Email": "x" * 250 + "@corpus.example.com"}, field="email"),
    _contact("email_with_nul", "load", {"Email": "nul\x00byte@corpus.example.com"},
             values={"email": "nulbyte@corpus.example.com"}),
    _contact("email_mixed_case_padded", "load", {"Email": "  MiXeD.Case@Corpus.Example.COM\u00a0"},
             values={"email": "mixed.case@corpus.example.com"}),
    # --- unicode ----------------------------------------------------------------------
    _contact("combining_marks", "load", {"FirstName": "Zoe\u0308 Ame\u0301lie"},
             values={"first_name": "Zoe\u0308 Ame\u0301lie"}),
    _contact("right_to_left", "load", {"LastName": "שלום مرحبا"}, values={"last_name": "שלום مرحبا"}),
    _title("emoji", "Chief 🙂 Officer 👩‍💻"),
    _title("astral_plane", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𐍈 title"),
    _title("byte_order_mark", "\ufeffBOM title"),
    _contact("non_breaking_spaces", "load", {"FirstName": "\u00a0Pat\u00a0"}, values={"first_name": "Pat"}),
    _contact("cjk_name", "load", {"LastName": "山田 太郎"}, values={"last_name": "山田 太郎"}),
    # --- NUL bytes (removed at staging, docs/decisions.md) and control characters -----
    _title("nul_in_title", "before\x00after", "beforeafter"),
    _contact("nul_in_last_name", "load", {"LastName": "Nul\x00Name"}, values={"last_name": "NulName"}),
    _title("control_characters", "bell\x07 unit\x1f sep"),
    _title("delete_character", "del\x7fete"),
    _title("inner_form_feed", "page\fbreak\vhere"),
    # --- CSV- and COPY-hostile text ---------------------------------------------------
    _title("double_quotes", 'He said "hi", then ""bye""'),
    _title("commas", "a,b,,c,"),
    _title("crlf_inside", "line one\r\nline two"),
    _title("lone_cr", "carriage\rreturn"),
    _title("backslashes", "C:\\path\\to\\file"),
    _title("copy_null_marker", "\\N"),
    _title("copy_end_marker", "\\."),
    _title("trailing_backslash", "ends with \\"),
    _title("tabs_inside", "col1\tcol2\tcol3"),
    _contact("padded_city_with_newlines", "load", {"MailingCity": "\n\t Paris \r\n"}, values={"city": "Paris"}),
    # --- SQL- and HTML-looking text ---------------------------------------------------
    _contact("sql_injection", "load", {"LastName": "Robert'); DROP TABLE people;--"},
             values={"last_name": "Robert'); DROP TABLE people;--"}),
    _title("sql_comment_quote", "x' OR '1'='1' /* */"),
    _title("html_script", "<script>alert('x')</script>"),
    _title("html_entities", "&amp; &lt;b&gt; &#0;"),
    _title("format_strings", "%s %(email)s {0} {email} $1"),
    # --- over-long values -------------------------------------------------------------
    _contact("title_over_max", "quarantine", {"Title": "T" * 101}, field="title"),
    _title("title_at_max", "T" * 100),
    _title("title_at_max_astral", "😀" * 100),
    _contact("first_name_over_max", "quarantine", {"FirstName": "F" * 41}, field="first_name"),
    _contact("long_unbounded_city", "load", {"MailingCity": "C" * 5000}, values={"city": "C" * 5000}),
    # --- numbers at the edges of each type --------------------------------------------
    _contact("double_minus_1e15", "load", {"Lead_Score__c": -1e15}, values={"last_name": "Corpus double_minus_1e15"}),
    _contact("double_1e16", "load", {"Lead_Score__c": 1e16}, values={"last_name": "Corpus double_1e16"}),
    _contact("double_tiny", "load", {"Lead_Score__c": 1e-7}, values={"last_name": "Corpus double_tiny"}),
    _account("currency_1e15", "load", {"AnnualRevenue": 1e15}, values={"annual_revenue": Decimal("1E+15")}),
    _account("currency_minus_1e15", "load", {"AnnualRevenue": -1e15}, values={"annual_revenue": Decimal("-1E+15")}),
    _account("currency_1e16", "load", {"AnnualRevenue": 1e16}, values={"annual_revenue": Decimal("1E+16")}),
    _account("currency_1e308", "load", {"AnnualRevenue": 1e308}, values={"annual_revenue": Decimal("1E+308")}),
    _account("currency_tiny", "load", {"AnnualRevenue": 5e-324}, values={"annual_revenue": Decimal("5E-324")}),
    _account("currency_minus_zero", "load", {"AnnualRevenue": -0.0}, values={"annual_revenue": Decimal(0)}),
    _account("int_max", "load", {"NumberOfEmployees": 2147483647}, values={"employees": 2147483647}),
    _account("int_min", "load", {"NumberOfEmployees": -2147483648}, values={"employees": -2147483648}),
    _account("int_over_max", "quarantine", {"NumberOfEmployees": 2147483648}, field="employees"),
    _account("int_fraction", "quarantine", {"NumberOfEmployees": 1.5}, field="employees"),
    _opportunity("currency_cents", "load", {"Amount": 12345678901234.56},
                 values={"amount": Decimal("12345678901234.56")}),
    _opportunity("percent_fraction", "load", {"Probability": 12.5}, values={"probability": Decimal("12.5")}),
    _opportunity("percent_full", "load", {"Probability": 100}, values={"probability": Decimal(100)}),
    _campaign("currency_scale", "load", {"BudgetedCost": 0.1, "ActualCost": 99213206.0},
              values={"budgeted_cost": Decimal("0.1"), "actual_cost": Decimal("99213206")}),
    # --- dates ------------------------------------------------------------------------
    _opportunity("date_year_1", "load", {"CloseDate": "0001-01-01"}, values={"close_date": dt.date(1, 1, 1)}),
    _opportunity("date_year_9999", "load", {"CloseDate": "9999-12-31"}, values={"close_date": dt.date(9999, 12, 31)}),
    _opportunity("date_leap_day", "load", {"CloseDate": "2024-02-29"}, values={"close_date": dt.date(2024, 2, 29)}),
    _opportunity("date_impossible", "quarantine", {"CloseDate": "2023-02-30"}, field="close_date"),
    _opportunity("date_not_leap", "quarantine", {"CloseDate": "2023-02-29"}, field="close_date"),
    _campaign("date_month_13", "quarantine", {"StartDate": "2023-13-01"}, field="start_date"),
    _contact("datetime_impossible", "quarantine", {"Last_Visit__c": "2023-02-30T10:00:00.000Z"},
             field="last_visit_at"),
    _contact("datetime_year_9999", "load", {"Last_Visit__c": "9999-12-31T23:59:59.999Z"},
             values={"last_name": "Corpus datetime_year_9999"}),
    # --- picklists --------------------------------------------------------------------
    _contact("status_unknown_code", "quarantine", {"Status__c": "9"}, field="status"),
    _contact("status_inactive_code", "load", {"Status__c": "5"}, values={"status": "Customer"}),
    _contact("lead_source_unknown", "load", {"LeadSource": "Carrier pigeon"}, values={"lead_source": "Carrier pigeon"}),
    _lead("lead_status_unknown", "quarantine", {"Email": "corpus.lead.status@example.com", "Status": "Nurturing"},
          field="lead_stage"),
    # --- Ids of wrong length or checksum, in Id and in reference fields ----------------
    _contact("id_15_characters", "quarantine", {"Id": "003Zc0rpus00001"}, field="Id:"),
    _contact("id_17_characters", "quarantine", {"Id": "003Zc0rpus00002AA"}, field="Id:"),
    _contact("id_bad_checksum", "quarantine", {"Id": bad_checksum("003Zc0rpus00003")}, field="Id:"),
    _lead("lead_id_15_characters", "quarantine", {"Id": "00QZc0rpus00001", "Email": "corpus.lead.id15@example.com"},
          field="Id:"),
    _campaign("campaign_id_bad_checksum", "quarantine", {"Id": bad_checksum("701Zc0rpus00001")}, field="Id:"),
    _contact("reference_15_characters", "quarantine", {"AccountId": "001Zc0rpus00001"}, field="account_sf_id"),
    _contact("reference_bad_checksum", "quarantine", {"OwnerId": bad_checksum("005Zc0rpus00001")},
             field="owner_sf_id"),
    _opportunity("reference_not_an_id", "quarantine", {"AccountId": "not-an-id"}, field="account_sf_id"),
    # --- required values --------------------------------------------------------------
    _account("name_missing", "quarantine", {"Name": None}, field="name"),
    _account("name_only_blanks", "quarantine", {"Name": " \u00a0\t"}, field="name"),
    _opportunity("stage_missing", "quarantine", {"StageName": None}, field="stage"),
    # --- match-key collisions ---------------------------------------------------------
    _account("external_id_plain", "one_of", {"External_Id__c": "EXT-CORPUS-1"}, reason="duplicate_match_key",
             group="ext1"),
    _account("external_id_trailing_space", "one_of", {"External_Id__c": "EXT-CORPUS-1 "},
             reason="duplicate_match_key", group="ext1"),
    # (Salesforce's external ids are unique case-insensitively, so a case-only twin cannot
    # exist in an org; blanks the sync trims can.)
    _account("external_id_bare", "one_of", {"External_Id__c": "EXT-CORPUS-2"}, reason="duplicate_match_key",
             group="ext2"),
    _account("external_id_nbsp_and_tab", "one_of", {"External_Id__c": "\u00a0EXT-CORPUS-2\t"},
             reason="duplicate_match_key", group="ext2"),
    _account("external_id_padded_alone", "load", {"External_Id__c": "  EXT-CORPUS-3\t"},
             values={"external_id": "EXT-CORPUS-3"}),
    # --- duplicate emails within and across objects -----------------------------------
    _contact("dup_contact_a", "one_of", {"Email": "corpus.dup1@example.com"}, reason="duplicate_email", group="dup1"),
    _contact("dup_contact_b", "one_of", {"Email": "corpus.dup1@example.com"}, reason="duplicate_email", group="dup1"),
    _contact("dup_contact_case_a", "one_of", {"Email": "corpus.dup2@example.com"}, reason="duplicate_email",
             group="dup2"),
    _contact("dup_contact_case_b", "one_of", {"Email": " Corpus.DUP2@example.com"}, reason="duplicate_email",
             group="dup2"),
    _lead("dup_lead_a", "one_of", {"Email": "corpus.dup3@example.com"}, reason="duplicate_email", group="dup3"),
    _lead("dup_lead_b", "one_of", {"Email": "CORPUS.dup3@example.com"}, reason="duplicate_email", group="dup3"),
    _contact("shared_with_lead_contact", "load", {"Email": "corpus.shared@example.com", "FirstName": "Contact"},
             values={"first_name": "Contact", "email": "corpus.shared@example.com"}),
    _lead("shared_with_lead_lead", "load", {"Email": "Corpus.Shared@example.com", "FirstName": "Lead"},
          values={"first_name": "Contact", "company": "Corpus Ltd"}),
    # --- other types ------------------------------------------------------------------
    _contact("opted_out", "load", {"HasOptedOutOfEmail": True}, values={"unsubscribed": True}),
    _contact("phone_with_letters", "load", {"Phone": "+1 (555) CALL-NOW ☎"}, values={"phone": "+1 (555) CALL-NOW ☎"}),
    _opportunity("booleans_false", "load", {"IsClosed": False, "IsWon": False},
                 values={"is_closed": False, "is_won": False}),
]

assert len({c.name for c in CASES}) == len(CASES), "case names must be unique"
