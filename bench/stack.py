"""A throw-away stack for one benchmark run: embedded PostgreSQL and the emulator in a temp dir."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from devstack.environment import STACK_DATABASES, build_stack_env
from devstack.postgres import EmbeddedPostgres, find_free_port

ROOT = Path(__file__).resolve().parent.parent

#: Settings the benchmark runs the product with (everything else is the product's default).
#: The safety lag is shortened so a differential sees changes made a few seconds earlier
#: without the benchmark idling for the default 15 s; it changes no work the sync does.
#: The lookback is shortened because the scenarios follow each other within minutes: with
#: the default 5 minutes, a differential would read the previous scenario's changes again
#: (the write-back's 100,000 Contacts), which an hourly run never meets.
BENCH_SETTINGS = {"CRM_SYNC_SAFETY_LAG_SECONDS": "2", "CRM_SYNC_LOOKBACK_SECONDS": "30"}


@dataclass
class Stack:
    """The running services and the environment the workers get."""

    base_dir: Path
    postgres: EmbeddedPostgres
    emulator: object  # emulator.launcher.EmulatorHandle
    env: dict[str, str]

    def dsn(self, database: str) -> str:
        """A libpq URL of one database on the embedded server."""
        return f"postgresql://postgres@127.0.0.1:{self.postgres.port}/{database}"


@contextmanager
def throwaway_stack(records: int, *, keep: bool = False, say=print) -> Iterator[Stack]:
    """Start PostgreSQL and an emulator seeded with `records` Contacts; remove both afterwards."""
    from emulator.launcher import start_emulator

    base = Path(tempfile.mkdtemp(prefix="crm-bench-"))
    postgres = EmbeddedPostgres(base / "postgres", find_free_port(), fsync=True)
    emulator = None
    try:
        say(f"bench: starting PostgreSQL in {base}")
        postgres.start()
        for database in STACK_DATABASES:
            postgres.ensure_database(database)
        say(f"bench: seeding the emulator with {records:,} Contacts (and the other objects in proportion)")
        emulator = start_emulator(base / "emulator", records=records, seed=1, log_path=base / "emulator.log",
                                  timeout=1800)
        env = build_stack_env(ROOT, base, postgres.port, emulator.url, emulator.cert_path,
                              bin_dir=Path(sys.executable).parent)
        env.update(BENCH_SETTINGS)
        env["AIRFLOW__LOGGING__LOGGING_LEVEL"] = os.environ.get("BENCH_LOG_LEVEL", "WARNING")
        yield Stack(base, postgres, emulator, env)
    finally:
        if emulator is not None:
            emulator.stop()
        postgres.stop()
        if keep:
            say(f"bench: kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
