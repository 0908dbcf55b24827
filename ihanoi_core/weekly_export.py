"""The weekly review report as files (XLSX, PDF) and the frozen copies kept of them.

Both formats are drawn from one list of tables (`report_tables`), so the workbook and
the printed document can never disagree. XLSX: one sheet per table, numbers stored as
numbers (shares as fractions with a % format), a frozen header row. PDF: A4, the
Vietnamese text in an embedded DejaVu font (`letters.find_pdf_font`: PDF standard
fonts have no "ữ"), page numbers, tables that fit the page width.

Every export can be frozen (`export_weekly`): a `ReportSnapshot` row keeps the file's
bytes, its SHA-256 and the report's figures as JSON. The table is append-only at the
database, so next month's meeting can compare with exactly what was shown
(`compare_snapshot`).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final, Literal

import sqlalchemy as sa
from fpdf import FPDF
from fpdf.enums import Align, XPos, YPos
from fpdf.fonts import FontFace
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from sqlmodel import Session, SQLModel

from ihanoi_core.config import HANOI_TZ
from ihanoi_core.errors import NotFound, ValidationError
from ihanoi_core.letters import PdfFont, find_pdf_font, prepare_pdf
from ihanoi_core.models import ReportSnapshot
from ihanoi_core.queries import BucketCounts, SatisfactionCounts, Step
from ihanoi_core.weekly import (
    MIN_RECEIVED_FOR_RANKING,
    REPORT_KIND,
    Change,
    IsoWeek,
    WeekFigures,
    WeeklyReport,
    build_weekly_report,
    finite,
    parse_week,
)

ExportFormat = Literal["xlsx", "pdf"]
Lang = Literal["vi", "en"]
FORMATS: Final[tuple[ExportFormat, ...]] = ("xlsx", "pdf")
LANGS: Final[tuple[Lang, ...]] = ("vi", "en")
MIME_TYPES: Final[dict[str, str]] = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}
PDF_BOTTLENECK_ROWS: Final = 15  # the printed page shows the worst cells; the workbook all
KEEP_TOGETHER_ROWS: Final = 12  # a table up to this many rows is not split across pages
ColumnType = Literal["text", "int", "float", "pct", "delta", "dpct"]  # delta: signed


# ------------------------------------------------------------------ wording


@dataclass(frozen=True)
class WeeklyWording:
    """Every fixed text of the exported report, Vietnamese by default."""

    title: str = "BÁO CÁO GIAO BAN TUẦN {week}/{year}"
    subtitle: str = "Tình hình tiếp nhận, xử lý phản ánh, kiến nghị trên ứng dụng iHanoi"
    period: str = "Tuần từ ngày {monday} đến ngày {sunday}"
    as_of: str = "Số liệu tính đến {moment}"
    incomplete: str = "Tuần chưa kết thúc: số liệu tạm tính."
    author: str = "Văn phòng UBND Thành phố Hà Nội"
    page: str = "Trang {n}/{total}"
    empty: str = "(không có)"
    kinds: tuple[tuple[str, str], ...] = (
        ("onsite", "Phản ánh hiện trường"),
        ("procedure", "Phản ánh thủ tục hành chính"),
        ("total", "Tổng cộng"),
    )
    measures: tuple[tuple[str, str], ...] = (
        ("total", "Tổng số"),
        ("processed", "Đã xử lý"),
        ("refused", "Bị từ chối"),
        ("processing", "Đang xử lý"),
        ("pending", "Chờ xử lý"),
        ("overdue_open", "Quá hạn"),
        ("resolved_late", "Xử lý trễ hạn"),
    )
    steps: tuple[tuple[str, str], ...] = (
        (Step.DISPATCH.value, "Điều phối (Văn phòng)"),
        (Step.WAITING.value, "Chờ phân công"),
        (Step.HANDLING.value, "Xử lý"),
        (Step.APPROVAL.value, "Chờ duyệt kết quả"),
        (Step.PUBLICATION.value, "Chờ công bố"),
    )
    no_unit: str = "(chưa có đơn vị)"
    # sheet names: at most 31 characters, none of []:*?/\
    info_sheet: str = "Thông tin"
    info_headers: tuple[str, str] = ("Mục", "Nội dung")
    info_week: str = "Tuần"
    info_period: str = "Kỳ báo cáo"
    info_as_of: str = "Thời điểm số liệu"
    info_rule: str = "Cách xếp hạng đơn vị"
    info_cumulative: str = "Lũy kế"
    cumulative_scope: str = (
        "Mọi phản ánh gửi từ khi ứng dụng vận hành đến hết Chủ nhật của tuần, "
        "tình trạng lúc hết tuần."
    )
    info_week_scope: str = "Trong tuần"
    week_scope: str = (
        "Phản ánh gửi từ thứ Hai đến Chủ nhật, tình trạng lúc hết tuần; "
        "cơ cấu lĩnh vực cũng tính trên các phản ánh này."
    )
    info_units_scope: str = "Bảng đơn vị"
    cumulative_sheet: str = "Lũy kế"
    cumulative_title: str = "1. Lũy kế đến hết tuần (phản ánh gửi đến hết ngày {sunday})"
    cumulative_change_sheet: str = "Lũy kế so với tuần trước"
    cumulative_change_title: str = "2. Lũy kế so với lũy kế đến hết tuần trước (tuần {week})"
    summary_sheet: str = "Trong tuần"
    summary_title: str = "3. Phản ánh gửi trong tuần: tình hình xử lý"
    kind_header: str = "Loại phản ánh"
    change_sheet: str = "Trong tuần so với tuần trước"
    change_title: str = "4. Phản ánh gửi trong tuần so với tuần trước (tuần {week})"
    change_headers: tuple[str, ...] = (
        "Loại phản ánh",
        "Chỉ tiêu",
        "Tuần này",
        "Tuần trước",
        "Chênh lệch",
        "Thay đổi",
    )
    overdue_sheet: str = "Quá hạn theo đơn vị"
    overdue_title: str = "5. Quá hạn theo đơn vị (nhiều nhất trước)"
    overdue_headers: tuple[str, ...] = (
        "STT",
        "Đơn vị",
        "Tiếp nhận",
        "Quá hạn",
        "Xử lý trễ hạn",
        "Tỷ lệ quá hạn",
        "Thời gian xử lý (trung vị, giờ LV)",
    )
    overdue_none: str = "Không có phản ánh quá hạn hoặc xử lý trễ hạn trong tuần."
    units_scope: str = (
        "Phạm vi: phản ánh đơn vị đang giữ chưa giải quyết lúc hết tuần (kể cả phản ánh gửi "
        "từ các tuần trước) và phản ánh đơn vị đã giải quyết trong tuần."
    )
    ranking_sheet: str = "Xếp hạng đơn vị"
    ranking_title: str = "6. Đơn vị xử lý tốt nhất và chậm nhất"
    ranking_headers: tuple[str, ...] = (
        "Nhóm",
        "Hạng",
        "Đơn vị",
        "Tiếp nhận",
        "Giải quyết đúng hạn",
        "Tỷ lệ đúng hạn",
        "Quá hạn",
    )
    best: str = "Tốt nhất"
    worst: str = "Chậm nhất"
    ranking_rule: str = (
        "Cùng phạm vi với bảng quá hạn. Xếp theo tỷ lệ phản ánh đã giải quyết (xử lý hoặc "
        "từ chối) đúng hạn trong tuần; chỉ xét đơn vị có từ {min} phản ánh, không gồm Văn "
        "phòng UBND Thành phố. Bằng nhau: ít quá hạn hơn, tỷ lệ quá hạn thấp hơn, "
        "thời gian xử lý ngắn hơn."
    )
    satisfaction_sheet: str = "Mức độ hài lòng"
    satisfaction_title: str = "7. Mức độ hài lòng của người dân"
    satisfaction_headers: tuple[str, ...] = (
        "Phạm vi",
        "Chỉ tiêu",
        "Tuần này",
        "Tuần trước",
        "Chênh lệch",
    )
    rated: str = "Số đánh giá"
    satisfied: str = "Hài lòng, chấp nhận"
    unsatisfied: str = "Chưa hài lòng"
    satisfied_share: str = "Tỷ lệ hài lòng"
    scope_cumulative: str = "Lũy kế"
    scope_week: str = "Gửi trong tuần"
    categories_sheet: str = "Lĩnh vực"
    categories_title: str = "8. Cơ cấu theo lĩnh vực (phản ánh gửi trong tuần)"
    categories_headers: tuple[str, ...] = ("Lĩnh vực", "Số phản ánh", "Tỷ lệ")
    bottleneck_sheet: str = "Điểm nghẽn"
    bottleneck_title: str = "9. Điểm nghẽn: bước xử lý, đơn vị giữ phản ánh lâu nhất"
    bottleneck_headers: tuple[str, ...] = (
        "Đơn vị",
        "Bước",
        "Số lượt hoàn thành",
        "Trung vị (giờ LV)",
        "90% (giờ LV)",
        "Đang chờ",
    )
    bottleneck_note: str = (
        "Các lượt kết thúc trong tuần, tính theo giờ làm việc; bản in nêu {rows} dòng "
        "lâu nhất, bảng tính có đủ."
    )
    filename: str = "bao-cao-giao-ban-{week}.{ext}"


WORDING_EN: Final = WeeklyWording(
    title="WEEKLY REVIEW REPORT, WEEK {week}/{year}",
    subtitle="Citizen reports received and handled on the iHanoi app",
    period="Week from {monday} to {sunday}",
    as_of="Figures as of {moment}",
    incomplete="The week has not ended: provisional figures.",
    author="Hanoi People's Committee Office",
    page="Page {n}/{total}",
    empty="(none)",
    kinds=(
        ("onsite", "On-site reports"),
        ("procedure", "Administrative procedure reports"),
        ("total", "Total"),
    ),
    measures=(
        ("total", "Total"),
        ("processed", "Processed"),
        ("refused", "Refused"),
        ("processing", "Being processed"),
        ("pending", "Pending"),
        ("overdue_open", "Overdue"),
        ("resolved_late", "Resolved late"),
    ),
    steps=(
        (Step.DISPATCH.value, "Dispatch (city office)"),
        (Step.WAITING.value, "Waiting for assignment"),
        (Step.HANDLING.value, "Handling"),
        (Step.APPROVAL.value, "Waiting for approval"),
        (Step.PUBLICATION.value, "Waiting for publication"),
    ),
    no_unit="(no unit yet)",
    info_sheet="About",
    info_headers=("Item", "Value"),
    info_week="Week",
    info_period="Period",
    info_as_of="Figures as of",
    info_rule="How units are ranked",
    info_cumulative="Cumulative",
    cumulative_scope=(
        "Every report submitted since the app's launch up to the end of the week's "
        "Sunday, as it stood then."
    ),
    info_week_scope="This week",
    week_scope=(
        "Reports submitted Monday to Sunday, as they stood at the end of the week; "
        "the category shares count these reports too."
    ),
    info_units_scope="Unit tables",
    cumulative_sheet="Cumulative",
    cumulative_title="1. Cumulative to the end of the week (reports submitted by {sunday})",
    cumulative_change_sheet="Cumulative vs last week",
    cumulative_change_title="2. Cumulative against the end of the previous week (week {week})",
    summary_sheet="This week",
    summary_title="3. Reports submitted this week: how they stand",
    kind_header="Kind of report",
    change_sheet="This week vs last week",
    change_title="4. This week's reports against the previous week's (week {week})",
    change_headers=("Kind of report", "Figure", "This week", "Last week", "Change", "Change %"),
    overdue_sheet="Overdue by unit",
    overdue_title="5. Overdue by unit (worst first)",
    overdue_headers=(
        "No.",
        "Unit",
        "Received",
        "Overdue",
        "Resolved late",
        "Overdue rate",
        "Handling time (median, working h)",
    ),
    overdue_none="No report of the week is overdue or was resolved late.",
    units_scope=(
        "Scope: reports a unit held unfinished at the end of the week (including those "
        "submitted in earlier weeks) and reports it finished during the week."
    ),
    ranking_sheet="Unit ranking",
    ranking_title="6. Best and worst performing units",
    ranking_headers=("Group", "Rank", "Unit", "Received", "On time", "On-time rate", "Overdue"),
    best="Best",
    worst="Worst",
    ranking_rule=(
        "Same scope as the overdue table. Ranked by the share finished (processed or "
        "refused) on time during the week; units with at least {min} reports, the city "
        "office excluded. Ties: fewer overdue, lower overdue rate, shorter handling time."
    ),
    satisfaction_sheet="Satisfaction",
    satisfaction_title="7. Citizens' satisfaction",
    satisfaction_headers=("Scope", "Figure", "This week", "Last week", "Change"),
    rated="Ratings",
    satisfied="Satisfied, accepted",
    unsatisfied="Not satisfied",
    satisfied_share="Satisfied share",
    scope_cumulative="Cumulative",
    scope_week="Submitted this week",
    categories_sheet="Categories",
    categories_title="8. Reports by category (submitted this week)",
    categories_headers=("Category", "Reports", "Share"),
    bottleneck_sheet="Bottlenecks",
    bottleneck_title="9. Bottlenecks: which step, at which unit, holds reports longest",
    bottleneck_headers=(
        "Unit",
        "Step",
        "Finished stays",
        "Median (working h)",
        "90% (working h)",
        "Waiting now",
    ),
    bottleneck_note=(
        "Stays that ended in the week, in working hours; the printout lists the {rows} "
        "longest, the workbook all."
    ),
    filename="weekly-review-{week}.{ext}",
)
WORDINGS: Final[dict[str, WeeklyWording]] = {"vi": WeeklyWording(), "en": WORDING_EN}


def wording_for(lang: str) -> WeeklyWording:
    if lang not in WORDINGS:
        raise ValidationError("lang", f"unknown language {lang!r} (vi or en)")
    return WORDINGS[lang]


# ------------------------------------------------------------------ numbers


def fmt_int(n: int, lang: str) -> str:
    """1654 → "1.654" (vi) or "1,654" (en)."""
    text = f"{n:,}"
    return text.replace(",", ".") if lang == "vi" else text


def fmt_float(x: float, lang: str, digits: int = 1) -> str:
    text = f"{x:,.{digits}f}"
    if lang == "vi":
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


def fmt_signed(n: int, lang: str) -> str:
    return ("+" if n > 0 else "") + fmt_int(n, lang) if n >= 0 else "−" + fmt_int(-n, lang)


def fmt_cell(value: Any, kind: ColumnType, lang: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if kind in ("delta", "dpct"):
        text = fmt_cell(abs(value), "int" if kind == "delta" else "pct", lang)
        if not any(ch in "123456789" for ch in text):
            return text  # rounds to zero: "0,0%", never "−0,0%"
        return ("+" if value > 0 else "−") + text
    if kind == "int":
        return fmt_int(int(value), lang)
    if kind == "float":
        return fmt_float(float(value), lang)
    if kind == "pct":
        return fmt_float(100 * float(value), lang) + "%"
    return str(value)


def fmt_date(d: date) -> str:
    return f"{d:%d/%m/%Y}"


def fmt_moment(t: datetime) -> str:
    return f"{t.astimezone(HANOI_TZ):%H:%M %d/%m/%Y}"


# ------------------------------------------------------------------ tables


@dataclass(frozen=True)
class Table:
    """One table of the report, as both formats draw it."""

    sheet: str
    title: str
    headers: tuple[str, ...]
    types: tuple[ColumnType, ...]
    rows: list[list[Any]]
    widths: tuple[float, ...]  # relative widths in the PDF
    note: str | None = None
    caption: str | None = None  # under the title, before the rows (the table's scope)
    pdf_rows: int | None = None  # print only the first n rows
    empty_text: str | None = None
    row_types: dict[int, tuple[ColumnType, ...]] = field(default_factory=dict)

    def types_of(self, row: int) -> tuple[ColumnType, ...]:
        """Column types, unless row `row` has its own (a share under counts)."""
        return self.row_types.get(row, self.types)


@dataclass(frozen=True)
class ReportText:
    title: str
    subtitle: str
    period: str
    as_of: str
    incomplete: str | None
    info: list[tuple[str, str]] = field(default_factory=list)


def report_text(report: WeeklyReport, lang: str) -> ReportText:
    w = wording_for(lang)
    week = report.week
    period = w.period.format(monday=fmt_date(week.monday), sunday=fmt_date(week.sunday))
    as_of = w.as_of.format(moment=fmt_moment(report.as_of))
    rule = w.ranking_rule.format(min=MIN_RECEIVED_FOR_RANKING)
    return ReportText(
        title=w.title.format(week=week.week, year=week.year),
        subtitle=w.subtitle,
        period=period,
        as_of=as_of,
        incomplete=None if report.complete else w.incomplete,
        info=[
            (w.info_week, week.key),
            (w.info_period, period),
            (w.info_as_of, as_of),
            (w.info_cumulative, w.cumulative_scope),
            (w.info_week_scope, w.week_scope),
            (w.info_units_scope, w.units_scope),
            (w.info_rule, rule),
        ],
    )


def _bucket_table(sheet: str, title: str, figures: WeekFigures, w: WeeklyWording) -> Table:
    kinds, measures = dict(w.kinds), dict(w.measures)
    counts: tuple[ColumnType, ...] = tuple("int" for _ in measures)
    rows_by_kind: dict[str, BucketCounts] = {k.value: c for k, c in figures.by_kind.items()}
    rows_by_kind["total"] = figures.total
    return Table(
        sheet,
        title,
        (w.kind_header, *measures.values()),
        ("text", *counts),
        [[kinds[k], *(getattr(c, m) for m in measures)] for k, c in rows_by_kind.items()],
        (50, *(19,) * len(measures)),
    )


def _change_table(
    sheet: str, title: str, changes: dict[str, dict[str, Change]], w: WeeklyWording
) -> Table:
    kinds, measures = dict(w.kinds), dict(w.measures)
    return Table(
        sheet,
        title,
        w.change_headers,
        ("text", "text", "int", "int", "delta", "dpct"),
        [
            [kinds[k], measures[m], c.current, c.previous, c.delta, c.share]
            for k, per_measure in changes.items()
            for m, c in per_measure.items()
        ],
        (50, 34, 22, 22, 22, 22),
    )


def _satisfaction_rows(
    scope: str, now_s: SatisfactionCounts, before_s: SatisfactionCounts, w: WeeklyWording
) -> list[list[Any]]:
    rows: list[list[Any]] = [
        [scope, label, getattr(now_s, name), getattr(before_s, name)]
        for label, name in (
            (w.rated, "rated"),
            (w.satisfied, "satisfied"),
            (w.unsatisfied, "unsatisfied"),
        )
    ]
    for row in rows:
        row.append(row[2] - row[3])
    share_delta = None
    if now_s.satisfied_share is not None and before_s.satisfied_share is not None:
        share_delta = now_s.satisfied_share - before_s.satisfied_share
    rows.append(
        [scope, w.satisfied_share, now_s.satisfied_share, before_s.satisfied_share, share_delta]
    )
    return rows


def report_tables(report: WeeklyReport, lang: str) -> list[Table]:
    """The report's tables in the order of the meeting (both formats draw these):
    the cumulative figures the city announces first, then the week's intake, then
    the units, satisfaction, categories and bottlenecks."""
    w = wording_for(lang)
    steps = dict(w.steps)
    previous_key = report.previous.week.key
    cumulative = _bucket_table(
        w.cumulative_sheet,
        w.cumulative_title.format(sunday=fmt_date(report.week.sunday)),
        report.cumulative,
        w,
    )
    cumulative_change = _change_table(
        w.cumulative_change_sheet,
        w.cumulative_change_title.format(week=previous_key),
        report.cumulative_changes(),
        w,
    )
    summary = _bucket_table(w.summary_sheet, w.summary_title, report.current, w)
    change = _change_table(
        w.change_sheet, w.change_title.format(week=previous_key), report.changes(), w
    )
    overdue = Table(
        w.overdue_sheet,
        w.overdue_title,
        w.overdue_headers,
        ("int", "text", "int", "int", "int", "pct", "float"),
        [
            [
                i + 1,
                u.formal_name,
                u.received,
                u.overdue_open,
                u.resolved_late,
                u.overdue_rate,
                hours(u.median_handling_hours),
            ]
            for i, u in enumerate(report.overdue_units)
        ],
        (10, 62, 20, 18, 22, 22, 34),
        caption=w.units_scope,
        empty_text=w.overdue_none,
    )
    ranking = Table(
        w.ranking_sheet,
        w.ranking_title,
        w.ranking_headers,
        ("text", "int", "text", "int", "int", "pct", "int"),
        [
            [
                group,
                r.rank,
                r.unit.formal_name,
                r.unit.received,
                r.on_time,
                r.on_time_share,
                r.unit.overdue_open,
            ]
            for group, ranked in ((w.best, report.best), (w.worst, report.worst))
            for r in ranked
        ],
        (24, 12, 62, 20, 26, 24, 18),
        note=w.ranking_rule.format(min=MIN_RECEIVED_FOR_RANKING),
        empty_text=w.empty,
    )
    satisfaction = Table(
        w.satisfaction_sheet,
        w.satisfaction_title,
        w.satisfaction_headers,
        ("text", "text", "int", "int", "delta"),
        [
            *_satisfaction_rows(
                w.scope_cumulative,
                report.cumulative.satisfaction,
                report.cumulative_previous.satisfaction,
                w,
            ),
            *_satisfaction_rows(w.scope_week, report.satisfaction, report.previous.satisfaction, w),
        ],
        (40, 50, 30, 30, 30),
    )
    for i in (3, 7):  # the shares under the counts
        satisfaction.row_types[i] = ("text", "text", "pct", "pct", "dpct")
    formal = {u.unit_id: u.formal_name for u in report.units}
    categories = Table(
        w.categories_sheet,
        w.categories_title,
        w.categories_headers,
        ("text", "int", "pct"),
        [[c.name_vi, c.count, c.share] for c in report.categories],
        (100, 30, 30),
        empty_text=w.empty,
    )
    bottlenecks = Table(
        w.bottleneck_sheet,
        w.bottleneck_title,
        w.bottleneck_headers,
        ("text", "text", "int", "float", "float", "int"),
        [
            [
                formal.get(b.unit_id or -1) or b.unit_name or w.no_unit,
                steps.get(str(b.step), str(b.step)),
                b.count,
                hours(b.median_hours),
                hours(b.p90_hours),
                b.open_count,
            ]
            for b in report.bottlenecks
        ],
        (62, 36, 24, 22, 22, 18),
        note=w.bottleneck_note.format(rows=PDF_BOTTLENECK_ROWS),
        pdf_rows=PDF_BOTTLENECK_ROWS,
        empty_text=w.empty,
    )
    return [
        cumulative,
        cumulative_change,
        summary,
        change,
        overdue,
        ranking,
        satisfaction,
        categories,
        bottlenecks,
    ]


def hours(x: float | None) -> float | None:
    """Hours to the hundredth (36 seconds): the database's timestamps carry float noise."""
    value = finite(x)
    return None if value is None else round(value, 2)


