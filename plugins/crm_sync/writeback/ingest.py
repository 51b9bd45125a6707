"""Write records through Bulk API 2.0 ingest jobs and read back every record's result.

One job per attempt: create, upload the CSV, close, poll, then read `successfulResults` and
`failedResults` (each only when the job's counters say it holds rows) and, when rows are
missing, `unprocessedrecords`. An update job whose counters say every row succeeded reads
no results at all: each row's result is its own Id. Each call is retried on transient failures
(`SalesforceConnection.call`), and once a job exists the runner sticks to it, so a retry
never submits a row twice. Rows that fail transiently (`UNABLE_TO_LOCK_ROW`,
…) or were left unprocessed go into a new job after a backoff; a permanent failure of one
row never holds up the others. Rows not done when the attempts or the API budget run out
are *deferred*: the caller keeps them queued for the next run.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from crm_sync.salesforce import (
    ApiBudget,
    ApiLimitReached,
    BudgetExhausted,
    SalesforceGateway,
    TransientFailure,
)
from crm_sync.writeback.owners import create_ingest_job

log = logging.getLogger(__name__)

#: Row errors worth another attempt: Salesforce says so itself.
TRANSIENT_ROW_ERRORS = frozenset({"UNABLE_TO_LOCK_ROW", "API_TEMPORARILY_UNAVAILABLE", "SERVER_UNAVAILABLE",
                                  "REQUEST_RUNNING_TOO_LONG"})
#: Calls one job costs: create, upload, close, a status poll or two, two or three result reads.
JOB_CALLS = 7
JOB_TIMEOUT_SECONDS = 3600.0
_TERMINAL = ("JobComplete", "Failed", "Aborted")


@dataclass(slots=True)
class RowResult:
    """What became of one row."""

    status: str  # succeeded | failed | deferred
    sf_id: str | None = None
    created: bool = False
    code: str | None = None  # Salesforce error code, or why deferred
    message: str | None = None
    attempts: int = 0
    job_ids: list[str] = field(default_factory=list)


def split_error(text: str) -> tuple[str, str]:
    """`sf__Error` (`CODE:message:Fields --`) as (code, message)."""
    code, _, rest = text.partition(":")
    message = rest.rsplit(":", 1)[0] if rest.rstrip().endswith("--") else rest
    return code.strip(), message.strip() or text


def row_key(row: dict[str, str], key_column: str | tuple[str, ...]) -> str:
    """The key a row's result is found by: one column's value, or several joined by `|`."""
    if isinstance(key_column, str):
        return row.get(key_column, "")
    return "|".join(row.get(name, "") for name in key_column)


def rows_to_csv(rows: list[dict[str, str]]) -> str:
    """A CSV upload: one column per field any row writes.

    A row's other cells stay empty: Bulk API 2.0 leaves a field unchanged for an empty cell.
    """
    columns: list[str] = []
    for row in rows:
        columns.extend(name for name in row if name not in columns)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([row.get(name, "") for name in columns] for row in rows)
    return buffer.getvalue()


class BulkIngest:
    """Runs ingest jobs for one write-back run."""

    def __init__(self, connection: SalesforceGateway, budget: ApiBudget, *,
                 poll_seconds: float = 0.2, sleep: Callable[[float], None] = time.sleep) -> None:
        self.connection = connection
        self.budget = budget
        self.poll_seconds = poll_seconds
        self.sleep = sleep

    def write(self, object_name: str, operation: str, rows: dict[str, dict[str, str]], *,
              key_column: str | tuple[str, ...], external_id: str | None = None,
              assignment_rule_id: str | None = None) -> dict[str, RowResult]:
        """Write `rows` (keyed by `row_key(row, key_column)`) and return every row's result.

        `assignment_rule_id`: Salesforce runs that Lead or Case assignment rule on the rows.
        """
        policy = self.connection.retry
        results: dict[str, RowResult] = {key: RowResult("deferred") for key in rows}
        pending = dict(rows)
        last_problem = ""
        for attempt in range(1, policy.max_attempts + 1):
            if not pending:
                break
            spent = self.connection.api_calls
            if not self.budget.allows(spent, JOB_CALLS):
                reason = self.budget.stop(spent, JOB_CALLS, f"writing {len(pending)} {object_name}(s) ({operation})")
                for key in pending:
                    results[key].code, results[key].message = "api_budget", reason
                return results
            try:
                job_id, outcome = self._one_job(object_name, operation, list(pending.values()), external_id,
                                                key_column, assignment_rule_id)
            except (TransientFailure, ApiLimitReached, BudgetExhausted) as exc:
                last_problem = str(exc)
                for key in pending:
                    results[key].code, results[key].message = "transient", last_problem
                if isinstance(exc, ApiLimitReached):
                    self.budget.stop(self.connection.api_calls, JOB_CALLS, "Salesforce's daily limit")
                    return results
                if isinstance(exc, BudgetExhausted):
                    for key in pending:
                        results[key].code = "api_budget"
                    return results
                self.sleep(policy.backoff(attempt))
                continue
            retry: dict[str, dict[str, str]] = {}
            for key, row in pending.items():
                result = results[key]
                result.attempts += 1
                result.job_ids.append(job_id)
                found = outcome.get(row_key(row, key_column))
                if found is None or found.status == "unprocessed" or found.code in TRANSIENT_ROW_ERRORS:
                    retry[key] = row
                    result.code = found.code if found and found.code else "unprocessed"
                    result.message = found.message if found and found.message else "not processed by the job"
                    continue
                result.status, result.sf_id, result.created = found.status, found.sf_id, found.created
                result.code, result.message = found.code, found.message
            if retry:
                log.info("%s %s job %s: %d row(s) to try again (%s)", object_name, operation, job_id, len(retry),
                         ", ".join(sorted({results[k].code or "?" for k in retry})))
                if attempt < policy.max_attempts:
                    self.sleep(policy.backoff(attempt))
            pending = retry
        return results

    # -- one job -----------------------------------------------------------------------------

    def _bulk(self, sf: Any, object_name: str) -> Any:
        return self.connection.bulk2(sf, object_name)

    def _one_job(self, object_name: str, operation: str, rows: list[dict[str, str]],
                 external_id: str | None, key_column: str | tuple[str, ...],
                 assignment_rule_id: str | None = None) -> tuple[str, dict[str, RowResult]]:
        """Run one job to its end; returns (job id, results keyed by the key column's value)."""
        from simple_salesforce.bulk2 import Operation

        op = Operation(operation)
        call = self.connection.call
        if assignment_rule_id:
            job = call(f"create {operation} job for {object_name} (assignment rule {assignment_rule_id})",
                       lambda sf: create_ingest_job(self._bulk(sf, object_name), op.value, external_id=external_id,
                                                    assignment_rule_id=assignment_rule_id))
        else:
            job = call(f"create {operation} job for {object_name}",
                       lambda sf: self._bulk(sf, object_name).create_job(op, external_id_field=external_id))
        job_id = str(job["id"])
        self._upload(object_name, job_id, rows_to_csv(rows))
        self._close(object_name, job_id)
        info = self._wait(object_name, job_id)
        if info["state"] != "JobComplete":
            log.warning("Bulk API 2.0 job %s ended %s: %s", job_id, info["state"], info.get("errorMessage"))
        return job_id, self._results(object_name, job_id, info, operation, rows, key_column)

    def _upload(self, object_name: str, job_id: str, data: str) -> None:
        from simple_salesforce.exceptions import SalesforceError

        try:
            self.connection.call(f"upload to job {job_id}",
                                 lambda sf: self._bulk(sf, object_name).upload_job_data(job_id, data))
        except SalesforceError as exc:
            if exc.status != 409:  # 409: an earlier attempt's upload did arrive
                raise

    def _close(self, object_name: str, job_id: str) -> None:
        from simple_salesforce.exceptions import SalesforceError

        try:
            self.connection.call(f"close job {job_id}", lambda sf: self._bulk(sf, object_name).close_job(job_id))
        except SalesforceError as exc:
            # An earlier attempt's close may have arrived although its answer did not.
            state = self._job(object_name, job_id)["state"]
            if state == "Open":
                raise
            log.info("job %s is %s already (%s)", job_id, state, exc.status)

    def _job(self, object_name: str, job_id: str) -> dict[str, Any]:
        return self.connection.call(f"status of job {job_id}",
                                    lambda sf: self._bulk(sf, object_name).get_job(job_id, False))

    def _wait(self, object_name: str, job_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
        delay = self.poll_seconds
        while True:
            info = self._job(object_name, job_id)
            if info["state"] in _TERMINAL:
                return info
            if time.monotonic() > deadline:
                raise TransientFailure(f"job {job_id} still {info['state']} after {JOB_TIMEOUT_SECONDS:.0f} s")
            self.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _read(self, object_name: str, job_id: str, which: str) -> list[dict[str, str]]:
        text = self.connection.call(f"{which} of job {job_id}",
                                    lambda sf: self._bulk(sf, object_name).get_ingest_results(job_id, which))
        return list(csv.DictReader(io.StringIO(text)))

    def _results(self, object_name: str, job_id: str, info: dict[str, Any], operation: str,
                 rows: list[dict[str, str]],
                 key_column: str | tuple[str, ...]) -> dict[str, RowResult]:
        """Every row's result, keyed by the value of its key column (as uploaded)."""
        by_key: dict[str, RowResult] = {}

        def remember(row: dict[str, str], result: RowResult) -> None:
            by_key.setdefault(row_key(row, key_column), result)

        failed_job = info["state"] != "JobComplete"
        message = str(info.get("errorMessage") or "")
        if failed_job and message.startswith("InvalidBatch"):
            # The upload itself was refused (e.g. an unknown column): every row fails for good.
            code, text = "InvalidBatch", message
            for row in self._read(object_name, job_id, "unprocessedrecords"):
                remember(row, RowResult("failed", code=code, message=text))
            return by_key
        processed = int(info.get("numberRecordsProcessed") or 0)
        failed = int(info.get("numberRecordsFailed") or 0)
        if operation == "update" and not failed_job and not failed and processed == len(rows):
            # Every row succeeded, Salesforce's counters say: an update's result is its own Id.
            return {row_key(row, key_column): RowResult("succeeded", sf_id=row["Id"]) for row in rows}
        # A complete job's counters say which result lists are empty: those are not asked for.
        if failed_job or processed > failed:
            for row in self._read(object_name, job_id, "successfulResults"):
                remember(row, RowResult("succeeded", sf_id=row.get("sf__Id") or None,
                                        created=row.get("sf__Created", "").lower() == "true"))
        if failed_job or failed:
            for row in self._read(object_name, job_id, "failedResults"):
                code, text = split_error(row.get("sf__Error", ""))
                remember(row, RowResult("failed", sf_id=row.get("sf__Id") or None, code=code, message=text))
        if failed_job or processed < len(rows):
            for row in self._read(object_name, job_id, "unprocessedrecords"):
                remember(row, RowResult("unprocessed", code="unprocessed", message=message or "not processed"))
        return by_key
