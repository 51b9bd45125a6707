"""Salesforce access through the provider's SalesforceHook, with every API call counted.

All traffic (login, REST, Bulk API 2.0) goes through one counting `requests.Session`, so
the sync log can report exactly how many API calls a run used and the run can stop before
the org's daily budget is exhausted.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests

log = logging.getLogger(__name__)

_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")


class SalesforceSchemaError(RuntimeError):
    """The org's schema does not match the mapping (e.g. a mapped field is gone)."""


class CountingSession(requests.Session):
    """A requests session that counts calls and remembers the org's API usage."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.api_used: int | None = None
        self.api_max: int | None = None

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
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


class SalesforceClient:
    """A thin, counted wrapper over simple-salesforce for the calls the sync makes."""

    def __init__(self, sf: Any, session: CountingSession) -> None:
        self.sf = sf
        self.session = session

    @classmethod
    def from_connection(cls, conn_id: str) -> SalesforceClient:
        """Log in with the Airflow connection `conn_id` (SalesforceHook resolves credentials)."""
        from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

        session = CountingSession()
        hook = SalesforceHook(salesforce_conn_id=conn_id, session=session)
        return cls(hook.get_conn(), session)

    @property
    def api_calls(self) -> int:
        """API calls made through this client so far (login included)."""
        return self.session.calls

    def describe_fields(self, object_name: str) -> dict[str, FieldInfo]:
        """Field metadata of an object, keyed by lower-case field name."""
        description = getattr(self.sf, object_name).describe()
        return {
            f["name"].lower(): FieldInfo(f["name"], f["type"], int(f.get("length") or 0), bool(f["nillable"]))
            for f in description["fields"]
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
                f"Salesforce (describe of {object_name} has no such field); fix the mapping or the org"
            )
        unmapped_custom = sorted(
            f.name for key, f in fields.items()
            if f.name.endswith("__c") and key not in {w.lower() for w in wanted}
        )
        if unmapped_custom:
            log.info("%s has custom fields not in the mapping: %s", object_name, ", ".join(unmapped_custom))
        return fields

    def count(self, soql: str) -> int:
        """The number of records (deleted included) a `SELECT COUNT()` query matches."""
        return int(self.sf.query(soql, include_deleted=True)["totalSize"])

    def iter_rest_pages(self, soql: str) -> Iterator[list[dict[str, Any]]]:
        """Yield pages of records from REST `queryAll`, following `nextRecordsUrl`."""
        result = self.sf.query(soql, include_deleted=True)
        while True:
            yield result["records"]
            if result.get("done", True):
                return
            result = self.sf.query_more(result["nextRecordsUrl"], identifier_is_url=True, include_deleted=True)

    def _bulk_client(self, object_name: str) -> Any:
        return getattr(self.sf.bulk2, object_name)._client

    def start_bulk_query(self, object_name: str, soql: str) -> str:
        """Create a Bulk API 2.0 `queryAll` job; returns its id."""
        from simple_salesforce.bulk2 import Operation

        job = self._bulk_client(object_name).create_job(Operation.query_all, soql)
        log.info("Bulk API 2.0 job %s created for %s", job["id"], object_name)
        return str(job["id"])

    def wait_for_bulk_query(self, object_name: str, job_id: str, poll_seconds: float = 0.5) -> None:
        """Wait until the job is complete.

        Raises:
            BulkJobFailed: when Salesforce reports the job Failed or Aborted, or it times out.
        """
        from simple_salesforce.exceptions import SalesforceOperationError

        try:
            self._bulk_client(object_name).wait_for_job(job_id, True, poll_seconds)
        except SalesforceOperationError as exc:
            raise BulkJobFailed(f"Bulk API 2.0 job {job_id} did not complete: {exc}") from exc

    def bulk_results_page(self, object_name: str, job_id: str, locator: str, page_size: int) -> tuple[str, str]:
        """One CSV page of a completed job and the locator of the next ('' at the end).

        Raises:
            BulkJobFailed: when the job's results are gone (jobs expire after some days).
        """
        from simple_salesforce.exceptions import SalesforceResourceNotFound

        try:
            page = self._bulk_client(object_name).get_query_results(job_id, locator, page_size)
        except SalesforceResourceNotFound as exc:
            raise BulkJobFailed(f"results of Bulk API 2.0 job {job_id} are no longer available") from exc
        return page["records"], page["locator"]


class BulkJobFailed(RuntimeError):
    """A Bulk API 2.0 job failed, was aborted or timed out."""
