"""Land extracted records in `crm_staging.records` with COPY, streamed."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable

import psycopg

from crm_sync.normalize import StagingRow

log = logging.getLogger(__name__)

_COPY = "COPY crm_staging.records (run_id, sf_id, system_modstamp, is_deleted, payload) FROM STDIN"


def stage_rows(conn: psycopg.Connection, run_id: int, rows: Iterable[StagingRow], *,
               expected: int | None = None, progress_every: int = 50_000, replace: bool = True) -> int:
    """COPY rows into staging under `run_id`; logs progress on long extracts.

    With `replace` (REST extracts), rows already staged for the run (a retried task) are
    removed first, so a retry never doubles a batch; Bulk pages append. The caller commits.
    """
    if replace:
        conn.execute("DELETE FROM crm_staging.records WHERE run_id = %s", (run_id,))
    staged = 0
    started = time.monotonic()
    dumps = json.dumps
    with conn.cursor() as cur, cur.copy(_COPY) as copy:
        for sf_id, modstamp, deleted, payload in rows:
            copy.write_row((run_id, sf_id, modstamp, deleted, dumps(payload, ensure_ascii=False)))
            staged += 1
            if staged % progress_every == 0:
                rate = staged / max(time.monotonic() - started, 1e-6)
                total = f"/{expected}" if expected else ""
                log.info("staged %d%s records (%.0f records/s)", staged, total, rate)
    return staged
