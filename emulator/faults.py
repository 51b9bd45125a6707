"""Fault injection, switched at run time through ``/__admin/faults``; deterministic given a seed.

Settings (all off by default):

``seed``
    Seed of the random stream behind every ``*_rate`` (re-seeded whenever faults are set).
``latency_ms``
    Delay added to every API request.
``error_rate`` / ``error_next`` / ``error_status``
    Answer that share (or the next N) of API requests with HTTP 500 ``UNKNOWN_EXCEPTION`` or
    503 ``SERVER_UNAVAILABLE``; ``error_status`` pins one of them (default: either).
``drop_rate`` / ``drop_next``
    Drop the connection half-way through a result page (REST query page or Bulk 2.0 results page).
``session_ttl_s``
    Sessions older than this are invalid (``401 INVALID_SESSION_ID``).
``bulk_fail_rate`` / ``bulk_fail_next``
    Bulk 2.0 jobs end in state ``Failed`` with an ``errorMessage`` (ingest jobs fail half-way:
    the rest of the rows are unprocessed).
``lock_rate`` / ``lock_next``
    Writes fail with ``UNABLE_TO_LOCK_ROW`` (REST writes: HTTP 400; ingest: a failed row).
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass
class FaultSettings:
    """The active fault configuration."""

    seed: int = 0
    latency_ms: int = 0
    error_rate: float = 0.0
    error_next: int = 0
    error_status: int = 0
    drop_rate: float = 0.0
    drop_next: int = 0
    session_ttl_s: float = 0.0
    bulk_fail_rate: float = 0.0
    bulk_fail_next: int = 0
    lock_rate: float = 0.0
    lock_next: int = 0


_RATES = ("error_rate", "drop_rate", "bulk_fail_rate", "lock_rate")


def parse_assignments(pairs: list[str]) -> dict[str, Any]:
    """Turn CLI ``key=value`` words into a settings dict (numbers converted)."""
    out: dict[str, Any] = {}
    known = {f.name: f.type for f in fields(FaultSettings)}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"expected key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        key = key.strip().replace("-", "_")
        if key not in known:
            raise ValueError(f"unknown fault setting {key!r}; known: {', '.join(sorted(known))}")
        out[key] = float(value) if "." in value or key in _RATES else int(value)
    return out


class Faults:
    """Thread-safe fault switchboard consulted by the request handlers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.settings = FaultSettings()
        self._rng = random.Random(0)
        self.injected: dict[str, int] = {}

    def update(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Merge settings (unknown keys raise ValueError); the random stream restarts from ``seed``."""
        known = {f.name for f in fields(FaultSettings)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        with self._lock:
            current = asdict(self.settings)
            for key, value in changes.items():
                current[key] = type(current[key])(value)
            for key in _RATES:
                if not 0.0 <= current[key] <= 1.0:
                    raise ValueError(f"{key} must be between 0 and 1")
            if current["error_status"] not in (0, 500, 503):
                raise ValueError("error_status must be 500 or 503")
            self.settings = FaultSettings(**current)
            self._rng = random.Random(self.settings.seed)
            return asdict(self.settings)

    def clear(self) -> dict[str, Any]:
        """Switch everything off."""
        with self._lock:
            self.settings = FaultSettings()
            self._rng = random.Random(0)
            return asdict(self.settings)

    def snapshot(self) -> dict[str, Any]:
        """Settings plus how many faults of each kind were injected."""
        with self._lock:
            return {**asdict(self.settings), "injected": dict(self.injected)}

    def _fire(self, rate_key: str, next_key: str, kind: str) -> bool:
        with self._lock:
            pending = getattr(self.settings, next_key)
            if pending > 0:
                setattr(self.settings, next_key, pending - 1)
                hit = True
            else:
                rate = getattr(self.settings, rate_key)
                hit = rate > 0 and self._rng.random() < rate
            if hit:
                self.injected[kind] = self.injected.get(kind, 0) + 1
            return hit

    def latency_seconds(self) -> float:
        """Delay to add to this request."""
        return self.settings.latency_ms / 1000.0

    def server_error(self) -> int | None:
        """HTTP status (500/503) to answer this request with, or None."""
        if not self._fire("error_rate", "error_next", "server_error"):
            return None
        with self._lock:
            if self.settings.error_status:
                return self.settings.error_status
            return 500 if self._rng.random() < 0.5 else 503

    def drop_page(self) -> bool:
        """True if this result page's connection should be cut half-way."""
        return self._fire("drop_rate", "drop_next", "dropped_page")

    def fail_bulk_job(self) -> bool:
        """True if this Bulk 2.0 job should fail."""
        return self._fire("bulk_fail_rate", "bulk_fail_next", "failed_bulk_job")

    def lock_row(self) -> bool:
        """True if this record write should fail with UNABLE_TO_LOCK_ROW."""
        return self._fire("lock_rate", "lock_next", "unable_to_lock_row")

    @property
    def session_ttl(self) -> float:
        """Maximum session age in seconds (0: unlimited)."""
        return self.settings.session_ttl_s
