"""A recursive-descent parser for the SOQL subset the sync and its libraries use.

Grammar::

    SELECT item (, item)* FROM object [WHERE condition] [GROUP BY path (, path)*]
        [ORDER BY path [ASC|DESC] [NULLS FIRST|LAST] (, ...)*] [LIMIT n] [OFFSET n]
    item      := path | FIELDS(ALL|STANDARD|CUSTOM) | COUNT() | COUNT(path) [alias]
    condition := unary ((AND unary)* | (OR unary)*)      -- mixing AND/OR needs parentheses
    unary     := NOT unary | ( condition ) | path op value | path [NOT] IN (value, ...) | path LIKE 'pattern'
               | path [NOT] IN (SELECT path FROM object [WHERE condition])      -- semi-join / anti-join
    value     := 'string' | number | true | false | null | YYYY-MM-DD | datetime | TODAY | LAST_N_DAYS:n | ...

Keywords are case-insensitive. Errors carry Salesforce's MALFORMED_QUERY message layout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2}(?![\dT]))
  | (?P<number>[+-]?(?:\d+\.\d*|\.\d+|\d+)(?![\w.]))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<op><=|>=|!=|<>|=|<|>|\(|\)|,|:)
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
KEYWORDS = frozenset({"select", "from", "where", "and", "or", "not", "in", "like", "order", "by", "asc", "desc",
                      "nulls", "first", "last", "limit", "offset", "null", "true", "false", "group", "having",
                      "includes", "excludes", "with", "for", "using", "scope"})
DATE_LITERALS = frozenset({"today", "yesterday", "tomorrow", "this_month", "last_month", "next_month",
                           "this_year", "last_year", "this_week", "last_week"})
DATE_N_LITERALS = frozenset({"last_n_days", "next_n_days", "n_days_ago"})


class SoqlError(Exception):
    """A query the server refuses; ``code`` is the Salesforce errorCode."""

    def __init__(self, code: str, detail: str, query: str = "", pos: int | None = None) -> None:
        self.code = code
        self.detail = detail
        self.query = query
        self.pos = pos
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The message in Salesforce's layout (query echo, caret, row and column, detail)."""
        if self.pos is None or not self.query:
            return self.detail
        before = self.query[: self.pos]
        row = before.count("\n") + 1
        line_start = before.rfind("\n") + 1
        column = self.pos - line_start
        line = self.query.split("\n")[row - 1]
        return f"\n{line}\n{' ' * column}^\nERROR at Row:{row}:Column:{column + 1}\n{self.detail}"


@dataclass(frozen=True)
class Token:
    """A lexical token: ``kind`` is string/datetime/date/number/ident/op/eof."""

    kind: str
    text: str
    pos: int

    @property
    def lower(self) -> str:
        """Lower-cased text (keywords and names compare case-insensitively)."""
        return self.text.lower()


@dataclass(frozen=True)
class Literal:
    """A value in a condition. ``kind``: string, number, boolean, null, date, datetime, dateliteral."""

    kind: str
    value: Any
    raw: str
    pos: int


@dataclass
class FieldItem:
    """A selected field path such as ``Name`` or ``Account.Name``."""

    path: str
    pos: int


@dataclass
class FieldsItem:
    """``FIELDS(ALL)``, ``FIELDS(STANDARD)`` or ``FIELDS(CUSTOM)``."""

    kind: str
    pos: int


@dataclass
class CountItem:
    """``COUNT()`` (path None) or ``COUNT(path) [alias]``."""

    path: str | None
    alias: str | None
    pos: int


@dataclass
class Condition:
    """``path op value``; op is one of = != < <= > >= LIKE IN NOT IN."""

    path: str
    op: str
    value: Literal | list[Literal] | Query
    pos: int


@dataclass
class BoolOp:
    """AND / OR over two or more conditions."""

    op: str
    items: list[Any]


@dataclass
class NotOp:
    """NOT over one condition."""

    item: Any


@dataclass
class OrderItem:
    """One ORDER BY entry."""

    path: str
    descending: bool
    nulls_first: bool | None
    pos: int


@dataclass
class Query:
    """A parsed SOQL statement."""

    text: str
    object_name: str
    object_pos: int
    items: list[FieldItem | CountItem | FieldsItem]
    where: Any = None
    group_by: list[FieldItem] = field(default_factory=list)
    order_by: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None


