"""The one way to Salesforce: login, retries, re-login, counting and the API budget.

Every call of both directions (describe, REST queries and their pages, Bulk API 2.0 query
and ingest) goes through `SalesforceGateway.call`, which

* counts it (one counting `requests.Session` per login, summed across logins), so the sync
  log reports exactly how many API calls a run used, even when the run fails;
* retries transient failures with exponential backoff: HTTP 500/502/503/504, a timeout, a
  dropped connection, `UNABLE_TO_LOCK_ROW`;
* logs in again when the session expired (`INVALID_SESSION_ID`), keeping the count;
* asks the run's `ApiBudget` before the call, and raises `BudgetExhausted` instead of
  passing it;
* turns permanent failures into errors that say what to fix: a refused login names the
  Airflow connection, an unreachable org names the host; neither is retried.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

import requests

from crm_sync.salesforce.budget import ApiBudget, BudgetExhausted

log = logging.getLogger(__name__)

T = TypeVar("T")

TRANSIENT_STATUS = frozenset({500, 502, 503, 504})
TRANSIENT_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE"})
MAX_BACKOFF_SECONDS = 60.0
_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")


class SalesforceSchemaError(RuntimeError):
    """The org's schema does not match the mapping (e.g. a mapped field is gone)."""

    def __init__(self, message: str, missing: list[str] | None = None) -> None:
        super().__init__(message)
        self.missing = missing or []


class BulkJobFailed(RuntimeError):
    """A Bulk API 2.0 job failed, was aborted or timed out."""


class TransientFailure(RuntimeError):
    """A call kept failing transiently after every attempt."""


class ApiLimitReached(BudgetExhausted):
    """Salesforce refused a call: the org's daily API limit is used up (the run stops cleanly)."""


class SalesforceLoginFailed(RuntimeError):
    """Salesforce refused the credentials of the Airflow connection (permanent: never retried)."""


class SalesforceUnreachable(RuntimeError):
    """The org's host could not be reached after every attempt."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a transient failure is retried."""

    max_attempts: int = 5
    retry_seconds: float = 2.0

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt `attempt` (1-based)."""
        return backoff_seconds(attempt, self.retry_seconds)


def backoff_seconds(attempt: int, base: float) -> float:
    """Seconds to wait after failed attempt `attempt` (1-based): base, 2×base, 4×base…, capped."""
    return min(base * (2 ** (attempt - 1)), MAX_BACKOFF_SECONDS)


class CountingSession(requests.Session):
    """A requests session that counts calls and remembers the org's API usage."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.api_used: int | None = None
        self.api_max: int | None = None

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        """Send the request, count it, and read `Sforce-Limit-Info` from the answer."""
        response = super().request(method, url, *args, **kwargs)
        self.calls += 1
        usage = _USAGE.search(response.headers.get("Sforce-Limit-Info", ""))
        if usage:
            self.api_used, self.api_max = int(usage.group(1)), int(usage.group(2))
        return response


@dataclass(frozen=True)
class FieldInfo:
    """What the sync needs to know about one field from describe."""

    name: str
    type: str
    length: int
    nillable: bool
    updateable: bool = False
    createable: bool = False


