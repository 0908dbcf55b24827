"""Sub-command `overdue-letter` of `python -m ihanoi_core`: the reminder letter as a file.

    python -m ihanoi_core overdue-letter --as-of 2024-09-23 --from 2024-06-28 \\
        --to 2024-09-22 --format docx -o cong-van.docx

`--as-of` is the moment the overdue state is read (a bare date means the end of that
day in Hanoi; default now) and the letter's date; `--from/--to` select reports by
their submission day in Hanoi. `--unit CODE` (repeatable) writes to those units only.
The file is written only once the whole document is built, so a failure leaves no
half-written letter. With nothing overdue no letter is written and the exit code is 1:
a reminder with nobody to remind is a mistake in the arguments, not a document.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ihanoi_core.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, parse_date, parse_datetime
from ihanoi_core.db import session_scope, utcnow
from ihanoi_core.errors import ValidationError
from ihanoi_core.letters import (
    FORMATS,
    LetterFormat,
    build_overdue_letter,
    overdue_letter_docx,
    overdue_letter_pdf,
)
from ihanoi_core.services import HANDLING_KINDS, find_unit


def register(sub: Any) -> None:
    p = sub.add_parser(
        "overdue-letter", help="write the overdue reminder letter to units (.docx or .pdf)"
    )
    p.add_argument(
        "--as-of",
        type=parse_datetime,
        metavar="DATETIME",
        help="moment the overdue state is read (ISO 8601 or DD/MM/YYYY; a bare date is "
        "the end of that day in Hanoi); default now",
    )
    p.add_argument(
        "--from", dest="date_from", type=parse_date, metavar="DATE", help="first submission day"
    )
    p.add_argument(
        "--to", dest="date_to", type=parse_date, metavar="DATE", help="last submission day"
    )
    p.add_argument(
        "--unit",
        dest="units",
        action="append",
        default=[],
        metavar="CODE",
        help="only this unit (repeatable); default every unit with overdue reports",
    )
    p.add_argument("--reply-by", type=parse_date, metavar="DATE", help="date units must answer by")
    p.add_argument(
        "--format", choices=FORMATS, help="docx or pdf (default: from the output's suffix)"
    )
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="file to write")
    p.set_defaults(handler=cmd_overdue_letter)


def _format_of(args: argparse.Namespace) -> LetterFormat | None:
    if args.format:
        fmt: LetterFormat = args.format
        return fmt
    suffix = Path(args.output).suffix.lower().lstrip(".")
    for known in FORMATS:
        if suffix == known:
            return known
    return None


def cmd_overdue_letter(args: argparse.Namespace) -> int:
    fmt = _format_of(args)
    if fmt is None:
        print(
            "error: say --format docx or --format pdf (or name the file .docx/.pdf)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if args.date_from and args.date_to and args.date_from > args.date_to:
        print("error: --from is after --to", file=sys.stderr)
        return EXIT_USAGE
    as_of = args.as_of or utcnow()
    with session_scope() as session:
        unit_ids: list[int] | None = None
        if args.units:
            unit_ids = []
            for code in args.units:
                unit = find_unit(session, code, HANDLING_KINDS)
                if unit is None or unit.id is None:
                    raise ValidationError("unit", f"unknown handling unit code {code!r}")
                unit_ids.append(unit.id)
        data = build_overdue_letter(
            session,
            as_of=as_of,
            date_from=args.date_from,
            date_to=args.date_to,
            unit_ids=unit_ids,
            reply_by=args.reply_by,
        )
    if data.is_empty:
        print("no overdue reports in this period: no letter written", file=sys.stderr)
        return EXIT_FAILED
    content = overdue_letter_docx(data) if fmt == "docx" else overdue_letter_pdf(data)
    Path(args.output).write_bytes(content)
    print(
        f"overdue letter written to {args.output} ({fmt}, {len(content)} bytes): "
        f"{data.report_count} overdue reports at {len(data.units)} units"
    )
    return EXIT_OK
