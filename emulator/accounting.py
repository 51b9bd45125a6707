"""API call accounting: the daily budget behind ``Sforce-Limit-Info`` and ``/limits``, plus stats.

Counters live in memory and are flushed to the state database every second and at shutdown,
so a restart keeps today's usage.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from emulator.store import Store

DAILY_BULK_BATCHES = 15000
DAILY_BULK2_QUERY_JOBS = 10000


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


class ApiAccounting:
    """Counts API calls and enforces the daily API request budget.

    Args:
        store: Where usage is persisted (``_meta`` key ``api_usage``).
        budget: Daily API request maximum (``DailyApiRequests.Max``).
    """

    def __init__(self, store: Store, budget: int) -> None:
        self.store = store
        self._lock = threading.Lock()
        saved = store.get_meta("api_usage", {}) or {}
        self.day = saved.get("day", _today())
        self.used = int(saved.get("used", 0)) if self.day == _today() else 0
        self.day = _today()
        self.max = int(saved.get("max", budget)) if saved.get("max_pinned") else budget
        self.max_pinned = bool(saved.get("max_pinned", False))
        self.bulk2_query_jobs = int(saved.get("bulk2_query_jobs", 0)) if saved.get("day") == self.day else 0
        self.ingest_jobs = int(saved.get("ingest_jobs", 0)) if saved.get("day") == self.day else 0
        self.calls = 0
        self.by_kind: Counter[str] = Counter()
        self.refused = 0
        self._dirty = False

    def _roll_day(self) -> None:
        today = _today()
        if today != self.day:
            self.day, self.used, self.bulk2_query_jobs, self.ingest_jobs = today, 0, 0, 0

    def try_consume(self, kind: str) -> bool:
        """Count one API call of ``kind``; False (nothing counted) if today's budget is spent."""
        with self._lock:
            self._roll_day()
            if self.used >= self.max:
                self.refused += 1
                return False
            self.used += 1
            self.calls += 1
            self.by_kind[kind] += 1
            if kind == "bulk2_query":
                self.bulk2_query_jobs += 1
            elif kind in ("bulk2_ingest", "bulk1_batch_create"):
                self.ingest_jobs += 1
            self._dirty = True
            return True

    def count_anyway(self, kind: str) -> None:
        """Count a call that is never refused (logins)."""
        with self._lock:
            self._roll_day()
            self.used += 1
            self.calls += 1
            self.by_kind[kind] += 1
            self._dirty = True

    def limit_header(self) -> str:
        """Value of the ``Sforce-Limit-Info`` header."""
        with self._lock:
            return f"api-usage={self.used}/{self.max}"

    def set_usage(self, used: int, maximum: int | None = None) -> None:
        """Set today's usage (and optionally the budget), as the admin endpoint asks."""
        with self._lock:
            self._roll_day()
            self.used = max(0, int(used))
            if maximum is not None:
                self.max = max(0, int(maximum))
                self.max_pinned = True
            self._dirty = True
        self.flush()

    def reset_stats(self) -> None:
        """Zero the call counters reported by :meth:`stats` (today's usage is kept)."""
        with self._lock:
            self.calls = 0
            self.by_kind.clear()
            self.refused = 0

    def stats(self) -> dict[str, Any]:
        """Counters for the admin endpoint."""
        with self._lock:
            return {"api_calls": self.calls, "by_kind": dict(sorted(self.by_kind.items())),
                    "refused": self.refused, "api_usage": {"used": self.used, "max": self.max, "day": self.day}}

    def limits(self) -> dict[str, Any]:
        """The ``/limits`` body (the limits clients read, plus a few common ones)."""
        with self._lock:
            self._roll_day()
            remaining = max(0, self.max - self.used)
            return {
                "DailyApiRequests": {"Max": self.max, "Remaining": remaining},
                "DailyBulkApiBatches": {"Max": DAILY_BULK_BATCHES,
                                        "Remaining": max(0, DAILY_BULK_BATCHES - self.ingest_jobs)},
                "DailyBulkV2QueryJobs": {"Max": DAILY_BULK2_QUERY_JOBS,
                                         "Remaining": max(0, DAILY_BULK2_QUERY_JOBS - self.bulk2_query_jobs)},
                "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
                "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
                "DataStorageMB": {"Max": 1024000, "Remaining": 1000000},
                "FileStorageMB": {"Max": 1024000, "Remaining": 1024000},
                "HourlyTimeBasedWorkflow": {"Max": 1000, "Remaining": 1000},
                "SingleEmail": {"Max": 5000, "Remaining": 5000},
            }

    def flush(self) -> None:
        """Persist today's usage if it changed."""
        with self._lock:
            if not self._dirty:
                return
            snapshot = {"day": self.day, "used": self.used, "max": self.max, "max_pinned": self.max_pinned,
                        "bulk2_query_jobs": self.bulk2_query_jobs, "ingest_jobs": self.ingest_jobs}
            self._dirty = False
        self.store.set_meta("api_usage", snapshot)
