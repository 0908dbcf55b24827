"""Sub-commands `stats` and `verify` of `python -m ihanoi_core`.

Contract of `stats --format json` (relied on by scripts that build the weekly report):

    {"as_of": "2024-08-08T23:59:59.999999+07:00",
     "by_kind": {"onsite": {...}, "procedure": {...}},
     "by_unit": [{"unit_code", "unit_name", "total", "overdue_open", "resolved_late"}],
     "by_category": [{"category_code", "name", "count"}],
     "by_district": [{"district_code", "name", "count"}],
     "satisfaction": {"rated", "satisfied", "unsatisfied"}}

with `total, processed, refused, processing, pending, overdue_open, resolved_late` per
kind, all counts integers, UTF-8 text. `--from/--to` select reports by their
submission day in Hanoi (inclusive); `--as-of` defaults to the end of the `--to` day,
so printing last week's report again next month gives the same figures, else to now.
`--format table` prints the same figures for people.

`verify` replays every report's history (see `ihanoi_core.verify`), prints one line per
mismatch and exits 1 if there is any; otherwise one summary line and exit 0.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from ihanoi_core.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, parse_date, parse_datetime
from ihanoi_core.config import HANOI_TZ
from ihanoi_core.db import session_scope, utcnow
from ihanoi_core.queries import stats_snapshot
from ihanoi_core.verify import check_histories

KIND_LABELS = {"onsite": "Phản ánh hiện trường", "procedure": "Phản ánh thủ tục hành chính"}
BUCKET_LABELS = (
    ("total", "Tổng"),
    ("processed", "Đã xử lý"),
    ("refused", "Bị từ chối"),
    ("processing", "Đang xử lý"),
    ("pending", "Chờ xử lý"),
    ("overdue_open", "Quá hạn"),
    ("resolved_late", "Xử lý trễ hạn"),
)
NO_DISTRICT = "(không xác định)"


def register(sub: Any) -> None:
    p = sub.add_parser("stats", help="counts by status, unit, category, district; satisfaction")
    p.add_argument("--format", choices=("json", "table"), default="table")
    p.add_argument(
        "--as-of",
        type=parse_datetime,
        metavar="DATETIME",
        help="snapshot moment (ISO 8601; no zone = Hanoi time); default: end of --to, else now",
    )
    p.add_argument(
        "--from", dest="date_from", type=parse_date, metavar="DATE", help="first submission day"
    )
    p.add_argument(
        "--to", dest="date_to", type=parse_date, metavar="DATE", help="last submission day"
    )
    p.set_defaults(handler=cmd_stats)

    p = sub.add_parser("verify", help="replay every report's history and check it")
    p.set_defaults(handler=cmd_verify)


def end_of_day(day: date) -> datetime:
    """The last microsecond of `day` in Hanoi: a snapshot "as of 8 Aug" includes 8 Aug."""
    return datetime(day.year, day.month, day.day, 23, 59, 59, 999999, tzinfo=HANOI_TZ)


def resolve_as_of(as_of: datetime | None, date_to: date | None) -> datetime:
    if as_of is not None:
        return as_of
    if date_to is not None:
        return end_of_day(date_to)
    return utcnow()


def cmd_stats(args: argparse.Namespace) -> int:
    date_from: date | None = args.date_from
    date_to: date | None = args.date_to
    if date_from and date_to and date_from > date_to:
        print("error: --from is after --to", file=sys.stderr)
        return EXIT_USAGE
    as_of = resolve_as_of(args.as_of, date_to)
    with session_scope(snapshot=True) as session:
        snapshot = stats_snapshot(session, as_of=as_of, date_from=date_from, date_to=date_to)
    data = snapshot.to_dict()
    _use_utf8_stdout()
    if args.format == "json":
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        print(render_table(data, date_from, date_to))
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    with session_scope() as session:
        result = check_histories(session)
    _use_utf8_stdout()
    for mismatch in result.mismatches:
        print(mismatch.describe())
    if result.mismatches:
        reports = len({m.report_id for m in result.mismatches})
        print(
            f"verify: {len(result.mismatches)} mismatch(es) in {reports} of "
            f"{result.reports} reports ({result.events} events checked)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    print(f"verify: {result.reports} reports and {result.events} events checked, no mismatch")
    return EXIT_OK


# ---------------------------------------------------------------- rendering


def _use_utf8_stdout() -> None:
    """Vietnamese names must survive a console or pipe set to another encoding."""
    stream = sys.stdout
    encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
    if isinstance(stream, io.TextIOWrapper) and encoding != "utf8":
        stream.reconfigure(encoding="utf-8")


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns aligned; numbers right-aligned, text left-aligned."""
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in r] for r in rows]
    numeric = [bool(rows) and all(isinstance(r[i], int) for r in rows) for i in range(len(headers))]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        parts = [
            row[i].rjust(widths[i]) if numeric[i] else row[i].ljust(widths[i])
            for i in range(len(headers))
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def render_table(data: dict[str, Any], date_from: date | None, date_to: date | None) -> str:
    """The same figures as the JSON, laid out for a review meeting."""
    period = ""
    if date_from or date_to:
        period = f" — nộp từ {date_from or '…'} đến {date_to or '…'}"
    out = [f"Thống kê phản ánh tính đến {data['as_of']}{period}", ""]

    kinds = data["by_kind"]
    out.append(
        format_table(
            ["Loại"] + [label for _, label in BUCKET_LABELS],
            [
                [KIND_LABELS.get(k, k)] + [c[key] for key, _ in BUCKET_LABELS]
                for k, c in kinds.items()
            ],
        )
    )

    out += ["", "Theo đơn vị (quá hạn nhiều nhất trước)"]
    out.append(
        format_table(
            ["Mã", "Đơn vị", "Tổng", "Quá hạn", "Xử lý trễ hạn"],
            [
                [u["unit_code"], u["unit_name"], u["total"], u["overdue_open"], u["resolved_late"]]
                for u in data["by_unit"]
            ],
        )
    )

    out += ["", "Theo lĩnh vực"]
    out.append(
        format_table(
            ["Mã", "Lĩnh vực", "Số phản ánh"],
            [[c["category_code"], c["name"], c["count"]] for c in data["by_category"]],
        )
    )

    out += ["", "Theo quận/huyện"]
    out.append(
        format_table(
            ["Mã", "Quận/huyện", "Số phản ánh"],
            [
                [d["district_code"] or "", d["name"] or NO_DISTRICT, d["count"]]
                for d in data["by_district"]
            ],
        )
    )

    s = data["satisfaction"]
    share = f" ({100 * s['satisfied'] / s['rated']:.1f}%)" if s["rated"] else ""
    out += [
        "",
        f"Mức độ hài lòng: {s['rated']} đánh giá, {s['satisfied']} hài lòng, chấp nhận{share}, "
        f"{s['unsatisfied']} chưa hài lòng",
    ]
    return "\n".join(out)
