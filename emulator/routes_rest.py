"""REST API routes under ``/services/data/vXX.X/``: versions, limits, describe, query, sObject rows."""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from emulator.assignment import rule_for_header
from emulator.dml import DmlError, WriteContext, record_json, resolve_object
from emulator.ids import make_id, to_18
from emulator.schema import global_describe, object_for_id
from emulator.soql import SoqlError, parse
from emulator.soql_compile import CompiledQuery, compile_query
from emulator.store import quote_ident
from emulator.values import CLOCK, format_datetime, parse_datetime, rest_datetime
from emulator.web import Request, Response, error_response, json_response

if TYPE_CHECKING:
    from emulator.app import EmulatorApp, RouteMatch

MAX_UPDATED_IDS = 600_000
REPLICATION_DAYS = 30
MAX_AGGREGATE_ROWS = 2000
FINISHED_CURSOR_GRACE_S = 120.0


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def soql_error(exc: SoqlError) -> Response:
    """A SOQL failure in Salesforce's format (HTTP 400)."""
    return error_response(400, exc.code, exc.message)


def dml_error(exc: DmlError) -> Response:
    """A record write failure in Salesforce's format."""
    if exc.status == 300:
        return json_response(300, exc.fields)
    return json_response(exc.status, [exc.as_rest()])


