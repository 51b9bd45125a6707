"""Composite resources: ``composite`` (references, ``allOrNone``), ``composite/batch`` and sObject Collections.

A composite request runs its sub-requests through the same REST handlers as single calls, in
one transaction: with ``allOrNone`` a failure rolls every write back. ``@{ref.path}`` in a
sub-request's URL or body is replaced by a value of an earlier answer (``@{NewAccount.id}``,
``@{Q.records[0].Id}``). The whole request counts as one API call.

Collections (``composite/sobjects``) take up to 200 records: create (POST), update (PATCH),
upsert by external id (PATCH ``composite/sobjects/{O}/{Field}``), delete (DELETE ``?ids=``) and
retrieve (GET ``composite/sobjects/{O}?ids=&fields=`` or POST with ``{"ids", "fields"}``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from email.message import Message
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from emulator.dml import DmlError, WriteContext, record_json, resolve_object
from emulator.ids import to_18
from emulator.schema import object_for_id
from emulator.store import quote_ident
from emulator.web import Request, Response, error_response, json_response

if TYPE_CHECKING:
    from emulator.app import EmulatorApp, RouteMatch

MAX_SUBREQUESTS = 25
MAX_COLLECTION = 200
_REFERENCE = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])*)\}")
_ROLLED_BACK = {"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "message": "Record rolled back because not all records were valid and the request was using "
                           "AllOrNone header", "fields": []}


class _Rollback(Exception):
    """Raised inside the composite transaction to undo every write."""


class SubRequest:
    """A request made from inside a composite call; quacks like :class:`emulator.web.Request`."""

    def __init__(self, parent: Request, method: str, url: str, body: Any, headers: dict[str, str] | None) -> None:
        parts = urlsplit(url)
        self.method = method.upper()
        self.raw_path = parts.path
        self.segments = [unquote(s) for s in parts.path.split("/")]
        self.query = parse_qs(parts.query, keep_blank_values=True)
        self.headers = Message()
        for name, value in (headers or {}).items():
            self.headers[name] = value
        self._body = b"" if body is None else json.dumps(body).encode("utf-8")
        self.user_id = parent.user_id
        self._host = parent.host

    @property
    def host(self) -> str:
        """The parent request's Host."""
        return self._host

    def param(self, name: str, default: str | None = None) -> str | None:
        """First value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else default

    def header(self, name: str, default: str | None = None) -> str | None:
        """A sub-request header."""
        return self.headers.get(name, default)

    def body(self) -> bytes:
        """The sub-request body (JSON)."""
        return self._body

    def json(self) -> Any:
        """The body parsed as JSON (None when empty)."""
        return json.loads(self._body) if self._body else None

    def drain(self) -> None:
        """Nothing to drain."""


def _decode(response: Response) -> Any:
    if response.stream is not None:
        data = b"".join(response.stream)
    else:
        data = response.body
    if not data:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return data.decode("utf-8", "replace")


def _lookup(answers: dict[str, Any], ref: str, path: str) -> Any:
    if ref not in answers:
        raise KeyError(f"{ref}{path}")
    value = answers[ref]
    for step in re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+)\]", path):
        key, index = step
        if key:
            if not isinstance(value, dict) or key not in value:
                raise KeyError(f"{ref}{path}")
            value = value[key]
        else:
            if not isinstance(value, list) or int(index) >= len(value):
                raise KeyError(f"{ref}{path}")
            value = value[int(index)]
    return value


def _substitute(value: Any, answers: dict[str, Any]) -> Any:
    """Replace ``@{ref.path}`` in strings (recursively in dicts and lists)."""
    if isinstance(value, str):
        whole = _REFERENCE.fullmatch(value)
        if whole:
            return _lookup(answers, whole.group(1), whole.group(2))
        return _REFERENCE.sub(lambda m: str(_lookup(answers, m.group(1), m.group(2))), value)
    if isinstance(value, dict):
        return {k: _substitute(v, answers) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, answers) for v in value]
    return value


class CompositeRoutes:
    """Handlers of ``composite``, ``composite/batch`` and ``composite/sobjects``.

    Args:
        app: The emulator application.
    """

    def __init__(self, app: EmulatorApp) -> None:
        self.app = app

    # -- helpers ---------------------------------------------------------------------------------

    def _body(self, req: Request) -> Any:
        try:
            return req.json()
        except ValueError as exc:
            raise DmlError("JSON_PARSER_ERROR", f"Unexpected character: {exc}") from None

    def _run(self, parent: Request, method: str, url: str, body: Any, headers: dict[str, str] | None = None
             ) -> Response:
        """Dispatch one sub-request through the REST route table (not counted on its own)."""
        sub = SubRequest(parent, method, url, body, headers)
        if "/composite" in sub.raw_path or "/jobs/" in sub.raw_path:
            return error_response(400, "INVALID_API_INPUT", f"The URL {url} is not supported in a composite request")
        return self.app.dispatch_route(sub)  # type: ignore[arg-type]

    # -- composite -------------------------------------------------------------------------------

    def composite(self, req: Request, m: RouteMatch) -> Response:
        """``POST composite``: sub-requests with references, optionally all or none."""
        body = self._body(req)
        subs = body.get("compositeRequest") if isinstance(body, dict) else None
        if not isinstance(subs, list) or not subs:
            return error_response(400, "INVALID_API_INPUT", "compositeRequest is required")
        if len(subs) > MAX_SUBREQUESTS:
            return error_response(400, "INVALID_API_INPUT", f"Number of subrequests exceeded the limit of "
                                  f"{MAX_SUBREQUESTS}")
        refs = [s.get("referenceId") for s in subs if isinstance(s, dict)]
        if len(refs) != len(subs) or not all(isinstance(r, str) and r for r in refs) or len(set(refs)) != len(refs):
            return error_response(400, "INVALID_API_INPUT", "Every subrequest needs a unique referenceId")
        all_or_none = bool(body.get("allOrNone"))
        results: list[dict[str, Any]] = []
        try:
            with self.app.store.write():
                failed = self._composite_steps(req, subs, results, all_or_none)
                if failed and all_or_none:
                    raise _Rollback
        except _Rollback:
            halted = {"errorCode": "PROCESSING_HALTED", "message": "The transaction was rolled back since "
                      "another operation in the same transaction failed."}
            for entry in results:
                if entry["httpStatusCode"] < 400:
                    entry.update({"body": [halted], "httpHeaders": {}, "httpStatusCode": 400})
        return json_response(200, {"compositeResponse": results})

    def _composite_steps(self, req: Request, subs: list[dict[str, Any]], results: list[dict[str, Any]],
                         all_or_none: bool) -> bool:
        answers: dict[str, Any] = {}
        failed = False
        for sub in subs:
            ref = sub["referenceId"]
            if failed and all_or_none:
                results.append({"body": [{"errorCode": "PROCESSING_HALTED", "message": "The transaction was "
                                "rolled back since another operation in the same transaction failed."}],
                                "httpHeaders": {}, "httpStatusCode": 400, "referenceId": ref})
                continue
            try:
                url = _substitute(str(sub.get("url") or ""), answers)
                payload = _substitute(sub.get("body"), answers)
            except KeyError as exc:
                failed = True
                results.append({"body": [{"errorCode": "PROCESSING_HALTED", "message": "Invalid reference "
                                f"specified. No value for {exc.args[0]} found in any previous response."}],
                                "httpHeaders": {}, "httpStatusCode": 400, "referenceId": ref})
                continue
            response = self._run(req, str(sub.get("method") or "GET"), url, payload, sub.get("httpHeaders"))
            decoded = _decode(response)
            headers: dict[str, str] = {}
            if response.status == 201 and isinstance(decoded, dict) and decoded.get("id"):
                headers["Location"] = f"{url.split('?')[0].rstrip('/')}/{decoded['id']}"
            results.append({"body": decoded, "httpHeaders": headers, "httpStatusCode": response.status,
                            "referenceId": ref})
            if response.status >= 400:
                failed = True
            else:
                answers[ref] = decoded
        return failed

    # -- composite batch -------------------------------------------------------------------------

    def batch(self, req: Request, m: RouteMatch) -> Response:
        """``POST composite/batch``: independent sub-requests (``haltOnError`` stops at the first error)."""
        body = self._body(req)
        subs = body.get("batchRequests") if isinstance(body, dict) else None
        if not isinstance(subs, list) or not subs:
            return error_response(400, "INVALID_API_INPUT", "batchRequests is required")
        if len(subs) > MAX_SUBREQUESTS:
            return error_response(400, "INVALID_API_INPUT", f"Number of subrequests exceeded the limit of "
                                  f"{MAX_SUBREQUESTS}")
        halt = bool(body.get("haltOnError"))
        results: list[dict[str, Any]] = []
        errors = False
        for sub in subs:
            if errors and halt:
                results.append({"statusCode": 412, "result": [{"errorCode": "BATCH_PROCESSING_HALTED",
                                                               "message": "Batch processing halted per request"}]})
                continue
            url = str(sub.get("url") or "").lstrip("/")
            if not url.startswith("services/"):
                url = f"services/data/{url}"
            response = self._run(req, str(sub.get("method") or "GET"), "/" + url, sub.get("richInput"))
            results.append({"statusCode": response.status, "result": _decode(response)})
            errors = errors or response.status >= 400
        return json_response(200, {"hasErrors": errors, "results": results})

    # -- sObject Collections ---------------------------------------------------------------------

    def _records(self, req: Request) -> tuple[list[dict[str, Any]], bool] | Response:
        body = self._body(req)
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            return error_response(400, "INVALID_API_INPUT", "records is required and must be a list of sObjects")
        if len(records) > MAX_COLLECTION:
            return error_response(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than "
                                  f"{MAX_COLLECTION} records into this call")
        return records, bool(body.get("allOrNone"))

    def _collection(self, items: Iterable[Any], all_or_none: bool, apply: Any) -> Response:
        """Apply ``apply(conn, item) -> result`` per item with savepoints; undo everything if all-or-none fails."""
        results: list[dict[str, Any]] = []
        try:
            with self.app.store.write() as conn:
                for item in items:
                    conn.execute("SAVEPOINT collection_row")
                    try:
                        if self.app.faults.lock_row():
                            raise DmlError("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record "
                                           "or 1 records")
                        results.append(apply(conn, item))
                    except DmlError as exc:
                        conn.execute("ROLLBACK TO collection_row")
                        results.append({"id": None, "success": False, "errors": [
                            {"statusCode": exc.code, "message": exc.message, "fields": exc.fields}]})
                    finally:
                        conn.execute("RELEASE collection_row")
                if all_or_none and not all(r["success"] for r in results):
                    raise _Rollback
        except _Rollback:
            for entry in results:
                if entry["success"]:
                    entry.update({"id": None, "success": False, "errors": [dict(_ROLLED_BACK)]})
                    entry.pop("created", None)
        return json_response(200, results)

    @staticmethod
    def _typed(record: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        attributes = record.get("attributes")
        name = attributes.get("type") if isinstance(attributes, dict) else None
        if not name:
            raise DmlError("INVALID_API_INPUT", "Each record needs attributes with a type")
        try:
            obj = resolve_object(str(name))
        except DmlError:
            raise DmlError("INVALID_TYPE", f"sObject type '{name}' is not supported.") from None
        return obj, {k: v for k, v in record.items() if k != "attributes"}

    def create(self, req: Request, m: RouteMatch) -> Response:
        """``POST composite/sobjects``: create up to 200 records."""
        parsed = self._records(req)
        if isinstance(parsed, Response):
            return parsed
        records, all_or_none = parsed
        ctx = WriteContext(req.user_id or "", "json")

        def apply(conn: Any, record: dict[str, Any]) -> dict[str, Any]:
            obj, values = self._typed(record)
            if any(k.lower() == "id" for k in values):
                raise DmlError("INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
            return {"id": self.app.dml.insert(conn, obj, values, ctx), "success": True, "errors": []}

        return self._collection(records, all_or_none, apply)

    def update(self, req: Request, m: RouteMatch) -> Response:
        """``PATCH composite/sobjects``: update up to 200 records by Id."""
        parsed = self._records(req)
        if isinstance(parsed, Response):
            return parsed
        records, all_or_none = parsed
        ctx = WriteContext(req.user_id or "", "json")

        def apply(conn: Any, record: dict[str, Any]) -> dict[str, Any]:
            obj, values = self._typed(record)
            key = next((k for k in values if k.lower() == "id"), None)
            if key is None or not values[key]:
                raise DmlError("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
            record_id = values.pop(key)
            return {"id": self.app.dml.update(conn, obj, str(record_id), values, ctx, for_bulk=True),
                    "success": True, "errors": []}

        return self._collection(records, all_or_none, apply)

    def upsert(self, req: Request, m: RouteMatch) -> Response:
        """``PATCH composite/sobjects/{O}/{ExtField}``: upsert up to 200 records by an external id."""
        obj = resolve_object(m.group(1))
        ext = obj.field(m.group(2))
        if ext is None or not (ext.external_id or ext.name == "Id"):
            return error_response(400, "INVALID_FIELD", f"Field name provided, {m.group(2)} is not an External ID "
                                  f"or indexed field for {obj.name}")
        parsed = self._records(req)
        if isinstance(parsed, Response):
            return parsed
        records, all_or_none = parsed
        ctx = WriteContext(req.user_id or "", "json")

        def apply(conn: Any, record: dict[str, Any]) -> dict[str, Any]:
            rec_obj, values = self._typed(record)
            if rec_obj is not obj:
                raise DmlError("INVALID_TYPE", f"The record type {rec_obj.name} does not match {obj.name}")
            key = next((k for k in values if k.lower() == ext.name.lower()), ext.name)
            record_id, created = self.app.dml.upsert(conn, obj, ext.name, values.get(key), values, ctx,
                                                     for_bulk=True)
            return {"id": record_id, "success": True, "errors": [], "created": created}

        return self._collection(records, all_or_none, apply)

    def delete(self, req: Request, m: RouteMatch) -> Response:
        """``DELETE composite/sobjects?ids=...&allOrNone=``: delete up to 200 records."""
        ids = [i for i in (req.param("ids") or "").split(",") if i.strip()]
        if not ids:
            return error_response(400, "MISSING_ARGUMENT", "ids parameter is required")
        if len(ids) > MAX_COLLECTION:
            return error_response(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than "
                                  f"{MAX_COLLECTION} records into this call")
        ctx = WriteContext(req.user_id or "", "json")

        def apply(conn: Any, record_id: str) -> dict[str, Any]:
            obj = object_for_id(record_id.strip())
            if obj is None:
                raise DmlError("MALFORMED_ID", f"malformed id {record_id}", ["Id"])
            return {"id": self.app.dml.delete(conn, obj, record_id.strip(), ctx, for_bulk=True), "success": True,
                    "errors": []}

        return self._collection(ids, (req.param("allOrNone") or "").lower() == "true", apply)

    def retrieve(self, req: Request, m: RouteMatch) -> Response:
        """``GET composite/sobjects/{O}?ids=&fields=`` (or POST ``{"ids", "fields"}``): records or null."""
        obj = resolve_object(m.group(1))
        if req.method == "POST":
            body = self._body(req)
            ids = body.get("ids") if isinstance(body, dict) else None
            fields = body.get("fields") if isinstance(body, dict) else None
        else:
            ids = [i for i in (req.param("ids") or "").split(",") if i]
            fields = [f for f in (req.param("fields") or "").split(",") if f]
        if not ids or not fields:
            return error_response(400, "MISSING_ARGUMENT", "ids and fields are required")
        if len(ids) > 2000:
            return error_response(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 2000 "
                                  "records into this call")
        for name in fields:
            if obj.field(str(name)) is None:
                return error_response(400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {obj.name}")
        out: list[dict[str, Any] | None] = []
        conn = self.app.store.conn()
        for raw_id in ids:
            full = to_18(str(raw_id).strip())
            row = None
            if full is not None:
                cur = conn.execute(f"SELECT * FROM {quote_ident(obj.name)} WHERE Id = ? AND IsDeleted = 0", (full,))
                found = cur.fetchone()
                if found is not None:
                    row = dict(zip([d[0] for d in cur.description], found, strict=True))
            if row is None:
                out.append(None)
                continue
            record = record_json(obj, row, m.version, [str(f) for f in fields])
            order = ["attributes"] + [obj.field(str(f)).name for f in fields]  # type: ignore[union-attr]
            out.append({k: record[k] for k in order if k in record})
        return json_response(200, out)
