"""``selfcheck``: seed a temporary org, read Contact fully over REST paging, Bulk 2.0 and Bulk 1.0
with simple-salesforce, check the counts, write through a Bulk 2.0 ingest job, print timings.

Run ``python -m emulator selfcheck --records 1000000`` for the figures in the README.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from emulator import DEFAULT_PASSWORD, DEFAULT_SECURITY_TOKEN, DEFAULT_USERNAME
from emulator.launcher import start_emulator

CONTACT_FIELDS = ("Id, AccountId, FirstName, LastName, Email, Phone, Title, MailingCity, MailingCountry, LeadSource, "
                  "HasOptedOutOfEmail, Status__c, Lead_Score__c, Last_Visit__c, OwnerId, IsDeleted, "
                  "SystemModstamp")


class _PeakRss:
    """Samples a process's resident memory in the background."""

    def __init__(self, pid: int) -> None:
        import psutil

        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except Exception:  # the process may be gone
                return

    def take(self) -> float:
        """Peak RSS in MB since the last call (then reset)."""
        value = max(self.peak, self.process.memory_info().rss)
        self.peak = 0
        return round(value / 2**20, 1)

    def stop(self) -> None:
        self._stop.set()


def _report(step: str, records: int, seconds: float, **extra: Any) -> dict[str, Any]:
    row = {"step": step, "records": records, "seconds": round(seconds, 2),
           "records_per_s": round(records / seconds) if seconds > 0 else None, **extra}
    print(json.dumps(row), flush=True)
    return row


def _cpu(rss: _PeakRss) -> float:
    """CPU seconds (user + system) the server process has used so far."""
    times = rss.process.cpu_times()
    return times.user + times.system


# What marks one record in a result set of each content type (the query selects no parent fields).
_RECORD_MARK = {"CSV": b"\n", "JSON": b'"attributes":', "XML": b"<records "}


def _bulk1_download(sf: Any, url: str, content: str, expected: int, rss: _PeakRss) -> bool:
    """A Bulk 1.0 queryAll job in ``content`` (CSV, JSON or XML), its result sets streamed and counted raw."""
    import requests

    headers = {"X-SFDC-Session": sf.session_id, "Content-Type": "application/json"}
    base = f"{url}/services/async/{sf.sf_version}/job"
    t0 = time.monotonic()
    job = requests.post(base, json={"operation": "queryAll", "object": "Contact", "contentType": content},
                        headers=headers, timeout=600).json()["id"]
    if content != "JSON":
        headers["Content-Type"] = "application/xml"  # CSV and XML jobs answer in XML
    batch = requests.post(f"{base}/{job}/batch", data=f"SELECT {CONTACT_FIELDS} FROM Contact",
                          headers={**headers, "Content-Type": "text/csv"}, timeout=600)
    batch_id = batch.json()["id"] if content == "JSON" else batch.text.split("<id>", 1)[1].split("</id>", 1)[0]
    created = time.monotonic() - t0
    listing = requests.get(f"{base}/{job}/batch/{batch_id}/result", headers=headers, timeout=600)
    if content == "JSON":
        result_ids = listing.json()
    else:
        result_ids = [part.split("</result>", 1)[0] for part in listing.text.split("<result>")[1:]]
    t1 = time.monotonic()
    cpu0, client0 = _cpu(rss), time.process_time()
    mark, marks = _RECORD_MARK[content], 0
    for result_id in result_ids:
        with requests.get(f"{base}/{job}/batch/{batch_id}/result/{result_id}", headers=headers, stream=True,
                          timeout=600) as response:
            response.raise_for_status()
            tail = b""
            for chunk in response.iter_content(1 << 20):
                window = tail + chunk
                marks += window.count(mark) - tail.count(mark)
                tail = window[-(len(mark) - 1):] if len(mark) > 1 else b""
    served = marks - len(result_ids) if content == "CSV" else marks  # CSV: one header row per result set
    download = time.monotonic() - t1
    server_cpu, client_cpu = _cpu(rss) - cpu0, time.process_time() - client0
    _report(f"bulk1_{content.lower()}_results_download", served, download, batch_snapshot_s=round(created, 2),
            server_cpu_s=round(server_cpu, 2), client_cpu_s=round(client_cpu, 2),
            records_per_server_cpu_s=round(served / server_cpu) if server_cpu > 0 else None,
            result_sets=len(result_ids), expected=expected, match=served == expected,
            server_peak_rss_mb=rss.take())
    return served == expected


def _bulk1_steps(sf: Any, url: str, expected: int, expected_all: int, rss: _PeakRss) -> bool:
    """Bulk API 1.0: queryAll result sets in CSV, JSON and XML streamed raw, then ``sf.bulk`` JSON query."""
    ok = all([_bulk1_download(sf, url, content, expected_all, rss) for content in ("CSV", "JSON", "XML")])
    t0 = time.monotonic()
    cpu0 = _cpu(rss)
    count = sum(len(chunk) for chunk in sf.bulk.Contact.query(f"SELECT {CONTACT_FIELDS} FROM Contact",
                                                              lazy_operation=True, wait=0))
    server_cpu = _cpu(rss) - cpu0
    _report("bulk1_json_query", count, time.monotonic() - t0, expected=expected, match=count == expected,
            server_cpu_s=round(server_cpu, 2),
            records_per_server_cpu_s=round(count / server_cpu) if server_cpu > 0 else None,
            note="sf.bulk via simple-salesforce, client JSON parsing included", server_peak_rss_mb=rss.take())
    return ok and count == expected


