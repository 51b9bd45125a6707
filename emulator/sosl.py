"""SOSL ``FIND {terms} [IN ALL|NAME|EMAIL|PHONE FIELDS] RETURNING Obj[(fields [WHERE …] [ORDER BY …] [LIMIT n])], … [LIMIT n]``.

Terms are words (all must match, like Salesforce's implicit AND) or a ``"quoted phrase"``; ``*``
and ``?`` are wildcards. A word matches a whole token of a field value (values are split on
anything that is not a letter or digit) or, when it contains ``@`` or ``.``, the whole value,
case-insensitively. The field list, WHERE, ORDER BY and LIMIT of each RETURNING object are
SOQL and go through the SOQL compiler. Without a field list only ``Id`` is returned.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Any

from emulator.schema import TEXT_TYPES, ObjectDef, get_object
from emulator.soql import SoqlError, parse
from emulator.soql_compile import compile_query
from emulator.store import quote_ident

MAX_RESULTS = 2000
_FIND = re.compile(r"^\s*FIND\s*\{(?P<term>(?:[^}\\]|\\.)*)\}\s*(?P<rest>.*)$", re.IGNORECASE | re.DOTALL)
_SCOPE = re.compile(r"^IN\s+(ALL|NAME|EMAIL|PHONE)\s+FIELDS\s*", re.IGNORECASE)
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
NAME_FIELDS = {"Contact": ("FirstName", "LastName", "Name"), "Lead": ("FirstName", "LastName", "Name", "Company"),
               "User": ("FirstName", "LastName", "Name", "Username"), "Task": ("Subject",), "Event": ("Subject",)}


class SoslError(Exception):
    """A search Salesforce refuses (``MALFORMED_SEARCH`` and the like)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Returning:
    """One ``RETURNING`` entry: the object and the SOQL-ish tail inside its parentheses."""

    obj: ObjectDef
    fields: list[str]
    tail: str


@dataclass
class Search:
    """A parsed SOSL statement."""

    words: list[str]
    phrase: bool
    scope: str
    returning: list[Returning]
    limit: int


def _split_returning(text: str) -> list[tuple[str, str | None]]:
    """``A (x, y WHERE z), B`` -> [("A", "x, y WHERE z"), ("B", None)]."""
    out: list[tuple[str, str | None]] = []
    i = 0
    while i < len(text):
        match = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*", text[i:])
        if not match:
            raise SoslError("MALFORMED_SEARCH", f"unexpected token in RETURNING: {text[i:i + 20]!r}")
        name = match.group(1)
        i += match.end()
        inner = None
        if i < len(text) and text[i] == "(":
            depth, start = 0, i
            quoted = False
            while i < len(text):
                ch = text[i]
                if ch == "'" and text[i - 1] != "\\":
                    quoted = not quoted
                elif not quoted and ch == "(":
                    depth += 1
                elif not quoted and ch == ")":
                    depth -= 1
                    if depth == 0:
                        break
                i += 1
            if depth:
                raise SoslError("MALFORMED_SEARCH", "unbalanced parentheses in RETURNING")
            inner = text[start + 1:i]
            i += 1
        out.append((name, inner))
        rest = text[i:].lstrip()
        if rest.startswith(","):
            i = len(text) - len(rest) + 1
        elif rest:
            raise SoslError("MALFORMED_SEARCH", f"unexpected token: {rest.split()[0]}")
        else:
            break
    return out


def parse_search(text: str) -> Search:
    """Parse a SOSL statement; raises :class:`SoslError`."""
    found = _FIND.match(text or "")
    if not found:
        raise SoslError("MALFORMED_SEARCH", "No search term found. The search term must be enclosed in braces.")
    term = found.group("term").strip()
    phrase = len(term) >= 2 and term.startswith('"') and term.endswith('"')
    words = [term.strip('"')] if phrase else [w for w in term.split() if w.upper() not in ("AND",)]
    if not words or all(len(w.replace("*", "").replace("?", "")) < 2 for w in words):
        raise SoslError("INVALID_SEARCH", "search term must be longer than one character")
    rest = found.group("rest").strip()
    scope = "ALL"
    scoped = _SCOPE.match(rest)
    if scoped:
        scope = scoped.group(1).upper()
        rest = rest[scoped.end():]
    limit = MAX_RESULTS
    overall = re.search(r"\bLIMIT\s+(\d+)\s*$", rest, re.IGNORECASE)
    if overall and not rest[:overall.start()].rstrip().endswith("("):
        head = rest[:overall.start()]
        if head.count("(") == head.count(")"):
            limit = min(int(overall.group(1)), MAX_RESULTS)
            rest = head.strip()
    returning: list[Returning] = []
    if rest:
        match = re.match(r"^RETURNING\s+(.*)$", rest, re.IGNORECASE | re.DOTALL)
        if not match:
            raise SoslError("MALFORMED_SEARCH", f"unexpected token: {rest.split()[0]}")
        for name, inner in _split_returning(match.group(1)):
            obj = get_object(name)
            if obj is None:
                raise SoslError("INVALID_TYPE", f"sObject type '{name}' is not supported.")
            fields, tail = ["Id"], ""
            if inner is not None:
                clause = re.search(r"\b(WHERE|ORDER\s+BY|LIMIT|OFFSET)\b", inner, re.IGNORECASE)
                field_text = inner[:clause.start()] if clause else inner
                tail = inner[clause.start():] if clause else ""
                fields = [f.strip() for f in field_text.split(",") if f.strip()]
            returning.append(Returning(obj, fields, tail))
    else:
        returning = [Returning(get_object(n), ["Id"], "") for n in ("Account", "Contact", "Lead")]  # type: ignore[misc]
    return Search(words, phrase, scope, returning, limit)


