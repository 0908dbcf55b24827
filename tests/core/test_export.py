"""Export (`interchange.exporter` and `python -m ihanoi_core export`) on the 13-report city
of tests/core/test_queries.py, plus two reports a spreadsheet must not trust:

    X  received, no location, title "=1+1", address "@SUM(A1:A9)", a description with a
       <script> tag, a HYPERLINK formula, quotes, an ampersand and a CR LF line break
    Y  received, outside Hanoi at 40.7128 / -74.006 (a negative longitude: a number,
       never neutralised), flagged outside_hanoi

Every expected value below is read off build_city's docstring (times are Hanoi local).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as DET
import openpyxl
import pytest
from sqlmodel import Session

from ihanoi_core.cli import CliParser
from ihanoi_core.cli_export import register
from ihanoi_core.db import get_engine
from ihanoi_core.errors import ValidationError
from ihanoi_core.interchange import fields as F
from ihanoi_core.interchange.exporter import count_reports, export_reports
from ihanoi_core.interchange.writers import table_csv
from ihanoi_core.models import ReportCreate
from ihanoi_core.queries import ReportFilter
from ihanoi_core.services import create_report
from ihanoi_core.vocab import Bucket, Kind
from tests.core.test_queries import T0, City, build_city
from tests.factories import unit_id

HOSTILE_TITLE = "=1+1"
HOSTILE_ADDRESS = "@SUM(A1:A9)"
HOSTILE_DESCRIPTION = (
    '-2+3 Xem <script>alert("x")</script> & =HYPERLINK("http://x.invalid","bấm")\r\nDòng 2'
)
TEMPLATE_TEXT = (
    "Nội dung phản ánh không rõ ràng, thiếu thông tin về địa điểm, thời gian cụ thể nên "
    "không đủ cơ sở để xác minh, xử lý. Đề nghị công dân bổ sung thông tin và gửi lại "
    "phản ánh."
)


@dataclass(frozen=True)
class Outside:
    """A router stub: every point is outside Hanoi."""

    def route(self, lat: float | None, lon: float | None, on: object) -> Any:
        from tests.core.test_queries import StubRoute

        return StubRoute(None, None)


@dataclass(frozen=True)
class ExportCity:
    city: City
    codes: dict[str, str]  # letter -> report code


def build_export_city(session: Session) -> ExportCity:
    """build_city's 13 reports, then X and Y (see the module docstring), committed."""
    built = build_city(session)
    x = create_report(
        session,
        data=ReportCreate(
            kind="onsite",
            category_code="rac_thai",
            title=HOSTILE_TITLE,
            description=HOSTILE_DESCRIPTION,
            address=HOSTILE_ADDRESS,
            submitted_at=T0,
        ),
        now=T0,
    )
    y = create_report(
        session,
        data=ReportCreate(
            kind="onsite",
            category_code="rac_thai",
            title="Ngoài Hà Nội",
            lat=40.7128,
            lon=-74.006,
            submitted_at=T0,
        ),
        now=T0,
        router=Outside(),  # type: ignore[arg-type]
    )
    session.commit()
    codes = {letter: built.report(session, letter).code for letter in built.ids}
    codes["X"], codes["Y"] = x.code, y.code
    return ExportCity(built, codes)


@pytest.fixture
def city(session: Session) -> ExportCity:
    return build_export_city(session)


def export(session: Session, fmt: str, filt: ReportFilter | None = None, **kw: Any) -> bytes:
    out = io.BytesIO()
    rows = export_reports(session, fmt=fmt, out=out, filt=filt, **kw)
    data = out.getvalue()
    assert rows == len(parse(fmt, data))
    return data


def parse(fmt: str, data: bytes) -> list[dict[str, Any]]:
    """Records as dicts keyed by the header row (field names unless said otherwise)."""
    if fmt == F.FORMAT_OPEN311_JSON:
        return list(json.loads(data.decode("utf-8")))
    if fmt == F.FORMAT_OPEN311_XML:
        root = DET.fromstring(data)
        return [{child.tag: child.text for child in request} for request in root]
    if fmt == F.FORMAT_CSV:
        text = data.decode("utf-8-sig")
        return list(csv.DictReader(io.StringIO(text, newline="")))
    sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def by_code(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r[F.IHANOI_CODE]: r for r in records}


