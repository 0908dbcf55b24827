"""The benchmarks' demo database: built once per (reports, seed, as-of), then reused.

`ensure_demo_db(25_000, 2024)` returns a `sqlite:///...` URL of
`bench/results/tmp/demo-25000-seed2024-asof2025-06-20.db` (git-ignored). It is built
with the console's own commands (`init-db`, then `seed-demo`) in a subprocess, into a
`.part` file renamed only on success, so an interrupted build is never reused.

As-of 2025-06-20: the 2024 districts still exist (the 2025 communes start on 1 July
2025) and, with the demo's calibrated flow, a realistic share of reports is still open.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TMP = ROOT / "bench" / "results" / "tmp"
DEFAULT_REPORTS = 25_000
DEFAULT_SEED = 2024
DEFAULT_AS_OF = "2025-06-20"
DEMO_PASSWORD = "bench-password"  # only for these throw-away databases


def db_path(reports: int, seed: int, as_of: str = DEFAULT_AS_OF) -> Path:
    return TMP / f"demo-{reports}-seed{seed}-asof{as_of}.db"


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def ensure_demo_db(
    reports: int = DEFAULT_REPORTS, seed: int = DEFAULT_SEED, as_of: str = DEFAULT_AS_OF
) -> str:
    """The URL of the cached demo database, building it first if missing."""
    path = db_path(reports, seed, as_of)
    if path.exists():
        return sqlite_url(path)
    TMP.mkdir(parents=True, exist_ok=True)
    part = path.with_suffix(".db.part")
    part.unlink(missing_ok=True)
    env = dict(
        os.environ,
        DATABASE_URL=sqlite_url(part),
        IHANOI_DEMO_PASSWORD=DEMO_PASSWORD,
        PYTHONPATH=str(ROOT),
    )
    started = time.perf_counter()
    print(f"building {path.name} (once; cached) ...", flush=True)
    for args in (
        ["init-db"],
        ["seed-demo", "--reports", str(reports), "--seed", str(seed), "--as-of", as_of],
    ):
        subprocess.run(
            [sys.executable, "-m", "ihanoi_core", *args],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    part.rename(path)
    print(f"built in {time.perf_counter() - started:.0f} s", flush=True)
    return sqlite_url(path)