def tokenize(text: str) -> list[Token]:
    """Split SOQL text into tokens, raising MALFORMED_QUERY on characters it does not know."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{text[pos]}'", text, pos)
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(Token(kind, match.group(), pos))
        pos = match.end()
    tokens.append(Token("eof", "<EOF>", len(text)))
    return tokens


def decode_string(raw: str, query: str = "", pos: int = 0) -> str:
    """Decode a quoted SOQL string literal (backslash escapes; ``\\%`` and ``\\_`` kept for LIKE)."""
    body = raw[1:-1]
    out = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
            elif nxt in "%_":
                out.append("\\" + nxt)
            else:
                raise SoqlError("MALFORMED_QUERY", f"Invalid string literal '{raw}'. Illegal character sequence "
                                f"'\\{nxt}' in string literal.", query, pos)
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def like_pattern(raw: str) -> str:
    """SQL LIKE pattern (escape character ``\\``) for a quoted SOQL LIKE literal."""
    body = raw[1:-1]
    out = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in "%_":
                out.append("\\" + nxt)
            elif nxt == "\\":
                out.append("\\\\")
            else:
                out.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    # -- token helpers ---------------------------------------------------------------------------

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    def error(self, tok: Token | None = None, detail: str | None = None) -> SoqlError:
        tok = tok or self.tok
        return SoqlError("MALFORMED_QUERY", detail or f"unexpected token: {tok.text}", self.text, tok.pos)

    def is_kw(self, *words: str) -> bool:
        return self.tok.kind == "ident" and self.tok.lower in words

    def expect_kw(self, word: str) -> Token:
        if not self.is_kw(word):
            raise self.error()
        return self.advance()

    def expect_op(self, op: str) -> Token:
        if self.tok.kind != "op" or self.tok.text != op:
            raise self.error()
        return self.advance()

    def expect_name(self) -> Token:
        tok = self.tok
        if tok.kind != "ident" or tok.lower in KEYWORDS:
            raise self.error()
        return self.advance()

    def expect_int(self) -> int:
        tok = self.tok
        if tok.kind != "number" or not tok.text.lstrip("+").isdigit():
            raise self.error()
        self.advance()
        return int(tok.text)

    # -- grammar ---------------------------------------------------------------------------------

    def parse(self, nested: bool = False) -> Query:
        self.expect_kw("select")
        items = [self.select_item()]
        while self.tok.kind == "op" and self.tok.text == ",":
            self.advance()
            items.append(self.select_item())
        self.expect_kw("from")
        # `Group` is an object as well as a keyword: right after FROM it names the object.
        obj_tok = self.advance() if self.tok.kind == "ident" and self.tok.lower == "group" else self.expect_name()
        if "." in obj_tok.text:
            raise self.error(obj_tok)
        query = Query(self.text, obj_tok.text, obj_tok.pos, items)
        if self.is_kw("using", "with", "scope"):
            raise self.error()
        if self.is_kw("where"):
            self.advance()
            query.where = self.condition()
        if self.is_kw("group"):
            self.advance()
            self.expect_kw("by")
            name = self.expect_name()
            query.group_by.append(FieldItem(name.text, name.pos))
            while self.tok.kind == "op" and self.tok.text == ",":
                self.advance()
                name = self.expect_name()
                query.group_by.append(FieldItem(name.text, name.pos))
        if self.is_kw("having"):
            raise self.error(detail=f"unexpected token: {self.tok.text} (HAVING is not supported by the emulator)")
        if self.is_kw("order"):
            self.advance()
            self.expect_kw("by")
            query.order_by.append(self.order_item())
            while self.tok.kind == "op" and self.tok.text == ",":
                self.advance()
                query.order_by.append(self.order_item())
        if self.is_kw("limit"):
            self.advance()
            query.limit = self.expect_int()
        if self.is_kw("offset"):
            self.advance()
            query.offset = self.expect_int()
        if self.is_kw("for"):
            raise self.error()
        if nested:
            if self.tok.kind != "op" or self.tok.text != ")":
                raise self.error()
        elif self.tok.kind != "eof":
            raise self.error()
        return query

    def select_item(self) -> FieldItem | CountItem | FieldsItem:
        tok = self.tok
        if tok.kind == "ident" and tok.lower == "count" and self.tokens[self.i + 1].text == "(":
            self.advance()
            self.advance()
            path = None
            if self.tok.kind == "ident":
                path = self.expect_name().text
            self.expect_op(")")
            alias = None
            if self.tok.kind == "ident" and self.tok.lower not in KEYWORDS:
                alias = self.advance().text
            return CountItem(path, alias, tok.pos)
        if tok.kind == "op" and tok.text == "(":
            raise self.error(detail="unexpected token: '(' (sub-queries are not supported by the emulator)")
        name = self.expect_name()
        if self.tok.kind == "op" and self.tok.text == "(":
            if name.lower == "fields":
                self.advance()
                kind = self.tok
                if kind.kind != "ident" or kind.lower not in ("all", "standard", "custom"):
                    raise self.error(kind, f"unexpected token: {kind.text} (FIELDS takes ALL, STANDARD or CUSTOM)")
                self.advance()
                self.expect_op(")")
                return FieldsItem(kind.text.upper(), name.pos)
            raise self.error(name, f"Unknown function: {name.text}")
        return FieldItem(name.text, name.pos)

    def order_item(self) -> OrderItem:
        name = self.expect_name()
        descending = False
        nulls_first: bool | None = None
        if self.is_kw("asc", "desc"):
            descending = self.advance().lower == "desc"
        if self.is_kw("nulls"):
            self.advance()
            if not self.is_kw("first", "last"):
                raise self.error()
            nulls_first = self.advance().lower == "first"
        return OrderItem(name.text, descending, nulls_first, name.pos)

    def condition(self) -> Any:
        first = self.unary()
        if not self.is_kw("and", "or"):
            return first
        op = self.tok.lower
        items = [first]
        while self.is_kw(op):
            self.advance()
            items.append(self.unary())
        if self.is_kw("and", "or"):
            raise self.error()
        return BoolOp(op.upper(), items)

    def unary(self) -> Any:
        if self.is_kw("not"):
            self.advance()
            return NotOp(self.unary())
        if self.tok.kind == "op" and self.tok.text == "(":
            self.advance()
            inner = self.condition()
            self.expect_op(")")
            return inner
        return self.comparison()

    def comparison(self) -> Condition:
        name = self.expect_name()
        tok = self.tok
        if tok.kind == "op" and tok.text in ("=", "!=", "<>", "<", "<=", ">", ">="):
            self.advance()
            op = "!=" if tok.text == "<>" else tok.text
            return Condition(name.text, op, self.value(), name.pos)
        if self.is_kw("like"):
            self.advance()
            value = self.value()
            if value.kind != "string":
                raise SoqlError("MALFORMED_QUERY", "LIKE requires a string literal", self.text, value.pos)
            return Condition(name.text, "LIKE", value, name.pos)
        negate = False
        if self.is_kw("not"):
            self.advance()
            negate = True
            if not self.is_kw("in"):
                raise self.error()
        if self.is_kw("in"):
            self.advance()
            self.expect_op("(")
            if self.is_kw("select"):
                sub = self.parse(nested=True)
                self.expect_op(")")
                return Condition(name.text, "NOT IN" if negate else "IN", sub, name.pos)
            values = [self.value()]
            while self.tok.kind == "op" and self.tok.text == ",":
                self.advance()
                values.append(self.value())
            self.expect_op(")")
            return Condition(name.text, "NOT IN" if negate else "IN", values, name.pos)
        if self.is_kw("includes", "excludes"):
            raise self.error(detail=f"unexpected token: {self.tok.text} (not supported by the emulator)")
        raise self.error()

    def value(self) -> Literal:
        tok = self.advance()
        if tok.kind == "string":
            return Literal("string", decode_string(tok.text, self.text, tok.pos), tok.text, tok.pos)
        if tok.kind == "number":
            number: Any = float(tok.text) if any(c in tok.text for c in ".eE") else int(tok.text)
            return Literal("number", number, tok.text, tok.pos)
        if tok.kind == "datetime":
            return Literal("datetime", tok.text, tok.text, tok.pos)
        if tok.kind == "date":
            return Literal("date", tok.text, tok.text, tok.pos)
        if tok.kind == "ident":
            word = tok.lower
            if word in ("true", "false"):
                return Literal("boolean", word == "true", tok.text, tok.pos)
            if word == "null":
                return Literal("null", None, tok.text, tok.pos)
            if word in DATE_LITERALS:
                return Literal("dateliteral", (word, 0), tok.text, tok.pos)
            if word in DATE_N_LITERALS:
                self.expect_op(":")
                count = self.expect_int()
                return Literal("dateliteral", (word, count), f"{tok.text}:{count}", tok.pos)
        raise self.error(tok)


def parse(text: str) -> Query:
    """Parse a SOQL statement; raises :class:`SoqlError` with ``MALFORMED_QUERY`` on syntax errors."""
    if not text or not text.strip():
        raise SoqlError("MALFORMED_QUERY", "unexpected token: <EOF>")
    return _Parser(text).parse()
