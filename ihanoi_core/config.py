"""Where things live: database URL, reference-data folder, time zone.

Everything configurable is read from the environment here and nowhere else, so the
UI, the CLI, the tests and a notebook agree on one database.
"""

from __future__ import annotations

import os
from pathlib import Path
from zoneinfo import ZoneInfo

PROJECT_ROOT = Path(__file__).resolve().parent.parent
REFERENCE_DIR = PROJECT_ROOT / "db" / "reference"
ALEMBIC_DIR = PROJECT_ROOT / "db" / "alembic"
DEFAULT_SQLITE_PATH = PROJECT_ROOT / "data" / "ihanoi.db"

HANOI_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def database_url() -> str:
    """The database to use: `DATABASE_URL`, else the embedded SQLite file."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if url:
        return url
    return f"sqlite:///{DEFAULT_SQLITE_PATH}"


def reference_path(name: str) -> Path:
    """Path of a reference-data file shipped in `db/reference/`."""
    return REFERENCE_DIR / name
