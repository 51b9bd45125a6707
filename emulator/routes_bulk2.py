"""Bulk API 2.0 routes under ``/services/data/vXX.X/jobs/``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from emulator.bulk2 import JobError
from emulator.web import Request, Response, error_response, json_response

if TYPE_CHECKING:
    from emulator.app import EmulatorApp, RouteMatch

CSV_TYPE = "text/csv; charset=UTF-8"


def job_error(exc: JobError) -> Response:
    """A job failure in Salesforce's REST error format."""
    return error_response(exc.status, exc.code, exc.message)


class Bulk2Routes:
    """Handlers for query and ingest jobs.

    Args:
        app: The emulator application.
    """

    def __init__(self, app: EmulatorApp) -> None:
        self.app = app
        self.jobs = app.jobs

    def _json_body(self, req: Request) -> object:
        try:
            return req.json()
        except ValueError:
            raise JobError(400, "JSON_PARSER_ERROR", "The request body is not valid JSON") from None

    # -- query jobs ------------------------------------------------------------------------------

    def create_query(self, req: Request, m: RouteMatch) -> Response:
        """``POST jobs/query`` (JSON answer whatever the Accept header says)."""
        info = self.jobs.create_query(self._json_body(req), m.version, req.user_id or "")
        return json_response(200, self.jobs.public(info))

    def list_query(self, req: Request, m: RouteMatch) -> Response:
        """``GET jobs/query``."""
        return json_response(200, self.jobs.list("V2Query"))

    def query_job(self, req: Request, m: RouteMatch) -> Response:
        """``GET jobs/query/{id}``."""
        return json_response(200, self.jobs.public(self.jobs.get(m.group(1), "V2Query")))

    def patch_query(self, req: Request, m: RouteMatch) -> Response:
        """``PATCH jobs/query/{id}`` with ``{"state": "Aborted"}``."""
        body = self._json_body(req)
        if not isinstance(body, dict) or body.get("state") != "Aborted":
            raise JobError(400, "INVALIDJOBSTATE", "Only the Aborted state can be set on a query job")
        return json_response(200, self.jobs.public(self.jobs.abort(m.group(1), "V2Query")))

    def delete_query(self, req: Request, m: RouteMatch) -> Response:
        """``DELETE jobs/query/{id}`` (204)."""
        self.jobs.delete(m.group(1), "V2Query")
        return Response(204, content_type=None)

    def query_results(self, req: Request, m: RouteMatch) -> Response:
        """``GET jobs/query/{id}/results?maxRecords=&locator=``: one CSV page, streamed."""
        raw_max = req.param("maxRecords")
        max_records = None
        if raw_max not in (None, ""):
            if not raw_max.isdigit() or int(raw_max) <= 0:
                raise JobError(400, "INVALIDREQUEST", f"maxRecords must be a positive integer: {raw_max}")
            max_records = int(raw_max)
        locator = req.param("locator")
        if locator in ("", "null"):
            locator = None
        count, next_locator, chunks = self.jobs.query_results(m.group(1), locator, max_records)
        response = Response(200, content_type=CSV_TYPE, stream=chunks)
        response.add_header("Sforce-Locator", next_locator)
        response.add_header("Sforce-NumberOfRecords", str(count))
        response.drop = self.app.faults.drop_page()
        return response

    # -- ingest jobs -----------------------------------------------------------------------------

    def create_ingest(self, req: Request, m: RouteMatch) -> Response:
        """``POST jobs/ingest`` (state Open)."""
        info = self.jobs.create_ingest(self._json_body(req), m.version, req.user_id or "")
        return json_response(200, self.jobs.public(info))

    def list_ingest(self, req: Request, m: RouteMatch) -> Response:
        """``GET jobs/ingest``."""
        return json_response(200, self.jobs.list("V2Ingest"))

    def ingest_job(self, req: Request, m: RouteMatch) -> Response:
        """``GET jobs/ingest/{id}``."""
        return json_response(200, self.jobs.public(self.jobs.get(m.group(1), "V2Ingest")))

    def upload(self, req: Request, m: RouteMatch) -> Response:
        """``PUT jobs/ingest/{id}/batches``: the CSV, streamed to disk (201)."""
        info = self.jobs.accept_upload(m.group(1))
        size = req.body_to_file(self.jobs.upload_path(info["id"]))
        if size == 0:
            raise JobError(400, "INVALIDREQUEST", "The request body is empty")
        self.jobs.mark_uploaded(info, size)
        return Response(201, content_type=None)

    def patch_ingest(self, req: Request, m: RouteMatch) -> Response:
        """``PATCH jobs/ingest/{id}``: ``UploadComplete`` processes the data, ``Aborted`` stops the job."""
        body = self._json_body(req)
        state = body.get("state") if isinstance(body, dict) else None
        if state == "UploadComplete":
            info = self.jobs.close(m.group(1))
        elif state == "Aborted":
            info = self.jobs.abort(m.group(1), "V2Ingest")
        else:
            raise JobError(400, "INVALIDJOBSTATE", f"Invalid state: {state}")
        return json_response(200, self.jobs.public(info))

    def delete_ingest(self, req: Request, m: RouteMatch) -> Response:
        """``DELETE jobs/ingest/{id}`` (204)."""
        self.jobs.delete(m.group(1), "V2Ingest")
        return Response(204, content_type=None)

    def ingest_results(self, req: Request, m: RouteMatch) -> Response:
        """``GET jobs/ingest/{id}/successfulResults|failedResults|unprocessedrecords``."""
        which = {"successfulresults": "success", "failedresults": "failed",
                 "unprocessedrecords": "unprocessed"}[m.group(2).lower()]
        return Response(200, content_type=CSV_TYPE, stream=self.jobs.ingest_results(m.group(1), which))
