"""CSV and XLSX import: the spreadsheets a city office actually sends.

UTF-8 with or without BOM, Windows-1258 and Windows-1252 (detected and reported), `;`
or `,`, Vietnamese or English headers, dd/mm/yyyy or ISO dates; bad rows reported by
their physical line (CSV) or row (XLSX); our own export's extra columns restore a
report's state exactly.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from openpyxl import Workbook
from sqlmodel import Session, col, select

from ihanoi_core.interchange.importer import import_file, preview_file
from ihanoi_core.models import Category, Report, ReportEvent, Unit
from ihanoi_core.vocab import Action, RoutingFlag, Status


def _reports(session: Session) -> list[Report]:
    session.rollback()  # end the read snapshot: see what the import committed
    return list(session.exec(select(Report).order_by(col(Report.source_ref))))


def _code_of(session: Session, model: type[Unit] | type[Category], row_id: int | None) -> str:
    row = session.get(model, row_id) if row_id is not None else None
    return row.code if row else ""


def to_cp1258(text: str) -> bytes:
    """Vietnamese as Windows-1258 writes it: base letter (with its vowel mark) plus a
    combining tone mark, the form Excel's "CSV (Windows)" produces."""
    out = bytearray()
    for ch in unicodedata.normalize("NFC", text):
        try:
            out += ch.encode("cp1258")
        except UnicodeEncodeError:
            parts = unicodedata.normalize("NFD", ch)
            base = unicodedata.normalize("NFC", parts[:2])
            try:
                out += base.encode("cp1258") + parts[2:].encode("cp1258")
            except UnicodeEncodeError:
                out += parts[0].encode("cp1258") + parts[1:].encode("cp1258")
    return bytes(out)


VI_CSV = (
    "Mã phản ánh;Mô tả;Địa chỉ;Vĩ độ;Kinh độ;Thời gian gửi;Tình trạng;Tên lĩnh vực\r\n"
    "VP-1;Ổ gà trước số 12;12 Hàng Bài;21,0245;105,8522;05/08/2024 08:15;open;Ổ gà\r\n"
    'VP-2;"Rác tập kết\r\nsai giờ";Láng Hạ;;;06/08/2024;open;Rác thải\r\n'
    "VP-3;Đèn hỏng;Điện Biên Phủ;21.0340;105.8400;31/02/2024;open;Đèn\r\n"
)


def test_vietnamese_semicolon_csv_with_bom(
    tmp_path: Path, engine: sa.Engine, session: Session
) -> None:
    path = tmp_path / "phan_anh.csv"
    path.write_bytes(b"\xef\xbb\xbf" + VI_CSV.encode("utf-8"))
    result = import_file(path, source="vp", engine=engine)
    assert (result.encoding, result.delimiter) == ("utf-8-sig", ";")
    # VP-3: 31/02 does not exist; it starts on physical line 5 (VP-2 spans lines 3-4).
    assert [(e.record, e.field, e.code) for e in result.rejected] == [
        (5, "requested_datetime", "bad_datetime")
    ]
    assert not result.written and _reports(session) == []
    assert "naive_datetime" in result.warnings  # "05/08/2024 08:15" is Hanoi time

    result = import_file(path, source="vp", engine=engine, accept_partial=True)
    assert (result.imported, result.written) == (2, True)
    vp1, vp2 = _reports(session)
    assert vp1.submitted_at == datetime(2024, 8, 5, 1, 15, tzinfo=UTC)  # 08:15 +07:00
    assert (vp1.lat, vp1.lon) == (21.0245, 105.8522)  # decimal commas read
    assert _code_of(session, Unit, vp1.current_unit_id) == "002"  # Hoàn Kiếm
    assert vp2.description == "Rác tập kết\r\nsai giờ"
    assert vp2.routing_flag == RoutingFlag.NO_LOCATION.value
    assert vp2.submitted_at == datetime(2024, 8, 5, 17, 0, tzinfo=UTC)  # 06/08 00:00 Hanoi


def test_windows_1258_is_detected_and_reported(
    tmp_path: Path, engine: sa.Engine, session: Session
) -> None:
    text = (
        "Mã phản ánh,Mô tả,Địa chỉ,Thời gian gửi\r\n"
        "W-1,Cây đổ chắn đường,Phố Nguyễn Du,2024-08-05T08:15:00+07:00\r\n"
    )
    path = tmp_path / "excel_windows.csv"
    path.write_bytes(to_cp1258(text))
    preview = preview_file(path)
    assert (preview.encoding, preview.delimiter) == ("cp1258", ",")
    assert unicodedata.normalize("NFC", preview.rows[0]["description"]) == "Cây đổ chắn đường"
    result = import_file(path, source="w", engine=engine)
    assert result.encoding == "cp1258"
    assert "encoding_guessed:cp1258" in result.warnings
    (report,) = _reports(session)
    assert report.description == "Cây đổ chắn đường"  # stored precomposed (NFC)
    assert report.address == "Phố Nguyễn Du"