# ------------------------------------------------------------- Open311 JSON


def test_json_carries_open311_and_our_fields_typed(session: Session, city: ExportCity) -> None:
    records = parse(F.FORMAT_OPEN311_JSON, export(session, F.FORMAT_OPEN311_JSON))
    assert len(records) == 15
    assert all(list(r) == list(F.ALL_FIELDS) for r in records)
    a = by_code(records)[city.codes["A"]]
    # A: submitted 28/07 22:00, received 01/08 10:00, dispatched 11:00 (due 08/08 11:00),
    # assigned 12:00, drafted 13:00, approved 14:00, published 15:00, rated 16:00.
    assert a == {
        "service_request_id": city.codes["A"],
        "status": "closed",
        "status_notes": "Đã kiểm tra và xử lý xong tại hiện trường.",
        "service_name": "Rác thải sinh hoạt",
        "service_code": "rac_thai",
        "description": "Mô tả thử nghiệm",
        "agency_responsible": "Hoàn Kiếm",
        "service_notice": None,
        "requested_datetime": "2024-07-28T22:00:00+07:00",
        "updated_datetime": "2024-08-01T16:00:00+07:00",
        "expected_datetime": "2024-08-08T11:00:00+07:00",
        "address": "Hà Nội",
        "address_id": None,
        "zipcode": None,
        "lat": None,
        "long": None,
        "media_url": None,
        "ihanoi_code": city.codes["A"],
        "ihanoi_kind": "onsite",
        "ihanoi_title": "Rác thải tập kết sai quy định",
        "ihanoi_status": "published",
        "ihanoi_priority": "normal",
        "ihanoi_category": "rac_thai",
        "ihanoi_unit": "002",
        "ihanoi_district": None,
        "ihanoi_ward": None,
        "ihanoi_received_datetime": "2024-08-01T10:00:00+07:00",
        "ihanoi_arrived_datetime": "2024-08-01T11:00:00+07:00",
        "ihanoi_due_datetime": "2024-08-08T11:00:00+07:00",
        "ihanoi_receipt_due_datetime": None,
        "ihanoi_finished_datetime": "2024-08-01T15:00:00+07:00",
        "ihanoi_result": "Đã kiểm tra và xử lý xong tại hiện trường.",
        "ihanoi_is_public": True,
        "ihanoi_rating": "satisfied",
        "ihanoi_rated_datetime": "2024-08-01T16:00:00+07:00",
        "ihanoi_bounce_count": 0,
        "ihanoi_returned_by": None,
        "ihanoi_routing_flag": "no_location",
        "ihanoi_source": "app",
    }


def test_json_status_notes_open_closed_and_codes(session: Session, city: ExportCity) -> None:
    records = by_code(parse(F.FORMAT_OPEN311_JSON, export(session, F.FORMAT_OPEN311_JSON)))
    c = city.codes
    # E was refused with a template: its text is the answer the citizen got.
    assert records[c["E"]]["status"] == "closed"
    assert records[c["E"]]["status_notes"] == TEMPLATE_TEXT
    assert records[c["E"]]["ihanoi_finished_datetime"] == "2024-08-08T13:00:00+07:00"
    # G went back to the city office as "not ours": open, pending, bounced once.
    g = records[c["G"]]
    assert (g["status"], g["ihanoi_status"], g["ihanoi_unit"], g["ihanoi_bounce_count"]) == (
        "open",
        "returned",
        "VP-UBND",
        1,
    )
    # L was located in district 002 and routed there on receipt; B was urgent.
    assert (records[c["L"]]["ihanoi_district"], records[c["L"]]["lat"]) == ("002", 21.03)
    assert records[c["B"]]["ihanoi_priority"] == "urgent"
    assert records[c["H"]]["ihanoi_kind"] == "procedure"
    # F: 06:30 on 8 Aug in Hanoi (23:30 on 7 Aug UTC) keeps its local day.
    assert records[c["F"]]["requested_datetime"] == "2024-08-08T06:30:00+07:00"
    y = records[c["Y"]]
    assert (y["lat"], y["long"], y["ihanoi_routing_flag"]) == (40.7128, -74.006, "outside_hanoi")
    open_count = sum(r["status"] == "open" for r in records.values())
    assert open_count == 15 - 5  # closed: A B H L (published), E (refused)


