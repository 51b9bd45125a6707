"""A mapping's `filter:`: a SOQL WHERE condition, read and checked strictly (pure).

Two kinds of term are allowed:

* plain conditions on the record's own fields: comparisons, IN lists, LIKE, null tests,
  AND/OR/NOT and parentheses; no sub-queries and no clause keywords;
* membership (list-based sync on a Salesforce campaign): the semi-join
  `Id IN (SELECT ContactId FROM CampaignMember WHERE <plain condition>)` or its anti-join
  `Id NOT IN (…)`. One level only, CampaignMember only, selecting its Contact or Lead
  reference; the inner condition names CampaignMember's own fields (no `Campaign.Name`: a
  change of the Campaign itself would not be noticed by the differential). A membership
  term is ANDed at the top of the filter, at most two of them, as Salesforce refuses a
  semi-join under OR or NOT.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: The objects whose rows make a record a member of a list, and the references they select.
MEMBERSHIP_OBJECTS = {"campaignmember": ("CampaignMember", ("ContactId", "LeadId"))}
MAX_MEMBERSHIP_TERMS = 2

_CLAUSE_WORDS = frozenset({"SELECT", "FROM", "WHERE", "LIMIT", "OFFSET", "ORDER", "GROUP", "HAVING"})
_TOKEN = re.compile(
    r"""\s*(?:
        '(?:[^'\\]|\\.)*'            # string literal
      | \d{4}-\d{2}-\d{2}(?:T[\d:.]+(?:Z|[+-]\d{2}:?\d{2}))?  # date / datetime literal
      | -?\d+(?:\.\d+)?             # number
      | !=|<>|<=|>=|=|<|>           # comparison
      | [(),]                       # grouping and lists
      | [A-Za-z_][A-Za-z0-9_.]*     # names and keywords
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    """One token of a filter and where it sits in the text."""

    text: str
    start: int
    end: int

    @property
    def word(self) -> str:
        """The token upper-cased (keywords are case-insensitive)."""
        return self.text.upper()


@dataclass(frozen=True)
class MembershipTerm:
    """`Id [NOT] IN (SELECT <field> FROM <object> [WHERE <condition>])` in a filter."""

    negated: bool
    object: str  # CampaignMember
    field: str  # ContactId or LeadId
    condition: str | None  # the sub-select's WHERE condition
    campaigns: str | None  # its top-level `CampaignId = …` / `CampaignId IN (…)` terms, if any


@dataclass(frozen=True)
class ParsedFilter:
    """A checked filter: its text and its membership terms (empty for a plain filter)."""

    text: str
    memberships: tuple[MembershipTerm, ...]


