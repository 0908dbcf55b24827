"""Run every file under ../shared/data/realworld through `import --dry-run`.

    python scripts/check_realworld.py [--root ../shared/data/realworld] [--lang en]
        [--mapping MAPPING.yaml]

Each file goes through the real importer against a fresh temporary SQLite database
(migrated, reference data loaded), in dry-run mode, so nothing is kept. Printed per
file: the format detected, records read, imported, duplicates, rejected with the three
most frequent reasons, the warnings, or the clear reason the whole file was refused.
The data stay in ../shared (not copied into the project); the script does nothing
when that folder is absent. Exit status: 0 unless the importer crashed on a file
(an exception that is not a `BadFileError`), which is a bug to fix.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import traceback
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "realworld"


def _fresh_engine(tmp: Path) -> object:
    from ihanoi_core.db import get_engine, session_scope
    from ihanoi_core.migrations import upgrade
    from ihanoi_core.reference import load_reference_data

    engine = get_engine(f"sqlite:///{tmp / 'realworld.db'}")
    upgrade(engine)
    with session_scope(engine) as session:
        load_reference_data(session, datetime(2024, 1, 1, tzinfo=UTC))
    return engine


def check(root: Path, lang: str, mapping: Path | None = None) -> int:
    from ihanoi_core.interchange.importer import BadFileError, import_file, message

    files = sorted(p for p in root.rglob("*") if p.is_file())
    crashes = 0
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        engine = _fresh_engine(Path(tmp))
        for path in files:
            name = str(path.relative_to(root))
            try:
                result = import_file(
                    path,
                    engine=engine,
                    dry_run=True,
                    mapping=mapping,
                    source="realworld",  # type: ignore[arg-type]
                )
            except BadFileError as exc:
                where = f" @{exc.record}" if exc.record else ""
                reason = f"{exc.code}{where}: {message(exc.code, lang)}"
                detail = f" ({exc.detail[:90]})" if exc.detail else ""
                rows.append([name, "-", "-", "-", "-", f"REFUSED {reason}{detail}"])
                continue
            except Exception as exc:  # the one thing this script exists to catch
                crashes += 1
                rows.append([name, "-", "-", "-", "-", f"CRASH {type(exc).__name__}: {exc}"])
                traceback.print_exc(file=sys.stderr)
                continue
            reasons = Counter(f"{e.field or '-'}:{e.code}" for e in result.rejected)
            top = ", ".join(f"{k} x{n}" for k, n in reasons.most_common(3))
            notes = [top] if top else []
            if result.warnings:
                notes.append("warn " + ",".join(result.warnings))
            if result.unmapped_services:
                notes.append(f"{len(result.unmapped_services)} unmapped services")
            fmt = result.format + (f"/{result.encoding}" if result.encoding else "")
            rows.append(
                [
                    name,
                    fmt,
                    str(result.total),
                    str(result.imported),
                    str(result.rejected_records),
                    "; ".join(notes) or "ok",
                ]
            )
    header = ["file", "format", "rows", "imported", "rejected", "reasons / refusal"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=False)) + " | " + header[5])
    print("-+-".join("-" * w for w in widths) + "-+-" + "-" * 20)
    for row in rows:
        cells = " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=False))
        print(f"{cells} | {row[5]}")
    refused = sum(1 for r in rows if r[5].startswith("REFUSED"))
    print(
        f"\n{len(rows)} files: {len(rows) - refused - crashes} read, {refused} refused "
        f"with a reason, {crashes} crashed"
    )
    return 1 if crashes else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--lang", choices=("vi", "en"), default="en")
    parser.add_argument("--mapping", type=Path, help="a service/status mapping for every file")
    args = parser.parse_args()
    if not args.root.is_dir():
        print(f"{args.root}: not present, nothing to check")
        return 0
    return check(args.root, args.lang, args.mapping)


if __name__ == "__main__":
    sys.exit(main())
