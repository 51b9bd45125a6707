"""Where the project's data files live (relative to the project root, never absolute)."""

from __future__ import annotations

import os
from pathlib import Path

# plugins/crm_sync/paths.py -> project root is two levels above the package.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
INCLUDE_DIR = PROJECT_ROOT / "include"
SQL_DIR = INCLUDE_DIR / "sql"


def mappings_dir() -> Path:
    """The mappings directory: `CRM_SYNC_MAPPINGS_DIR` or `include/mappings`."""
    configured = os.environ.get("CRM_SYNC_MAPPINGS_DIR")
    return Path(configured) if configured else INCLUDE_DIR / "mappings"
