"""The weekly report as files (XLSX re-read with openpyxl, PDF read back with poppler's
pdftotext and drawn with pdftoppm), its frozen copies and `report weekly` on the
command line. Figures: week 32 of the city in `test_weekly` (counted there by hand).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from sqlmodel import Session

from ihanoi_core import cli, cli_report
from ihanoi_core.db import get_engine
from ihanoi_core.models import ReportSnapshot
from ihanoi_core.vocab import Action, Priority
from ihanoi_core.weekly import WeeklyReport, build_weekly_report
from ihanoi_core.weekly_export import (
    compare_snapshot,
    export_weekly,
    fmt_cell,
    list_snapshots,
    load_snapshot,
    weekly_pdf,
    weekly_xlsx,
)
from tests.core.test_queries import City, build_city
from tests.core.test_weekly import LATER, W32
from tests.factories import step

SCREENSHOTS = Path(__file__).resolve().parents[1] / "browser" / "screenshots"
SHEETS = [
    "Thông tin",
    "Lũy kế",
    "Lũy kế so với tuần trước",
    "Trong tuần",
    "Trong tuần so với tuần trước",
    "Quá hạn theo đơn vị",
    "Xếp hạng đơn vị",
    "Mức độ hài lòng",
    "Lĩnh vực",
    "Điểm nghẽn",
]


@pytest.fixture
def city(session: Session) -> City:
    built = build_city(session)
    session.commit()
    return built


@pytest.fixture
def report(session: Session, city: City) -> WeeklyReport:
    return build_weekly_report(session, W32, now=LATER)


def pdf_text(content: bytes, tmp_path: Path) -> str:
    path = tmp_path / "report.pdf"
    path.write_bytes(content)
    out = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True, text=True
    )
    return out.stdout


# ------------------------------------------------------------------ XLSX


def test_xlsx_has_one_sheet_per_table_with_numbers_as_numbers(report: WeeklyReport) -> None:
    wb = load_workbook(io.BytesIO(weekly_xlsx(report)))
    assert wb.sheetnames == SHEETS
    headers = [
        "Loại phản ánh",
        "Tổng số",
        "Đã xử lý",
        "Bị từ chối",
        "Đang xử lý",
        "Chờ xử lý",
        "Quá hạn",
        "Xử lý trễ hạn",
    ]
    # the cumulative figures come first (test_weekly's docstring counts them)
    assert [[c.value for c in row] for row in wb["Lũy kế"].iter_rows()] == [
        headers,
        ["Phản ánh hiện trường", 11, 3, 1, 2, 5, 3, 1],
        ["Phản ánh thủ tục hành chính", 2, 1, 0, 1, 0, 0, 0],
        ["Tổng cộng", 13, 4, 1, 3, 5, 3, 1],
    ]
    cumulative_change = {
        (r[0], r[1]): r[2:] for r in wb["Lũy kế so với tuần trước"].iter_rows(values_only=True)
    }
    assert cumulative_change[("Tổng cộng", "Tổng số")] == (13, 6, 7, pytest.approx(7 / 6))
    assert cumulative_change[("Tổng cộng", "Quá hạn")] == (3, 3, 0, 0.0)
    summary = wb["Trong tuần"]
    assert summary.freeze_panes == "A2"
    rows = [[c.value for c in row] for row in summary.iter_rows()]
    assert rows == [
        headers,
        ["Phản ánh hiện trường", 6, 1, 1, 0, 4, 0, 0],
        ["Phản ánh thủ tục hành chính", 1, 0, 0, 1, 0, 0, 0],
        ["Tổng cộng", 7, 1, 1, 1, 4, 0, 0],
    ]
    assert all(type(v) is int for row in rows[1:] for v in row[1:])
    assert summary["A1"].font.bold
    assert summary.column_dimensions["A"].width >= len("Phản ánh thủ tục hành chính")

    sheet = wb["Trong tuần so với tuần trước"]
    change = {(r[0], r[1]): r[2:] for r in sheet.iter_rows(values_only=True)}
    assert change[("Tổng cộng", "Tổng số")] == (7, 2, 5, 2.5)
    assert change[("Tổng cộng", "Chờ xử lý")] == (4, 0, 4, None)  # no % from zero
    assert sheet["F2"].number_format == "+0.0%;-0.0%;0.0%"

    overdue = list(wb["Quá hạn theo đơn vị"].iter_rows(min_row=2, values_only=True))
    # the backlog of earlier weeks is chased too: J K at Ba Đình, C at Hoàn Kiếm
    assert [r[:6] for r in overdue] == [
        (1, "UBND quận Ba Đình", 3, 2, 0, pytest.approx(2 / 3)),
        (2, "UBND quận Hoàn Kiếm", 5, 1, 0, pytest.approx(0.2)),
    ]

    categories = list(wb["Lĩnh vực"].iter_rows(min_row=2, values_only=True))
    assert categories[0][:2] == ("Vệ sinh môi trường", 4)
    assert categories[0][2] == pytest.approx(4 / 7)
    assert wb["Lĩnh vực"]["C2"].number_format == "0.0%"

    satisfaction = list(wb["Mức độ hài lòng"].iter_rows(min_row=2, values_only=True))
    assert satisfaction == [
        ("Lũy kế", "Số đánh giá", 2, 2, 0),  # A and B, both rated on 1 Aug
        ("Lũy kế", "Hài lòng, chấp nhận", 1, 1, 0),
        ("Lũy kế", "Chưa hài lòng", 1, 1, 0),
        ("Lũy kế", "Tỷ lệ hài lòng", 0.5, 0.5, 0.0),
        ("Gửi trong tuần", "Số đánh giá", 0, 1, -1),
        ("Gửi trong tuần", "Hài lòng, chấp nhận", 0, 0, 0),
        ("Gửi trong tuần", "Chưa hài lòng", 0, 1, -1),
        ("Gửi trong tuần", "Tỷ lệ hài lòng", None, 0.0, None),  # no rating: no share
    ]
    assert wb["Mức độ hài lòng"]["C5"].number_format == "0.0%"
    office = [
        r
        for r in wb["Điểm nghẽn"].iter_rows(min_row=2, values_only=True)
        if r[0] == "Văn phòng UBND Thành phố" and r[1] == "Điều phối (Văn phòng)"
    ]
    assert office == [("Văn phòng UBND Thành phố", "Điều phối (Văn phòng)", 6, 1.0, 1.0, 2)]
    info = {r[0]: r[1] for r in wb["Thông tin"].iter_rows(min_row=2, values_only=True)}
    assert info["Tuần"] == "2024-W32"
    assert info["Kỳ báo cáo"] == "Tuần từ ngày 05/08/2024 đến ngày 11/08/2024"
    # each scope is said in words, the units' one too
    assert info["Lũy kế"].startswith("Mọi phản ánh gửi từ khi ứng dụng vận hành đến hết Chủ nhật")
    assert info["Bảng đơn vị"].startswith("Phạm vi: phản ánh đơn vị đang giữ chưa giải quyết")


def test_a_change_that_rounds_to_zero_has_no_sign() -> None:
    assert fmt_cell(-0.0004, "dpct", "vi") == "0,0%"
    assert fmt_cell(-0.004, "dpct", "vi") == "−0,4%"
    assert fmt_cell(0.0004, "dpct", "en") == "0.0%"
    assert fmt_cell(-2, "delta", "vi") == "−2"
    assert fmt_cell(0, "delta", "vi") == "0"


def test_xlsx_in_english(report: WeeklyReport) -> None:
    wb = load_workbook(io.BytesIO(weekly_xlsx(report, "en")))
    assert wb.sheetnames[:5] == [
        "About",
        "Cumulative",
        "Cumulative vs last week",
        "This week",
        "This week vs last week",
    ]
    assert [c.value for c in wb["Cumulative"][2]] == ["On-site reports", 11, 3, 1, 2, 5, 3, 1]
    assert [c.value for c in wb["This week"][2]] == ["On-site reports", 6, 1, 1, 0, 4, 0, 0]


# ------------------------------------------------------------------ PDF


def test_pdf_is_a4_with_vietnamese_text_and_the_weeks_numbers(
    report: WeeklyReport, tmp_path: Path
) -> None:
    content = weekly_pdf(report)
    assert content.startswith(b"%PDF")
    assert b"/FontFile2" in content  # the TrueType font is embedded
    text = pdf_text(content, tmp_path)
    for expected in (
        "BÁO CÁO GIAO BAN TUẦN 32/2024",
        "Tuần từ ngày 05/08/2024 đến ngày 11/08/2024",
        "Số liệu tính đến 23:59 11/08/2024",
        "1. Lũy kế đến hết tuần (phản ánh gửi đến hết ngày 11/08/2024)",
        "3. Phản ánh gửi trong tuần: tình hình xử lý",
        "Phản ánh thủ tục hành chính",
        "Phạm vi: phản ánh đơn vị đang giữ chưa giải quyết lúc hết tuần",
        "UBND quận Ba Đình",
        "Mức độ hài lòng của người dân",
        "Vệ sinh môi trường",
        "57,1%",  # 4 of 7
        "Điểm nghẽn",
        "Trang 1/",
    ):
        assert expected in text, expected
    lines = text.splitlines()
    # cumulative first, then the week's intake, in the order of the document
    cumulative, summary = [
        line for line in lines if line.split()[:2] == ["Tổng", "cộng"] and line.split()[2].isdigit()
    ]
    assert cumulative.split()[2:] == ["13", "4", "1", "3", "5", "3", "1"]
    assert summary.split()[2:] == ["7", "1", "1", "1", "4", "0", "0"]
    cumulative_change, total_change = [
        line for line in lines if "Tổng cộng" in line and "Tổng số" in line
    ]
    assert cumulative_change.split()[-4:] == ["13", "6", "+7", "+116,7%"]
    assert total_change.split()[-4:] == ["7", "2", "+5", "+250,0%"]
    assert text.index("Lũy kế đến hết tuần") < text.index("Phản ánh gửi trong tuần")
    info = subprocess.run(
        ["pdfinfo", str(tmp_path / "report.pdf")], capture_output=True, text=True, check=True
    ).stdout
    assert "pts (A4)" in info


def test_pdf_page_one_rendered_for_a_look(report: WeeklyReport, tmp_path: Path) -> None:
    """Drawn into tests/browser/screenshots/ to be looked at (diacritics, tables)."""
    path = tmp_path / "weekly.pdf"
    path.write_bytes(weekly_pdf(report))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOTS / "weekly-pdf-page1"
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            "80",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            str(path),
            str(target),
        ],
        check=True,
    )
    png = target.with_suffix(".png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 10_000


def test_pdf_in_english(report: WeeklyReport, tmp_path: Path) -> None:
    text = pdf_text(weekly_pdf(report, "en"), tmp_path)
    assert "WEEKLY REVIEW REPORT, WEEK 32/2024" in text
    assert "Week from 05/08/2024 to 11/08/2024" in text
    assert "1. Cumulative to the end of the week" in text
    assert "Page 1/" in text


# ------------------------------------------------------------------ frozen copies


def test_an_export_keeps_a_frozen_copy(session: Session, report: WeeklyReport, city: City) -> None:
    user_id = city.cast.leader.user_id
    exported = export_weekly(session, report=report, fmt="pdf", created_by=user_id, now=LATER)
    session.commit()
    assert exported.filename == "bao-cao-giao-ban-2024-W32.pdf"
    assert exported.mime == "application/pdf"
    assert exported.snapshot_id is not None
    [info] = list_snapshots(session)
    assert (info.id, info.period_key, info.fmt, info.created_by) == (
        exported.snapshot_id,
        "2024-W32",
        "pdf",
        user_id,
    )
    assert info.size == len(exported.content)
    row = load_snapshot(session, info.id)
    assert row.content == exported.content
    assert row.sha256 == hashlib.sha256(exported.content).hexdigest() == info.sha256
    assert json.loads(row.figures_json) == json.loads(json.dumps(report.figures()))
    # the copy cannot be changed afterwards, whoever connects
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        session.execute(sa.text("UPDATE report_snapshot SET period_key = 'x'"))
    session.rollback()


def test_snapshots_are_listed_newest_first_and_per_week(
    session: Session, report: WeeklyReport
) -> None:
    for i, fmt in enumerate(("xlsx", "pdf")):
        export_weekly(
            session, report=report, fmt=fmt, created_by=None, now=LATER + timedelta(hours=i)
        )
    export_weekly(session, report=report, fmt="xlsx", created_by=None, now=LATER, freeze=False)
    session.commit()
    assert [s.fmt for s in list_snapshots(session)] == ["pdf", "xlsx"]
    assert list_snapshots(session, period_key="2024-W31") == []


def test_compare_a_frozen_copy_with_the_figures_now(
    session: Session, report: WeeklyReport, city: City
) -> None:
    exported = export_weekly(session, report=report, fmt="xlsx", created_by=None, now=LATER)
    assert exported.snapshot_id is not None
    # After the meeting Hoàn Kiếm assigns D (pending → processing).
    d = city.report(session, "D")
    step(
        session,
        d,
        Action.ASSIGN,
        city.cast.unit_leader,
        LATER,
        assignee_id=city.cast.officer.user_id,
        priority=Priority.NORMAL,
    )
    session.commit()
    comparison = compare_snapshot(session, exported.snapshot_id, now=LATER + timedelta(hours=1))
    changed = {(c.section, c.item, c.measure): (c.then, c.now) for c in comparison.changed}
    # By 2 Sep the week's open reports with a deadline are past it (deadlines run from
    # arrival at the unit, so D's stays 15/08): D G M on-site, I procedure; F has none.
    assert changed == {
        ("cumulative", "onsite", "pending"): (5, 4),
        ("cumulative", "onsite", "processing"): (2, 3),
        ("cumulative", "onsite", "overdue_open"): (3, 6),  # C J K, now D G M too
        ("cumulative", "procedure", "overdue_open"): (0, 1),  # I
        ("cumulative", "total", "pending"): (5, 4),
        ("cumulative", "total", "processing"): (3, 4),
        ("cumulative", "total", "overdue_open"): (3, 7),
        ("by_kind", "onsite", "pending"): (4, 3),
        ("by_kind", "onsite", "processing"): (0, 1),
        ("by_kind", "onsite", "overdue_open"): (0, 3),
        ("by_kind", "procedure", "overdue_open"): (0, 1),
        ("total", "", "pending"): (4, 3),
        ("total", "", "processing"): (1, 2),
        ("total", "", "overdue_open"): (0, 4),
        # the units' workload (open now or finished since the week began) holds the
        # same reports: only their state moved
        ("units", "002", "pending"): (1, 0),
        ("units", "002", "overdue_open"): (1, 3),  # C, then D I
        ("units", "VP-UBND", "overdue_open"): (0, 1),  # G
        ("units", "001", "overdue_open"): (2, 3),  # J K, then M
    }
    assert next(c for c in comparison.changed if c.item == "002").name == "UBND quận Hoàn Kiếm"
    # read as of the week's end, nothing changed: what the meeting saw
    again = compare_snapshot(session, exported.snapshot_id, now=LATER, as_of=W32.last_moment)
    assert again.changed == []


def test_an_unknown_snapshot_is_not_found(session: Session, city: City) -> None:
    from ihanoi_core.errors import NotFound

    with pytest.raises(NotFound):
        compare_snapshot(session, 999, now=LATER)


# ------------------------------------------------------------------ command line


@pytest.fixture
def cli_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """`python -m ihanoi_core` on the test database, with `report` registered even
    before the lead adds it to `cli.build_parser`."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    get_engine.cache_clear()
    original = cli.build_parser

    def build_parser() -> argparse.ArgumentParser:
        parser = original()
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        if "report" not in sub.choices:
            cli_report.register(sub)
        return parser

    monkeypatch.setattr(cli, "build_parser", build_parser)
    yield db_url
    get_engine().dispose()
    get_engine.cache_clear()