def _search_fields(obj: ObjectDef, scope: str) -> list[str]:
    if scope == "EMAIL":
        return [f.name for f in obj.stored_fields if f.type == "email"]
    if scope == "PHONE":
        return [f.name for f in obj.stored_fields if f.type == "phone"]
    if scope == "NAME":
        return list(NAME_FIELDS.get(obj.name, ("Name",) if obj.field("Name") else ()))
    return [f.name for f in obj.stored_fields if f.type in TEXT_TYPES and f.type != "picklist"]


def _word_matches(word: str, value: str) -> bool:
    pattern = word.lower()
    value = value.lower()
    if "@" in pattern or "." in pattern:
        return fnmatch.fnmatchcase(value, pattern) or pattern in value.split()
    return any(fnmatch.fnmatchcase(token, pattern) for token in _TOKEN.findall(value))


def _like(word: str) -> str:
    core = max(re.split(r"[*?]", word), key=len).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{core}%"


def matching_ids(conn: Any, obj: ObjectDef, search: Search, cap: int) -> list[str]:
    """Ids of live records of ``obj`` whose searched fields match every word (at most ``cap``)."""
    fields = _search_fields(obj, search.scope)
    if not fields:
        return []
    cols = ", ".join(quote_ident(f) for f in fields)
    anchor = max(search.words, key=len)
    prefilter = " OR ".join(f"{quote_ident(f)} LIKE ? ESCAPE '\\'" for f in fields)
    cur = conn.execute(f"SELECT Id, {cols} FROM {quote_ident(obj.name)} WHERE IsDeleted = 0 AND ({prefilter}) "
                       "ORDER BY rid", [_like(anchor)] * len(fields))
    out: list[str] = []
    for row in cur:
        values = [v for v in row[1:] if v]
        if search.phrase:
            ok = any(search.words[0].lower() in v.lower() for v in values)
        else:
            ok = all(any(_word_matches(w, v) for v in values) for w in search.words)
        if ok:
            out.append(row[0])
            if len(out) >= cap:
                break
    return out


def run_search(conn: Any, text: str, version: str) -> dict[str, Any]:
    """Execute a SOSL statement; returns ``{"searchRecords": [...]}`` in RETURNING order."""
    search = parse_search(text)
    records: list[dict[str, Any]] = []
    for entry in search.returning:
        remaining = search.limit - len(records)
        if remaining <= 0:
            break
        ids = matching_ids(conn, entry.obj, search, remaining)
        if not ids:
            continue
        id_list = ", ".join(f"'{i}'" for i in ids)
        tail = entry.tail.strip()
        where = f"Id IN ({id_list})"
        if tail.upper().startswith("WHERE"):
            clause = re.match(r"^WHERE\s+(.*?)(\s+(?:ORDER\s+BY|LIMIT|OFFSET)\b.*)?$", tail, re.IGNORECASE | re.DOTALL)
            assert clause is not None
            where = f"{where} AND ({clause.group(1)})"
            tail = (clause.group(2) or "").strip()
        soql = f"SELECT {', '.join(entry.fields)} FROM {entry.obj.name} WHERE {where} {tail}"
        try:
            compiled = compile_query(parse(soql))
        except SoqlError as exc:
            raise SoslError(exc.code, exc.detail) from None
        sql, params = compiled.select_sql("json", limit=min(remaining, compiled.limit or remaining))
        records.extend(compiled.json_record(row, version) for row in conn.execute(sql, params))
    return {"searchRecords": records}
