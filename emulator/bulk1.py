"""Bulk API 1.0 jobs and batches (``/services/async/{version}/job``).

A job holds batches. A DML batch (insert, update, upsert, delete, hardDelete) is applied when it
is added, one record after the other, and its per-record results are kept in submission order.
A query batch (query, queryAll) snapshots its result when added; the result is served as result
sets of ``--bulk-page-size`` records. Batches report ``Queued`` when added and their final
state (``Completed``, ``Failed``, ``NotProcessed``) once ``--bulk-delay`` seconds have passed.

With ``Sforce-Enable-PKChunking`` on the job, a query batch is split into one batch per
``chunkSize`` range of record numbers (the original batch ends ``NotProcessed``, as on
Salesforce). ``Sforce-Disable-Batch-Retry: true`` makes a batch fail at the first injected
fault; otherwise a failing batch is retried up to 10 times (``numberRetries``).
"""

from __future__ import annotations

import dataclasses
import json
import re
import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from emulator.bulk1_wire import NS, XSI, WireError, parse_records
from emulator.dml import DmlError, WriteContext
from emulator.ids import make_id, to_18
from emulator.schema import ObjectDef, get_object
from emulator.snapshots import csv_line
from emulator.values import now_stamp

if TYPE_CHECKING:
    from emulator.app import EmulatorApp
    from emulator.soql_compile import CompiledQuery

OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete", "query", "queryAll")
CONTENT_TYPES = ("JSON", "CSV", "XML")
MAX_RETRIES = 10
MAX_BATCH_RECORDS = 10_000
DEFAULT_CHUNK = 100_000
MAX_CHUNK = 250_000