def export_filename(week: IsoWeek, fmt: ExportFormat, lang: str = "vi") -> str:
    return wording_for(lang).filename.format(week=week.key, ext=fmt)


# ------------------------------------------------------------------ .xlsx


_HEADER_FONT: Final = Font(bold=True)
_HEADER_FILL: Final = PatternFill("solid", fgColor="DCE6F1")
_NUMBER_FORMATS: Final[dict[str, str]] = {
    "int": "#,##0",
    "float": "#,##0.0",
    "pct": "0.0%",
    "delta": "+#,##0;-#,##0;0",
    "dpct": "+0.0%;-0.0%;0.0%",
}
_INFO_TYPES: Final[tuple[ColumnType, ...]] = ("text", "text")


def _write_sheet(wb: Workbook, table: Table) -> None:
    ws = wb.create_sheet(title=table.sheet[:31])
    ws.append(list(table.headers))
    for cell in ws[1]:
        cell.font = _HEADER_FONT
        cell.fill = _HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    widths = [len(h) for h in table.headers]
    for i, values in enumerate(table.rows):
        ws.append([None if isinstance(v, float) and math.isnan(v) else v for v in values])
        for col, (value, kind) in enumerate(zip(values, table.types_of(i), strict=True)):
            fmt = _NUMBER_FORMATS.get(kind)
            if fmt:
                ws.cell(row=i + 2, column=col + 1).number_format = fmt
            widths[col] = max(widths[col], len(fmt_cell(value, kind, "vi")))
    for col, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(col)].width = min(60, max(8, width + 2))
    ws.freeze_panes = "A2"