def test_json_keeps_hostile_text_as_data(session: Session, city: ExportCity) -> None:
    data = export(session, F.FORMAT_OPEN311_JSON)
    x = by_code(parse(F.FORMAT_OPEN311_JSON, data))[city.codes["X"]]
    # JSON is data, not a spreadsheet: the text travels unchanged.
    assert (x["ihanoi_title"], x["address"], x["description"]) == (
        HOSTILE_TITLE,
        HOSTILE_ADDRESS,
        HOSTILE_DESCRIPTION,
    )
    assert "Rác thải sinh hoạt".encode() in data  # UTF-8, not \\u escapes


def test_english_names_keep_the_codes(session: Session, city: ExportCity) -> None:
    records = by_code(parse(F.FORMAT_OPEN311_JSON, export(session, "open311-json", lang="en")))
    a = records[city.codes["A"]]
    assert (a["service_name"], a["service_code"]) == ("Household waste", "rac_thai")
    g = records[city.codes["G"]]
    assert (g["agency_responsible"], g["ihanoi_unit"]) == (
        "Hanoi People's Committee Office",
        "VP-UBND",
    )


# -------------------------------------------------------------- Open311 XML


def test_xml_is_a_well_formed_georeport_document(session: Session, city: ExportCity) -> None:
    data = export(session, F.FORMAT_OPEN311_XML)
    root = DET.fromstring(data)
    assert root.tag == "service_requests"
    assert [child.tag for child in root] == ["request"] * 15
    assert all([e.tag for e in request] == list(F.ALL_FIELDS) for request in root)
    records = by_code(parse(F.FORMAT_OPEN311_XML, data))
    a = records[city.codes["A"]]
    assert (a["status"], a["requested_datetime"], a["ihanoi_is_public"]) == (
        "closed",
        "2024-07-28T22:00:00+07:00",
        "true",
    )
    assert (a["lat"], a["zipcode"], a["ihanoi_bounce_count"]) == (None, None, "0")
    y = records[city.codes["Y"]]
    assert (y["lat"], y["long"]) == ("40.7128", "-74.006")


def test_xml_escapes_markup_and_keeps_line_breaks(session: Session, city: ExportCity) -> None:
    data = export(session, F.FORMAT_OPEN311_XML)
    assert b"<script>" not in data
    assert b"&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; =HYPERLINK" in data
    x = by_code(parse(F.FORMAT_OPEN311_XML, data))[city.codes["X"]]
    assert x["description"] == HOSTILE_DESCRIPTION  # CR LF survives XML's normalisation
    assert x["ihanoi_title"] == HOSTILE_TITLE  # not a spreadsheet: no neutralising


def test_xml_replaces_characters_xml_cannot_carry(session: Session, city: ExportCity) -> None:
    report = city.city.report(session, "D")
    report.description = "a\x1bb\x07c\ttab"  # PostgreSQL text holds no NUL
    session.commit()
    data = export(session, F.FORMAT_OPEN311_XML, ReportFilter(date_from=date(2024, 8, 8)))
    d = by_code(parse(F.FORMAT_OPEN311_XML, data))[city.codes["D"]]
    assert d["description"] == "a\ufffdb\ufffdc\ttab"


# ---------------------------------------------------------------------- CSV


def test_csv_utf8_bom_comma_header_and_neutralised_formulas(
    session: Session, city: ExportCity
) -> None:
    data = export(session, F.FORMAT_CSV)
    assert data.startswith(codecs.BOM_UTF8)
    text = data[3:].decode("utf-8")
    assert text.splitlines()[0] == ",".join(F.ALL_FIELDS)
    records = by_code(parse(F.FORMAT_CSV, data))
    assert len(records) == 15
    x = records[city.codes["X"]]
    assert x["ihanoi_title"] == "'=1+1"
    assert x["address"] == "'@SUM(A1:A9)"
    assert x["description"] == "'" + HOSTILE_DESCRIPTION  # starts with "-"
    y = records[city.codes["Y"]]
    assert (y["lat"], y["long"]) == ("40.7128", "-74.006")  # numbers stay numbers
    assert "'-74.006" not in text
    a = records[city.codes["A"]]
    assert (a["service_name"], a["ihanoi_is_public"], a["lat"], a["ihanoi_rating"]) == (
        "Rác thải sinh hoạt",
        "true",
        "",
        "satisfied",
    )
    assert a["ihanoi_due_datetime"] == "2024-08-08T11:00:00+07:00"


