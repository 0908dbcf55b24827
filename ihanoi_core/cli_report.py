"""Sub-command `report weekly` of `python -m ihanoi_core`: the weekly review as a file.

    python -m ihanoi_core report weekly --week 2024-W32 --format pdf -o giao-ban.pdf

For the scheduled job that mails last week's report every Monday. The cumulative
figures are those of `stats --to <Sunday>`, the week's intake those of
`stats --from <Monday> --to <Sunday>` (see `ihanoi_core.weekly`). Each file
written is also kept as a frozen copy in the database (`report_snapshot`), like a
download in the console, unless `--no-snapshot`. `--format` defaults to the output's
suffix. A bad week or format exits 2 with one line; the file is written only once the
whole document is built, and the copy is committed only once the file is written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ihanoi_core.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from ihanoi_core.db import session_scope, utcnow
from ihanoi_core.weekly import WeekError, build_weekly_report, parse_week
from ihanoi_core.weekly_export import FORMATS, LANGS, ExportFormat, export_weekly


def register(sub: Any) -> None:
    p = sub.add_parser("report", help="review reports as files (weekly: XLSX or PDF)")
    kinds = p.add_subparsers(dest="report_kind", required=True, parser_class=type(p))
    w = kinds.add_parser("weekly", help="the leaders' weekly review report of one ISO week")
    w.add_argument("--week", required=True, metavar="YYYY-Www", help="ISO week, e.g. 2024-W32")
    w.add_argument("--format", help="xlsx or pdf (default: from the output's suffix)")
    w.add_argument("-o", "--output", required=True, metavar="FILE", help="file to write")
    w.add_argument("--lang", choices=LANGS, default="vi", help="language of the file")
    w.add_argument(
        "--no-snapshot",
        action="store_true",
        help="do not keep a frozen copy in the database",
    )
    w.set_defaults(handler=cmd_report_weekly)


def _format_of(args: argparse.Namespace) -> ExportFormat | None:
    wanted = (args.format or Path(args.output).suffix.lstrip(".")).lower()
    for known in FORMATS:
        if wanted == known:
            return known
    return None


def cmd_report_weekly(args: argparse.Namespace) -> int:
    try:
        week = parse_week(args.week)
    except WeekError as exc:
        print(f"error: --week {exc.text!r} is not an ISO week like 2024-W32", file=sys.stderr)
        return EXIT_USAGE
    fmt = _format_of(args)
    if fmt is None:
        given = args.format or Path(args.output).suffix or "(none)"
        print(
            f"error: unknown format {given!r}: say --format xlsx or --format pdf "
            "(or name the file .xlsx/.pdf)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    now = utcnow()
    with session_scope(snapshot=True) as session:
        report = build_weekly_report(session, week, now=now)
        exported = export_weekly(
            session,
            report=report,
            fmt=fmt,
            lang=args.lang,
            created_by=None,
            now=now,
            freeze=not args.no_snapshot,
        )
        try:
            Path(args.output).write_bytes(exported.content)
        except OSError as exc:
            session.rollback()
            print(f"error: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_FAILED
    total, cumulative = report.total, report.cumulative.total
    kept = f"; frozen copy #{exported.snapshot_id}" if exported.snapshot_id is not None else ""
    print(
        f"weekly report {week.key} ({week.monday:%d/%m/%Y}-{week.sunday:%d/%m/%Y}) written "
        f"to {args.output} ({fmt}, {len(exported.content)} bytes): {total.total} reports, "
        f"{total.processed} processed, {total.refused} refused, {total.processing} "
        f"processing, {total.pending} pending; cumulative {cumulative.total} reports, "
        f"{cumulative.overdue_open} overdue{kept}"
    )
    return EXIT_OK