def test_windows_1252_english_headers_and_iso_dates(
    tmp_path: Path, engine: sa.Engine, session: Session
) -> None:
    text = (
        "Request ID,Description,Address,Latitude,Longitude,Requested,Status,Status notes\n"
        "E-1,Café sign “broken”,1 Trang Tien,21.0245,105.8522,2024-08-05T01:15:00Z,closed,"
        "Fixed – thanks\n"
    )
    path = tmp_path / "export_1252.csv"
    path.write_bytes(text.encode("cp1252"))
    result = import_file(path, source="e", engine=engine)
    assert (result.encoding, result.imported, result.warnings) == (
        "cp1252",
        1,
        ("encoding_guessed:cp1252",),
    )
    (report,) = _reports(session)
    assert report.description == "Café sign “broken”"
    assert report.status == Status.PUBLISHED.value
    assert report.result_text == "Fixed – thanks"
    assert report.finished_at == datetime(2024, 8, 5, 1, 15, tzinfo=UTC)


def test_xlsx_rows_are_numbered_as_excel_shows_them(
    tmp_path: Path, engine: sa.Engine, session: Session
) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Mã phản ánh", "Mô tả", "Vĩ độ", "Kinh độ", "Ngày gửi", "Ghi chú nội bộ"])
    sheet.append(["X-1", "Ngập sau mưa", 21.0245, 105.8522, datetime(2024, 8, 5, 8, 15), "a"])
    sheet.append([None, None, None, None, None, None])  # a blank row is skipped
    sheet.append(["X-2", "Vỉa hè bị lấn chiếm", 105.8522, 21.0245, "05/08/2024", "b"])
    sheet.append(["X-3", "Đèn hỏng", 21.0340, None, "2024-08-05", "c"])
    path = tmp_path / "bang.xlsx"
    book.save(path)
    result = import_file(path, source="x", engine=engine, accept_partial=True)
    assert [(e.record, e.field, e.code) for e in result.rejected] == [
        (4, "lat", "coordinates_swapped"),
        (5, "long", "location_incomplete"),
    ]
    assert (result.format, result.imported) == ("xlsx", 1)
    (report,) = _reports(session)
    assert report.submitted_at == datetime(2024, 8, 5, 1, 15, tzinfo=UTC)
    assert report.extra_json == '{"Ghi chú nội bộ": "a"}'  # an unknown column is kept


OWN_HEADER = (
    "service_request_id,status,status_notes,requested_datetime,updated_datetime,"
    "expected_datetime,lat,long,address,description,media_url,ihanoi_code,ihanoi_kind,"
    "ihanoi_title,ihanoi_status,ihanoi_priority,ihanoi_category,ihanoi_unit,"
    "ihanoi_district,ihanoi_ward,ihanoi_received_datetime,ihanoi_arrived_datetime,"
    "ihanoi_due_datetime,ihanoi_finished_datetime,ihanoi_result,ihanoi_is_public,"
    "ihanoi_rating,ihanoi_rated_datetime,ihanoi_bounce_count,ihanoi_source\n"
)


