"""The emulator application: wires the org, accounting, faults and routes, and dispatches requests.

Order of checks on ``/services/data/...`` (as on Salesforce): session (401), daily API budget
(403, nothing counted), then the call is counted, injected latency and 500/503 faults apply,
and the route runs. Every answer there carries ``Sforce-Limit-Info``. Logins are matched by
path suffix so ``domain="127.0.0.1:PORT/login"`` works; ``/__admin/`` is never counted.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs

from emulator.accounting import ApiAccounting
from emulator.auth import Credentials, LoginService, Sessions
from emulator.bulk2 import BulkJobs, JobError
from emulator.composite import CompositeRoutes
from emulator.config import ServerConfig
from emulator.dml import Dml, DmlError
from emulator.faults import Faults
from emulator.identity import IDENTITY_PATH, USERINFO_PATH, IdentityRoutes
from emulator.mutations import ChangeGenerator
from emulator.routes_admin import AdminRoutes
from emulator.routes_bulk1 import Bulk1Routes, is_async_path
from emulator.routes_bulk2 import Bulk2Routes, job_error
from emulator.routes_rest import RestRoutes, dml_error, soql_error
from emulator.routes_tooling import ToolingRoutes
from emulator.snapshots import Snapshots
from emulator.soql import SoqlError
from emulator.store import Store
from emulator.web import Request, Response, error_response, json_response

log = logging.getLogger("emulator.app")

Handler = Callable[[Request, "RouteMatch"], Response]
_DATA = r"^/services/data/v(\d+\.\d+)"
_SOAP_LOGIN = re.compile(r"/services/Soap/u/(\d+\.\d+)/?$")
_OAUTH_TOKEN = re.compile(r"/services/oauth2/token/?$")


class RouteMatch:
    """A matched route: regex groups after the version, plus the API version."""

    def __init__(self, match: re.Match[str], version: str) -> None:
        self._match = match
        self.version = version

    def group(self, index: int) -> str:
        """Group ``index`` (1-based, the version excluded)."""
        return self._match.group(index + 1)


@dataclass(frozen=True)
class Route:
    """One API route: methods, path pattern, accounting kind per method, handler per method."""

    pattern: re.Pattern[str]
    handlers: dict[str, tuple[str, Handler]]


def _route(path: str, **methods: tuple[str, Handler]) -> Route:
    return Route(re.compile(_DATA + path + "$"), {k.upper(): v for k, v in methods.items()})


class EmulatorApp:
    """Everything one running emulator serves.

    Args:
        config: Server settings.
    """

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.base_url = ""
        self.store = Store(config.state_dir)
        self.faults = Faults()
        self.accounting = ApiAccounting(self.store, config.api_budget)
        self.sessions = Sessions(self.store, self.faults)
        creds = Credentials(config.username, config.password, config.security_token, config.consumer_key,
                            config.consumer_secret)
        self.login = LoginService(creds, self.sessions)
        self.dml = Dml(self.store)
        self.cursors = Snapshots(self.store, config.state_dir / "cursors")
        self.bulk_results = Snapshots(self.store, config.state_dir / "bulk_results")
        self.jobs = BulkJobs(self, config.state_dir / "jobs")
        self.mutations = ChangeGenerator(self.store, self.dml)
        self.rest = RestRoutes(self)
        self.bulk = Bulk2Routes(self)
        self.bulk1 = Bulk1Routes(self)
        self.identity = IdentityRoutes(self)
        self.composite = CompositeRoutes(self)
        self.admin = AdminRoutes(self)
        self.tooling = ToolingRoutes(self)
        self.routes = self._api_routes()
        self.admin_routes = self._admin_routes()
        self._last_purge = 0.0

    # -- route tables ----------------------------------------------------------------------------

    def _api_routes(self) -> list[Route]:
        rest, bulk, comp = self.rest, self.bulk, self.composite
        return [
            _route("/composite/?", post=("composite", comp.composite)),
            _route("/composite/batch/?", post=("composite_batch", comp.batch)),
            _route("/composite/sobjects/?", post=("composite_sobjects", comp.create),
                   patch=("composite_sobjects", comp.update), delete=("composite_sobjects", comp.delete)),
            _route("/composite/sobjects/([^/]+)/?", get=("composite_sobjects", comp.retrieve),
                   post=("composite_sobjects", comp.retrieve)),
            _route("/composite/sobjects/([^/]+)/([^/]+)/?", patch=("composite_sobjects", comp.upsert)),
            _route("/search/?", get=("search", rest.search)),
            _route("/tooling/sobjects/CustomField/?", post=("tooling_create", self.tooling.create_field)),
            _route("/?", get=("resources", rest.resources)),
            _route("/limits/?", get=("limits", rest.limits)),
            _route("/sobjects/?", get=("describe_global", rest.describe_global)),
            _route("/sobjects/([^/]+)/describe/?", get=("describe", rest.describe)),
            _route("/sobjects/([^/]+)/(updated|deleted)/?", get=("replication", self._replication)),
            _route("/sobjects/([^/]+)/describe/([^/]+)(?:/[^/]+)?/?", get=("describe", rest.describe_part)),
            _route("/sobjects/([^/]+)/?", get=("describe", rest.sobject_info), post=("sobject_create", rest.create)),
            _route("/sobjects/([^/]+)/([^/]+)/?", get=("sobject_read", rest.get),
                   patch=("sobject_update", rest.update), delete=("sobject_delete", rest.delete)),
            _route("/sobjects/([^/]+)/([^/]+)/([^/]+)/?", get=("sobject_read", rest.get_external),
                   patch=("sobject_upsert", rest.upsert), delete=("sobject_delete", rest.delete_external)),
            _route("/(query|queryAll)/?", get=("query", rest.query)),
            _route("/(query|queryAll)/([0-9A-Za-z]+)-(\\d+)/?", get=("query_more", rest.query_more)),
            _route("/jobs/query/?", post=("bulk2_query", bulk.create_query), get=("bulk2_query_list", bulk.list_query)),
            _route("/jobs/query/([^/]+)/?", get=("bulk2_query_status", bulk.query_job),
                   patch=("bulk2_query_abort", bulk.patch_query), delete=("bulk2_query_delete", bulk.delete_query)),
            _route("/jobs/query/([^/]+)/results/?", get=("bulk2_query_results", bulk.query_results)),
            _route("/jobs/ingest/?", post=("bulk2_ingest", bulk.create_ingest),
                   get=("bulk2_ingest_list", bulk.list_ingest)),
            _route("/jobs/ingest/([^/]+)/?", get=("bulk2_ingest_status", bulk.ingest_job),
                   patch=("bulk2_ingest_close", bulk.patch_ingest), delete=("bulk2_ingest_delete", bulk.delete_ingest)),
            _route("/jobs/ingest/([^/]+)/batches/?", put=("bulk2_ingest_upload", bulk.upload)),
            _route("/jobs/ingest/([^/]+)/(successfulResults|failedResults|unprocessedrecords|unprocessedRecords)/?",
                   get=("bulk2_ingest_results", bulk.ingest_results)),
        ]

    def _replication(self, req: Request, m: RouteMatch) -> Response:
        return self.rest.updated(req, m) if m.group(2) == "updated" else self.rest.deleted(req, m)

    def _admin_routes(self) -> list[tuple[str, re.Pattern[str], Handler]]:
        a = self.admin
        table = [
            ("GET", r"health", a.health), ("GET", r"stats", a.stats), ("POST", r"stats/reset", a.reset_stats),
            ("POST", r"api-usage", a.api_usage), ("GET", r"faults", a.get_faults), ("POST", r"faults", a.set_faults),
            ("DELETE", r"faults", a.clear_faults), ("POST", r"sessions/expire", a.expire_sessions),
            ("POST", r"mutate", a.mutate),
            ("POST", r"clock", a.clock), ("POST", r"refresh-tokens", a.refresh_token), ("POST", r"convert-lead", a.convert_lead),
            ("POST", r"plant/([^/]+)", a.plant), ("POST", r"merge/([^/]+)", a.merge),
            ("POST", r"records/([^/]+)", a.insert), ("GET", r"records/([^/]+)/([^/]+)", a.get),
            ("PATCH", r"records/([^/]+)/([^/]+)", a.update), ("DELETE", r"records/([^/]+)/([^/]+)", a.delete),
            ("POST", r"records/([^/]+)/([^/]+)/undelete", a.undelete),
            ("POST", r"records/([^/]+)/([^/]+)/purge", a.purge), ("GET", r"count/([^/]+)", a.count),
        ]
        return [(method, re.compile(r"^/__admin/()" + path + r"/?$"), handler) for method, path, handler in table]

    # -- dispatch --------------------------------------------------------------------------------

    def __call__(self, req: Request) -> Response:
        path = req.raw_path
        if path.startswith("/__admin/"):
            return self._admin(req)
        if req.method == "POST" and _SOAP_LOGIN.search(path):
            return self._soap_login(req, _SOAP_LOGIN.search(path).group(1))  # type: ignore[union-attr]
        if req.method == "POST" and _OAUTH_TOKEN.search(path):
            return self._oauth(req)
        if req.method in ("GET", "POST") and USERINFO_PATH.search(path):
            return self.identity.userinfo(req)
        found = IDENTITY_PATH.match(path)
        if found and req.method in ("GET", "POST"):
            return self.identity.identity(req, found.group(1), found.group(2))
        if re.match(r"^/services/data/?$", path):
            self.accounting.count_anyway("versions")
            return self._with_limit_info(self.rest.versions(req, None))  # type: ignore[arg-type]
        if path.startswith("/services/data/"):
            return self._with_limit_info(self._api(req))
        if is_async_path(path):
            return self.bulk1(req)
        return error_response(404, "NOT_FOUND", "The requested resource does not exist")

    def _with_limit_info(self, response: Response) -> Response:
        return response.add_header("Sforce-Limit-Info", self.accounting.limit_header())

    def _soap_login(self, req: Request, version: str) -> Response:
        self.accounting.count_anyway("login")
        status, xml = self.login.soap_login(req.body(), req.host, version)
        return Response(status, xml.encode("utf-8"), "text/xml;charset=UTF-8")

    def _oauth(self, req: Request) -> Response:
        self.accounting.count_anyway("login")
        ctype = (req.header("Content-Type") or "").lower()
        raw = req.body().decode("utf-8", "replace")
        if ctype and "x-www-form-urlencoded" not in ctype:
            return json_response(400, {"error": "invalid_request", "error_description": "must use HTTP POST with "
                                       "application/x-www-form-urlencoded content"})
        form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        status, body = self.login.oauth_token(form, req.header("Authorization"), req.host)
        return json_response(status, body)

    def _authenticate(self, req: Request) -> str | None:
        header = req.header("Authorization") or ""
        token = None
        if header[:7].lower() == "bearer ":
            token = header[7:].strip()
        elif header[:6].lower() == "oauth ":
            token = header[6:].strip()
        return self.sessions.validate(token)

    def _api(self, req: Request) -> Response:
        user_id = self._authenticate(req)
        if user_id is None:
            return error_response(401, "INVALID_SESSION_ID", "Session expired or invalid")
        req.user_id = user_id
        matched = None
        for route in self.routes:
            found = route.pattern.match(req.raw_path)
            if found:
                matched = (route, found)
                break
        kind = "not_found"
        if matched is not None:
            entry = matched[0].handlers.get(req.method)
            kind = entry[0] if entry else "method_not_allowed"
        if not self.accounting.try_consume(kind):
            return error_response(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        delay = self.faults.latency_seconds()
        if delay:
            time.sleep(delay)
        status = self.faults.server_error()
        if status == 503:
            return error_response(503, "SERVER_UNAVAILABLE", "Server temporarily unavailable (emulated fault)")
        if status == 500:
            return error_response(500, "UNKNOWN_EXCEPTION", "An unexpected error occurred (emulated fault)")
        return self.dispatch_route(req, matched)

    def dispatch_route(self, req: Request, matched: tuple[Route, re.Match[str]] | None = None) -> Response:
        """Run the REST handler of an authenticated, counted request (composite sub-requests come here too)."""
        if matched is None:
            for route in self.routes:
                found = route.pattern.match(req.raw_path)
                if found:
                    matched = (route, found)
                    break
        if matched is None:
            return error_response(404, "NOT_FOUND", "The requested resource does not exist")
        route, found = matched
        entry = route.handlers.get(req.method)
        if entry is None:
            allowed = ",".join(sorted(route.handlers))
            return error_response(405, "METHOD_NOT_ALLOWED",
                                  f"HTTP Method '{req.method}' not allowed. Allowed are {allowed}")
        try:
            return entry[1](req, RouteMatch(found, found.group(1)))
        except SoqlError as exc:
            return soql_error(exc)
        except DmlError as exc:
            return dml_error(exc)
        except JobError as exc:
            return job_error(exc)

    def _admin(self, req: Request) -> Response:
        for method, pattern, handler in self.admin_routes:
            found = pattern.match(req.raw_path)
            if found and method == req.method:
                try:
                    return handler(req, RouteMatch(found, ""))
                except DmlError as exc:
                    return json_response(404 if exc.status == 404 or exc.code in ("NOT_FOUND",
                                                                                  "INVALID_CROSS_REFERENCE_KEY")
                                         else 400, {"error": exc.code, "message": exc.message, "fields": exc.fields})
                except (ValueError, TypeError) as exc:
                    return json_response(400, {"error": "BAD_REQUEST", "message": str(exc)})
        return json_response(404, {"error": "NOT_FOUND", "message": f"no admin route {req.method} {req.raw_path}"})

    # -- housekeeping ----------------------------------------------------------------------------

    def housekeeping(self) -> None:
        """Flush accounting and delete idle cursors and expired job files (run periodically)."""
        self.accounting.flush()
        now = time.monotonic()
        if now - self._last_purge < 30:
            return
        self._last_purge = now
        self.cursors.purge_idle(self.config.cursor_idle_s)
        self.bulk_results.purge_idle(self.config.job_retention_s)
        self.jobs.purge_expired(self.config.job_retention_s)
        self.bulk1.jobs.purge_expired(self.config.job_retention_s)

    def close(self) -> None:
        """Persist counters and close the database."""
        self.accounting.flush()
        self.store.close()