class RestRoutes:
    """Handlers for the REST resources.

    Args:
        app: The emulator application (store, DML, accounting, faults, config).
    """

    def __init__(self, app: EmulatorApp) -> None:
        self.app = app

    # -- discovery -------------------------------------------------------------------------------

    def versions(self, req: Request, m: RouteMatch) -> Response:
        """``GET /services/data/``: the API versions list."""
        from emulator.config import API_VERSIONS

        return json_response(200, [{"label": label, "url": f"/services/data/v{v}", "version": v}
                                   for v, label in API_VERSIONS.items()])

    def resources(self, req: Request, m: RouteMatch) -> Response:
        """``GET /services/data/vXX.X``: the resources of one version."""
        base = f"/services/data/v{m.version}"
        names = ("sobjects", "query", "queryAll", "limits", "jobs", "composite")
        return json_response(200, {name: f"{base}/{name}" for name in names})

    def limits(self, req: Request, m: RouteMatch) -> Response:
        """``GET limits``."""
        return json_response(200, self.app.accounting.limits())

    def describe_global(self, req: Request, m: RouteMatch) -> Response:
        """``GET sobjects``."""
        return json_response(200, global_describe(m.version))

    def describe(self, req: Request, m: RouteMatch) -> Response:
        """``GET sobjects/{O}/describe``."""
        obj = resolve_object(m.group(1))
        return json_response(200, obj.describe(m.version))

    def describe_part(self, req: Request, m: RouteMatch) -> Response:
        """``GET sobjects/{O}/describe/{layouts|compactLayouts|approvalLayouts}[/{recordTypeId}]``."""
        obj = resolve_object(m.group(1))
        part = m.group(2)
        if part == "layouts":
            return json_response(200, {"layouts": [], "recordTypeMappings": [],
                                       "recordTypeSelectorRequired": [False]})
        if part == "compactLayouts":
            return json_response(200, {"compactLayouts": [], "defaultCompactLayoutId": None,
                                       "recordTypeCompactLayoutMappings": [], "urls": obj.urls(m.version)})
        if part == "approvalLayouts":
            return json_response(200, {"approvalLayouts": []})
        return error_response(404, "NOT_FOUND", "The requested resource does not exist")

    def sobject_info(self, req: Request, m: RouteMatch) -> Response:
        """``GET sobjects/{O}/``: basic information and recent items."""
        obj = resolve_object(m.group(1))
        return json_response(200, {"objectDescribe": obj.summary(m.version), "recentItems": []})

    # -- query -----------------------------------------------------------------------------------

    def _page_size(self, req: Request) -> int:
        size = self.app.config.page_size
        options = req.header("Sforce-Query-Options") or ""
        found = re.search(r"batchSize\s*=\s*(\d+)", options)
        if found:
            size = min(max(int(found.group(1)), 200), 2000)
        return size

    def query(self, req: Request, m: RouteMatch) -> Response:
        """``GET query?q=`` and ``GET queryAll?q=``: first page of a SOQL query."""
        include_deleted = m.group(1) == "queryAll"
        text = req.param("q")
        if text is None:
            return error_response(400, "MALFORMED_QUERY", "A query string parameter q is required")
        try:
            compiled = compile_query(parse(text), include_deleted=include_deleted)
        except SoqlError as exc:
            return soql_error(exc)
        conn = self.app.store.conn()
        if compiled.groups or compiled.aggregates:
            sql, params = compiled.group_sql()
            rows = conn.execute(sql, params).fetchmany(MAX_AGGREGATE_ROWS + 1)
            if len(rows) > MAX_AGGREGATE_ROWS:
                return error_response(400, "MALFORMED_QUERY", "Aggregate query has too many rows for direct "
                                      "assignment, use FOR loop")
            records = [compiled.aggregate_record(row) for row in rows]
            return json_response(200, {"totalSize": len(records), "done": True, "records": records})
        if compiled.count is not None:
            sql, params = compiled.count_sql()
            total = conn.execute(sql, params).fetchone()[0]
            if compiled.count == "plain":
                return json_response(200, {"totalSize": total, "done": True, "records": []})
            return json_response(200, {"totalSize": 1, "done": True, "records": [
                {"attributes": {"type": "AggregateResult"}, compiled.count_alias: total}]})
        page = self._page_size(req)
        probe = page + 1 if compiled.limit is None else min(compiled.limit, page + 1)
        sql, params = compiled.select_sql("json", limit=probe)
        rows = conn.execute(sql, params).fetchall()
        if len(rows) <= page:
            records = [compiled.json_record(row, m.version) for row in rows]
            return self._page(req, {"totalSize": len(records), "done": True, "records": records})
        locator = make_id("01g", secrets.randbelow(62 ** 9))[:15]
        sql, params = compiled.select_sql("json")
        total = self.app.cursors.create(locator, sql, params, {"soql": text, "all": include_deleted, "page": page})
        return self._cursor_page(req, m.version, compiled, locator, 0, page, total, m.group(1))

    def query_more(self, req: Request, m: RouteMatch) -> Response:
        """``GET query/{locator}-{offset}``: a following page (any ``q`` parameter is ignored)."""
        locator, offset = m.group(2), int(m.group(3))
        meta = self.app.cursors.meta(locator) if locator.isalnum() else None
        if meta is None:
            return error_response(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        try:
            compiled = compile_query(parse(meta["soql"]), include_deleted=meta["all"])
        except SoqlError as exc:  # pragma: no cover - the text parsed when the cursor was made
            return soql_error(exc)
        return self._cursor_page(req, m.version, compiled, locator, offset, int(meta["page"]), int(meta["total"]),
                                 m.group(1))

    def _cursor_page(self, req: Request, version: str, compiled: CompiledQuery, locator: str, offset: int,
                     page: int, total: int, resource: str) -> Response:
        rows = self.app.cursors.rows(locator, offset, page) if offset < total else []
        records = [compiled.json_record(row, version) for row in rows]
        end = offset + len(records)
        body: dict[str, Any] = {"totalSize": total, "done": end >= total}
        if end < total:
            body["nextRecordsUrl"] = f"/services/data/v{version}/{resource}/{locator}-{end}"
        else:
            self.app.cursors.expire_soon(locator, self.app.config.cursor_idle_s, FINISHED_CURSOR_GRACE_S)
        body["records"] = records
        return self._page(req, body)

    def _page(self, req: Request, body: dict[str, Any]) -> Response:
        response = json_response(200, body)
        response.drop = self.app.faults.drop_page()
        return response

    def search(self, req: Request, m: RouteMatch) -> Response:
        """``GET search?q=FIND {…} RETURNING …``: SOSL."""
        from emulator.sosl import SoslError, run_search

        text = req.param("q")
        if not text:
            return error_response(400, "MALFORMED_SEARCH", "A search string parameter q is required")
        try:
            return json_response(200, run_search(self.app.store.conn(), text, m.version))
        except SoslError as exc:
            return error_response(400, exc.code, exc.message)

    # -- replication -----------------------------------------------------------------------------

    def _window(self, req: Request) -> tuple[str, str] | Response:
        start_text, end_text = req.param("start"), req.param("end")
        if not start_text or not end_text:
            return error_response(400, "MISSING_ARGUMENT", "start and end parameters are required")
        start, end = parse_datetime(start_text), parse_datetime(end_text)
        if start is None or end is None:
            return error_response(400, "INVALID_REPLICATION_DATE", "start and end must be ISO 8601 date-times")
        first, last = _minute(start[0]), _minute(end[0])  # Salesforce ignores the seconds
        if last <= first:
            return error_response(400, "INVALID_REPLICATION_DATE",
                                  "startDate must chronologically precede endDate by more than one minute")
        now = CLOCK.moment()
        if first < now - timedelta(days=REPLICATION_DAYS) or last - first > timedelta(days=REPLICATION_DAYS):
            return error_response(400, "INVALID_REPLICATION_DATE",
                                  f"startDate cannot be more than {REPLICATION_DAYS} days ago")
        covered = min(last, _minute(now))
        return format_datetime(first), format_datetime(max(covered, first))

    def updated(self, req: Request, m: RouteMatch) -> Response:
        """``GET sobjects/{O}/updated/?start=&end=``: ids changed in the window."""
        obj = resolve_object(m.group(1))
        window = self._window(req)
        if isinstance(window, Response):
            return window
        start, end = window
        rows = self.app.store.conn().execute(
            f"SELECT Id FROM {quote_ident(obj.name)} WHERE SystemModstamp >= ? AND SystemModstamp < ? "
            f"AND IsDeleted = 0 ORDER BY SystemModstamp, rid LIMIT ?", (start, end, MAX_UPDATED_IDS + 1)).fetchall()
        if len(rows) > MAX_UPDATED_IDS:
            return error_response(400, "EXCEEDED_ID_LIMIT", "record limit reached. Narrow the date range")
        return json_response(200, {"ids": [r[0] for r in rows], "latestDateCovered": rest_datetime(end)})

    def deleted(self, req: Request, m: RouteMatch) -> Response:
        """``GET sobjects/{O}/deleted/?start=&end=``: records moved to the recycle bin in the window."""
        obj = resolve_object(m.group(1))
        window = self._window(req)
        if isinstance(window, Response):
            return window
        start, end = window
        conn = self.app.store.conn()
        table = quote_ident(obj.name)
        rows = conn.execute(f"SELECT Id, _DeletedDate FROM {table} WHERE IsDeleted = 1 AND _DeletedDate >= ? "
                            "AND _DeletedDate < ? ORDER BY _DeletedDate, rid LIMIT ?",
                            (start, end, MAX_UPDATED_IDS + 1)).fetchall()
        if len(rows) > MAX_UPDATED_IDS:
            return error_response(400, "EXCEEDED_ID_LIMIT", "record limit reached. Narrow the date range")
        earliest = conn.execute(f"SELECT MIN(_DeletedDate) FROM {table} WHERE IsDeleted = 1").fetchone()[0]
        return json_response(200, {
            "deletedRecords": [{"id": r[0], "deletedDate": rest_datetime(r[1])} for r in rows],
            "earliestDateAvailable": rest_datetime(earliest or start),
            "latestDateCovered": rest_datetime(end),
        })

    # -- sObject rows ----------------------------------------------------------------------------

    def _ctx(self, req: Request) -> WriteContext:
        return WriteContext(req.user_id or "", "json")

    def _body(self, req: Request) -> dict[str, Any] | Response:
        try:
            body = req.json()
        except ValueError as exc:
            return error_response(400, "JSON_PARSER_ERROR", f"Unexpected character: {exc}")
        if not isinstance(body, dict):
            return error_response(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of an sObject from a "
                                  "non-object value")
        return body

    def _locked(self, record_id: str | None) -> Response | None:
        if self.app.faults.lock_row():
            return error_response(400, "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or "
                                  f"1 records: {record_id or ''}", [])
        return None

    def create(self, req: Request, m: RouteMatch) -> Response:
        """``POST sobjects/{O}/``: insert one record (201)."""
        obj = resolve_object(m.group(1))
        body = self._body(req)
        if isinstance(body, Response):
            return body
        locked = self._locked(None)
        if locked:
            return locked
        try:
            with self.app.store.write() as conn:
                ctx = self._ctx(req)
                ctx.assignment_rule = rule_for_header(conn, obj.name, req.headers.get("sforce-auto-assign"))
                record_id = self.app.dml.insert(conn, obj, body, ctx)
        except DmlError as exc:
            return dml_error(exc)
        return json_response(201, {"id": record_id, "success": True, "errors": []})

    def _fetch(self, obj_name: str, record_id: str) -> tuple[Any, dict[str, Any]] | Response:
        obj = resolve_object(obj_name)
        full = to_18(record_id)
        if full is None or object_for_id(full) is not obj:
            return error_response(404, "NOT_FOUND", "The requested resource does not exist")
        cur = self.app.store.conn().execute(f"SELECT * FROM {quote_ident(obj.name)} WHERE Id = ?", (full,))
        row = cur.fetchone()
        if row is None:
            return error_response(404, "NOT_FOUND", "The requested resource does not exist")
        record = dict(zip([d[0] for d in cur.description], row, strict=True))
        if record["IsDeleted"]:
            return error_response(404, "ENTITY_IS_DELETED", "entity is deleted")
        return obj, record

    def _fields_param(self, req: Request, obj: Any) -> list[str] | Response | None:
        raw = req.param("fields")
        if not raw:
            return None
        names = [n.strip() for n in raw.split(",") if n.strip()]
        for name in names:
            if obj.field(name) is None:
                return error_response(400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {obj.name}")
        return names

    def get(self, req: Request, m: RouteMatch) -> Response:
        """``GET sobjects/{O}/{Id}``."""
        found = self._fetch(m.group(1), m.group(2))
        if isinstance(found, Response):
            return found
        obj, record = found
        fields = self._fields_param(req, obj)
        if isinstance(fields, Response):
            return fields
        return json_response(200, record_json(obj, record, m.version, fields))

    def update(self, req: Request, m: RouteMatch) -> Response:
        """``PATCH sobjects/{O}/{Id}`` (204)."""
        obj = resolve_object(m.group(1))
        body = self._body(req)
        if isinstance(body, Response):
            return body
        locked = self._locked(m.group(2))
        if locked:
            return locked
        try:
            with self.app.store.write() as conn:
                self.app.dml.update(conn, obj, m.group(2), body, self._ctx(req))
        except DmlError as exc:
            return dml_error(exc)
        return Response(204, content_type=None)

    def delete(self, req: Request, m: RouteMatch) -> Response:
        """``DELETE sobjects/{O}/{Id}`` (204)."""
        obj = resolve_object(m.group(1))
        locked = self._locked(m.group(2))
        if locked:
            return locked
        try:
            with self.app.store.write() as conn:
                self.app.dml.delete(conn, obj, m.group(2), self._ctx(req))
        except DmlError as exc:
            return dml_error(exc)
        return Response(204, content_type=None)

    def _by_external(self, obj: Any, field_name: str, value: str) -> list[str] | Response:
        fdef = obj.field(field_name)
        if fdef is None or not (fdef.external_id or fdef.id_lookup):
            return error_response(404, "NOT_FOUND", "Provided external ID field does not exist or is not "
                                  f"accessible: {field_name}")
        rows = self.app.store.conn().execute(
            f"SELECT Id FROM {quote_ident(obj.name)} WHERE {quote_ident(fdef.name)} = ? AND IsDeleted = 0",
            (value,)).fetchall()
        return [r[0] for r in rows]

    def get_external(self, req: Request, m: RouteMatch) -> Response:
        """``GET sobjects/{O}/{ExtField}/{value}``."""
        obj = resolve_object(m.group(1))
        field_name, value = m.group(2), unquote_plus(m.group(3))
        if field_name.lower() == "id":
            return self.get(req, _Rematch(m, (obj.name, value)))
        ids = self._by_external(obj, field_name, value)
        if isinstance(ids, Response):
            return ids
        if not ids:
            return error_response(404, "NOT_FOUND", "The requested resource does not exist")
        if len(ids) > 1:
            return json_response(300, [f"/services/data/v{m.version}/sobjects/{obj.name}/{i}" for i in ids])
        return self.get(req, _Rematch(m, (obj.name, ids[0])))

    def upsert(self, req: Request, m: RouteMatch) -> Response:
        """``PATCH sobjects/{O}/{ExtField}/{value}``: 201 created, 200 updated, 300 several matches."""
        obj = resolve_object(m.group(1))
        body = self._body(req)
        if isinstance(body, Response):
            return body
        locked = self._locked(None)
        if locked:
            return locked
        try:
            with self.app.store.write() as conn:
                record_id, created = self.app.dml.upsert(conn, obj, m.group(2), unquote_plus(m.group(3)), body,
                                                         self._ctx(req))
        except DmlError as exc:
            if exc.status == 300:
                return json_response(300, [f"/services/data/v{m.version}/sobjects/{obj.name}/{i}"
                                           for i in re.findall(r"[0-9A-Za-z]{18}", exc.message)])
            return dml_error(exc)
        return json_response(201 if created else 200, {"id": record_id, "success": True, "errors": [],
                                                       "created": created})

    def delete_external(self, req: Request, m: RouteMatch) -> Response:
        """``DELETE sobjects/{O}/{ExtField}/{value}``."""
        obj = resolve_object(m.group(1))
        ids = self._by_external(obj, m.group(2), unquote_plus(m.group(3)))
        if isinstance(ids, Response):
            return ids
        if not ids:
            return error_response(404, "NOT_FOUND", "The requested resource does not exist")
        if len(ids) > 1:
            return json_response(300, [f"/services/data/v{m.version}/sobjects/{obj.name}/{i}" for i in ids])
        return self.delete(req, _Rematch(m, (obj.name, ids[0])))


class _Rematch:
    """A RouteMatch stand-in with replaced groups (for delegating between handlers)."""

    def __init__(self, original: RouteMatch, groups: tuple[str, ...]) -> None:
        self.version = original.version
        self._groups = groups

    def group(self, index: int) -> str:
        return self._groups[index - 1]
