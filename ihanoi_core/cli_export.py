"""Sub-command `export` of `python -m ihanoi_core`: reports out as Open311 or spreadsheets.

    export --format open311-json|open311-xml|csv|xlsx [--from D] [--to D] [--kind K]
           [--category CODE ...] [--unit CODE] [--district CODE] [--status-bucket B]
           [--headers field|vi] [--lang vi|en] -o FILE

Dates are dd/mm/yyyy or YYYY-MM-DD (submission day in Hanoi, inclusive). The file is
written next to FILE under a temporary name and renamed when complete, so a failed
export never leaves half a file behind (nor replaces a good one). Exit 0 with one
summary line; 2 on a bad argument (unknown unit or category code included).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from sqlmodel import select

from ihanoi_core.cli import EXIT_OK, EXIT_USAGE, parse_date
from ihanoi_core.db import session_scope
from ihanoi_core.interchange import fields as F
from ihanoi_core.interchange.exporter import HEADER_STYLES, export_reports
from ihanoi_core.models import Category
from ihanoi_core.queries import ReportFilter
from ihanoi_core.services import HANDLING_KINDS, find_unit
from ihanoi_core.vocab import Bucket, Kind, UnitKind

FILE_MODE = 0o644


def register(sub: Any) -> None:
    p = sub.add_parser("export", help="export reports as Open311 JSON/XML, CSV or XLSX")
    p.add_argument("--format", dest="fmt", choices=F.FORMATS, required=True)
    p.add_argument("-o", "--output", type=Path, required=True, metavar="FILE")
    p.add_argument("--from", dest="date_from", type=parse_date, metavar="DATE")
    p.add_argument("--to", dest="date_to", type=parse_date, metavar="DATE")
    p.add_argument("--kind", choices=[k.value for k in Kind])
    p.add_argument(
        "--category",
        action="append",
        default=[],
        metavar="CODE",
        help="category code (its children included); repeat for several",
    )
    p.add_argument("--unit", metavar="CODE", help="code of the unit holding the reports now")
    p.add_argument("--district", metavar="CODE", help="code of a 2024 district")
    p.add_argument("--status-bucket", dest="bucket", choices=[b.value for b in Bucket])
    p.add_argument(
        "--headers",
        choices=HEADER_STYLES,
        default="field",
        help="CSV/XLSX column names: field names (default) or Vietnamese",
    )
    p.add_argument("--lang", choices=("vi", "en"), default="vi", help="language of names")
    p.set_defaults(handler=cmd_export)


def _usage(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE


def cmd_export(args: argparse.Namespace) -> int:
    if args.date_from and args.date_to and args.date_from > args.date_to:
        return _usage("--from is after --to")
    target: Path = args.output
    if target.is_dir():
        return _usage(f"{target} is a folder; name a file")
    if not target.parent.is_dir():
        return _usage(f"folder {target.parent} does not exist")
    with session_scope(snapshot=True) as session:
        unit_id = district_id = None
        if args.unit:
            unit = find_unit(session, args.unit, HANDLING_KINDS)
            if unit is None:
                return _usage(f"unknown unit code {args.unit!r}")
            unit_id = unit.id
        if args.district:
            district = find_unit(session, args.district, (UnitKind.DISTRICT,))
            if district is None:
                return _usage(f"unknown district code {args.district!r}")
            district_id = district.id
        known = set(session.exec(select(Category.code)).all())
        unknown = [c for c in args.category if c not in known]
        if unknown:
            return _usage(f"unknown category code(s): {', '.join(unknown)}")
        filt = ReportFilter(
            date_from=args.date_from,
            date_to=args.date_to,
            kind=Kind(args.kind) if args.kind else None,
            unit_id=unit_id,
            category_codes=tuple(args.category),
            district_id=district_id,
            bucket=Bucket(args.bucket) if args.bucket else None,
        )
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".part", dir=target.parent
        )
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                rows = export_reports(
                    session, fmt=args.fmt, out=out, filt=filt, lang=args.lang, headers=args.headers
                )
            tmp.chmod(FILE_MODE)  # mkstemp's 0600 would hide the export from colleagues
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    print(f"export: {rows} report(s) written to {target} ({args.fmt})")
    return EXIT_OK