def test_our_own_export_restores_the_state_exactly(
    tmp_path: Path, engine: sa.Engine, session: Session
) -> None:
    row = (
        "PA-240805-ABCDE,closed,Đã vá xong,2024-08-05T08:15:00+07:00,"
        "2024-08-09T10:00:00+07:00,2024-08-12T17:00:00+07:00,21.0245,105.8522,"
        "12 Hàng Bài,Ổ gà,,PA-240805-ABCDE,onsite,Ổ gà trước số 12,published,urgent,"
        "hu_hong_duong,002,002,00079,2024-08-05T08:20:00+07:00,2024-08-05T08:20:00+07:00,"
        "2024-08-12T17:00:00+07:00,2024-08-08T16:00:00+07:00,Đã vá xong,true,satisfied,"
        "2024-08-09T10:00:00+07:00,1,app\n"
    )
    path = tmp_path / "export.csv"
    path.write_text(OWN_HEADER + row, encoding="utf-8")
    result = import_file(path, engine=engine)
    assert (result.imported, result.rejected) == (1, [])
    (report,) = _reports(session)
    assert (report.code, report.source, report.source_ref) == ("PA-240805-ABCDE", "app", None)
    assert (report.status, report.priority, report.kind) == ("published", "urgent", "onsite")
    assert _code_of(session, Unit, report.current_unit_id) == "002"
    assert _code_of(session, Unit, report.district_id) == "002"
    assert _code_of(session, Unit, report.ward_id) == "00079"
    assert _code_of(session, Category, report.category_id) == "hu_hong_duong"
    assert report.due_at == datetime(2024, 8, 12, 10, 0, tzinfo=UTC)
    assert report.finished_at == datetime(2024, 8, 8, 9, 0, tzinfo=UTC)
    assert (report.rating, report.is_public, report.bounce_count) == ("satisfied", True, 1)
    assert report.result_text == "Đã vá xong"
    assert report.updated_at == datetime(2024, 8, 9, 3, 0, tzinfo=UTC)
    (event,) = session.exec(select(ReportEvent).where(ReportEvent.report_id == report.id)).all()
    assert (event.action, event.to_status, event.at) == (
        Action.IMPORT.value,
        "published",
        report.updated_at,
    )
    assert (event.source_file, event.source_row, event.rating) == ("export.csv", 2, "satisfied")
    # Importing it again (by our own code) adds nothing.
    again = import_file(path, engine=engine)
    assert (again.imported, again.duplicates) == (0, 1)


def test_own_export_with_unknown_codes_is_rejected_per_field(
    tmp_path: Path, engine: sa.Engine
) -> None:
    row = (
        "PA-1,open,,2024-08-05T08:15:00+07:00,,,,,,x,,PA-1,onsite,T,flying,normal,"
        "no_such_category,ZZZ,,,,,,,,maybe,,,-1,app\n"
    )
    path = tmp_path / "bad_export.csv"
    path.write_text(OWN_HEADER + row, encoding="utf-8")
    result = import_file(path, engine=engine)
    assert sorted((e.field or "", e.code) for e in result.rejected) == [
        ("ihanoi_bounce_count", "bad_number"),
        ("ihanoi_category", "unknown_category"),
        ("ihanoi_is_public", "bad_value"),
        ("ihanoi_status", "bad_value"),
        ("ihanoi_unit", "unknown_unit"),
    ]
    assert {e.record for e in result.rejected} == {2}
    assert not result.written


# What our export writes for text a spreadsheet would run (`'` + formula), what a sender
# may write with a leading apostrophe of its own, and what we read back.
GUARDED = [
    ("G-1", "'=1+1", "=1+1"),
    ("G-2", "'@SUM(A1:A9)", "@SUM(A1:A9)"),
    ("G-3", "'-2 độ, đường trơn", "-2 độ, đường trơn"),
    ("G-4", "'+84 912 345 678", "+84 912 345 678"),
    ("G-5", "'Tôi nói: 'ổ gà'", "'Tôi nói: 'ổ gà'"),  # not a guard: the sender's text
    ("G-6", "''=x", "''=x"),  # one guard only, and only before a formula prefix
]


def _guarded_rows() -> list[list[str]]:
    return [
        [ref, text, "Hàng Bài", "05/08/2024 08:00", f"'={ref}" if ref == "G-1" else ref]
        for ref, text, _ in GUARDED
    ]


def _check_guarded(result_imported: int, session: Session) -> None:
    assert result_imported == len(GUARDED)
    got = {r.source_ref: (r.description, r.title) for r in _reports(session)}
    assert got == {ref: (expected, "=G-1" if ref == "G-1" else ref) for ref, _, expected in GUARDED}


def test_csv_formula_guard_is_undone_on_import(
    tmp_path: Path, engine: sa.Engine, session: Session
) -> None:
    path = tmp_path / "guarded.csv"
    lines = ["Mã phản ánh,Mô tả,Địa chỉ,Thời gian gửi,Tiêu đề"]
    for row in _guarded_rows():
        lines.append(",".join('"' + c.replace('"', '""') + '"' for c in row))
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8-sig")
    result = import_file(path, source="g", engine=engine)
    assert result.rejected == []
    _check_guarded(result.imported, session)


def test_xlsx_formula_guard_is_undone_on_import(
    tmp_path: Path, engine: sa.Engine, session: Session
) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Mã phản ánh", "Mô tả", "Địa chỉ", "Thời gian gửi", "Tiêu đề"])
    for row in _guarded_rows():
        sheet.append(row)
    path = tmp_path / "guarded.xlsx"
    book.save(path)
    result = import_file(path, source="g", engine=engine)
    assert result.rejected == []
    _check_guarded(result.imported, session)
