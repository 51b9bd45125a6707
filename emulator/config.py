"""Server settings (the ``serve`` command's flags)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from emulator import (
    DEFAULT_CONSUMER_KEY,
    DEFAULT_CONSUMER_SECRET,
    DEFAULT_PASSWORD,
    DEFAULT_SECURITY_TOKEN,
    DEFAULT_USERNAME,
)

API_VERSIONS = {
    "55.0": "Summer '22", "56.0": "Winter '23", "57.0": "Spring '23", "58.0": "Summer '23", "59.0": "Winter '24",
    "60.0": "Spring '24", "61.0": "Summer '24", "62.0": "Winter '25", "63.0": "Spring '25", "64.0": "Summer '25",
    "65.0": "Winter '26",
}


@dataclass
class ServerConfig:
    """Everything ``python -m emulator serve`` can be told.

    Attributes:
        state_dir: Where the org, certificate, cursors and jobs live.
        port: TCP port on 127.0.0.1 (0: any free port).
        records: Contacts to seed into a fresh state directory (None: 1000).
        seed: Generator seed.
        api_budget: Daily API request maximum.
        bulk_delay: Seconds before a Bulk 2.0 job reports JobComplete.
        page_size: REST query page size (nextRecordsUrl paging).
        bulk_page_size: Bulk 2.0 results page size when the client sends no maxRecords.
        cursor_idle_s: REST query cursors unused this long are deleted (fully read ones after 2 minutes).
        job_retention_s: Bulk 2.0 query results unused this long are deleted (fully read ones after 10
            minutes), so repeated million-row extractions do not fill the disk.
    """

    state_dir: Path
    port: int = 0
    records: int | None = None
    seed: int = 1
    username: str = DEFAULT_USERNAME
    password: str = DEFAULT_PASSWORD
    security_token: str = DEFAULT_SECURITY_TOKEN
    consumer_key: str = DEFAULT_CONSUMER_KEY
    consumer_secret: str = DEFAULT_CONSUMER_SECRET
    api_budget: int = 5_000_000
    bulk_delay: float = 0.0
    page_size: int = 2000
    bulk_page_size: int = 100_000
    cursor_idle_s: float = 900.0
    job_retention_s: float = 86400.0

    def __repr__(self) -> str:  # never show secrets
        return (f"ServerConfig(state_dir={self.state_dir!s}, port={self.port}, records={self.records}, "
                f"seed={self.seed}, username={self.username}, api_budget={self.api_budget}, "
                f"bulk_delay={self.bulk_delay}, page_size={self.page_size})")
