"""Compile parsed SOQL into SQLite SQL against the org schema.

Names resolve case-insensitively to the canonical describe names; filter values are type
checked the way Salesforce does (``INVALID_FIELD`` "... must be of type dateTime and should not
be enclosed in quotes"); every value is a bound parameter.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from emulator.ids import to_18
from emulator.schema import NUMBER_TYPES, FieldDef, ObjectDef, get_object
from emulator.soql import (
    BoolOp,
    Condition,
    CountItem,
    FieldItem,
    FieldsItem,
    Literal,
    NotOp,
    Query,
    SoqlError,
    like_pattern,
)
from emulator.store import quote_ident
from emulator.values import parse_datetime, rest_datetime

_NO_COLUMN = ("No such column '{name}' on entity '{obj}'. If you are attempting to use a custom field, be sure to "
              "append the '__c' after the custom field name. Please reference your WSDL or the describe call for "
              "the appropriate names.")
_BAD_RELATION = ("Didn't understand relationship '{name}' in field path. If you are attempting to use a custom "
                 "relationship, be sure to append the '__r' after the custom relationship name. Please reference "
                 "your WSDL or the describe call for the appropriate names.")
_NO_TYPE = ("sObject type '{name}' is not supported. If you are attempting to use a custom object, be sure to append "
            "the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate "
            "names.")
_TYPE_WORD = {"datetime": "dateTime", "date": "date", "boolean": "boolean", "int": "int", "double": "double",
              "currency": "currency", "percent": "percent"}


@dataclass
class Column:
    """One selected field as it appears in results.

    Attributes:
        label: Output name (``Name``, ``Account.Name``).
        fdef: The field definition.
        relationship: The reference field of the parent relationship, or None for own fields.
        exprs: SQL expressions for the stored value (address fields: one per component).
    """

    label: str
    fdef: FieldDef
    relationship: FieldDef | None
    exprs: list[str]

    def json_values(self, values: list[Any]) -> Any:
        """REST JSON value from this column's raw SQL values."""
        fdef = self.fdef
        if fdef.type == "address":
            if all(v is None for v in values):
                return None
            full = {"city": None, "country": None, "geocodeAccuracy": None, "latitude": None, "longitude": None,
                    "postalCode": None, "state": None, "street": None}
            for (key, _col), value in zip(fdef.components, values, strict=True):
                full[key] = value
            return full
        value = values[0]
        if value is None:
            return None
        if fdef.type == "boolean":
            return bool(value)
        if fdef.type == "datetime":
            return rest_datetime(value)
        return value

    def csv_expr(self) -> str:
        """SQL expression producing the Bulk CSV text of this column."""
        expr = self.exprs[0]
        kind = self.fdef.type
        if kind == "boolean":
            return f"CASE WHEN {expr} IS NULL THEN NULL WHEN {expr} THEN 'true' ELSE 'false' END"
        if kind in ("double", "currency", "percent"):
            return (f"CASE WHEN {expr} IS NULL THEN NULL WHEN abs({expr}) >= 1e7 OR (abs({expr}) < 1e-3 AND "
                    f"{expr} != 0) THEN sf_double({expr}) ELSE CAST(CAST({expr} AS REAL) AS TEXT) END")
        return expr


