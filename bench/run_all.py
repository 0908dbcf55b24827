"""Run the benchmarks and write `bench/results/latest.md` (`make bench`).

    python bench/run_all.py [--reports 25000] [--seed 2024] [--only pages|stats|demo ...]
                            [--repeat 3] [--demo-reports 10000] [--out PATH]

The demo database (`--reports`, `--seed`, as of 2025-06-20) is built once with
`init-db` + `seed-demo` and cached under `bench/results/tmp/` (git-ignored), see
`demo_db.py`. Then:
- pages (`bench_pages.py`): every page × allowed role, first render under AppTest;
- stats (`bench_stats.py`): `stats_snapshot` now / past week / past date; `verify`;
- map, analytics, weekly (`bench_map.py`, `bench_analytics.py`, `bench_weekly.py`): the
  core calls behind the insight pages, their AppTest script time, the map's payload and
  the weekly report's XLSX/PDF export (on a copy of the database: exports keep a frozen copy);
- import (`bench_import.py`): `--import-records` generated Open311 records into a new
  SQLite file, with the peak memory growth;
- demo (`bench_demo.py`): `seed-demo` of `--demo-reports` reports on a new SQLite file.
The machine is shared: the load average is recorded next to the numbers.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("STREAMLIT_LOGGER_LEVEL", "error")

from bench import (  # noqa: E402
    bench_analytics,
    bench_demo,
    bench_import,
    bench_map,
    bench_pages,
    bench_stats,
    bench_weekly,
)
from bench.demo_db import DEFAULT_AS_OF, DEFAULT_REPORTS, DEFAULT_SEED, ensure_demo_db  # noqa: E402

BENCHES = ("pages", "stats", "map", "analytics", "weekly", "import", "demo")
DB_BENCHES = ("pages", "stats", "map", "analytics", "weekly")


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        return out.stdout.strip() + (" (+ uncommitted changes)" if dirty else "")
    except OSError:
        return "?"


def _load() -> str:
    try:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


def machine() -> list[str]:
    import streamlit

    return [
        f"- nproc: {os.cpu_count()}; {platform.machine()}, {platform.system()} "
        f"{platform.release()}",
        f"- Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"streamlit {streamlit.__version__}",
        f"- git: {_git_commit()}",
    ]


def _measures(title: str, results: dict[str, float]) -> list[str]:
    """A two-column table of one bench's named measures (seconds unless the name says)."""
    rows = [f"| {name} | {value:,.3f} |" for name, value in results.items()]
    return [f"## {title}", "", "| measure | value |", "|---|---:|", *rows, ""]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=DEFAULT_REPORTS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--only", action="append", choices=BENCHES, help="repeatable")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--demo-reports", type=int, default=10_000)
    parser.add_argument("--import-records", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "latest.md")
    args = parser.parse_args()
    chosen = args.only or list(BENCHES)
    command = "python bench/run_all.py " + shlex.join(sys.argv[1:])
    started = datetime.now(UTC)
    load_before = _load()

    sections: list[str] = []
    url = None
    if any(b in chosen for b in DB_BENCHES):
        url = ensure_demo_db(args.reports, args.seed)
    if "pages" in chosen:
        print("== pages", flush=True)
        t0 = time.perf_counter()
        pages = bench_pages.run(url, args.repeat)  # type: ignore[arg-type]
        slow = [f"{r.file} as {r.role} ({r.cold:.2f} s)" for r in pages if r.slow]
        broken = [f"{r.file} as {r.role}" for r in pages if r.exceptions]
        sections += [
            f"## Pages: first render, {args.reports:,} reports ({time.perf_counter() - t0:.0f} s)",
            "",
            bench_pages.to_markdown(pages, args.repeat),
            "",
            f"Over {bench_pages.LIMIT_S:.0f} s: " + (", ".join(slow) or "none") + ".  ",
            "Exceptions: " + (", ".join(broken) or "none") + ".",
            "",
            "Note: a new AppTest's first run also scans every installed distribution for "
            "Streamlit v2 component manifests (`importlib.metadata`, ~0.1-0.9 s here); a "
            "server does that once at start, so the *component scan excluded* column is "
            "the closest to the page script's own time. The new-process column adds the "
            "imports (pandas, SQLAlchemy/SQLModel, streamlit-authenticator, the core).",
            "",
        ]
    if "stats" in chosen:
        print("== stats", flush=True)
        stats = bench_stats.run(url, args.repeat)  # type: ignore[arg-type]
        sections += [
            f"## Statistics and verify, {args.reports:,} reports",
            "",
            bench_stats.to_markdown(stats, args.repeat),
            "",
        ]
    for name, module in (
        ("map", bench_map),
        ("analytics", bench_analytics),
        ("weekly", bench_weekly),
    ):
        if name in chosen:
            print(f"== {name}", flush=True)
            results = module.run(url, repeat=args.repeat)  # type: ignore[arg-type]
            sections += _measures(f"`bench_{name}.py`, {args.reports:,} reports", results)
    if "import" in chosen:
        print("== import", flush=True)
        with tempfile.TemporaryDirectory() as folder:
            results = bench_import.run(Path(folder), args.import_records)
        sections += _measures(f"`bench_import.py`, {args.import_records:,} records", results)
    if "demo" in chosen:
        print("== demo", flush=True)
        with tempfile.TemporaryDirectory() as folder:
            seconds = bench_demo.run(f"sqlite:///{folder}/bench.db", args.demo_reports, 1)
        sections += [
            "## Demo generation (`bench_demo.py`)",
            "",
            "| measure | reports | seconds | reports/s |",
            "|---|---:|---:|---:|",
            f"| `seed_demo` on a new SQLite file (seed 1, as of {bench_demo.AS_OF:%Y-%m-%d}) "
            f"| {args.demo_reports:,} | {seconds:.1f} | {args.demo_reports / seconds:,.0f} |",
            "",
        ]

    header = [
        "# Benchmarks: latest run",
        "",
        f"- command: `{command.strip()}`",
        f"- date: {started:%Y-%m-%d %H:%M} UTC",
        *machine(),
        f"- demo database: {args.reports:,} reports, seed {args.seed}, as of {DEFAULT_AS_OF} "
        f"(SQLite, `bench/results/tmp/`)",
        f"- load average (1/5/15 min) before: {load_before}; after: {_load()} "
        "(shared machine: other jobs ran meanwhile, so wall times are noisy; the pages' "
        "CPU time column is the steadier figure)",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(header + sections), encoding="utf-8")
    print(f"wrote {args.out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