def snapshot_count(db_url: str) -> int:
    with get_engine(db_url).connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).select_from(ReportSnapshot.__table__)
            ).scalar_one()
        )  # type: ignore[attr-defined]


@pytest.mark.parametrize("fmt", ["xlsx", "pdf"])
def test_cli_writes_the_weekly_report_and_keeps_a_copy(
    cli_db: str, city: City, tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    out = tmp_path / f"giao-ban.{fmt}"
    code = cli.main(["report", "weekly", "--week", "2024-W32", "--format", fmt, "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    message = capsys.readouterr().out
    assert "2024-W32 (05/08/2024-11/08/2024)" in message
    assert "7 reports, 1 processed, 1 refused, 1 processing, 4 pending" in message
    assert "cumulative 13 reports, 3 overdue" in message
    assert "frozen copy #1" in message
    content = out.read_bytes()
    assert content[:4] == (b"PK\x03\x04" if fmt == "xlsx" else b"%PDF")
    assert snapshot_count(cli_db) == 1


def test_cli_format_from_the_suffix_and_without_a_copy(
    cli_db: str, city: City, tmp_path: Path
) -> None:
    out = tmp_path / "w32.xlsx"
    assert (
        cli.main(["report", "weekly", "--week", "2024-W32", "-o", str(out), "--no-snapshot"]) == 0
    )
    wb = load_workbook(out)
    assert wb["Lũy kế"]["B4"].value == 13
    assert wb["Trong tuần"]["B4"].value == 7
    assert snapshot_count(cli_db) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--week", "2024-32", "-o", "x.pdf"], "'2024-32' is not an ISO week like 2024-W32"),
        (["--week", "2021-W53", "-o", "x.pdf"], "'2021-W53' is not an ISO week"),
        (["--week", "2024-W32", "-o", "x.docx"], "unknown format '.docx'"),
        (["--week", "2024-W32", "--format", "csv", "-o", "x.pdf"], "unknown format 'csv'"),
    ],
)
def test_cli_bad_week_or_format_exits_2_and_writes_nothing(
    cli_db: str,
    city: City,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    monkeypatch.chdir(out_dir)
    assert cli.main(["report", "weekly", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert list(out_dir.iterdir()) == []
    assert snapshot_count(cli_db) == 0


def test_cli_unwritable_output_keeps_no_copy(
    cli_db: str, city: City, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "missing-folder" / "w32.pdf"
    assert cli.main(["report", "weekly", "--week", "2024-W32", "-o", str(out)]) == 1
    assert "cannot write" in capsys.readouterr().err
    assert snapshot_count(cli_db) == 0