@dataclass
class CompiledQuery:
    """SQL for one SOQL statement.

    Attributes:
        query: The parsed statement.
        obj: The sObject queried.
        columns: Selected fields in SELECT order (empty for COUNT queries).
        joins: ``relationship name -> (alias, parent object, reference field)``.
        count: ``None``; ``"plain"`` for ``COUNT()``; ``"field"`` for ``COUNT(path)``.
        count_alias: Output name of a ``COUNT(path)`` column.
    """

    query: Query
    obj: ObjectDef
    columns: list[Column]
    joins: dict[str, tuple[str, ObjectDef, FieldDef]]
    where_sql: str
    params: list[Any]
    order_sql: str
    include_deleted: bool
    count: str | None = None
    count_alias: str = "expr0"
    count_expr: str = "*"
    join_id_exprs: dict[str, str] = field(default_factory=dict)
    groups: list[Column] = field(default_factory=list)
    aggregates: list[tuple[str, str]] = field(default_factory=list)
    outputs: list[tuple[str, int]] = field(default_factory=list)

    def group_sql(self) -> tuple[str, list[Any]]:
        """The GROUP BY statement: group values then aggregate values, in SELECT order."""
        group_exprs = [c.exprs[0] for c in self.groups]
        exprs = group_exprs + [expr for _alias, expr in self.aggregates]
        cols = ", ".join(f"{e} AS c{i}" for i, e in enumerate(exprs))
        order = self.order_sql or (" ORDER BY " + ", ".join(group_exprs) if group_exprs else "")
        sql = f"SELECT {cols} {self._from()}{self._where()}"
        if group_exprs:
            sql += " GROUP BY " + ", ".join(group_exprs)
        sql += order
        params = list(self.params)
        if self.limit is not None or self.offset:
            sql += " LIMIT ? OFFSET ?"
            params += [-1 if self.limit is None else self.limit, self.offset]
        return sql, params

    def aggregate_record(self, row: tuple[Any, ...]) -> dict[str, Any]:
        """One ``AggregateResult`` record from a :meth:`group_sql` row."""
        record: dict[str, Any] = {"attributes": {"type": "AggregateResult"}}
        width = len(self.groups)
        for name, index in self.outputs:
            if index < width:
                record[name] = self.groups[index].json_values([row[index]])
            else:
                record[name] = row[index]
        return record

    def _from(self) -> str:
        sql = f"FROM {quote_ident(self.obj.name)} AS t"
        for alias, parent, ref in self.joins.values():
            sql += f" LEFT JOIN {quote_ident(parent.name)} AS {alias} ON {alias}.Id = t.{quote_ident(ref.name)}"
        return sql

    def _where(self) -> str:
        clauses = []
        if not self.include_deleted:
            clauses.append("t.IsDeleted = 0")
        if self.where_sql:
            clauses.append(f"({self.where_sql})")
        return (" WHERE " + " AND ".join(clauses)) if clauses else ""

    @property
    def limit(self) -> int | None:
        """The statement's LIMIT."""
        return self.query.limit

    @property
    def offset(self) -> int:
        """The statement's OFFSET (0 if none)."""
        return self.query.offset or 0

    def select_exprs(self, mode: str) -> list[str]:
        """Output SQL expressions: raw values (``json``) or CSV text (``csv``)."""
        exprs: list[str] = []
        if mode == "csv":
            return [c.csv_expr() for c in self.columns]
        for column in self.columns:
            exprs.extend(column.exprs)
        exprs.extend(self.join_id_exprs.values())
        exprs.append("t.Id")  # for attributes.url, selected or not
        return exprs

    def select_sql(self, mode: str, limit: int | None = None, offset: int | None = None) -> tuple[str, list[Any]]:
        """The full SELECT; ``limit``/``offset`` override the statement's own (already combined by callers)."""
        exprs = self.select_exprs(mode)
        cols = ", ".join(f"{e} AS c{i}" for i, e in enumerate(exprs))
        sql = f"SELECT {cols} {self._from()}{self._where()}{self.order_sql}"
        params = list(self.params)
        lim = self.limit if limit is None else limit
        off = self.offset if offset is None else offset
        if lim is not None or off:
            sql += " LIMIT ? OFFSET ?"
            params += [-1 if lim is None else lim, off]
        return sql, params

    def count_sql(self) -> tuple[str, list[Any]]:
        """SELECT COUNT over the matching rows (respecting LIMIT/OFFSET)."""
        inner = f"SELECT 1 {self._from()}{self._where()}"
        params = list(self.params)
        if self.count == "field" and self.count_expr != "*":
            inner = f"SELECT 1 {self._from()}{self._where()}" + (
                " AND " if self._where() else " WHERE ") + f"{self.count_expr} IS NOT NULL"
        if self.limit is not None or self.offset:
            inner += " LIMIT ? OFFSET ?"
            params += [-1 if self.limit is None else self.limit, self.offset]
        return f"SELECT COUNT(*) FROM ({inner})", params

    def _flat_plan(self) -> list[tuple[str, Any]] | None:
        """(name, converter) per column when no column is a parent field or an address; else None."""
        if "_flat" not in self.__dict__:
            plan: list[tuple[str, Any]] | None = []
            for column in self.columns:
                if column.relationship is not None or column.fdef.type == "address":
                    plan = None
                    break
                kind = column.fdef.type
                plan.append((column.fdef.name, bool if kind == "boolean" else rest_datetime if kind == "datetime"
                             else None))
            self.__dict__["_flat"] = plan
        return self.__dict__["_flat"]

    def json_record(self, row: tuple[Any, ...], version: str) -> dict[str, Any]:
        """REST JSON record from one ``json``-mode row."""
        obj = self.obj
        plan = self._flat_plan()
        if plan is not None:  # the common case, kept fast
            record = {"attributes": {"type": obj.name, "url": f"/services/data/v{version}/sobjects/{obj.name}/"
                                                               f"{row[-1]}"}}
            for (name, convert), value in zip(plan, row, strict=False):
                record[name] = value if convert is None or value is None else convert(value)
            return record
        record: dict[str, Any] = {"attributes": {"type": obj.name, "url": ""}}
        pos = 0
        parents: dict[str, dict[str, Any] | None] = {}
        own_id = row[-1]
        for column in self.columns:
            width = len(column.exprs)
            value = column.json_values(list(row[pos:pos + width]))
            pos += width
            if column.relationship is None:
                record[column.fdef.name] = value
                continue
            rel = column.relationship.relationship_name or ""
            if rel not in parents:
                parents[rel] = {}
                record[rel] = parents[rel]
            parent = parents[rel]
            if parent is not None:
                parent[column.fdef.name] = value
        join_ids = row[pos:-1]
        for (rel, parent), parent_id in zip(parents.items(), join_ids, strict=False):
            if parent_id is None:
                record[rel] = None
            else:
                assert parent is not None
                target = self.joins[rel.lower()][1].name
                record[rel] = {"attributes": {"type": target,
                                              "url": f"/services/data/v{version}/sobjects/{target}/{parent_id}"},
                               **parent}
        record["attributes"]["url"] = f"/services/data/v{version}/sobjects/{obj.name}/{own_id}"
        return record

    @property
    def csv_header(self) -> list[str]:
        """Column names of Bulk CSV results."""
        return [c.label for c in self.columns]


