"""Salesforce calls of the write-back: retried with backoff, re-logged in, counted, budgeted.

Transient failures (HTTP 500/502/503/504, a dropped connection, an expired session) are
retried with exponential backoff; an expired session logs in again first (Bulk API calls go
through simple-salesforce's `call_salesforce`, which does not). Every call is counted, across
logins, and `ApiBudget` stops the write-back before it passes its share of the org's
remaining daily API calls.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar

import requests

from crm_sync.salesforce import SalesforceClient
from crm_sync.settings import WritebackSettings

log = logging.getLogger(__name__)

T = TypeVar("T")

TRANSIENT_STATUS = frozenset({500, 502, 503, 504})
MAX_BACKOFF_SECONDS = 60.0


class TransientFailure(RuntimeError):
    """A call kept failing transiently after every attempt."""


class ApiLimitReached(RuntimeError):
    """Salesforce refused a call: the org's daily API limit is used up."""


def backoff_seconds(attempt: int, base: float) -> float:
    """Seconds to wait after failed attempt `attempt` (1-based): base, 2×base, 4×base…, capped."""
    return min(base * (2 ** (attempt - 1)), MAX_BACKOFF_SECONDS)


class ApiBudget:
    """The share of the org's remaining daily API calls a run may use.

    The allowance is fixed from the first `Sforce-Limit-Info` the run sees:
    `share × (max − used + calls this run made before)`; `allows(cost)` says whether `cost`
    more calls stay within it.
    """

    def __init__(self, share: float) -> None:
        self.share = share
        self.allowance: int | None = None
        self.remaining_at_start: int | None = None
        self.stopped: str | None = None

    def start(self, used: int | None, maximum: int | None, calls_so_far: int) -> None:
        """Fix the allowance from the org's usage (no-op when already fixed or unknown)."""
        if self.allowance is not None or used is None or maximum is None:
            return
        self.remaining_at_start = max(maximum - used + calls_so_far, 0)
        self.allowance = math.floor(self.share * self.remaining_at_start)
        log.info("API budget: %d call(s) (%.0f%% of %d remaining today)", self.allowance, 100 * self.share,
                 self.remaining_at_start)

    def allows(self, spent: int, cost: int) -> bool:
        """True when `cost` more calls keep the run within its allowance."""
        return self.allowance is None or spent + cost <= self.allowance

    def stop(self, spent: int, cost: int, what: str) -> str:
        """Record (and return) why the run stopped early."""
        if self.stopped is None:
            self.stopped = (f"stopped early to stay within the API budget: {what} needs about {cost} call(s), "
                            f"{spent} of the allowed {self.allowance} used ({100 * self.share:.0f}% of the "
                            f"{self.remaining_at_start} calls remaining today); the rest stays queued for the next run")
            log.warning("%s", self.stopped)
        return self.stopped


class SalesforceConnection:
    """A logged-in Salesforce client that retries transient failures and counts every call."""

    def __init__(self, conn_id: str, settings: WritebackSettings, *,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.conn_id = conn_id
        self.settings = settings
        self.sleep = sleep
        self._client: SalesforceClient | None = None
        self._earlier_calls = 0
        self.logins = 0

    @property
    def client(self) -> SalesforceClient:
        """The current client (logs in on first use)."""
        if self._client is None:
            self._client = self._login()
        return self._client

    def _login(self) -> SalesforceClient:
        for attempt in range(1, self.settings.max_attempts + 1):
            try:
                client = SalesforceClient.from_connection(self.conn_id)
                self.logins += 1
                return client
            except (requests.ConnectionError, requests.Timeout) as exc:
                if attempt == self.settings.max_attempts:
                    raise TransientFailure(f"login: {exc}") from exc
                self.sleep(backoff_seconds(attempt, self.settings.retry_seconds))
        raise AssertionError("unreachable")

    def relogin(self) -> None:
        """Log in again (the session expired); calls made so far stay counted."""
        if self._client is not None:
            self._earlier_calls += self._client.api_calls
        self._client = None
        log.info("Salesforce session expired; logging in again")
        _ = self.client

    @property
    def api_calls(self) -> int:
        """API calls made through this connection (all logins included)."""
        return self._earlier_calls + (self._client.api_calls if self._client else 0)

    @property
    def usage(self) -> tuple[int | None, int | None]:
        """The org's (used, max) daily API calls from the last `Sforce-Limit-Info` seen."""
        if self._client is None:
            return None, None
        return self._client.session.api_used, self._client.session.api_max

    def call(self, what: str, fn: Callable[[Any], T]) -> T:
        """`fn(simple_salesforce.Salesforce)` with retries; `what` names it in errors and logs.

        Raises:
            TransientFailure: after `max_attempts` transient failures.
            ApiLimitReached: when Salesforce refuses calls for the daily limit.
            SalesforceError: any other (permanent) Salesforce error.
        """
        from simple_salesforce.exceptions import (
            SalesforceExpiredSession,
            SalesforceGeneralError,
            SalesforceRefusedRequest,
        )

        last: Exception | None = None
        for attempt in range(1, self.settings.max_attempts + 1):
            try:
                return fn(self.client.sf)
            except SalesforceExpiredSession as exc:
                last = exc
                self.relogin()
                continue
            except SalesforceRefusedRequest as exc:
                if "REQUEST_LIMIT_EXCEEDED" in str(exc.content):
                    raise ApiLimitReached(f"{what}: Salesforce refused the call: daily API limit reached") from exc
                raise
            except SalesforceGeneralError as exc:
                if exc.status not in TRANSIENT_STATUS:
                    raise
                last = exc
            except (requests.ConnectionError, requests.Timeout) as exc:
                last = exc
            wait = backoff_seconds(attempt, self.settings.retry_seconds)
            log.warning("%s failed transiently (attempt %d of %d): %s; retrying in %.1f s", what, attempt,
                        self.settings.max_attempts, _short(last), wait)
            if attempt < self.settings.max_attempts:
                self.sleep(wait)
        raise TransientFailure(f"{what}: gave up after {self.settings.max_attempts} attempts: {_short(last)}")


def _short(exc: Exception | None) -> str:
    """An exception as one short line (Salesforce errors: status and error code)."""
    status = getattr(exc, "status", None)
    content = getattr(exc, "content", None)
    if status is not None:
        code = content[0].get("errorCode") if isinstance(content, list) and content and isinstance(
            content[0], dict) else None
        return f"HTTP {status}" + (f" {code}" if code else "")
    return f"{type(exc).__name__}: {exc}"[:300]
