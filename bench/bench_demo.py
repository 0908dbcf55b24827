"""Time `seed-demo` on a fresh database: `python bench/bench_demo.py [N ...] [--url URL]`.

Why: other benchmarks start from a 10,000 / 25,000 / 100,000-report demo city, so its
generation must stay fast (target: 10,000 reports in ~15 s on SQLite, under a minute).
Each run migrates a new database, loads the reference data, then times `seed_demo` alone
(split into staff creation, planning and writing is not attempted: the total is what a
user waits for). A plain script, printing seconds; no assertion on the timing.

Recorded results (2 vCPU container shared with other jobs, Python 3.11, SQLite 3.40,
pgserver PostgreSQL; as-of 2026-11-23, seed 1; staff creation and bcrypt included):
      10,000 reports     67,209 events    7.9-9.9 s  SQLite   13.0 s  PostgreSQL
      25,000 reports    168,575 events   21-27 s     SQLite
     100,000 reports    674,666 events   80.5 s      SQLite   (peak RSS 226 MB)
About a third of the time is `Router.random_point_in`, a third `workflow.plan` and the
working calendar, the rest text folding and the inserts.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlmodel import Session

from ihanoi_core.db import get_engine, session_scope
from ihanoi_core.demo import seed_demo
from ihanoi_core.migrations import upgrade
from ihanoi_core.reference import load_reference_data
from ihanoi_core.routing import default_router

AS_OF = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # fixed, so runs compare


def run(url: str, reports: int, seed: int) -> float:
    engine = get_engine(url)
    upgrade(engine)
    with session_scope(engine) as session:
        load_reference_data(session, AS_OF)
    default_router()  # built once per process; not part of what is measured
    started = time.perf_counter()
    with Session(engine) as session:
        summary = seed_demo(
            session, reports=reports, seed=seed, as_of=AS_OF, password="bench-password"
        )
        session.commit()
    seconds = time.perf_counter() - started
    engine.dispose()
    print(
        f"{reports:>8,} reports {summary.events:>9,} events "
        f"{seconds:7.1f} s  ({reports / seconds:,.0f} reports/s)  {engine.url.get_backend_name()}"
    )
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="*", type=int, default=[10_000])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--url", help="an EMPTY database (default: a new SQLite file)")
    args = parser.parse_args()
    for n in args.reports:
        if args.url:
            run(args.url, n, args.seed)
            continue
        with tempfile.TemporaryDirectory() as folder:
            run(f"sqlite:///{folder}/bench.db", n, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