def test_csv_with_vietnamese_headers(session: Session, city: ExportCity) -> None:
    data = export(session, F.FORMAT_CSV, headers="vi")
    header = next(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert header[:3] == ["Mã phản ánh", "Trạng thái Open311", "Ghi chú trạng thái"]
    assert header[F.ALL_FIELDS.index("lat")] == "Vĩ độ"
    assert header[F.ALL_FIELDS.index("ihanoi_status")] == "Trạng thái"
    assert len(set(header)) == len(F.ALL_FIELDS)


# --------------------------------------------------------------------- XLSX


def test_xlsx_typed_cells_and_neutralised_formulas(session: Session, city: ExportCity) -> None:
    data = export(session, F.FORMAT_XLSX)
    book = openpyxl.load_workbook(io.BytesIO(data))  # not read-only: cell types visible
    sheet = book.worksheets[0]
    header = [c.value for c in sheet[1]]
    assert header == list(F.ALL_FIELDS)
    col = {name: i for i, name in enumerate(header)}
    rows = {r[col["ihanoi_code"]].value: r for r in sheet.iter_rows(min_row=2)}
    assert len(rows) == 15

    x = rows[city.codes["X"]]
    for field, text in (
        ("ihanoi_title", "'=1+1"),
        ("address", "'@SUM(A1:A9)"),
        ("description", "'" + HOSTILE_DESCRIPTION),
    ):
        assert (x[col[field]].value, x[col[field]].data_type) == (text, "s"), field
    assert all(c.data_type != "f" for r in rows.values() for c in r)  # not one formula

    y = rows[city.codes["Y"]]
    assert (y[col["lat"]].value, y[col["long"]].value) == (40.7128, -74.006)
    assert y[col["long"]].data_type == "n"
    a = rows[city.codes["A"]]
    assert a[col["requested_datetime"]].value == datetime(2024, 7, 28, 22, 0)  # Hanoi time
    assert a[col["requested_datetime"]].is_date
    assert a[col["ihanoi_finished_datetime"]].value == datetime(2024, 8, 1, 15, 0)
    assert (a[col["ihanoi_is_public"]].value, a[col["ihanoi_is_public"]].data_type) == (True, "b")
    assert a[col["ihanoi_bounce_count"]].value == 0
    assert a[col["lat"]].value is None
    assert a[col["service_name"]].value == "Rác thải sinh hoạt"


# ----------------------------------------------------------------- filters


@pytest.mark.parametrize("fmt", F.FORMATS)
def test_filters_select_the_reports_counted_by_hand(
    session: Session, city: ExportCity, fmt: str
) -> None:
    def letters(filt: ReportFilter) -> set[str]:
        codes = {code: letter for letter, code in city.codes.items()}
        return {codes[r[F.IHANOI_CODE]] for r in parse(fmt, export(session, fmt, filt))}

    assert letters(ReportFilter(kind=Kind.PROCEDURE)) == {"H", "I"}
    assert letters(ReportFilter(bucket=Bucket.PROCESSED)) == {"A", "B", "H", "L"}
    assert letters(ReportFilter(unit_id=city.city.other)) == {"J", "K", "M"}
    assert letters(ReportFilter(category_codes=("ve_sinh_moi_truong",))) == {
        "A",
        "D",
        "F",
        "L",
        "M",
        "X",
        "Y",
    }
    # submitted on 8 Aug in Hanoi (F at 06:30 local is 7 Aug in UTC, still included)
    assert letters(ReportFilter(date_from=date(2024, 8, 8), date_to=date(2024, 8, 8))) == {
        "D",
        "E",
        "F",
        "G",
        "I",
        "L",
        "M",
        "X",
        "Y",
    }
    assert letters(ReportFilter(date_to=date(2024, 7, 28))) == {"A", "C", "J", "K"}
    assert letters(ReportFilter(district_id=unit_id(session, "002"))) == {"L"}
    assert letters(
        ReportFilter(kind=Kind.ONSITE, bucket=Bucket.PENDING, unit_id=city.city.office)
    ) == {"F", "G", "X", "Y"}


@pytest.mark.parametrize("fmt", F.FORMATS)
def test_an_empty_export_is_still_a_valid_file(session: Session, fmt: str) -> None:
    out = io.BytesIO()
    assert export_reports(session, fmt=fmt, out=out) == 0
    assert parse(fmt, out.getvalue()) == []
    if fmt == F.FORMAT_CSV:
        assert out.getvalue().decode("utf-8-sig").strip() == ",".join(F.ALL_FIELDS)


def test_unknown_format_is_refused_before_writing(session: Session) -> None:
    out = io.BytesIO()
    with pytest.raises(ValidationError, match="unknown format"):
        export_reports(session, fmt="pdf", out=out)
    assert out.getvalue() == b""


# ---------------------------------------------------------------- streaming


class Recorder(io.BytesIO):
    """An output that remembers what it held each time the exporter reported progress."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[int, bytes]] = []

    def progress(self, rows: int) -> None:
        self.seen.append((rows, self.getvalue()))


@pytest.mark.parametrize("fmt", [F.FORMAT_OPEN311_JSON, F.FORMAT_OPEN311_XML, F.FORMAT_CSV])
def test_rows_are_written_chunk_by_chunk(session: Session, city: ExportCity, fmt: str) -> None:
    """Each chunk of the query is written out before the next one is read."""
    out = Recorder()
    rows = export_reports(session, fmt=fmt, out=out, chunk=4, progress=out.progress)
    assert rows == 15
    assert [n for n, _ in out.seen] == [4, 8, 12, 15]
    ordered = [city.codes[k] for k in sorted(city.codes, key=lambda k: _id(city, session, k))]
    for n, held in out.seen[:-1]:
        written = [code for code in ordered if code.encode() in held]
        assert written == ordered[:n], (n, fmt)
    assert out.getvalue() == out.seen[-1][1] + _closing(fmt)


def _id(city: ExportCity, session: Session, letter: str) -> int:
    if letter in city.city.ids:
        return city.city.ids[letter]
    from sqlmodel import select

    from ihanoi_core.models import Report

    rid = session.exec(select(Report.id).where(Report.code == city.codes[letter])).one()
    assert rid is not None
    return rid


def _closing(fmt: str) -> bytes:
    return {
        F.FORMAT_OPEN311_JSON: b"\n]\n",
        F.FORMAT_OPEN311_XML: b"</service_requests>\n",
        F.FORMAT_CSV: b"",
    }[fmt]


# ---------------------------------------------------------------------- CLI


@pytest.fixture
def cli_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("DATABASE_URL", db_url)
    get_engine.cache_clear()
    yield db_url
    get_engine().dispose()
    get_engine.cache_clear()


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    """A folder of its own (the SQLite test database lives in tmp_path)."""
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def run_cli(*argv: str) -> int:
    """`python -m ihanoi_core export ...` as cli.main runs it (parser + handler)."""
    parser = CliParser(prog="python -m ihanoi_core")
    register(parser.add_subparsers(dest="command", required=True, parser_class=CliParser))
    try:
        args = parser.parse_args(["export", *argv])
    except SystemExit as exc:
        return int(exc.code or 0)
    return int(args.handler(args))


@pytest.fixture
def cli_city(session: Session, cli_db: str) -> ExportCity:
    return build_export_city(session)


def test_cli_exports_a_filtered_csv(
    cli_city: ExportCity, out_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = out_dir / "ra.csv"
    code = run_cli(
        "--format", "csv", "--from", "08/08/2024", "--to", "2024-08-08", "--kind", "onsite",
        "--unit", "002", "--headers", "vi", "-o", str(target),
    )  # fmt: skip
    assert code == 0
    assert capsys.readouterr().out.strip() == f"export: 3 report(s) written to {target} (csv)"
    rows = list(csv.reader(io.StringIO(target.read_bytes().decode("utf-8-sig"))))
    assert rows[0][0] == "Mã phản ánh"
    codes = {cli_city.codes[k] for k in ("D", "E", "L")}  # on-site, 8 Aug, held by 002
    assert {r[F.ALL_FIELDS.index("ihanoi_code")] for r in rows[1:]} == codes
    assert list(out_dir.iterdir()) == [target]  # no temporary file left behind


def test_cli_category_bucket_and_xlsx(cli_city: ExportCity, out_dir: Path) -> None:
    target = out_dir / "ra.xlsx"
    assert (
        run_cli(
            "--format", "xlsx", "--category", "giao_thong", "--category", "thu_tuc_hanh_chinh",
            "--status-bucket", "processing", "-o", str(target),
        )
        == 0
    )  # fmt: skip
    records = parse(F.FORMAT_XLSX, target.read_bytes())
    assert {r[F.IHANOI_CODE] for r in records} == {cli_city.codes[k] for k in ("I", "J")}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--format", "pdf", "-o", "x"], "invalid choice"),
        (["--format", "csv"], "required: -o"),
        (["--format", "csv", "--from", "31/02/2024", "-o", "x"], "not a date"),
        (["--format", "csv", "--from", "09/08/2024", "--to", "08/08/2024", "-o", "x"], "after"),
        (["--format", "csv", "--unit", "nope", "-o", "x"], "unknown unit code 'nope'"),
        (["--format", "csv", "--district", "VP-UBND", "-o", "x"], "unknown district code"),
        (["--format", "csv", "--category", "nope", "-o", "x"], "unknown category code(s): nope"),
        (["--format", "csv", "--status-bucket", "late", "-o", "x"], "invalid choice"),
        (["--format", "csv", "-o", "missing-folder/x.csv"], "does not exist"),
    ],
)
def test_cli_bad_arguments_exit_2_with_one_line(
    cli_db: str,
    out_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(out_dir)
    assert run_cli(*argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert list(out_dir.iterdir()) == []


def test_cli_failure_leaves_the_previous_file_untouched(
    cli_city: ExportCity, out_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = out_dir / "ra.json"
    target.write_text("previous export", encoding="utf-8")

    def broken(*args: Any, **kwargs: Any) -> int:
        kwargs["out"].write(b"[half")
        raise OSError("disk full")

    monkeypatch.setattr("ihanoi_core.cli_export.export_reports", broken)
    with pytest.raises(OSError, match="disk full"):
        run_cli("--format", "open311-json", "-o", str(target))
    assert target.read_text(encoding="utf-8") == "previous export"
    assert list(out_dir.iterdir()) == [target]


# ------------------------------------------------------- count, error report


def test_count_agrees_with_the_export(session: Session, city: ExportCity) -> None:
    for filt, expected in (
        (None, 15),
        (ReportFilter(kind=Kind.PROCEDURE), 2),
        (ReportFilter(bucket=Bucket.PENDING, unit_id=city.city.office), 4),  # F G X Y
        (ReportFilter(date_from=date(2024, 8, 9)), 0),
    ):
        assert count_reports(session, filt) == expected
        assert len(parse(F.FORMAT_OPEN311_JSON, export(session, "open311-json", filt))) == expected


def test_error_report_csv_neutralises_the_values_it_quotes() -> None:
    data = table_csv(
        ["Dòng/bản ghi", "Trường", "Lý do", "Giá trị"],
        [[4, "Vĩ độ", "Không phải số", '=HYPERLINK("http://x.invalid")'], [7, None, "Lỗi", "-1"]],
        ["=", "+", "-", "@", "\t", "\r"],
    )
    assert data.startswith(codecs.BOM_UTF8)
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows == [
        ["Dòng/bản ghi", "Trường", "Lý do", "Giá trị"],
        ["4", "Vĩ độ", "Không phải số", '\'=HYPERLINK("http://x.invalid")'],
        ["7", "", "Lỗi", "'-1"],
    ]