def _tokens(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            if not text[pos:].strip():
                break
            raise ValueError(f"filter {text!r}: cannot read it at position {pos}: {text[pos:pos + 20]!r}")
        token = match.group().strip()
        tokens.append(Token(token, match.end() - len(token), match.end()))
        pos = match.end()
    return tokens


def _closing(text: str, tokens: list[Token], opening: int) -> int:
    """Index of the `)` matching the `(` at `opening`."""
    depth = 0
    for index in range(opening, len(tokens)):
        depth += tokens[index].text == "("
        depth -= tokens[index].text == ")"
        if depth == 0:
            return index
    raise ValueError(f"filter {text!r}: unbalanced parentheses")


def _check_balanced(text: str, tokens: list[Token]) -> None:
    depth = 0
    for token in tokens:
        depth += token.text == "("
        depth -= token.text == ")"
        if depth < 0:
            raise ValueError(f"filter {text!r}: unbalanced parentheses")
    if depth:
        raise ValueError(f"filter {text!r}: unbalanced parentheses")


def _top_level_and(tokens: list[Token]) -> list[list[Token]] | None:
    """The tokens split at depth-0 ANDs; None when a depth-0 OR makes that meaningless."""
    parts: list[list[Token]] = [[]]
    depth = 0
    for token in tokens:
        depth += token.text == "("
        depth -= token.text == ")"
        if depth == 0 and token.word == "OR":
            return None
        if depth == 0 and token.word == "AND":
            parts.append([])
        else:
            parts[-1].append(token)
    return parts


def _campaigns(text: str, inner: list[Token]) -> str | None:
    """The inner condition's top-level CampaignId terms (a CampaignMember's CampaignId never changes)."""
    parts = _top_level_and(inner) or []
    picked = [text[p[0].start:p[-1].end] for p in parts
              if len(p) >= 3 and p[0].word == "CAMPAIGNID" and p[1].word in ("=", "IN")]
    return " AND ".join(picked) or None


def _membership(text: str, tokens: list[Token], select: int) -> tuple[MembershipTerm, int, int]:
    """The membership term whose SELECT is at `select`; returns it and its first and last token index."""
    shape = ("a sub-query is only allowed as Id IN (SELECT ContactId|LeadId FROM CampaignMember WHERE …)"
             " or Id NOT IN (…)")
    negated = select >= 4 and tokens[select - 3].word == "NOT"
    first = select - (4 if negated else 3)
    if (first < 0 or tokens[select - 1].text != "(" or tokens[select - 2].word != "IN"
            or tokens[first].word != "ID"):
        raise ValueError(f"filter {text!r}: {shape}")
    last = _closing(text, tokens, select - 1)
    body = tokens[select + 1:last]
    if len(body) < 3 or body[1].word != "FROM" or (len(body) > 3 and body[3].word != "WHERE") or len(body) == 4:
        raise ValueError(f"filter {text!r}: {shape}")
    field, obj, inner = body[0].text, body[2].text, body[4:]
    known = MEMBERSHIP_OBJECTS.get(obj.lower())
    if known is None:
        raise ValueError(f"filter {text!r}: membership is read from CampaignMember, not {obj}")
    obj, references = known
    reference = next((r for r in references if r.lower() == field.lower()), None)
    if reference is None:
        raise ValueError(f"filter {text!r}: the sub-query must select {' or '.join(references)}, not {field}")
    for token in inner:
        if token.word == "SELECT":
            raise ValueError(f"filter {text!r}: one level of sub-query only")
        if token.word in _CLAUSE_WORDS:
            raise ValueError(f"filter {text!r}: only a WHERE condition is allowed in the sub-query")
        if "." in token.text and (token.text[0].isalpha() or token.text[0] == "_"):
            raise ValueError(f"filter {text!r}: the sub-query's condition names CampaignMember's own fields"
                             f" ({token.text}: name the campaign by CampaignId)")
    condition = text[inner[0].start:inner[-1].end] if inner else None
    return (MembershipTerm(negated, obj, reference, condition, _campaigns(text, inner) if inner else None),
            first, last)


def parse_filter(condition: str) -> ParsedFilter:
    """Read and check a list-based-sync filter.

    Raises:
        ValueError: naming what is wrong with the condition.
    """
    text = condition.strip()
    if not text:
        raise ValueError("filter is empty")
    if ";" in text:
        raise ValueError(f"filter {text!r}: only a WHERE condition is allowed")
    tokens = _tokens(text)
    _check_balanced(text, tokens)
    terms: list[MembershipTerm] = []
    outer: list[Token] = []  # the filter with each membership term as one `?` token
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.word == "SELECT":
            term, first, last = _membership(text, tokens, index)
            del outer[len(outer) - (index - first):]
            terms.append(term)
            outer.append(Token("?", tokens[first].start, tokens[last].end))
            index = last + 1
            continue
        if token.word in _CLAUSE_WORDS:
            raise ValueError(f"filter {text!r}: only a WHERE condition is allowed")
        outer.append(token)
        index += 1
    if terms:
        _check_membership_placement(text, outer, len(terms))
    return ParsedFilter(text, tuple(terms))


def _check_membership_placement(text: str, outer: list[Token], count: int) -> None:
    if count > MAX_MEMBERSHIP_TERMS:
        raise ValueError(f"filter {text!r}: at most {MAX_MEMBERSHIP_TERMS} membership sub-queries")
    parts = _top_level_and(outer)
    if parts is None or any(len(p) != 1 for p in parts if any(t.text == "?" for t in p)):
        raise ValueError(f"filter {text!r}: a membership sub-query must be ANDed with the rest of the filter, "
                         "outside parentheses, OR and NOT (Salesforce refuses a semi-join under OR or NOT); "
                         "put an OR of other fields in parentheses")