def weekly_xlsx(report: WeeklyReport, lang: str = "vi") -> bytes:
    """One sheet per table, numbers as numbers, Vietnamese (or English) headers."""
    text = report_text(report, lang)
    w = wording_for(lang)
    wb = Workbook()
    if wb.active is not None:
        wb.remove(wb.active)
    info = [[text.title, ""], [text.subtitle, ""], *[[k, v] for k, v in text.info]]
    _write_sheet(wb, Table(w.info_sheet, "", w.info_headers, _INFO_TYPES, info, (1, 1)))
    for table in report_tables(report, lang):
        _write_sheet(wb, table)
    wb.properties.title = text.title
    wb.properties.creator = "iHanoi console"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# ------------------------------------------------------------------ .pdf


def weekly_pdf(report: WeeklyReport, lang: str = "vi", *, font: PdfFont | None = None) -> bytes:
    """A4 portrait, the font embedded, page numbers at the foot of every page."""
    font = font or find_pdf_font()
    text = report_text(report, lang)
    w = wording_for(lang)
    fam = "Weekly"

    class _Pdf(FPDF):
        def footer(self) -> None:
            self.set_y(-12)
            self.set_font(fam, "", 8.5)
            self.cell(0, 5, w.page.format(n=self.page_no(), total="{nb}"), align=Align.C)

    pdf = _Pdf(orientation="P", unit="mm", format="A4")
    pdf.alias_nb_pages("{nb}")
    pdf.set_margins(left=15, top=15, right=15)
    pdf.set_auto_page_break(auto=True, margin=18)
    prepare_pdf(pdf, font, fam, title=text.title, author=w.author)
    pdf.set_creation_date(report.as_of.astimezone(HANOI_TZ).replace(microsecond=0))
    pdf.add_page()
    epw = pdf.epw

    def line(content: str, style: str, size: float, h: float, align: Align = Align.C) -> None:
        pdf.set_font(fam, style, size)
        pdf.multi_cell(epw, h, content, align=align, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    line(w.author.upper(), "B", 10, 5)
    pdf.ln(3)
    line(text.title, "B", 15, 7.5)
    line(text.subtitle, "", 11, 5.5)
    line(text.period, "I", 10.5, 5.5)
    line(text.as_of, "I", 10.5, 5.5)
    if text.incomplete:
        line(text.incomplete, "B", 10.5, 5.5)
    pdf.ln(3)
    headings = FontFace(emphasis="BOLD", fill_color=(220, 230, 241))
    for table in report_tables(report, lang):
        rows = table.rows if table.pdf_rows is None else table.rows[: table.pdf_rows]
        # a title never ends a page alone; a short table is kept whole on one page, a
        # long one starts where a few of its rows fit under its title
        kept = len(rows) if len(rows) <= KEEP_TOGETHER_ROWS else 4
        if pdf.will_page_break(18 + 5.6 * kept + (9 if table.caption else 0)):
            pdf.add_page()
        line(table.title, "B", 11.5, 6.5, Align.L)
        if table.caption:
            line(table.caption, "I", 8.5, 4.2, Align.L)
        pdf.ln(1)
        if not rows:
            line(table.empty_text or w.empty, "I", 10, 5.5, Align.L)
        else:
            pdf.set_font(fam, "", 8.5)
            aligns = tuple(Align.L if k == "text" else Align.R for k in table.types)
            with pdf.table(
                width=epw,
                col_widths=table.widths,
                text_align=aligns,
                line_height=4.6,
                headings_style=headings,
                repeat_headings=1,
                padding=1,
            ) as pdf_table:
                header = pdf_table.row()
                for value in table.headers:
                    header.cell(value, align=Align.C)
                for i, values in enumerate(rows):
                    row = pdf_table.row()
                    for value, kind in zip(values, table.types_of(i), strict=True):
                        row.cell(fmt_cell(value, kind, lang))
        if table.note:
            pdf.ln(1)
            line(table.note, "I", 8.5, 4.2, Align.L)
        pdf.ln(4)
    return bytes(pdf.output())


def render_weekly(report: WeeklyReport, fmt: ExportFormat, lang: str = "vi") -> bytes:
    if fmt == "xlsx":
        return weekly_xlsx(report, lang)
    if fmt == "pdf":
        return weekly_pdf(report, lang)
    raise ValidationError("format", f"unknown format {fmt!r} (xlsx or pdf)")


# ------------------------------------------------------------------ frozen copies


@dataclass(frozen=True)
class ExportedFile:
    filename: str
    fmt: ExportFormat
    mime: str
    content: bytes
    sha256: str
    snapshot_id: int | None  # None when not frozen


@dataclass(frozen=True)
class SnapshotInfo:
    """A frozen copy without its bytes (for lists)."""

    id: int
    kind: str
    period_key: str
    fmt: str
    filename: str
    created_at: datetime
    created_by: int | None
    sha256: str
    size: int
    created_by_name: str | None = None


@dataclass(frozen=True)
class FigureChange:
    """One figure of a frozen copy against the same figure recomputed.

    `section` is "cumulative", "by_kind", "total", "satisfaction", "units" or
    "categories"; `item` the kind ("total" too under "cumulative"), unit code or
    category code ("" for a single row); `name` a readable name (unit or category)
    from the figures; `then`/`now` None when absent.
    """

    section: str
    item: str
    name: str
    measure: str
    then: float | None
    now: float | None

    @property
    def delta(self) -> float | None:
        if self.then is None or self.now is None:
            return None
        return self.now - self.then

    @property
    def changed(self) -> bool:
        return self.then != self.now


@dataclass(frozen=True)
class SnapshotComparison:
    snapshot: SnapshotInfo
    figures_then: dict[str, Any]
    figures_now: dict[str, Any]
    changes: list[FigureChange]

    @property
    def changed(self) -> list[FigureChange]:
        return [c for c in self.changes if c.changed]


def sha256_of(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def figures_json(report: WeeklyReport) -> str:
    return json.dumps(report.figures(), ensure_ascii=False, sort_keys=True, allow_nan=False)


def store_snapshot(
    session: Session,
    *,
    report: WeeklyReport,
    fmt: ExportFormat,
    filename: str,
    content: bytes,
    created_by: int | None,
    now: datetime,
) -> ReportSnapshot:
    """Append a frozen copy (the table refuses updates and deletes)."""
    row = ReportSnapshot(
        kind=REPORT_KIND,
        period_key=report.week.key,
        format=fmt,
        filename=filename,
        created_at=now,
        created_by=created_by,
        sha256=sha256_of(content),
        figures_json=figures_json(report),
        content=content,
    )
    session.add(row)
    session.flush()
    return row


def export_weekly(
    session: Session,
    *,
    report: WeeklyReport,
    fmt: ExportFormat,
    lang: str = "vi",
    created_by: int | None,
    now: datetime,
    freeze: bool = True,
) -> ExportedFile:
    """Render the file and, unless `freeze` is False, keep a frozen copy of it."""
    if fmt not in FORMATS:
        raise ValidationError("format", f"unknown format {fmt!r} (xlsx or pdf)")
    content = render_weekly(report, fmt, lang)
    filename = export_filename(report.week, fmt, lang)
    snapshot_id = None
    if freeze:
        row = store_snapshot(
            session,
            report=report,
            fmt=fmt,
            filename=filename,
            content=content,
            created_by=created_by,
            now=now,
        )
        snapshot_id = row.id
    return ExportedFile(filename, fmt, MIME_TYPES[fmt], content, sha256_of(content), snapshot_id)


_SNAPSHOT: Final = SQLModel.metadata.tables["report_snapshot"]
_USER: Final = SQLModel.metadata.tables["app_user"]


def list_snapshots(
    session: Session, *, period_key: str | None = None, kind: str = REPORT_KIND
) -> list[SnapshotInfo]:
    """Frozen copies, newest first, without loading their bytes."""
    c = _SNAPSHOT.c
    stmt = (
        sa.select(
            c.id,
            c.kind,
            c.period_key,
            c.format,
            c.filename,
            c.created_at,
            c.created_by,
            c.sha256,
            sa.func.length(c.content).label("size"),
            _USER.c.full_name,
        )
        .select_from(_SNAPSHOT.outerjoin(_USER, _USER.c.id == c.created_by))
        .where(c.kind == kind)
    )
    if period_key is not None:
        stmt = stmt.where(c.period_key == period_key)
    stmt = stmt.order_by(c.created_at.desc(), c.id.desc())
    session.flush()
    return [
        SnapshotInfo(
            id=int(r.id),
            kind=r.kind,
            period_key=r.period_key,
            fmt=r.format,
            filename=r.filename,
            created_at=r.created_at,
            created_by=r.created_by,
            sha256=r.sha256,
            size=int(r.size),
            created_by_name=r.full_name,
        )
        for r in session.connection().execute(stmt)
    ]


def load_snapshot(session: Session, snapshot_id: int) -> ReportSnapshot:
    row = session.get(ReportSnapshot, snapshot_id)
    if row is None:
        raise NotFound("report_snapshot", snapshot_id)
    return row


def _info(row: ReportSnapshot) -> SnapshotInfo:
    assert row.id is not None
    return SnapshotInfo(
        row.id,
        row.kind,
        row.period_key,
        row.format,
        row.filename,
        row.created_at,
        row.created_by,
        row.sha256,
        len(row.content),
    )


def flatten_figures(
    figures: dict[str, Any],
) -> dict[tuple[str, str, str], tuple[str, float | None]]:
    """(section, item, measure) → (name, value) for every number a meeting reads."""
    out: dict[tuple[str, str, str], tuple[str, float | None]] = {}
    for kind, counts in figures.get("by_kind", {}).items():
        for measure, value in counts.items():
            out[("by_kind", kind, measure)] = (kind, value)
    for measure, value in figures.get("total", {}).items():
        out[("total", "", measure)] = ("", value)
    for measure, value in figures.get("satisfaction", {}).items():
        out[("satisfaction", "", measure)] = ("", value)
    cumulative = figures.get("cumulative") or {}
    for kind, counts in cumulative.get("by_kind", {}).items():
        for measure, value in counts.items():
            out[("cumulative", kind, measure)] = (kind, value)
    for measure, value in cumulative.get("total", {}).items():
        out[("cumulative", "total", measure)] = ("total", value)
    for unit in figures.get("units", []):
        for measure in ("received", "overdue_open", "resolved_late", "processed", "pending"):
            out[("units", unit["unit_code"], measure)] = (unit["unit_name"], unit.get(measure))
    for cat in figures.get("categories", []):
        out[("categories", cat["category_code"], "count")] = (cat["name"], cat["count"])
    return out


def compare_figures(then: dict[str, Any], now: dict[str, Any]) -> list[FigureChange]:
    """Every figure of either side; a section the frozen copy did not have yet (a copy
    made before the cumulative block existed) is left out rather than shown as new."""
    a, b = flatten_figures(then), flatten_figures(now)
    sections = {k[0] for k in a} | {"units", "categories"}
    keys = list(a) + [k for k in b if k not in a and k[0] in sections]
    return [
        FigureChange(
            section=k[0],
            item=k[1],
            name=(a.get(k) or b.get(k) or ("", None))[0],
            measure=k[2],
            then=a[k][1] if k in a else None,
            now=b[k][1] if k in b else None,
        )
        for k in keys
    ]


def compare_snapshot(
    session: Session, snapshot_id: int, *, now: datetime, as_of: datetime | None = None
) -> SnapshotComparison:
    """A frozen copy's figures against the same week recomputed.

    By default the week's reports are read as they are `now`: what became of them
    since the meeting (pending ones processed, late results). With `as_of` at the
    week's end the only differences are reports or events entered after the meeting
    with earlier dates (imports).
    """
    row = load_snapshot(session, snapshot_id)
    then = json.loads(row.figures_json)
    week = parse_week(row.period_key)
    report = build_weekly_report(session, week, now=now, as_of=as_of or now)
    current = report.figures()
    return SnapshotComparison(_info(row), then, current, compare_figures(then, current))
