"""Client for the emulator's admin endpoint (``/__admin/...``).

Admin calls are not Salesforce API calls: they are never counted, never throttled by the API
budget and never hit by injected faults. Tests use them to set the scene (insert a record,
expire sessions, exhaust the budget) and to look behind the API (stats, raw records).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests


class AdminError(RuntimeError):
    """The admin endpoint answered with an error."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"admin call failed with HTTP {status}: {body}")
        self.status = status
        self.body = body


class AdminClient:
    """Talks JSON to ``/__admin/...`` on a running emulator.

    Args:
        url: The server's base URL, ``https://127.0.0.1:PORT``.
        cert_path: The server's self-signed certificate (``state_dir / "cert.pem"``).
        timeout: Per-request timeout in seconds.
    """

    def __init__(self, url: str, cert_path: Path | str, timeout: float = 600) -> None:
        self.url = url.rstrip("/")
        self.cert_path = Path(cert_path)
        self.timeout = timeout
        self._session = requests.Session()

    def close(self) -> None:
        """Close the underlying HTTP session."""
        self._session.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(self, method: str, path: str, payload: Any = None, params: dict[str, Any] | None = None) -> Any:
        # verify per request: REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE in the environment beat session.verify
        response = self._session.request(
            method, f"{self.url}/__admin/{path}", json=payload, params=params, timeout=self.timeout,
            verify=str(self.cert_path),
        )
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = response.text
        if response.status_code >= 400:
            raise AdminError(response.status_code, body)
        return body

    # -- accounting ---------------------------------------------------------------------------

    def health(self) -> dict:
        """Return ``{"status": "ok", ...}`` when the server answers."""
        return self._call("GET", "health")

    def stats(self) -> dict:
        """Return API accounting: ``{"api_calls": n, "by_kind": {kind: n}, "api_usage": {...}, ...}``."""
        return self._call("GET", "stats")

    def reset_stats(self) -> dict:
        """Zero the counters that :meth:`stats` reports (the daily API usage is kept)."""
        return self._call("POST", "stats/reset")

    def set_api_usage(self, used: int, max: int | None = None) -> dict:  # noqa: A002 - mirrors Salesforce's "Max"
        """Set today's API usage (and optionally the daily budget) as ``/limits`` reports it."""
        payload: dict[str, int] = {"used": int(used)}
        if max is not None:
            payload["max"] = int(max)
        return self._call("POST", "api-usage", payload)

    # -- faults and sessions --------------------------------------------------------------------

    def set_faults(self, **kw: Any) -> dict:
        """Merge fault settings, e.g. ``set_faults(error_rate=0.2, seed=3)``; returns the active set.

        Keys: ``seed``, ``latency_ms``, ``error_rate``, ``error_next``, ``error_status``,
        ``drop_rate``, ``drop_next``, ``session_ttl_s``, ``bulk_fail_rate``, ``bulk_fail_next``,
        ``lock_rate``, ``lock_next`` (see the emulator README).
        """
        return self._call("POST", "faults", kw)

    def get_faults(self) -> dict:
        """Return the active fault settings."""
        return self._call("GET", "faults")

    def clear_faults(self) -> dict:
        """Switch every fault off."""
        return self._call("DELETE", "faults")

    def expire_sessions(self) -> dict:
        """Invalidate every session now; clients get ``401 INVALID_SESSION_ID`` and must log in again."""
        return self._call("POST", "sessions/expire")

    def set_clock_offset(self, seconds: float) -> dict:
        """Shift the server's record clock by ``seconds`` (0 puts it back); returns the new server time."""
        return self._call("POST", "clock", {"offset_seconds": seconds})

    def issue_refresh_token(self) -> str:
        """A refresh token for the API user (the password grant, as on Salesforce, returns none)."""
        return self._call("POST", "refresh-tokens")["refresh_token"]

    # -- org activity ---------------------------------------------------------------------------

    def mutate(self, changes: int = 100, seed: int | None = None) -> dict:
        """Simulate CRM activity; returns ids per object and kind plus counts (see the README)."""
        payload: dict[str, Any] = {"changes": int(changes)}
        if seed is not None:
            payload["seed"] = int(seed)
        return self._call("POST", "mutate", payload)

    # -- records (bypass the API; not counted) --------------------------------------------------

    def insert(self, obj: str, fields: dict[str, Any]) -> str:
        """Create a record and return its Id."""
        return self._call("POST", f"records/{quote(obj)}", fields)["id"]

    def update(self, obj: str, record_id: str, fields: dict[str, Any]) -> None:
        """Change fields of a record (also one in the recycle bin)."""
        self._call("PATCH", f"records/{quote(obj)}/{quote(record_id)}", fields)

    def delete(self, obj: str, record_id: str) -> None:
        """Move a record to the recycle bin (IsDeleted=true; seen by queryAll and ``deleted``)."""
        self._call("DELETE", f"records/{quote(obj)}/{quote(record_id)}")

    def undelete(self, obj: str, record_id: str) -> None:
        """Restore a record from the recycle bin."""
        self._call("POST", f"records/{quote(obj)}/{quote(record_id)}/undelete")

    def purge(self, obj: str, record_id: str) -> None:
        """Hard-delete a record: gone even from queryAll."""
        self._call("POST", f"records/{quote(obj)}/{quote(record_id)}/purge")

    def convert_lead(
        self,
        lead_id: str,
        *,
        contact_id: str | None = None,
        account_id: str | None = None,
        converted_status: str = "Closed - Converted",
    ) -> dict:
        """Convert a Lead; creates a Contact (and Account) unless given. Returns ``{"contactId", "accountId"}``."""
        payload = {"leadId": lead_id, "contactId": contact_id, "accountId": account_id,
                   "convertedStatus": converted_status}
        return self._call("POST", "convert-lead", payload)

    def plant(self, object_name: str, values: dict[str, Any]) -> str:
        """Store a record exactly as given, bypassing the emulator's validation; returns its Id.

        For building a dirty org: ``values`` may hold any ``Id`` (wrong length or checksum),
        invalid emails, unknown picklist codes, over-long text, NUL bytes. System fields that
        are left out get the usual defaults (now, the API user, not deleted).
        """
        return self._call("POST", f"plant/{quote(object_name)}", values)["id"]

    def merge(self, object_name: str, master_id: str, merge_ids: list[str]) -> dict:
        """Merge one or two records into ``master_id`` (Account, Contact or Lead), as Salesforce does.

        The losers go to the recycle bin with ``MasterRecordId`` set; records that referenced
        them now reference the master. Returns ``{"masterId", "mergedIds", "reparented"}``.
        """
        return self._call("POST", f"merge/{quote(object_name)}", {"masterId": master_id, "mergeIds": merge_ids})

    def get(self, obj: str, record_id: str) -> dict:
        """Return every field of a record, deleted ones included, in REST JSON encoding."""
        return self._call("GET", f"records/{quote(obj)}/{quote(record_id)}")

    def count(self, obj: str, include_deleted: bool = False) -> int:
        """Count the records of an object (recycle bin excluded unless asked)."""
        body = self._call("GET", f"count/{quote(obj)}", params={"include_deleted": int(include_deleted)})
        return int(body["count"])
