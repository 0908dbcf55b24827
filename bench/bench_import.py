"""Time `import` of 100,000 Open311 JSON records into a fresh SQLite database.

`python bench/bench_import.py [--records 100000] [--dir DIR]`

The file is our own generator's (deterministic, seed 2024): points in inner Hanoi,
requests spread over 2024-2025 (both administrative layouts, so routing uses both
boundary layers), 30% closed, a few services. The database is new, migrated, with the
reference data. Reported: seconds for the import (routing and writes included),
process CPU seconds (the machine is shared: wall time includes other
people's load), records per second, and the peak growth of the process's resident memory during the
import (sampled every 20 ms), at the full size and at a fifth of it: flat memory
means the two peaks are about the same.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SERVICES = (
    ("P01", "Pothole"),
    ("L02", "Street light out"),
    ("G03", "Illegal dumping"),
    ("T04", "Fallen tree"),
    ("W05", "Flooding"),
)
MAPPING = """services:
  P01: hu_hong_duong
  L02: chieu_sang
  G03: do_phe_thai
  T04: cay_xanh
default_category: khac
"""


def generate(path: Path, records: int, seed: int = 2024) -> None:
    """Write `records` Open311 requests as one JSON array, streamed to disk."""
    rng = random.Random(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    span = int(timedelta(days=700).total_seconds())
    with path.open("w", encoding="utf-8") as fh:
        fh.write("[\n")
        for i in range(records):
            code, name = SERVICES[rng.randrange(len(SERVICES))]
            requested = start + timedelta(seconds=rng.randrange(span))
            closed = rng.random() < 0.3
            record = {
                "service_request_id": f"BENCH-{i:07d}",
                "status": "closed" if closed else "open",
                "status_notes": "Đã xử lý xong." if closed else "",
                "service_name": name,
                "service_code": code,
                "description": f"Phản ánh số {i}: {name.lower()} trên phố",
                "requested_datetime": requested.isoformat().replace("+00:00", "Z"),
                "updated_datetime": (requested + timedelta(hours=30)).isoformat(),
                "address": f"{rng.randrange(1, 300)} phố Huế, Hà Nội",
                "lat": round(rng.uniform(20.99, 21.06), 6),
                "long": round(rng.uniform(105.80, 105.87), 6),
                "media_url": f"https://example.org/media/{i}.jpg" if i % 7 == 0 else "",
            }
            fh.write(("," if i else "") + json.dumps(record, ensure_ascii=False) + "\n")
        fh.write("]\n")


class _PeakRss:
    """Peak resident memory above the level when sampling started."""

    def __init__(self) -> None:
        import psutil

        self._proc = psutil.Process()
        self.base = self._proc.memory_info().rss
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            time.sleep(0.02)

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.base) / 1e6


def _fresh_db(path: Path) -> str:
    from ihanoi_core.db import get_engine, session_scope
    from ihanoi_core.migrations import upgrade
    from ihanoi_core.reference import load_reference_data

    url = f"sqlite:///{path}"
    engine = get_engine(url)
    upgrade(engine)
    with session_scope(engine) as session:
        load_reference_data(session, datetime(2024, 1, 1, tzinfo=UTC))
    return url


def _one(tmp_dir: Path, records: int) -> dict[str, float]:
    from ihanoi_core.db import get_engine
    from ihanoi_core.interchange.importer import import_file
    from ihanoi_core.routing import router_for  # noqa: F401  (import cost outside timing)

    data = tmp_dir / f"requests_{records}.json"
    generate(data, records)
    mapping = tmp_dir / "mapping.yaml"
    mapping.write_text(MAPPING, encoding="utf-8")
    url = _fresh_db(tmp_dir / f"bench_{records}.db")
    engine = get_engine(url)
    with _PeakRss() as rss:
        t0, c0 = time.perf_counter(), time.process_time()
        result = import_file(data, source="bench", mapping=mapping, engine=engine)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    if result.imported != records or result.rejected:
        raise RuntimeError(f"bench import failed: {result.imported} of {records}")
    engine.dispose()
    return {
        "records": float(records),
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "records_per_s": round(records / seconds),
        "peak_rss_growth_mb": round(rss.growth_mb, 1),
        "file_mb": round(data.stat().st_size / 1e6, 1),
    }


def run(tmp_dir: Path, records: int = 100_000) -> dict[str, float]:
    """The bench: full size, then a fifth of it for the memory comparison."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    small = _one(tmp_dir, max(records // 5, 1))
    full = _one(tmp_dir, records)
    return {
        "records": full["records"],
        "seconds": full["seconds"],
        "cpu_seconds": full["cpu_seconds"],
        "records_per_s": full["records_per_s"],
        "file_mb": full["file_mb"],
        "peak_rss_growth_mb": full["peak_rss_growth_mb"],
        "peak_rss_growth_mb_at_fifth": small["peak_rss_growth_mb"],
        "seconds_at_fifth": small["seconds"],
    }


def main() -> None:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--dir", type=Path)
    args = parser.parse_args()
    if args.dir:
        result = run(args.dir, args.records)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            result = run(Path(tmp), args.records)
    for key, value in result.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