class Bulk1Error(Exception):
    """A request the async API refuses (HTTP status, ``exceptionCode``, message)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _stamp() -> str:
    return now_stamp()


def parse_pk_chunking(header: str | None) -> int | None:
    """Chunk size from ``Sforce-Enable-PKChunking`` (``true``, ``chunkSize=N``), or None when off."""
    if not header:
        return None
    parts = [p.strip() for p in header.split(";") if p.strip()]
    if parts and parts[0].lower() == "false":
        return None
    size = DEFAULT_CHUNK
    for part in parts:
        key, _, value = part.partition("=")
        if key.strip().lower() == "chunksize":
            if not value.strip().isdigit() or not 1 <= int(value) <= MAX_CHUNK:
                raise Bulk1Error(400, "InvalidJob", f"Invalid chunkSize: {value.strip()}. It must be between 1 "
                                 f"and {MAX_CHUNK}")
            size = int(value)
    return size


def _epoch_ms(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)


class Bulk1Jobs:
    """All Bulk API 1.0 jobs of the org (kept in ``_jobs`` with kind ``Bulk1``).

    Args:
        app: The emulator application.
        root: Directory for batch requests and results (query results live in snapshots).
    """

    def __init__(self, app: EmulatorApp, root: Path) -> None:
        self.app = app
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._jobs: dict[str, dict[str, Any]] = {}
        for job_id, info in app.store.conn().execute("SELECT id, info FROM _jobs WHERE kind = 'Bulk1'"):
            self._jobs[job_id] = json.loads(info)

    # -- bookkeeping -----------------------------------------------------------------------------

    def _save(self, info: dict[str, Any]) -> None:
        info["systemModstamp"] = _stamp()
        with self._lock:
            self._jobs[info["id"]] = info
            payload = json.dumps(info)
        with self.app.store.write() as conn:
            conn.execute("INSERT INTO _jobs (id, kind, created, info) VALUES (?, 'Bulk1', ?, ?) ON CONFLICT(id) DO "
                         "UPDATE SET info = excluded.info", (info["id"], info["_created"], payload))

    def get(self, job_id: str) -> dict[str, Any]:
        """A job's stored info (batches advanced to their final state when due)."""
        with self._lock:
            info = self._jobs.get(job_id)
        if info is None:
            raise Bulk1Error(400, "InvalidJob", f"Unable to find object: {job_id}")
        changed = False
        now = time.time()
        for batch in info["_batches"]:
            if batch.get("_final") and now >= batch.get("_ready_at", 0):
                batch["state"] = batch.pop("_final")
                changed = True
            elif batch.get("_final") and batch["state"] == "Queued":
                batch["state"] = "InProgress"
        if changed:
            self._save(info)
        return info

    def job_view(self, info: dict[str, Any]) -> dict[str, Any]:
        """The job as ``jobInfo`` shows it, with batch counters."""
        view = {k: v for k, v in info.items() if not k.startswith("_")}
        states = [b["state"] for b in info["_batches"]]
        view.update({
            "numberBatchesQueued": states.count("Queued"), "numberBatchesInProgress": states.count("InProgress"),
            "numberBatchesCompleted": states.count("Completed"), "numberBatchesFailed": states.count("Failed"),
            "numberBatchesTotal": len(states),
            "numberRecordsProcessed": sum(b["numberRecordsProcessed"] for b in info["_batches"]),
            "numberRecordsFailed": sum(b["numberRecordsFailed"] for b in info["_batches"]),
            "totalProcessingTime": sum(b["totalProcessingTime"] for b in info["_batches"]),
            "apiActiveProcessingTime": sum(b["apiActiveProcessingTime"] for b in info["_batches"]),
        })
        return view

    @staticmethod
    def batch_view(batch: dict[str, Any]) -> dict[str, Any]:
        """The batch as ``batchInfo`` shows it."""
        return {k: v for k, v in batch.items() if not k.startswith("_")}

    def batch(self, job_id: str, batch_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """(job, batch); Bulk1Error if either is unknown."""
        info = self.get(job_id)
        for batch in info["_batches"]:
            if batch["id"] == batch_id:
                return info, batch
        raise Bulk1Error(400, "InvalidBatch", f"Unable to find batch: {batch_id}")

    def purge_expired(self, retention_s: float) -> int:
        """Forget jobs (and their files) created more than ``retention_s`` seconds ago."""
        cutoff = time.time() - retention_s
        with self._lock:
            old = [job_id for job_id, info in self._jobs.items() if info["_created"] < cutoff]
            jobs = [self._jobs.pop(job_id) for job_id in old]
        if old:
            with self.app.store.write() as conn:
                conn.executemany("DELETE FROM _jobs WHERE id = ?", [(job_id,) for job_id in old])
        for info in jobs:
            for batch in info["_batches"]:
                self.app.bulk_results.delete(batch["id"])
            shutil.rmtree(self.root / info["id"], ignore_errors=True)
        return len(old)

    # -- jobs ------------------------------------------------------------------------------------

    def create(self, body: dict[str, Any], version: str, user_id: str, pk_chunking: str | None,
               disable_retry: str | None) -> dict[str, Any]:
        """Create a job (state Open) from a parsed ``jobInfo`` body."""
        operation = str(body.get("operation") or "")
        if operation not in OPERATIONS:
            raise Bulk1Error(400, "InvalidJob", f"Invalid operation: {operation or 'null'}")
        obj = get_object(str(body.get("object") or ""))
        if obj is None:
            raise Bulk1Error(400, "InvalidJob", f"Unable to find object: {body.get('object')}")
        content = str(body.get("contentType") or "XML").upper()
        if content not in CONTENT_TYPES:
            raise Bulk1Error(400, "InvalidJob", f"Unsupported content type: {content}")
        mode = body.get("concurrencyMode", "Parallel")
        mode = {"0": "Parallel", "1": "Serial"}.get(str(mode), str(mode))
        if mode not in ("Parallel", "Serial"):
            raise Bulk1Error(400, "InvalidJob", f"Invalid concurrencyMode: {mode}")
        chunk = parse_pk_chunking(pk_chunking)
        if chunk is not None and operation not in ("query", "queryAll"):
            raise Bulk1Error(400, "InvalidJob", "PK chunking is only supported for query and queryAll jobs")
        stamp = _stamp()
        info: dict[str, Any] = {
            "id": make_id("750", secrets.randbelow(62 ** 9)), "operation": operation, "object": obj.name,
            "createdById": user_id, "createdDate": stamp, "systemModstamp": stamp, "state": "Open",
            "concurrencyMode": mode, "contentType": content, "numberRetries": 0, "apiVersion": float(version),
            "apexProcessingTime": 0, "_created": time.time(), "_batches": [], "_chunk": chunk,
            "_retry": (disable_retry or "").strip().lower() != "true",
        }
        if operation == "upsert":
            ext = str(body.get("externalIdFieldName") or "")
            fdef = obj.field(ext) if ext else None
            if fdef is None or not (fdef.external_id or fdef.name == "Id"):
                raise Bulk1Error(400, "InvalidJob", f"The field '{ext}' is not an external ID field on {obj.name}"
                                 if ext else "External ID field name is required for upsert")
            info["externalIdFieldName"] = fdef.name
        self._save(info)
        return info

    def set_state(self, job_id: str, state: str) -> dict[str, Any]:
        """Close or abort a job."""
        info = self.get(job_id)
        if state not in ("Closed", "Aborted"):
            raise Bulk1Error(400, "InvalidJobState", f"Invalid state: {state}")
        if info["state"] != "Open" and not (state == "Aborted" and info["state"] == "Closed"):
            raise Bulk1Error(400, "InvalidJobState", f"Job {job_id} is {info['state']}; it can not be set to {state}")
        info["state"] = state
        if state == "Aborted":
            for batch in info["_batches"]:
                if batch.get("_final"):
                    batch.pop("_final")
                    batch["state"] = "NotProcessed"
        self._save(info)
        return info

    # -- batches ---------------------------------------------------------------------------------

    def _new_batch(self, info: dict[str, Any], state: str = "Queued") -> dict[str, Any]:
        stamp = _stamp()
        batch = {"id": make_id("751", secrets.randbelow(62 ** 9)), "jobId": info["id"], "state": state,
                 "createdDate": stamp, "systemModstamp": stamp, "numberRecordsProcessed": 0,
                 "numberRecordsFailed": 0, "totalProcessingTime": 0, "apiActiveProcessingTime": 0,
                 "apexProcessingTime": 0}
        info["_batches"].append(batch)
        return batch

    def _finish(self, batch: dict[str, Any], final: str, message: str | None = None) -> None:
        batch["_final"] = final
        batch["_ready_at"] = time.time() + self.app.config.bulk_delay
        batch["state"] = "Queued"
        if message:
            batch["stateMessage"] = message

    def _faulted(self, info: dict[str, Any]) -> str | None:
        """An emulated batch failure after retries (stateMessage), or None."""
        faults = self.app.faults
        if not faults.fail_bulk_job():
            return None
        if not info["_retry"]:
            return "InternalServerError : the batch failed (emulated fault); batch retry is disabled"
        for _attempt in range(MAX_RETRIES):
            info["numberRetries"] += 1
            if not faults.fail_bulk_job():
                return None
        return f"InternalServerError : Retried more than {MAX_RETRIES} times (emulated fault)"

    def add_batch(self, job_id: str, raw: bytes) -> dict[str, Any]:
        """Add a batch (SOQL text for query jobs, records otherwise) and process it."""
        with self._lock:
            info = self.get(job_id)
            if info["state"] != "Open":
                raise Bulk1Error(400, "InvalidJobState", f"Job {job_id} is {info['state']}; batches can only be "
                                 "added to an Open job")
            obj = get_object(info["object"])
            assert obj is not None
            if info["operation"] in ("query", "queryAll"):
                batch = self._query_batch(info, obj, raw.decode("utf-8-sig", "replace").strip())
            else:
                batch = self._dml_batch(info, obj, raw)
            self._save(info)
            return batch

    # -- query batches ---------------------------------------------------------------------------

    def _compile(self, info: dict[str, Any], text: str) -> CompiledQuery:
        from emulator.soql import SoqlError, parse
        from emulator.soql_compile import compile_query

        compiled = compile_query(parse(text), include_deleted=info["operation"] == "queryAll")
        if compiled.obj.name != info["object"]:
            raise SoqlError("InvalidBatch", f"The query object {compiled.obj.name} does not match the job's "
                            f"object {info['object']}")
        if compiled.count is not None or compiled.groups:
            raise SoqlError("InvalidBatch", "Aggregate Relationships not supported in Batch Query")
        if compiled.query.offset:
            raise SoqlError("InvalidBatch", "OFFSET is not supported in Bulk Query")
        return compiled

    def _query_batch(self, info: dict[str, Any], obj: ObjectDef, text: str) -> dict[str, Any]:
        from emulator.soql import SoqlError

        batch = self._new_batch(info)
        (self.root / info["id"]).mkdir(parents=True, exist_ok=True)
        (self.root / info["id"] / f"{batch['id']}.request").write_text(text, encoding="utf-8")
        try:
            compiled = self._compile(info, text)
        except SoqlError as exc:
            self._finish(batch, "Failed", f"{exc.code} : {exc.message}".replace("\n", " "))
            return batch
        chunk = info.get("_chunk")
        if not chunk:
            self._run_query(info, batch, compiled)
            return batch
        top = self.app.store.conn().execute(f'SELECT COALESCE(MAX(rid), 0) FROM "{obj.name}"').fetchone()[0]
        for low in range(0, max(top, 1), chunk):
            part = self._new_batch(info)
            where = f"({compiled.where_sql}) AND " if compiled.where_sql else ""
            ranged = dataclasses.replace(compiled, where_sql=f"{where}t.rid > ? AND t.rid <= ?",
                                         params=[*compiled.params, low, low + chunk])
            self._run_query(info, part, ranged)
        self._finish(batch, "NotProcessed")
        return batch

    def _run_query(self, info: dict[str, Any], batch: dict[str, Any], compiled: CompiledQuery) -> None:
        started = time.monotonic()
        failure = self._faulted(info)
        if failure:
            self._finish(batch, "Failed", failure)
            return
        mode = "json" if info["contentType"] == "JSON" else "csv"
        sql, params = compiled.select_sql(mode)
        total = self.app.bulk_results.create(batch["id"], sql, params, {"soql": compiled.query.text})
        size = self.app.config.bulk_page_size
        batch["_results"] = [[make_id("752", secrets.randbelow(62 ** 9)), offset, min(size, total - offset)]
                             for offset in range(0, max(total, 1), size)]
        batch["_soql"] = compiled.query.text
        batch["numberRecordsProcessed"] = total
        batch["totalProcessingTime"] = batch["apiActiveProcessingTime"] = int((time.monotonic() - started) * 1000)
        self._finish(batch, "Completed")

    def result_ids(self, job_id: str, batch_id: str) -> tuple[dict[str, Any], list[str] | None]:
        """(job, result-set ids) of a query batch; ids None for DML batches."""
        info, batch = self.batch(job_id, batch_id)
        if batch["state"] != "Completed":
            raise Bulk1Error(400, "InvalidBatch", f"Batch not completed: {batch['state']}")
        if info["operation"] not in ("query", "queryAll"):
            return info, None
        return info, [entry[0] for entry in batch.get("_results", [])]

    def query_result(self, job_id: str, batch_id: str, result_id: str) -> tuple[dict[str, Any], Iterator[bytes]]:
        """(job, body chunks) of one result set in the job's content type."""
        from emulator.soql import parse
        from emulator.soql_compile import compile_query

        info, batch = self.batch(job_id, batch_id)
        entry = next((e for e in batch.get("_results", []) if e[0] == result_id), None)
        if entry is None or batch["state"] != "Completed":
            raise Bulk1Error(400, "InvalidBatch", f"Unable to find result: {result_id}")
        if not self.app.bulk_results.exists(batch_id):
            raise Bulk1Error(400, "InvalidBatch", "The results of this batch are no longer available")
        compiled = compile_query(parse(batch["_soql"]), include_deleted=info["operation"] == "queryAll")
        _id, offset, count = entry
        content = info["contentType"]
        if content == "CSV":
            return info, self._csv_chunks(batch_id, compiled, offset, count)
        if content == "JSON":
            return info, self._json_chunks(batch_id, compiled, offset, count, str(info["apiVersion"]))
        return info, self._xml_chunks(batch_id, compiled, offset, count)

    def _csv_chunks(self, batch_id: str, compiled: CompiledQuery, offset: int, count: int) -> Iterator[bytes]:
        yield csv_line(compiled.csv_header, ",", "\n")
        yield from self.app.bulk_results.iter_csv(batch_id, offset, count)

    def _json_chunks(self, batch_id: str, compiled: CompiledQuery, offset: int, count: int,
                     version: str) -> Iterator[bytes]:
        stamps = [(c.relationship.relationship_name if c.relationship else None, c.fdef.name)
                  for c in compiled.columns if c.fdef.type == "datetime"]
        yield b"["
        first = True
        dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        for rows in self.app.bulk_results.iter_rows(batch_id, offset, count):
            parts = []
            for row in rows:
                record = compiled.json_record(row, version)
                for rel, name in stamps:
                    holder = record.get(rel) if rel else record
                    if holder and holder.get(name):
                        holder[name] = _epoch_ms(holder[name].replace("+0000", "Z"))
                parts.append(dumps(record))
            if parts:
                yield (("" if first else ",") + ",".join(parts)).encode("utf-8")
                first = False
        yield b"]"

    def _xml_chunks(self, batch_id: str, compiled: CompiledQuery, offset: int, count: int) -> Iterator[bytes]:
        obj_name = compiled.obj.name
        yield (f'<?xml version="1.0" encoding="UTF-8"?><queryResult xmlns="{NS}" xmlns:xsi="{XSI}">').encode()
        for rows in self.app.bulk_results.iter_rows(batch_id, offset, count):
            parts = []
            for row in rows:
                own: list[str] = []
                parents: dict[str, list[str]] = {}
                for column, value in zip(compiled.columns, row, strict=False):
                    name = column.fdef.name
                    element = f'<{name} xsi:nil="true"/>' if value is None else f"<{name}>{escape(str(value))}</{name}>"
                    if column.relationship is None:
                        own.append(element)
                    else:
                        parents.setdefault(column.relationship.relationship_name or "", []).append(element)
                for rel, elements in parents.items():
                    target = compiled.joins[rel.lower()][1].name
                    own.append(f'<{rel} xsi:type="sObject"><type>{target}</type>{"".join(elements)}</{rel}>')
                parts.append(f'<records xsi:type="sObject"><type>{obj_name}</type>{"".join(own)}</records>')
            yield "".join(parts).encode("utf-8")
        yield b"</queryResult>"

    # -- DML batches -----------------------------------------------------------------------------

    def _dml_batch(self, info: dict[str, Any], obj: ObjectDef, raw: bytes) -> dict[str, Any]:
        try:
            records = parse_records(raw, info["contentType"])
        except WireError as exc:
            raise Bulk1Error(400, exc.code, exc.message) from None
        if len(records) > MAX_BATCH_RECORDS:
            raise Bulk1Error(400, "InvalidBatch", f"Records in a batch exceed the limit of {MAX_BATCH_RECORDS}")
        batch = self._new_batch(info)
        job_dir = self.root / info["id"]
        job_dir.mkdir(parents=True, exist_ok=True)
        (job_dir / f"{batch['id']}.request").write_bytes(raw)
        started = time.monotonic()
        failure = self._faulted(info)
        if failure:
            self._finish(batch, "Failed", failure)
            return batch
        ctx = WriteContext(info["createdById"], "json" if info["contentType"] == "JSON" else "csv")
        results = []
        with self.app.store.write() as conn:
            for record in records:
                results.append(self._apply(conn, obj, info, record, ctx))
        (job_dir / f"{batch['id']}.result.json").write_text(json.dumps(results), encoding="utf-8")
        batch["numberRecordsProcessed"] = len(results)
        batch["numberRecordsFailed"] = sum(1 for r in results if not r["success"])
        batch["totalProcessingTime"] = batch["apiActiveProcessingTime"] = int((time.monotonic() - started) * 1000)
        self._finish(batch, "Completed")
        return batch

    def _apply(self, conn: Any, obj: ObjectDef, info: dict[str, Any], record: dict[str, Any],
               ctx: WriteContext) -> dict[str, Any]:
        dml = self.app.dml
        operation = info["operation"]
        key = next((k for k in record if k.lower() == "id"), None)
        row_id = record.get(key) if key else None
        values = {k: v for k, v in record.items() if k != key}
        if self.app.faults.lock_row():
            return _failure(row_id, DmlError("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this "
                                             f"record or 1 records: {row_id or ''}"))
        try:
            conn.execute("SAVEPOINT bulk1_row")
            try:
                created = False
                if operation == "insert":
                    record_id, created = dml.insert(conn, obj, values, ctx), True
                elif operation == "upsert":
                    ext = info["externalIdFieldName"]
                    if ext == "Id":
                        if row_id:
                            record_id = dml.upsert(conn, obj, "Id", row_id, values, ctx, for_bulk=True)[0]
                        else:
                            record_id, created = dml.insert(conn, obj, values, ctx), True
                    else:
                        ext_key = next((k for k in values if k.lower() == ext.lower()), ext)
                        record_id, created = dml.upsert(conn, obj, ext, values.get(ext_key), values, ctx,
                                                        for_bulk=True)
                elif not row_id:
                    raise DmlError("MISSING_ARGUMENT", f"Id not specified in an {operation} call", ["Id"])
                elif operation == "update":
                    record_id = dml.update(conn, obj, str(row_id), values, ctx, for_bulk=True)
                elif operation == "delete":
                    record_id = dml.delete(conn, obj, str(row_id), ctx, for_bulk=True)
                else:
                    record_id = dml.purge(conn, obj, to_18(str(row_id)) or str(row_id), ctx)
            except BaseException:
                conn.execute("ROLLBACK TO bulk1_row")
                raise
            finally:
                conn.execute("RELEASE bulk1_row")
        except DmlError as exc:
            return _failure(row_id, exc)
        return {"success": True, "created": created, "id": record_id, "errors": []}

    def dml_results(self, job_id: str, batch_id: str) -> list[dict[str, Any]]:
        """Per-record results of a DML batch in submission order."""
        path = self.root / job_id / f"{batch_id}.result.json"
        if not path.exists():
            return []
        return json.loads(path.read_text(encoding="utf-8"))

    def request_body(self, job_id: str, batch_id: str) -> bytes:
        """The batch as it was submitted."""
        self.batch(job_id, batch_id)
        path = self.root / job_id / f"{batch_id}.request"
        if not path.exists():
            raise Bulk1Error(400, "InvalidBatch", f"Unable to find the request of batch {batch_id}")
        return path.read_bytes()


def _failure(row_id: Any, exc: DmlError) -> dict[str, Any]:
    full = to_18(str(row_id)) if isinstance(row_id, str) and re.fullmatch(r"[0-9A-Za-z]{15,18}", row_id) else None
    return {"success": False, "created": False, "id": full,
            "errors": [{"statusCode": exc.code, "message": exc.message, "fields": exc.fields}]}