def run_selfcheck(records: int, seed: int, keep: Path | None, ingest: int) -> int:
    """Run the check; returns 0 when every count matched."""
    from simple_salesforce import Salesforce

    workdir = keep or Path(tempfile.mkdtemp(prefix="emulator-selfcheck-"))
    started = time.monotonic()
    emu = start_emulator(workdir, records=records, seed=seed, extra_args=["--log-level", "WARNING"], timeout=900)
    seed_seconds = time.monotonic() - started
    ok = True
    try:
        rss = _PeakRss(emu.process.pid)
        _report("start+seed", records, seed_seconds, note="fresh state dir: seed + index + TLS start")
        admin = emu.admin()
        expected = admin.count("Contact")
        expected_all = admin.count("Contact", include_deleted=True)
        os.environ["REQUESTS_CA_BUNDLE"] = str(emu.cert_path)
        sf = Salesforce(username=DEFAULT_USERNAME, password=DEFAULT_PASSWORD, security_token=DEFAULT_SECURITY_TOKEN,
                        domain=emu.login_domain)
        admin.reset_stats()

        t0 = time.monotonic()
        rest_count = sum(1 for _ in sf.query_all_iter(f"SELECT {CONTACT_FIELDS} FROM Contact"))
        rest_seconds = time.monotonic() - t0
        _report("rest_query_all", rest_count, rest_seconds, expected=expected, match=rest_count == expected,
                api_calls=admin.stats()["api_calls"], server_peak_rss_mb=rss.take())
        ok &= rest_count == expected

        admin.reset_stats()
        t0 = time.monotonic()
        bulk_count = 0
        pages = 0
        first_page_at = None
        for page in sf.bulk2.Contact.query_all(f"SELECT {CONTACT_FIELDS} FROM Contact", max_records=50000, wait=0):
            if first_page_at is None:
                first_page_at = time.monotonic() - t0
            pages += 1
            bulk_count += sum(1 for _ in csv.reader(io.StringIO(page))) - 1
        bulk_seconds = time.monotonic() - t0
        _report("bulk2_query_all", bulk_count, bulk_seconds, expected=expected_all, match=bulk_count == expected_all,
                pages=pages, job_create_and_first_page_s=round(first_page_at or 0, 2),
                api_calls=admin.stats()["api_calls"], server_peak_rss_mb=rss.take())
        ok &= bulk_count == expected_all

        # Server-side page rate alone (no client CSV parsing): stream every page of a fresh job.
        t0 = time.monotonic()
        job = sf.bulk2.Contact._client.create_job("query", f"SELECT {CONTACT_FIELDS} FROM Contact")
        sf.bulk2.Contact._client.wait_for_job(job["id"], True, 0)
        created = time.monotonic() - t0
        locator, served = "", 0
        t1 = time.monotonic()
        cpu0 = _cpu(rss)
        session = sf.session
        url = f"{emu.url}/services/data/v{sf.sf_version}/jobs/query/{job['id']}/results"
        while True:
            params = {"maxRecords": 100000}
            if locator:
                params["locator"] = locator
            with session.get(url, params=params, headers={"Authorization": f"Bearer {sf.session_id}"},
                             stream=True) as response:
                response.raise_for_status()
                for _chunk in response.iter_content(1 << 20):
                    pass
                served += int(response.headers["Sforce-NumberOfRecords"])
                locator = response.headers.get("Sforce-Locator", "null")
            if locator in ("", "null"):
                break
        pages_seconds = time.monotonic() - t1
        server_cpu = _cpu(rss) - cpu0
        _report("bulk2_results_download", served, pages_seconds, job_snapshot_s=round(created, 2),
                server_cpu_s=round(server_cpu, 2),
                records_per_server_cpu_s=round(served / server_cpu) if server_cpu > 0 else None,
                server_peak_rss_mb=rss.take())
        ok &= served == expected

        ok &= _bulk1_steps(sf, emu.url, expected, expected_all, rss)

        t0 = time.monotonic()
        summary = admin.mutate(changes=1000, seed=seed)
        mutate_seconds = time.monotonic() - t0
        window = sf.query_all(f"SELECT Id FROM Contact WHERE SystemModstamp >= {summary['started']}",
                              include_deleted=True)["totalSize"]
        _report("mutate", summary["total"], mutate_seconds, contacts_changed=window,
                server_peak_rss_mb=rss.take())
        ok &= summary["total"] == 1000 and window > 0

        if ingest:
            rows = [{"LastName": f"Selfcheck {i}", "FirstName": "Ingest", "Email": f"selfcheck{i}@example.com",
                     "Lead_Score__c": str(i % 100), "Status__c": "2"} for i in range(ingest)]
            before = admin.count("Contact")
            t0 = time.monotonic()
            results = sf.bulk2.Contact.insert(records=rows, wait=0)
            ingest_seconds = time.monotonic() - t0
            processed = sum(r["numberRecordsProcessed"] for r in results)
            failed = sum(r["numberRecordsFailed"] for r in results)
            _report("bulk2_ingest_insert", processed, ingest_seconds, failed=failed, jobs=len(results),
                    server_peak_rss_mb=rss.take())
            ok &= processed == ingest and failed == 0
            after = admin.count("Contact")
            ok &= after == before + ingest
        rss.stop()
    finally:
        emu.stop()
        if keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps({"selfcheck": "ok" if ok else "MISMATCH", "state_dir": str(workdir) if keep else None}),
          flush=True)
    return 0 if ok else 1
