"""Several objects' runs starting at the same minute must not collide in `prepare`."""

from __future__ import annotations

import json
import threading
from urllib.parse import urlparse

from crm_sync.context import RunContext
from crm_sync.prepare import prepare_object


def _conn(dsn: str) -> str:
    url = urlparse(dsn)
    return json.dumps({"conn_type": "postgres", "host": url.hostname, "port": url.port,
                       "login": url.username or "postgres", "schema": url.path.lstrip("/")})


def test_parallel_prepares_do_not_collide(fresh_databases, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_CRM_WAREHOUSE", _conn(fresh_databases.warehouse))
    monkeypatch.setenv("AIRFLOW_CONN_MARKETING_DB", _conn(fresh_databases.marketing))
    errors: list[BaseException] = []

    def prepare(object_name: str) -> None:
        try:
            for _ in range(5):
                prepare_object(RunContext.load(), object_name)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=prepare, args=(o,)) for o in
               ("Account", "Campaign", "Contact", "Lead", "Opportunity")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
