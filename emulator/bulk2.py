"""Bulk API 2.0 jobs: query jobs over result snapshots, ingest jobs over uploaded CSV files.

Query jobs snapshot their result when created (pages are then read by locator). Ingest jobs
store the upload on disk and process it when the client closes the job, writing the
per-record ``successfulResults``, ``failedResults`` and ``unprocessedrecords`` CSV files as they
go. Jobs report ``JobComplete`` once ``--bulk-delay`` seconds have passed since they were
created (or closed).
"""

from __future__ import annotations

import base64
import csv
import io
import json
import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emulator.dml import NULL_MARKER, DmlError, WriteContext
from emulator.ids import make_id, to_18
from emulator.schema import ObjectDef, get_object
from emulator.snapshots import csv_line
from emulator.values import now_stamp, rest_datetime

if TYPE_CHECKING:
    from emulator.app import EmulatorApp

DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
INGEST_OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
TERMINAL = ("JobComplete", "Failed", "Aborted")
ROWS_PER_TRANSACTION = 2000
FINISHED_RESULTS_GRACE_S = 600.0


class JobError(Exception):
    """A request about a job that Salesforce would refuse (HTTP status, errorCode, message)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def encode_locator(offset: int) -> str:
    """Opaque locator for a results offset (base64 of the number, as Salesforce's look)."""
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def decode_locator(locator: str) -> int:
    """Offset behind a locator; ValueError if it is not one of ours."""
    padded = locator + "=" * (-len(locator) % 4)
    value = int(base64.b64decode(padded, validate=True).decode())
    if value < 0:
        raise ValueError(locator)
    return value


class BulkJobs:
    """All Bulk 2.0 jobs of the org.

    Args:
        app: The emulator application.
        root: Directory for ingest uploads and results (query results live in snapshots).
    """

    def __init__(self, app: EmulatorApp, root: Path) -> None:
        self.app = app
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._jobs: dict[str, dict[str, Any]] = {}
        for job_id, info in app.store.conn().execute("SELECT id, info FROM _jobs WHERE kind != 'Bulk1'"):
            self._jobs[job_id] = json.loads(info)

    # -- bookkeeping -----------------------------------------------------------------------------

    def _new_id(self) -> str:
        return make_id("750", secrets.randbelow(62 ** 9))

    def _save(self, info: dict[str, Any]) -> None:
        info["systemModstamp"] = rest_datetime(now_stamp())
        with self._lock:
            self._jobs[info["id"]] = info
        with self.app.store.write() as conn:
            conn.execute("INSERT INTO _jobs (id, kind, created, info) VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE "
                         "SET info = excluded.info", (info["id"], info["jobType"], info["_created"], json.dumps(info)))

    def get(self, job_id: str, kind: str) -> dict[str, Any]:
        """A job's stored info; JobError 404 if unknown."""
        with self._lock:
            info = self._jobs.get(job_id)
        if info is None or info["jobType"] != kind:
            raise JobError(404, "NOT_FOUND", "The requested resource does not exist")
        self._advance(info)
        return info

    def _advance(self, info: dict[str, Any]) -> None:
        """Move a job to its final state once the configured delay has passed."""
        if info["state"] in ("UploadComplete", "InProgress") and info.get("_final"):
            if time.time() >= info.get("_ready_at", 0):
                info["state"] = info["_final"]
                self._save(info)
            else:
                info["state"] = "InProgress"

    @staticmethod
    def public(info: dict[str, Any]) -> dict[str, Any]:
        """The job as Salesforce shows it (private bookkeeping keys removed)."""
        return {k: v for k, v in info.items() if not k.startswith("_")}

    def list(self, kind: str) -> dict[str, Any]:
        """``GET jobs/query`` / ``GET jobs/ingest``."""
        with self._lock:
            jobs = [info for info in self._jobs.values() if info["jobType"] == kind]
        for info in jobs:
            self._advance(info)
        jobs.sort(key=lambda i: i["_created"])
        return {"done": True, "records": [self.public(i) for i in jobs], "nextRecordsUrl": None}

    def _base(self, kind: str, operation: str, obj_name: str, version: str, user_id: str,
              body: dict[str, Any]) -> dict[str, Any]:
        delimiter = body.get("columnDelimiter") or "COMMA"
        line_ending = body.get("lineEnding") or "LF"
        if delimiter not in DELIMITERS:
            raise JobError(400, "INVALIDJOB", f"Invalid column delimiter: {delimiter}")
        if line_ending not in LINE_ENDINGS:
            raise JobError(400, "INVALIDJOB", f"Invalid line ending: {line_ending}")
        stamp = rest_datetime(now_stamp())
        return {"id": self._new_id(), "operation": operation, "object": obj_name, "createdById": user_id,
                "createdDate": stamp, "systemModstamp": stamp, "state": "Open", "concurrencyMode": "Parallel",
                "contentType": "CSV", "apiVersion": float(version), "jobType": kind, "lineEnding": line_ending,
                "columnDelimiter": delimiter, "_created": time.time()}

    def _finish(self, info: dict[str, Any], final: str, error: str | None = None) -> None:
        info["_final"] = final
        info["_ready_at"] = time.time() + self.app.config.bulk_delay
        info["state"] = "UploadComplete"
        if error:
            info["errorMessage"] = error
        self._save(info)  # the next status read moves it on (the create/close answer says UploadComplete)

    # -- query jobs ------------------------------------------------------------------------------

    def create_query(self, body: Any, version: str, user_id: str) -> dict[str, Any]:
        """Create a query job and snapshot its result; returns the stored info."""
        from emulator.soql import SoqlError, parse
        from emulator.soql_compile import compile_query

        if not isinstance(body, dict):
            raise JobError(400, "INVALIDJOB", "The request body must be a JSON object")
        operation = body.get("operation")
        if operation not in ("query", "queryAll"):
            raise JobError(400, "INVALIDJOB", f"Invalid operation: {operation}")
        text = body.get("query")
        if not text:
            raise JobError(400, "INVALIDJOB", "A query is required for query jobs")
        try:
            compiled = compile_query(parse(text), include_deleted=operation == "queryAll")
        except SoqlError as exc:
            raise JobError(400, exc.code, exc.message) from None
        if compiled.count is not None or compiled.groups:
            raise JobError(400, "API_ERROR", "Aggregate queries are not supported by the Bulk API")
        if any(c.fdef.type == "address" for c in compiled.columns):
            raise JobError(400, "API_ERROR", "FeatureNotEnabled: Selecting compound data not supported in Bulk Query")
        info = self._base("V2Query", operation, compiled.obj.name, version, user_id, body)
        info.update({"numberRecordsProcessed": 0, "retries": 0, "totalProcessingTime": 0,
                     "isPkChunkingSupported": True, "_header": compiled.csv_header, "_total": 0})
        started = time.monotonic()
        if self.app.faults.fail_bulk_job():
            self._finish(info, "Failed", "InternalServerError: the query job failed (emulated fault)")
            return info
        sql, params = compiled.select_sql("csv")
        total = self.app.bulk_results.create(info["id"], sql, params, {"header": compiled.csv_header})
        info["_total"] = total
        info["numberRecordsProcessed"] = total
        info["totalProcessingTime"] = int((time.monotonic() - started) * 1000)
        self._finish(info, "JobComplete")
        return info

    def query_results(self, job_id: str, locator: str | None, max_records: int | None
                      ) -> tuple[int, str, Iterator[bytes]]:
        """(records in page, next locator or ``null``, CSV chunks) for one results page."""
        info = self.get(job_id, "V2Query")
        if info["state"] != "JobComplete":
            raise JobError(400, "API_ERROR" if info["state"] in ("Failed", "Aborted") else "INVALIDJOBSTATE",
                           f"Job is in state {info['state']}; results are available once it is JobComplete")
        try:
            offset = decode_locator(locator) if locator else 0
        except (ValueError, UnicodeDecodeError):
            raise JobError(400, "INVALIDLOCATOR", f"Invalid locator: {locator}") from None
        if not self.app.bulk_results.exists(job_id):
            raise JobError(404, "NOT_FOUND", "The results of this job are no longer available")
        size = max_records or self.app.config.bulk_page_size
        total = int(info["_total"])
        count = max(0, min(size, total - offset))
        next_locator = encode_locator(offset + count) if offset + count < total else "null"
        if next_locator == "null":  # fully read: keep it a while for retries, then free the disk
            self.app.bulk_results.expire_soon(job_id, self.app.config.job_retention_s, FINISHED_RESULTS_GRACE_S)
        delimiter = DELIMITERS[info["columnDelimiter"]]
        terminator = LINE_ENDINGS[info["lineEnding"]]
        return count, next_locator, self._csv_stream(job_id, info["_header"], offset, count, delimiter, terminator)

    def _csv_stream(self, job_id: str, header: list[str], offset: int, count: int, delimiter: str,
                    terminator: str) -> Iterator[bytes]:
        yield csv_line(header, delimiter, terminator)
        if count:
            yield from self.app.bulk_results.iter_csv(job_id, offset, count, delimiter, terminator)

    def abort(self, job_id: str, kind: str) -> dict[str, Any]:
        """PATCH ``{"state": "Aborted"}``."""
        info = self.get(job_id, kind)
        if info["state"] in TERMINAL:
            raise JobError(400, "INVALIDJOBSTATE", f"Cannot abort a job in state {info['state']}")
        info["state"] = "Aborted"
        info.pop("_final", None)
        self._save(info)
        return info

    def delete(self, job_id: str, kind: str) -> None:
        """DELETE a job and its files."""
        info = self.get(job_id, kind)
        if info["state"] in ("UploadComplete", "InProgress"):
            raise JobError(400, "INVALIDJOBSTATE", f"Cannot delete a job in state {info['state']}")
        with self._lock:
            self._jobs.pop(job_id, None)
        with self.app.store.write() as conn:
            conn.execute("DELETE FROM _jobs WHERE id = ?", (job_id,))
        self.app.bulk_results.delete(job_id)
        shutil.rmtree(self.root / job_id, ignore_errors=True)

    def purge_expired(self, retention_s: float) -> int:
        """Forget jobs (and their files) created more than ``retention_s`` seconds ago."""
        cutoff = time.time() - retention_s
        with self._lock:
            old = [job_id for job_id, info in self._jobs.items() if info["_created"] < cutoff
                   and info["state"] not in ("UploadComplete", "InProgress")]
            for job_id in old:
                self._jobs.pop(job_id, None)
        if old:
            with self.app.store.write() as conn:
                conn.executemany("DELETE FROM _jobs WHERE id = ?", [(job_id,) for job_id in old])
        for job_id in old:
            self.app.bulk_results.delete(job_id)
            shutil.rmtree(self.root / job_id, ignore_errors=True)
        return len(old)

    # -- ingest jobs -----------------------------------------------------------------------------

    def create_ingest(self, body: Any, version: str, user_id: str) -> dict[str, Any]:
        """Create an ingest job (state Open)."""
        if not isinstance(body, dict):
            raise JobError(400, "INVALIDJOB", "The request body must be a JSON object")
        operation = body.get("operation")
        if operation not in INGEST_OPERATIONS:
            raise JobError(400, "INVALIDJOB", f"Invalid operation: {operation}")
        obj = get_object(str(body.get("object") or ""))
        if obj is None:
            raise JobError(400, "INVALIDENTITY", f"sObject type '{body.get('object')}' is not supported.")
        if (body.get("contentType") or "CSV") != "CSV":
            raise JobError(400, "INVALIDJOB", "Only CSV content is supported")
        info = self._base("V2Ingest", operation, obj.name, version, user_id, body)
        rule_id = body.get("assignmentRuleId")
        if rule_id:
            found = self.app.store.conn().execute('SELECT SobjectType FROM "AssignmentRule" WHERE Id = ?',
                                                  (str(rule_id),)).fetchone()
            if found is None or found[0] != obj.name:
                raise JobError(400, "INVALIDJOB", f"Invalid assignmentRuleId {rule_id} for {obj.name}")
            info["assignmentRuleId"] = str(rule_id)
        if operation == "upsert":
            ext = body.get("externalIdFieldName") or "Id"
            fdef = obj.field(ext)
            if fdef is None or not (fdef.external_id or fdef.name == "Id"):
                raise JobError(400, "INVALIDJOB", f"The field {ext} is not an external ID field on {obj.name}")
            info["externalIdFieldName"] = fdef.name
        info.update({"contentUrl": f"services/data/v{version}/jobs/ingest/{info['id']}/batches",
                     "numberRecordsProcessed": 0, "numberRecordsFailed": 0, "retries": 0, "totalProcessingTime": 0,
                     "apiActiveProcessingTime": 0, "apexProcessingTime": 0})
        (self.root / info["id"]).mkdir(parents=True, exist_ok=True)
        self._save(info)
        return info

    def upload_path(self, job_id: str) -> Path:
        """Where a job's uploaded CSV is stored."""
        return self.root / job_id / "upload.csv"

    def accept_upload(self, job_id: str) -> dict[str, Any]:
        """Check that a job can take its CSV upload (state Open, nothing uploaded yet)."""
        info = self.get(job_id, "V2Ingest")
        if info["state"] != "Open":
            raise JobError(409, "INVALIDJOBSTATE", f"Job is in state {info['state']}; data can only be uploaded to "
                           "an Open job")
        if info.get("_uploaded"):
            raise JobError(409, "INVALIDJOBSTATE", "Data has already been uploaded for this job")
        return info

    def mark_uploaded(self, info: dict[str, Any], size: int) -> None:
        """Record a finished upload."""
        info["_uploaded"] = size
        self._save(info)

    def close(self, job_id: str) -> dict[str, Any]:
        """PATCH ``{"state": "UploadComplete"}``: process the upload now."""
        info = self.get(job_id, "V2Ingest")
        if info["state"] != "Open":
            raise JobError(400, "INVALIDJOBSTATE", f"Job is in state {info['state']}; only Open jobs can be closed")
        if not info.get("_uploaded"):
            self._finish(info, "Failed", "InvalidBatch : No data was uploaded for this job")
            return info
        started = time.monotonic()
        obj = get_object(info["object"])
        assert obj is not None
        error = self._process(info, obj)
        info["totalProcessingTime"] = int((time.monotonic() - started) * 1000)
        info["apiActiveProcessingTime"] = info["totalProcessingTime"]
        self._finish(info, "Failed" if error else "JobComplete", error)
        return info

    def results_path(self, job_id: str, which: str) -> Path:
        """One of the results files: ``success``, ``failed`` or ``unprocessed``."""
        return self.root / job_id / f"{which}.csv"

    def ingest_results(self, job_id: str, which: str) -> Iterator[bytes]:
        """Stream a results file."""
        info = self.get(job_id, "V2Ingest")
        path = self.results_path(job_id, which)
        if not path.exists():
            if info["state"] in ("Open", "UploadComplete", "InProgress") and which != "unprocessed":
                raise JobError(400, "INVALIDJOBSTATE", f"Job is in state {info['state']}; results are not ready")
            return iter([self._empty_results(info, which)])
        return self._file_chunks(path)

    def _empty_results(self, info: dict[str, Any], which: str) -> bytes:
        header = self._upload_header(info)
        prefix = {"success": ["sf__Id", "sf__Created"], "failed": ["sf__Id", "sf__Error"], "unprocessed": []}[which]
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL).writerow(prefix + header)
        if which == "unprocessed" and info.get("_uploaded"):
            delimiter = DELIMITERS[info["columnDelimiter"]]
            with open(self.upload_path(info["id"]), newline="", encoding="utf-8-sig") as handle:
                reader = csv.reader(handle, delimiter=delimiter)
                next(reader, None)
                csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL).writerows(reader)
        return buffer.getvalue().encode("utf-8")

    def _upload_header(self, info: dict[str, Any]) -> list[str]:
        path = self.upload_path(info["id"])
        if not path.exists():
            return []
        with open(path, newline="", encoding="utf-8-sig") as handle:
            return next(csv.reader(handle, delimiter=DELIMITERS[info["columnDelimiter"]]), [])

    @staticmethod
    def _file_chunks(path: Path) -> Iterator[bytes]:
        with open(path, "rb") as handle:
            while True:
                chunk = handle.read(1 << 18)
                if not chunk:
                    return
                yield chunk

    def _process(self, info: dict[str, Any], obj: ObjectDef) -> str | None:
        """Apply the uploaded rows; returns an errorMessage if the job as a whole fails."""
        job_dir = self.root / info["id"]
        delimiter = DELIMITERS[info["columnDelimiter"]]
        operation = info["operation"]
        app = self.app
        with open(self.upload_path(info["id"]), newline="", encoding="utf-8-sig") as source, \
                open(job_dir / "success.csv", "w", newline="", encoding="utf-8") as ok_file, \
                open(job_dir / "failed.csv", "w", newline="", encoding="utf-8") as bad_file, \
                open(job_dir / "unprocessed.csv", "w", newline="", encoding="utf-8") as rest_file:
            reader = csv.reader(source, delimiter=delimiter)
            header = next(reader, [])
            ok = csv.writer(ok_file, lineterminator="\n", quoting=csv.QUOTE_ALL)
            bad = csv.writer(bad_file, lineterminator="\n", quoting=csv.QUOTE_ALL)
            rest = csv.writer(rest_file, lineterminator="\n", quoting=csv.QUOTE_ALL)
            ok.writerow(["sf__Id", "sf__Created", *header])
            bad.writerow(["sf__Id", "sf__Error", *header])
            rest.writerow(header)
            problem = self._check_header(obj, operation, header, info.get("externalIdFieldName"))
            if problem:
                rest.writerows(reader)
                return problem
            fail_after: int | None = None
            if app.faults.fail_bulk_job():
                with open(self.upload_path(info["id"]), newline="", encoding="utf-8-sig") as counting:
                    total_rows = sum(1 for _ in csv.reader(counting, delimiter=delimiter)) - 1
                fail_after = max(0, total_rows // 2)
            names = [obj.field(h).name if obj.field(h) else h for h in header]  # type: ignore[union-attr]
            id_index = next((i for i, n in enumerate(names) if n == "Id"), None)
            processed = failed = 0
            ctx = WriteContext(info["createdById"], "csv", assignment_rule=info.get("assignmentRuleId"))
            batch: list[list[str]] = []
            error: str | None = None

            def flush(rows: list[list[str]]) -> None:
                nonlocal processed, failed
                with app.store.write() as conn:
                    for row in rows:
                        record_id, created, problem_text = self._apply(conn, obj, operation, names, row, id_index,
                                                                       info.get("externalIdFieldName"), ctx)
                        processed += 1
                        if problem_text is None:
                            ok.writerow([record_id, "true" if created else "false", *row])
                        else:
                            failed += 1
                            bad.writerow([record_id or "", problem_text, *row])

            for row in reader:
                if fail_after is not None and processed + len(batch) >= fail_after:
                    flush(batch)
                    batch = []
                    rest.writerow(row)
                    rest.writerows(reader)
                    error = "InternalServerError: processing stopped half-way (emulated fault)"
                    break
                batch.append(row)
                if len(batch) >= ROWS_PER_TRANSACTION:
                    flush(batch)
                    batch = []
            if batch:
                flush(batch)
            info["numberRecordsProcessed"] = processed
            info["numberRecordsFailed"] = failed
            return error

    @staticmethod
    def _check_header(obj: ObjectDef, operation: str, header: list[str], ext_field: str | None) -> str | None:
        if not header or header == [""]:
            return "InvalidBatch : The CSV has no header row"
        seen: set[str] = set()
        for name in header:
            fdef = obj.field(name)
            if fdef is None or fdef.storage is None:
                return f"InvalidBatch : Field name not found : {name}"
            if fdef.name in seen:
                return f"InvalidBatch : Duplicate field name: {fdef.name}"
            seen.add(fdef.name)
        if operation in ("delete", "hardDelete") and seen != {"Id"}:
            return f"InvalidBatch : The '{operation}' batch must contain only the 'Id' field"
        if operation == "update" and "Id" not in seen:
            return "InvalidBatch : Field name not found : Id"
        if operation == "upsert" and ext_field not in seen:
            return f"InvalidBatch : Field name not found : {ext_field}"
        return None

    def _apply(self, conn: Any, obj: ObjectDef, operation: str, names: list[str], row: list[str],
               id_index: int | None, ext_field: str | None, ctx: WriteContext) -> tuple[str | None, bool, str | None]:
        """Apply one CSV row; returns (record id, created, sf__Error or None)."""
        dml = self.app.dml
        row_id = row[id_index] if id_index is not None and id_index < len(row) else None
        if len(row) != len(names):
            return row_id, False, (f"INVALID_FIELD:the row has {len(row)} values but the header has {len(names)} "
                                   "columns: --")
        if self.app.faults.lock_row():
            return row_id, False, (f"UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record or 1 "
                                   f"records: {row_id or ''}:--")
        values: dict[str, Any] = {}
        for name, raw in zip(names, row, strict=True):
            if name == "Id" or raw == "":
                continue  # an empty value leaves the field unchanged
            values[name] = None if raw == NULL_MARKER else raw
        try:
            if operation == "insert":
                return dml.insert(conn, obj, values, ctx), True, None
            if operation == "upsert":
                assert ext_field is not None
                key = row[names.index(ext_field)]
                if ext_field == "Id":
                    if not row_id:
                        return dml.insert(conn, obj, values, ctx), True, None
                    return dml.upsert(conn, obj, "Id", row_id, values, ctx, for_bulk=True)[0], False, None
                record_id, created = dml.upsert(conn, obj, ext_field, key, values, ctx, for_bulk=True)
                return record_id, created, None
            if not row_id:
                return None, False, f"MISSING_ARGUMENT:Id not specified in an {operation} call:Id --"
            if operation == "update":
                return dml.update(conn, obj, row_id, values, ctx, for_bulk=True), False, None
            if operation == "delete":
                return dml.delete(conn, obj, row_id, ctx, for_bulk=True), False, None
            full = to_18(row_id) or row_id
            return dml.purge(conn, obj, full, ctx), False, None
        except DmlError as exc:
            return row_id, False, exc.as_bulk()

