"""Bulk API 1.0 routes under ``/services/async/{version}/``.

Authentication is the ``X-SFDC-Session`` header (an invalid one: HTTP 400 ``InvalidSessionId``).
Answers about a job or its batches use the job's content type: JSON for JSON jobs, XML for
CSV and XML jobs; job requests are read (and job creation answered) in the request's format.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from emulator.bulk1 import Bulk1Error, Bulk1Jobs
from emulator.bulk1_wire import (
    WireError,
    parse_job_body,
    render_batch_list,
    render_dml_results,
    render_error,
    render_info,
    render_result_ids,
)
from emulator.soql import SoqlError
from emulator.web import Request, Response

if TYPE_CHECKING:
    from collections.abc import Callable

    from emulator.app import EmulatorApp

_ASYNC = re.compile(r"^/services/async/(\d+\.\d+)(/.*)?$")


@dataclass(frozen=True)
class _Route:
    pattern: re.Pattern[str]
    methods: dict[str, tuple[str, str]]


_ROUTES = [
    _Route(re.compile(r"^/job/?$"), {"POST": ("bulk1_job_create", "create_job")}),
    _Route(re.compile(r"^/job/([^/]+)/?$"), {"GET": ("bulk1_job_info", "job_info"),
                                             "POST": ("bulk1_job_close", "close_job")}),
    _Route(re.compile(r"^/job/([^/]+)/batch/?$"), {"POST": ("bulk1_batch_create", "add_batch"),
                                                   "GET": ("bulk1_batch_list", "list_batches")}),
    _Route(re.compile(r"^/job/([^/]+)/batch/([^/]+)/?$"), {"GET": ("bulk1_batch_info", "batch_info")}),
    _Route(re.compile(r"^/job/([^/]+)/batch/([^/]+)/request/?$"), {"GET": ("bulk1_batch_request", "batch_request")}),
    _Route(re.compile(r"^/job/([^/]+)/batch/([^/]+)/result/?$"), {"GET": ("bulk1_batch_result_list",
                                                                          "batch_results")}),
    _Route(re.compile(r"^/job/([^/]+)/batch/([^/]+)/result/([^/]+)/?$"), {"GET": ("bulk1_batch_result",
                                                                                  "query_result")}),
]


def is_async_path(path: str) -> bool:
    """True for ``/services/async/{version}/...`` paths."""
    return _ASYNC.match(path) is not None


def _wants_xml(req: Request) -> bool:
    ctype = (req.header("Content-Type") or "").lower()
    return "json" not in ctype


class Bulk1Routes:
    """Dispatch and handlers of the async API.

    Args:
        app: The emulator application.
    """

    def __init__(self, app: EmulatorApp) -> None:
        self.app = app
        self.jobs = Bulk1Jobs(app, app.config.state_dir / "jobs_v1")

    def _error(self, status: int, code: str, message: str, as_xml: bool) -> Response:
        body, ctype = render_error(code, message, as_xml)
        return Response(status, body, ctype)

    def _job_xml(self, job_id: str, fallback: bool) -> bool:
        try:
            return self.jobs.get(job_id)["contentType"] != "JSON"
        except Bulk1Error:
            return fallback

    def __call__(self, req: Request) -> Response:
        """Authenticate, account, inject faults and route one async API request."""
        found = _ASYNC.match(req.raw_path)
        assert found is not None
        version, rest = found.group(1), found.group(2) or "/"
        as_xml = _wants_xml(req)
        token = (req.header("X-SFDC-Session") or "").strip()
        if not token:
            header = req.header("Authorization") or ""
            token = header[7:].strip() if header[:7].lower() == "bearer " else ""
        user_id = self.app.sessions.validate(token or None)
        if user_id is None:
            return self._error(400, "InvalidSessionId", "Invalid session id", as_xml)
        req.user_id = user_id
        matched = None
        for route in _ROUTES:
            hit = route.pattern.match(rest)
            if hit:
                matched = (route, hit)
                break
        entry = matched[0].methods.get(req.method) if matched else None
        kind = entry[0] if entry else ("not_found" if matched is None else "method_not_allowed")
        if matched is not None and matched[1].groups():
            as_xml = self._job_xml(matched[1].group(1), as_xml)
        if not self.app.accounting.try_consume(kind):
            return self._error(403, "ExceededQuota", "TotalRequests Limit exceeded.", as_xml)
        delay = self.app.faults.latency_seconds()
        if delay:
            time.sleep(delay)
        status = self.app.faults.server_error()
        if status:
            code = "ServerUnavailable" if status == 503 else "InternalServerError"
            return self._error(status, code, "An unexpected error occurred (emulated fault)", as_xml)
        if matched is None:
            return self._error(404, "InvalidUrl", f"Destination URL not reset. The URL returned from login must "
                               f"be used: {req.raw_path}", as_xml)
        if entry is None:
            return self._error(405, "InvalidUrl", f"HTTP method '{req.method}' not allowed", as_xml)
        handler: Callable[..., Response] = getattr(self, entry[1])
        try:
            return handler(req, version, as_xml, *matched[1].groups())
        except Bulk1Error as exc:
            return self._error(exc.status, exc.code, exc.message, as_xml)
        except WireError as exc:
            return self._error(400, exc.code, exc.message, as_xml)

    # -- handlers --------------------------------------------------------------------------------

    @staticmethod
    def _info(status: int, kind: str, info: dict[str, Any], as_xml: bool) -> Response:
        body, ctype = render_info(kind, info, as_xml)
        return Response(status, body, ctype)

    def create_job(self, req: Request, version: str, as_xml: bool) -> Response:
        """``POST job``: a ``jobInfo`` in JSON or XML; answered 201 in the same format."""
        body = parse_job_body(req.body(), (req.header("Content-Type") or "").lower())
        info = self.jobs.create(body, version, req.user_id or "", req.header("Sforce-Enable-PKChunking"),
                                req.header("Sforce-Disable-Batch-Retry"))
        return self._info(201, "jobInfo", self.jobs.job_view(info), _wants_xml(req))

    def job_info(self, req: Request, version: str, as_xml: bool, job_id: str) -> Response:
        """``GET job/{id}``."""
        return self._info(200, "jobInfo", self.jobs.job_view(self.jobs.get(job_id)), _wants_xml(req))

    def close_job(self, req: Request, version: str, as_xml: bool, job_id: str) -> Response:
        """``POST job/{id}`` with ``{"state": "Closed"}`` (or ``Aborted``)."""
        body = parse_job_body(req.body(), (req.header("Content-Type") or "").lower())
        info = self.jobs.set_state(job_id, str(body.get("state") or ""))
        return self._info(200, "jobInfo", self.jobs.job_view(info), _wants_xml(req))

    def add_batch(self, req: Request, version: str, as_xml: bool, job_id: str) -> Response:
        """``POST job/{id}/batch``: SOQL text or records; answered 201 with the batch (state Queued)."""
        try:
            batch = self.jobs.add_batch(job_id, req.body())
        except SoqlError as exc:  # pragma: no cover - query errors fail the batch instead
            raise Bulk1Error(400, "InvalidBatch", exc.message) from None
        return self._info(201, "batchInfo", self.jobs.batch_view(batch), as_xml)

    def list_batches(self, req: Request, version: str, as_xml: bool, job_id: str) -> Response:
        """``GET job/{id}/batch``: every batch of the job."""
        info = self.jobs.get(job_id)
        body, ctype = render_batch_list([self.jobs.batch_view(b) for b in info["_batches"]], as_xml)
        return Response(200, body, ctype)

    def batch_info(self, req: Request, version: str, as_xml: bool, job_id: str, batch_id: str) -> Response:
        """``GET job/{id}/batch/{bid}``."""
        _info, batch = self.jobs.batch(job_id, batch_id)
        return self._info(200, "batchInfo", self.jobs.batch_view(batch), as_xml)

    def batch_request(self, req: Request, version: str, as_xml: bool, job_id: str, batch_id: str) -> Response:
        """``GET job/{id}/batch/{bid}/request``: the batch as submitted."""
        info = self.jobs.get(job_id)
        ctype = {"JSON": "application/json", "CSV": "text/csv;charset=UTF-8"}.get(info["contentType"],
                                                                                 "application/xml;charset=UTF-8")
        return Response(200, self.jobs.request_body(job_id, batch_id), ctype)

    def batch_results(self, req: Request, version: str, as_xml: bool, job_id: str, batch_id: str) -> Response:
        """``GET job/{id}/batch/{bid}/result``: result-set ids (queries) or per-record results (DML)."""
        info, ids = self.jobs.result_ids(job_id, batch_id)
        if ids is not None:
            body, ctype = render_result_ids(ids, as_xml)
        else:
            body, ctype = render_dml_results(self.jobs.dml_results(job_id, batch_id), info["contentType"])
        response = Response(200, body, ctype)
        response.drop = ids is None and self.app.faults.drop_page()
        return response

    def query_result(self, req: Request, version: str, as_xml: bool, job_id: str, batch_id: str,
                     result_id: str) -> Response:
        """``GET job/{id}/batch/{bid}/result/{rid}``: one result set, streamed."""
        info, chunks = self.jobs.query_result(job_id, batch_id, result_id)
        ctype = {"JSON": "application/json", "CSV": "text/csv;charset=UTF-8"}.get(info["contentType"],
                                                                                 "application/xml;charset=UTF-8")
        response = Response(200, content_type=ctype, stream=chunks)
        response.drop = self.app.faults.drop_page()
        return response