class SalesforceGateway:
    """A logged-in Salesforce org, reached only through `call`.

    Args:
        conn_id: the Airflow connection id (the provider's SalesforceHook resolves it).
        retry: the retry policy of transient failures.
        budget: the run's API budget; None means unlimited.
        sleep: how to wait between attempts (tests pass a no-op).
    """

    def __init__(self, conn_id: str, *, retry: RetryPolicy | None = None, budget: ApiBudget | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.conn_id = conn_id
        self.retry = retry or RetryPolicy()
        self.budget = budget
        self.sleep = sleep
        self._sf: Any = None
        self._session: CountingSession | None = None
        self._earlier_calls = 0
        self._descriptions: dict[str, dict[str, Any]] = {}
        self.logins = 0

    # -- session ---------------------------------------------------------------------------------

    @property
    def sf(self) -> Any:
        """The simple-salesforce client of the current session (logs in on first use)."""
        if self._sf is None:
            self._login()
        return self._sf

    @cached_property
    def host(self) -> str:
        """The host the connection points at (for error messages; no credentials)."""
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(self.conn_id)
        domain = (conn.extra_dejson or {}).get("domain") or "login"
        return conn.host or f"{domain}.salesforce.com"

    def _login(self) -> None:
        from airflow.providers.salesforce.hooks.salesforce import SalesforceHook
        from simple_salesforce.exceptions import SalesforceAuthenticationFailed

        for attempt in range(1, self.retry.max_attempts + 1):
            session = CountingSession()
            try:
                self._sf = SalesforceHook(salesforce_conn_id=self.conn_id, session=session).get_conn()
            except SalesforceAuthenticationFailed as exc:
                self._earlier_calls += session.calls
                raise SalesforceLoginFailed(
                    f"Salesforce refused the login of Airflow connection {self.conn_id!r}: {exc.code} "
                    f"({exc.message}). Fix the connection's user name, password, security token or "
                    f"consumer key; not retried, because repeated failed logins lock the user out") from exc
            except (requests.ConnectionError, requests.Timeout) as exc:
                self._earlier_calls += session.calls
                if attempt == self.retry.max_attempts:
                    raise SalesforceUnreachable(
                        f"Salesforce unreachable: could not connect to {self.host} (Airflow connection "
                        f"{self.conn_id!r}) after {attempt} attempts: {type(exc).__name__}") from exc
                self.sleep(self.retry.backoff(attempt))
                continue
            self._session = session
            self.logins += 1
            return

    def relogin(self) -> None:
        """Log in again (the session expired); calls made so far stay counted."""
        if self._session is not None:
            self._earlier_calls += self._session.calls
        self._sf, self._session = None, None
        log.info("Salesforce session expired; logging in again")
        self._login()

    @property
    def api_calls(self) -> int:
        """API calls made through this gateway so far (every login included)."""
        return self._earlier_calls + (self._session.calls if self._session else 0)

    @property
    def usage(self) -> tuple[int | None, int | None]:
        """The org's (used, max) daily API calls from the last `Sforce-Limit-Info` seen."""
        if self._session is None:
            return None, None
        return self._session.api_used, self._session.api_max

    # -- the one call ----------------------------------------------------------------------------

    def call(self, what: str, fn: Callable[[Any], T], *, cost: int = 1) -> T:
        """`fn(simple_salesforce.Salesforce)` with retries; `what` names it in errors and logs.

        Raises:
            BudgetExhausted: the call would pass the run's API budget (nothing was sent).
            TransientFailure: after `max_attempts` transient failures.
            SalesforceUnreachable: the host could not be reached after every attempt.
            ApiLimitReached: Salesforce refuses calls for the org's daily limit.
            SalesforceError: any other (permanent) Salesforce error.
        """
        from simple_salesforce.exceptions import (
            SalesforceError,
            SalesforceExpiredSession,
            SalesforceRefusedRequest,
        )

        self._check_budget(what, cost)
        last: Exception | None = None
        for attempt in range(1, self.retry.max_attempts + 1):
            try:
                result = fn(self.sf)
                self._start_budget()
                return result
            except SalesforceExpiredSession as exc:
                last = exc
                self.relogin()
                continue
            except SalesforceRefusedRequest as exc:
                if "REQUEST_LIMIT_EXCEEDED" in str(exc.content):
                    raise ApiLimitReached(f"{what}: Salesforce refused the call (REQUEST_LIMIT_EXCEEDED): the "
                                          f"org's daily API limit is reached; the next run carries on") from exc
                raise
            except SalesforceError as exc:
                if exc.status not in TRANSIENT_STATUS and _error_code(exc) not in TRANSIENT_CODES:
                    raise
                last = exc
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
                last = exc  # unreachable, too slow, or cut in the middle of an answer (a page is re-read whole)
            wait = self.retry.backoff(attempt)
            log.warning("%s failed transiently (attempt %d of %d): %s; retrying in %.1f s", what, attempt,
                        self.retry.max_attempts, _short(last), wait)
            if attempt < self.retry.max_attempts:
                self.sleep(wait)
        if isinstance(last, requests.ConnectionError):
            raise SalesforceUnreachable(f"Salesforce unreachable: {what} could not reach {self.host} after "
                                        f"{self.retry.max_attempts} attempts: {_short(last)}")
        raise TransientFailure(f"{what}: gave up after {self.retry.max_attempts} attempts: {_short(last)}")

    def _check_budget(self, what: str, cost: int) -> None:
        if self.budget is None:
            return
        spent = self.api_calls
        if not self.budget.allows(spent, cost):
            raise BudgetExhausted(self.budget.stop(spent, cost, what))

    def _start_budget(self) -> None:
        if self.budget is not None:
            used, maximum = self.usage
            self.budget.start(used, maximum, self.api_calls)

    # -- describe --------------------------------------------------------------------------------

    def describe(self, object_name: str) -> dict[str, Any]:
        """The object's describe result, asked once per gateway."""
        if object_name not in self._descriptions:
            self._descriptions[object_name] = self.call(
                f"describe {object_name}", lambda sf: getattr(sf, object_name).describe())
        return self._descriptions[object_name]

    def describe_fields(self, object_name: str) -> dict[str, FieldInfo]:
        """Field metadata of an object, keyed by lower-case field name."""
        return {
            f["name"].lower(): FieldInfo(f["name"], f["type"], int(f.get("length") or 0), bool(f["nillable"]),
                                         bool(f.get("updateable")), bool(f.get("createable")))
            for f in self.describe(object_name)["fields"]
        }

    def check_fields(self, object_name: str, wanted: list[str], mapping_file: str) -> dict[str, FieldInfo]:
        """Describe the object and make sure every wanted field exists.

        Raises:
            SalesforceSchemaError: naming each missing field and the mapping file.
        """
        fields = self.describe_fields(object_name)
        missing = [name for name in wanted if name.lower() not in fields]
        if missing:
            raise SalesforceSchemaError(
                f"{mapping_file}: field(s) {', '.join(missing)} of {object_name} do not exist in "
                f"Salesforce (describe of {object_name} has no such field); fix the mapping or the org",
                missing)
        wanted_lower = {w.lower() for w in wanted}
        unmapped_custom = sorted(f.name for key, f in fields.items() if f.name.endswith("__c")
                                 and key not in wanted_lower)
        if unmapped_custom:
            log.info("%s has custom fields not in the mapping: %s", object_name, ", ".join(unmapped_custom))
        return fields

    # -- REST queries ----------------------------------------------------------------------------

    def count(self, soql: str) -> int:
        """The number of records (deleted included) a `SELECT COUNT()` query matches."""
        return int(self.call("count", lambda sf: sf.query(soql, include_deleted=True))["totalSize"])

    def iter_rest_pages(self, soql: str, *, include_deleted: bool = True) -> Iterator[list[dict[str, Any]]]:
        """Yield pages of records from REST `queryAll` (or `query`), following `nextRecordsUrl`."""
        result = self.call("query", lambda sf: sf.query(soql, include_deleted=include_deleted))
        while True:
            yield result["records"]
            if result.get("done", True):
                return
            next_url = result["nextRecordsUrl"]
            result = self.call("next query page", functools.partial(
                _query_more, url=next_url, include_deleted=include_deleted))

    def query_records(self, soql: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Every record of a (small) REST query, all pages read."""
        return [record for page in self.iter_rest_pages(soql, include_deleted=include_deleted) for record in page]

    # -- Bulk API 2.0 ----------------------------------------------------------------------------

    @staticmethod
    def bulk2(sf: Any, object_name: str) -> Any:
        """simple-salesforce's Bulk API 2.0 client of an object (use it inside `call`)."""
        return getattr(sf.bulk2, object_name)._client

    def start_bulk_query(self, object_name: str, soql: str) -> str:
        """Create a Bulk API 2.0 `queryAll` job; returns its id."""
        from simple_salesforce.bulk2 import Operation

        job = self.call(f"create Bulk query of {object_name}",
                        lambda sf: self.bulk2(sf, object_name).create_job(Operation.query_all, soql))
        log.info("Bulk API 2.0 job %s created for %s", job["id"], object_name)
        return str(job["id"])

    def wait_for_bulk_query(self, object_name: str, job_id: str, poll_seconds: float = 0.5) -> None:
        """Wait until the job is complete.

        Raises:
            BulkJobFailed: when Salesforce reports the job Failed or Aborted, or it times out.
        """
        from simple_salesforce.exceptions import SalesforceOperationError

        try:
            self.call(f"wait for Bulk job {job_id}",
                      lambda sf: self.bulk2(sf, object_name).wait_for_job(job_id, True, poll_seconds))
        except SalesforceOperationError as exc:
            raise BulkJobFailed(f"Bulk API 2.0 job {job_id} did not complete: {exc}") from exc

    def bulk_results_page(self, object_name: str, job_id: str, locator: str, page_size: int) -> tuple[str, str]:
        """One CSV page of a completed job and the locator of the next ('' at the end).

        Raises:
            BulkJobFailed: when the job's results are gone (jobs expire after some days).
        """
        from simple_salesforce.exceptions import SalesforceResourceNotFound

        try:
            page = self.call(f"results of Bulk job {job_id}", lambda sf: self.bulk2(sf, object_name)
                             .get_query_results(job_id, locator, page_size))
        except SalesforceResourceNotFound as exc:
            raise BulkJobFailed(f"results of Bulk API 2.0 job {job_id} are no longer available") from exc
        return page["records"], page["locator"]


def _query_more(sf: Any, *, url: str, include_deleted: bool) -> Any:
    return sf.query_more(url, identifier_is_url=True, include_deleted=include_deleted)


def _error_code(exc: Exception) -> str | None:
    content = getattr(exc, "content", None)
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return content[0].get("errorCode")
    return None


def _short(exc: Exception | None) -> str:
    """An exception as one short line (Salesforce errors: status and error code)."""
    status = getattr(exc, "status", None)
    if status is not None:
        code = _error_code(exc) if exc is not None else None
        return f"HTTP {status}" + (f" {code}" if code else "")
    return f"{type(exc).__name__}: {exc}"[:300]