class _Compiler:
    def __init__(self, query: Query, include_deleted: bool, today: date | None = None) -> None:
        self.query = query
        obj = get_object(query.object_name)
        if obj is None:
            raise SoqlError("INVALID_TYPE", _NO_TYPE.format(name=query.object_name), query.text, query.object_pos)
        self.obj = obj
        self.include_deleted = include_deleted
        self.params: list[Any] = []
        self.joins: dict[str, tuple[str, ObjectDef, FieldDef]] = {}
        self.today = today or datetime.now(UTC).date()

    def err(self, code: str, detail: str, pos: int) -> SoqlError:
        return SoqlError(code, detail, self.query.text, pos)

    def resolve(self, path: str, pos: int) -> tuple[FieldDef, FieldDef | None, str, ObjectDef]:
        """Return (field, relationship field or None, table alias, object) for a field path."""
        parts = path.split(".")
        if len(parts) == 2 and parts[0].lower() == self.obj.name.lower():
            parts = parts[1:]
        if len(parts) == 1:
            fdef = self.obj.field(parts[0])
            if fdef is None:
                raise self.err("INVALID_FIELD", _NO_COLUMN.format(name=parts[0], obj=self.obj.name), pos)
            return fdef, None, "t", self.obj
        if len(parts) > 2:
            raise self.err("INVALID_FIELD", _BAD_RELATION.format(name=".".join(parts[:-1])) +
                           " (the emulator supports one level of parent relationship)", pos)
        ref = self.obj.relationship(parts[0])
        if ref is None:
            raise self.err("INVALID_FIELD", _BAD_RELATION.format(name=parts[0]), pos)
        if len(ref.reference_to) > 1:
            raise self.err("INVALID_FIELD", f"polymorphic relationship '{ref.relationship_name}' is not supported "
                           f"by the emulator: select {ref.name} instead", pos)
        parent = get_object(ref.reference_to[0])
        assert parent is not None
        fdef = parent.field(parts[1])
        if fdef is None:
            raise self.err("INVALID_FIELD", _NO_COLUMN.format(name=parts[1], obj=parent.name), pos)
        key = (ref.relationship_name or "").lower()
        if key not in self.joins:
            self.joins[key] = (f"j{len(self.joins) + 1}", parent, ref)
        return fdef, ref, self.joins[key][0], parent

    @staticmethod
    def exprs_for(fdef: FieldDef, alias: str) -> list[str]:
        if fdef.type == "address":
            return [f"{alias}.{quote_ident(col)}" for _key, col in fdef.components]
        return [f"{alias}.{quote_ident(fdef.name)}"]

    def _fields_columns(self, item: FieldsItem, seen: set[str]) -> list[Column]:
        q = self.query
        if item.kind in ("ALL", "CUSTOM") and (q.limit is None or q.limit > 200):
            raise self.err("MALFORMED_QUERY", "The SOQL FIELDS function must have a LIMIT of at most 200", item.pos)
        out = []
        for fdef in self.obj.fields:
            if (item.kind == "CUSTOM" and not fdef.custom) or (item.kind == "STANDARD" and fdef.custom):
                continue
            if fdef.name.lower() in seen:
                continue
            seen.add(fdef.name.lower())
            out.append(Column(fdef.name, fdef, None, self.exprs_for(fdef, "t")))
        return out

    def _grouped(self) -> CompiledQuery:
        q = self.query
        groups: list[Column] = []
        by_label: dict[str, int] = {}
        for entry in q.group_by:
            fdef, ref, alias, _o = self.resolve(entry.path, entry.pos)
            if fdef.type in ("address", "textarea", "datetime", "double", "currency", "percent"):
                raise self.err("INVALID_FIELD", f"field '{fdef.name}' can not be grouped in a query call", entry.pos)
            label = fdef.name if ref is None else f"{ref.relationship_name}.{fdef.name}"
            by_label[label.lower()] = len(groups)
            groups.append(Column(label, fdef, ref, self.exprs_for(fdef, alias)))
        aggregates: list[tuple[str, str]] = []
        outputs: list[tuple[str, int]] = []
        unnamed = 0
        for item in q.items:
            if isinstance(item, FieldsItem):
                raise self.err("MALFORMED_QUERY", "FIELDS() can not be used with GROUP BY", item.pos)
            if isinstance(item, CountItem):
                if item.path is None:
                    raise self.err("MALFORMED_QUERY", "COUNT() can not be used with GROUP BY: use COUNT(fieldName)",
                                   item.pos)
                fdef, _ref, alias, _o = self.resolve(item.path, item.pos)
                name = item.alias
                if name is None:
                    name = f"expr{unnamed}"
                    unnamed += 1
                outputs.append((name, len(groups) + len(aggregates)))
                aggregates.append((name, f"COUNT({self.exprs_for(fdef, alias)[0]})"))
                continue
            fdef, ref, _alias, _o = self.resolve(item.path, item.pos)
            label = fdef.name if ref is None else f"{ref.relationship_name}.{fdef.name}"
            if label.lower() not in by_label:
                raise self.err("MALFORMED_QUERY", f"Field must be grouped or aggregated: {fdef.name}", item.pos)
            outputs.append((fdef.name, by_label[label.lower()]))
        where_sql = self.condition(q.where) if q.where is not None else ""
        order_parts = []
        for entry in q.order_by:
            fdef, ref, alias, _o = self.resolve(entry.path, entry.pos)
            label = fdef.name if ref is None else f"{ref.relationship_name}.{fdef.name}"
            if label.lower() not in by_label:
                raise self.err("MALFORMED_QUERY", f"Ordered field must be grouped or aggregated: {fdef.name}",
                               entry.pos)
            part = f"{alias}.{quote_ident(fdef.name)} {'DESC' if entry.descending else 'ASC'}"
            if entry.nulls_first is not None:
                part += " NULLS FIRST" if entry.nulls_first else " NULLS LAST"
            order_parts.append(part)
        order_sql = (" ORDER BY " + ", ".join(order_parts)) if order_parts else ""
        return CompiledQuery(q, self.obj, [], self.joins, where_sql, self.params, order_sql, self.include_deleted,
                             groups=groups, aggregates=aggregates, outputs=outputs)

    def compile(self) -> CompiledQuery:
        q = self.query
        if q.group_by:
            return self._grouped()
        columns: list[Column] = []
        count_mode = None
        count_alias = "expr0"
        count_expr = "*"
        seen: set[str] = set()
        for item in q.items:
            if isinstance(item, CountItem):
                if len(q.items) > 1:
                    raise self.err("MALFORMED_QUERY", "Field must be grouped or aggregated: COUNT() can not be "
                                   "combined with other fields", item.pos)
                count_mode = "plain" if item.path is None else "field"
                if item.path is not None:
                    fdef, _ref, alias, _o = self.resolve(item.path, item.pos)
                    count_expr = self.exprs_for(fdef, alias)[0]
                    count_alias = item.alias or "expr0"
                continue
            if isinstance(item, FieldsItem):
                columns.extend(self._fields_columns(item, seen))
                continue
            assert isinstance(item, FieldItem)
            fdef, ref, alias, _parent = self.resolve(item.path, item.pos)
            label = fdef.name if ref is None else f"{ref.relationship_name}.{fdef.name}"
            if label.lower() in seen:
                raise self.err("MALFORMED_QUERY", f"duplicate field selected: {label}", item.pos)
            seen.add(label.lower())
            columns.append(Column(label, fdef, ref, self.exprs_for(fdef, alias)))
        where_sql = self.condition(q.where) if q.where is not None else ""
        order_parts = []
        for entry in q.order_by:
            fdef, _ref, alias, _o = self.resolve(entry.path, entry.pos)
            if fdef.type in ("address", "textarea"):
                raise self.err("INVALID_FIELD", f"field '{fdef.name}' can not be sorted in a query call", entry.pos)
            part = f"{alias}.{quote_ident(fdef.name)} {'DESC' if entry.descending else 'ASC'}"
            if entry.nulls_first is not None:
                part += " NULLS FIRST" if entry.nulls_first else " NULLS LAST"
            order_parts.append(part)
        order_parts.append("t.rid ASC")
        order_sql = " ORDER BY " + ", ".join(order_parts)
        join_ids = {rel: f"{alias}.Id" for rel, (alias, _p, _r) in self.joins.items()
                    if any(c.relationship is not None and (c.relationship.relationship_name or "").lower() == rel
                           for c in columns)}
        ordered_join_ids: dict[str, str] = {}
        for column in columns:  # keep the order in which relationships first appear in SELECT
            if column.relationship is not None:
                rel = (column.relationship.relationship_name or "").lower()
                if rel in join_ids and rel not in ordered_join_ids:
                    ordered_join_ids[rel] = join_ids[rel]
        return CompiledQuery(q, self.obj, columns, self.joins, where_sql, self.params, order_sql,
                             self.include_deleted, count_mode, count_alias, count_expr, ordered_join_ids)

    # -- WHERE -------------------------------------------------------------------------------------

    def condition(self, node: Any) -> str:
        if isinstance(node, BoolOp):
            return "(" + f" {node.op} ".join(self.condition(i) for i in node.items) + ")"
        if isinstance(node, NotOp):
            return f"(NOT COALESCE({self.condition(node.item)}, 0))"
        assert isinstance(node, Condition)
        return self.comparison(node)

    def bind(self, value: Any) -> str:
        self.params.append(value)
        return "?"

    def comparison(self, cond: Condition) -> str:
        fdef, _ref, alias, _o = self.resolve(cond.path, cond.pos)
        if fdef.type in ("address", "textarea"):
            raise self.err("INVALID_FIELD", f"field '{fdef.name}' can not be filtered in a query call", cond.pos)
        col = f"{alias}.{quote_ident(fdef.name)}"
        op = cond.op
        if op == "LIKE":
            assert isinstance(cond.value, Literal)
            if not (fdef.is_text or fdef.type in ("id", "reference")):
                raise self.err("INVALID_FIELD", f"invalid operator on {fdef.type} field: {fdef.name}", cond.pos)
            return f"{col} LIKE {self.bind(like_pattern(cond.value.raw))} ESCAPE '\\'"
        if op in ("IN", "NOT IN") and isinstance(cond.value, Query):
            return self.semi_join(col, fdef, op, cond)
        if op in ("IN", "NOT IN"):
            assert isinstance(cond.value, list)
            pieces = []
            for literal in cond.value:
                pieces.extend(self.in_values(fdef, literal))
            if not pieces:
                return "(0)" if op == "IN" else f"({col} IS NOT NULL OR {col} IS NULL)"
            non_null = [p for p in pieces if p is not None]
            has_null = len(non_null) != len(pieces)
            marks = ", ".join(self.bind(v) for v in non_null)
            if op == "IN":
                parts = ([f"{col} IN ({marks})"] if non_null else []) + ([f"{col} IS NULL"] if has_null else [])
                return "(" + " OR ".join(parts) + ")"
            inside = f"{col} NOT IN ({marks})" if non_null else "1"
            return f"({col} IS NULL AND {0 if has_null else 1} OR {col} IS NOT NULL AND {inside})"
        assert isinstance(cond.value, Literal)
        literal = cond.value
        if literal.kind == "null":
            if op == "=":
                return f"({col} IS NULL)"
            if op == "!=":
                return f"({col} IS NOT NULL)"
            return "(0)"
        if literal.kind == "dateliteral" and fdef.type in ("date", "datetime"):
            return self.date_range(col, fdef, op, literal)
        if fdef.type == "datetime":
            return self.datetime_compare(col, fdef, op, literal)
        value = self.typed(fdef, literal)
        if op == "!=":
            return f"({col} IS NOT {self.bind(value)})"
        return f"({col} {op} {self.bind(value)})"

    def semi_join(self, col: str, fdef: FieldDef, op: str, cond: Condition) -> str:
        """``Id IN (SELECT ContactId FROM CampaignMember WHERE …)`` and its ``NOT IN`` anti-join."""
        sub_query = cond.value
        assert isinstance(sub_query, Query)
        if fdef.type not in ("id", "reference"):
            raise self.err("INVALID_FIELD", f"semi join sub-selects are only allowed on Id or reference fields, "
                           f"not on {fdef.name}", cond.pos)
        if getattr(self, "_depth", 0):
            raise self.err("MALFORMED_QUERY", "Nesting of semi join sub-selects is not supported", cond.pos)
        inner = _Compiler(sub_query, False, self.today)
        inner._depth = 1  # type: ignore[attr-defined]
        if len(sub_query.items) != 1 or not isinstance(sub_query.items[0], FieldItem) or sub_query.group_by:
            raise self.err("MALFORMED_QUERY", "The selected field in a semi join sub-select must be a single Id or "
                           "reference field", sub_query.object_pos)
        item = sub_query.items[0]
        sub_field, sub_ref, sub_alias, _o = inner.resolve(item.path, item.pos)
        if sub_field.type not in ("id", "reference") or sub_ref is not None:
            raise self.err("INVALID_FIELD", f"The selected field '{item.path}' in a semi join sub-select must be an "
                           "Id or a reference field", item.pos)
        where = inner.condition(sub_query.where) if sub_query.where is not None else ""
        expr = f"{sub_alias}.{quote_ident(sub_field.name)}"
        sub_from = f"FROM {quote_ident(inner.obj.name)} AS t"
        for alias, parent, ref in inner.joins.values():
            sub_from += f" LEFT JOIN {quote_ident(parent.name)} AS {alias} ON {alias}.Id = t.{quote_ident(ref.name)}"
        sub_sql = f"SELECT {expr} {sub_from} WHERE t.IsDeleted = 0 AND {expr} IS NOT NULL"
        if where:
            sub_sql += f" AND ({where})"
        self.params.extend(inner.params)
        if op == "IN":
            return f"({col} IN ({sub_sql}))"
        return f"({col} IS NULL OR {col} NOT IN ({sub_sql}))"

    def expect_kind(self, fdef: FieldDef, literal: Literal) -> None:
        kind = fdef.type
        if fdef.is_text or kind in ("id", "reference"):
            if literal.kind != "string":
                raise self.err("INVALID_FIELD", f"value of filter criterion for field '{fdef.name}' must be of type "
                               "string and should be enclosed in quotes", literal.pos)
            return
        if literal.kind == "string":
            raise self.err("INVALID_FIELD", f"value of filter criterion for field '{fdef.name}' must be of type "
                           f"{_TYPE_WORD.get(kind, kind)} and should not be enclosed in quotes", literal.pos)
        ok = {"boolean": ("boolean",), "date": ("date", "dateliteral"), "datetime": ("datetime", "dateliteral")}
        allowed = ok.get(kind, ("number",) if kind in NUMBER_TYPES else ())
        if literal.kind not in allowed:
            raise self.err("INVALID_FIELD", f"value of filter criterion for field '{fdef.name}' must be of type "
                           f"{_TYPE_WORD.get(kind, kind)}", literal.pos)

    def typed(self, fdef: FieldDef, literal: Literal) -> Any:
        self.expect_kind(fdef, literal)
        if fdef.type in ("id", "reference"):
            return to_18(literal.value) or literal.value  # 15-character ids match their 18-character form
        if literal.kind == "boolean":
            return int(literal.value)
        if literal.kind == "date":
            return literal.value
        return literal.value

    def in_values(self, fdef: FieldDef, literal: Literal) -> list[Any]:
        if literal.kind == "null":
            return [None]
        if fdef.type == "datetime":
            self.expect_kind(fdef, literal)
            if literal.kind == "dateliteral":
                raise self.err("MALFORMED_QUERY", "date literals are not supported in IN lists", literal.pos)
            stamp, extra = self.datetime_value(literal)
            return [] if extra else [stamp]
        return [self.typed(fdef, literal)]

    def datetime_value(self, literal: Literal) -> tuple[str, int]:
        parsed = parse_datetime(literal.value)
        if parsed is None:
            raise self.err("MALFORMED_QUERY", f"line 1:{literal.pos} no viable alternative at character "
                           f"'{literal.raw}'", literal.pos)
        moment, sub_ms = parsed
        stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
        sub = (moment.microsecond % 1000) * 1000 + sub_ms
        return stamp, sub

    def datetime_compare(self, col: str, fdef: FieldDef, op: str, literal: Literal) -> str:
        self.expect_kind(fdef, literal)
        stamp, sub = self.datetime_value(literal)
        if not sub:
            if op == "!=":
                return f"({col} IS NOT {self.bind(stamp)})"
            return f"({col} {op} {self.bind(stamp)})"
        # The literal falls strictly between two stored milliseconds (stored values are whole ms).
        mapping = {">=": ">", ">": ">", "<": "<=", "<=": "<="}
        if op == "=":
            return "(0)"
        if op == "!=":
            return f"({col} IS NOT NULL OR {col} IS NULL)"
        return f"({col} {mapping[op]} {self.bind(stamp)})"

    def date_range(self, col: str, fdef: FieldDef, op: str, literal: Literal) -> str:
        """Date literals (TODAY, LAST_N_DAYS:n, ...) are ranges ``[start, end)`` of days."""
        name, n = literal.value
        today = self.today
        if name == "today":
            start, end = today, today + timedelta(days=1)
        elif name == "yesterday":
            start, end = today - timedelta(days=1), today
        elif name == "tomorrow":
            start, end = today + timedelta(days=1), today + timedelta(days=2)
        elif name == "last_n_days":
            start, end = today - timedelta(days=n), today + timedelta(days=1)
        elif name == "next_n_days":
            start, end = today + timedelta(days=1), today + timedelta(days=n + 1)
        elif name == "n_days_ago":
            start, end = today - timedelta(days=n), today - timedelta(days=n - 1)
        elif name in ("this_week", "last_week"):
            monday = today - timedelta(days=(today.weekday() + 1) % 7)
            start = monday - timedelta(days=7) if name == "last_week" else monday
            end = start + timedelta(days=7)
        elif name in ("this_month", "last_month", "next_month"):
            first = today.replace(day=1)
            if name == "last_month":
                first = (first - timedelta(days=1)).replace(day=1)
            elif name == "next_month":
                first = (first + timedelta(days=32)).replace(day=1)
            start = first
            end = first + timedelta(days=calendar.monthrange(first.year, first.month)[1])
        else:  # this_year, last_year
            year = today.year - (1 if name == "last_year" else 0)
            start, end = date(year, 1, 1), date(year + 1, 1, 1)
        if fdef.type == "date":
            lo, hi = start.isoformat(), end.isoformat()
        else:
            lo, hi = start.isoformat() + "T00:00:00.000Z", end.isoformat() + "T00:00:00.000Z"
        if op == "=":
            return f"({col} >= {self.bind(lo)} AND {col} < {self.bind(hi)})"
        if op == "!=":
            return f"({col} IS NULL OR {col} < {self.bind(lo)} OR {col} >= {self.bind(hi)})"
        if op == "<":
            return f"({col} < {self.bind(lo)})"
        if op == ">=":
            return f"({col} >= {self.bind(lo)})"
        if op == ">":
            return f"({col} >= {self.bind(hi)})"
        return f"({col} < {self.bind(hi)})"  # <=


def compile_query(query: Query, include_deleted: bool = False, today: date | None = None) -> CompiledQuery:
    """Resolve names and build SQL; raises :class:`SoqlError` (INVALID_TYPE, INVALID_FIELD, MALFORMED_QUERY)."""
    return _Compiler(query, include_deleted, today).compile()
