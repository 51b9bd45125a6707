"""The admin endpoint ``/__admin/...`` (JSON; never counted as API calls, never faulted)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from emulator import planting
from emulator.auth import API_USER_ID
from emulator.dml import DmlError, WriteContext, record_json, resolve_object
from emulator.ids import to_18
from emulator.store import quote_ident
from emulator.web import Request, Response, json_response

if TYPE_CHECKING:
    from emulator.app import EmulatorApp, RouteMatch


def _error(status: int, message: str, code: str = "BAD_REQUEST") -> Response:
    return json_response(status, {"error": code, "message": message})


class AdminRoutes:
    """Handlers behind :class:`emulator.admin.AdminClient`.

    Args:
        app: The emulator application.
    """

    def __init__(self, app: EmulatorApp) -> None:
        self.app = app

    def _body(self, req: Request) -> dict[str, Any]:
        try:
            body = req.json()
        except ValueError:
            raise DmlError("BAD_REQUEST", "the body is not valid JSON") from None
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise DmlError("BAD_REQUEST", "the body must be a JSON object")
        return body

    def health(self, req: Request, m: RouteMatch) -> Response:
        """``GET health``."""
        return json_response(200, {"status": "ok", "pid": __import__("os").getpid(), "url": self.app.base_url})

    def stats(self, req: Request, m: RouteMatch) -> Response:
        """``GET stats``: API accounting, plus jobs and fault counters."""
        body = self.app.accounting.stats()
        body["faults_injected"] = self.app.faults.snapshot()["injected"]
        return json_response(200, body)

    def reset_stats(self, req: Request, m: RouteMatch) -> Response:
        """``POST stats/reset``."""
        self.app.accounting.reset_stats()
        return json_response(200, self.app.accounting.stats())

    def api_usage(self, req: Request, m: RouteMatch) -> Response:
        """``POST api-usage`` ``{"used": n, "max": m}``."""
        body = self._body(req)
        if "used" not in body:
            return _error(400, "'used' is required")
        self.app.accounting.set_usage(int(body["used"]), body.get("max"))
        return json_response(200, self.app.accounting.stats()["api_usage"])

    def get_faults(self, req: Request, m: RouteMatch) -> Response:
        """``GET faults``."""
        return json_response(200, self.app.faults.snapshot())

    def set_faults(self, req: Request, m: RouteMatch) -> Response:
        """``POST faults``: merge settings."""
        try:
            return json_response(200, self.app.faults.update(self._body(req)))
        except (ValueError, TypeError) as exc:
            return _error(400, str(exc))

    def clear_faults(self, req: Request, m: RouteMatch) -> Response:
        """``DELETE faults``."""
        return json_response(200, self.app.faults.clear())

    def expire_sessions(self, req: Request, m: RouteMatch) -> Response:
        """``POST sessions/expire``."""
        return json_response(200, {"expired": self.app.sessions.expire_all()})

    def clock(self, req: Request, m: RouteMatch) -> Response:
        """``POST clock`` ``{"offset_seconds": s}``: shift the server's record clock."""
        from emulator.values import CLOCK

        offset = float(self._body(req).get("offset_seconds", 0))
        CLOCK.set_offset(offset)
        return json_response(200, {"offset_seconds": offset, "now": CLOCK.now()})

    def refresh_token(self, req: Request, m: RouteMatch) -> Response:
        """``POST refresh-tokens``: issue a refresh token (as an authorization-code flow would)."""
        return json_response(201, {"refresh_token": self.app.sessions.create_refresh_token(API_USER_ID)})

    def mutate(self, req: Request, m: RouteMatch) -> Response:
        """``POST mutate`` ``{"changes": n, "seed": s}``."""
        body = self._body(req)
        changes = int(body.get("changes", 100))
        if changes < 0:
            return _error(400, "changes must be >= 0")
        seed = body.get("seed")
        return json_response(200, self.app.mutations.run(changes, None if seed is None else int(seed)))

    # -- records ---------------------------------------------------------------------------------

    def _ctx(self) -> WriteContext:
        return WriteContext(API_USER_ID, "admin")

    def insert(self, req: Request, m: RouteMatch) -> Response:
        """``POST records/{O}``."""
        obj = resolve_object(m.group(1))
        body = self._body(req)
        with self.app.store.write() as conn:
            record_id = self.app.dml.insert(conn, obj, body, self._ctx())
        return json_response(201, {"id": record_id})

    def update(self, req: Request, m: RouteMatch) -> Response:
        """``PATCH records/{O}/{id}``."""
        obj = resolve_object(m.group(1))
        body = self._body(req)
        with self.app.store.write() as conn:
            self.app.dml.update(conn, obj, m.group(2), body, self._ctx(), allow_deleted=True)
        return json_response(200, {"id": to_18(m.group(2))})

    def delete(self, req: Request, m: RouteMatch) -> Response:
        """``DELETE records/{O}/{id}`` (to the recycle bin)."""
        obj = resolve_object(m.group(1))
        with self.app.store.write() as conn:
            self.app.dml.delete(conn, obj, m.group(2), self._ctx())
        return json_response(200, {"id": to_18(m.group(2)), "deleted": True})

    def undelete(self, req: Request, m: RouteMatch) -> Response:
        """``POST records/{O}/{id}/undelete``."""
        obj = resolve_object(m.group(1))
        with self.app.store.write() as conn:
            self.app.dml.undelete(conn, obj, m.group(2), self._ctx())
        return json_response(200, {"id": to_18(m.group(2)), "undeleted": True})

    def purge(self, req: Request, m: RouteMatch) -> Response:
        """``POST records/{O}/{id}/purge`` (hard delete)."""
        obj = resolve_object(m.group(1))
        with self.app.store.write() as conn:
            self.app.dml.purge(conn, obj, m.group(2), self._ctx())
        return json_response(200, {"id": to_18(m.group(2)), "purged": True})

    def convert_lead(self, req: Request, m: RouteMatch) -> Response:
        """``POST convert-lead`` ``{"leadId", "contactId"?, "accountId"?, "convertedStatus"?}``."""
        body = self._body(req)
        with self.app.store.write() as conn:
            result = self.app.dml.convert_lead(conn, str(body.get("leadId") or ""), self._ctx(),
                                               contact_id=body.get("contactId"), account_id=body.get("accountId"),
                                               converted_status=body.get("convertedStatus") or "Closed - Converted")
        return json_response(200, result)

    def plant(self, req: Request, m: RouteMatch) -> Response:
        """``POST plant/{O}``: store a record verbatim, bypassing validation (see ``planting``)."""
        obj = resolve_object(m.group(1))
        body = self._body(req)
        with self.app.store.write() as conn:
            record_id = planting.plant(self.app.store, conn, obj, body, self._ctx())
        return json_response(201, {"id": record_id})

    def merge(self, req: Request, m: RouteMatch) -> Response:
        """``POST merge/{O}`` ``{"masterId", "mergeIds": [...]}``: Salesforce's merge."""
        obj = resolve_object(m.group(1))
        body = self._body(req)
        with self.app.store.write() as conn:
            result = planting.merge(conn, obj, str(body.get("masterId") or ""),
                                    [str(i) for i in body.get("mergeIds") or []], self._ctx())
        return json_response(200, result)

    def get(self, req: Request, m: RouteMatch) -> Response:
        """``GET records/{O}/{id}``: every field, deleted records included."""
        obj = resolve_object(m.group(1))
        full = to_18(m.group(2))
        cur = self.app.store.conn().execute(f"SELECT * FROM {quote_ident(obj.name)} WHERE Id = ?", (full,))
        row = cur.fetchone()
        if row is None:
            return _error(404, f"no {obj.name} with id {m.group(2)}", "NOT_FOUND")
        record = dict(zip([d[0] for d in cur.description], row, strict=True))
        return json_response(200, record_json(obj, record, "59.0"))

    def count(self, req: Request, m: RouteMatch) -> Response:
        """``GET count/{O}?include_deleted=0|1``."""
        obj = resolve_object(m.group(1))
        include = (req.param("include_deleted") or "0").lower() in ("1", "true", "yes")
        sql = f"SELECT COUNT(*) FROM {quote_ident(obj.name)}" + ("" if include else " WHERE IsDeleted = 0")
        return json_response(200, {"object": obj.name, "count": self.app.store.conn().execute(sql).fetchone()[0],
                                   "include_deleted": include, "at": time.time()})
