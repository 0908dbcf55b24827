"""Open311 GeoReport v2 import: what a dispatcher sees after importing a server's file.

Fixtures in tests/fixtures/open311/ (see its README): three requests, the same in XML
and JSON — HN-1001 open pothole in Hoàn Kiếm, HN-1002 closed street light in Ba Đình,
HN-1003 open, address only.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from ihanoi_core.cli import CliParser
from ihanoi_core.interchange.importer import BadFileError, error_messages, import_file
from ihanoi_core.models import Category, ImportBatch, Report, ReportEvent, Unit
from ihanoi_core.verify import check_history
from ihanoi_core.vocab import Action, RoutingFlag, Status

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "open311"
MAPPING = FIXTURES / "mapping.yaml"


def _reports(session: Session) -> dict[str, Report]:
    session.rollback()  # end the read snapshot: see what the import committed
    return {r.source_ref or r.code: r for r in session.exec(select(Report))}


def _history(session: Session, report_id: int | None) -> list[ReportEvent]:
    stmt = select(ReportEvent).where(ReportEvent.report_id == report_id)
    return list(session.exec(stmt.order_by(col(ReportEvent.seq))))


def _unit_code(session: Session, unit_id: int | None) -> str | None:
    unit = session.get(Unit, unit_id) if unit_id is not None else None
    return unit.code if unit else None


def _category_code(session: Session, category_id: int) -> str:
    category = session.get(Category, category_id)
    assert category is not None
    return category.code


@pytest.mark.parametrize("name", ["requests.xml", "requests.json"])
def test_spec_style_requests_become_routed_reports(
    name: str, engine: sa.Engine, session: Session
) -> None:
    result = import_file(FIXTURES / name, source="hanoi311", mapping=MAPPING, engine=engine)
    assert (result.total, result.imported, result.duplicates, result.rejected) == (3, 3, 0, [])
    assert result.written and not result.dry_run
    assert result.unmapped_services == {"TRASH Rác thải": 1}  # no line for TRASH
    reports = _reports(session)
    assert sorted(reports) == ["HN-1001", "HN-1002", "HN-1003"]

    pothole = reports["HN-1001"]
    assert pothole.status == Status.WAITING.value  # routed like a new report
    assert _unit_code(session, pothole.current_unit_id) == "002"  # Hoàn Kiếm
    assert _unit_code(session, pothole.ward_id) == "00079"  # Tràng Tiền
    assert _category_code(session, pothole.category_id) == "hu_hong_duong"
    assert pothole.submitted_at == datetime(2024, 8, 5, 1, 15, tzinfo=UTC)
    assert pothole.media_url == "https://example.org/media/hn-1001.jpg"
    assert pothole.description == "Ổ gà lớn giữa làn xe máy, <b>nguy hiểm</b> khi trời mưa"
    assert pothole.title == "Ổ gà trên đường"  # the service name
    extra = json.loads(pothole.extra_json or "{}")
    assert extra["agency_responsible"] == "UBND quận Hoàn Kiếm"
    assert extra["address_id"] == "HB-12"

    light = reports["HN-1002"]
    assert light.status == Status.PUBLISHED.value  # closed → published
    assert light.result_text == "Đã thay bóng đèn ngày 06/08."
    assert light.finished_at == datetime(2024, 8, 6, 2, 30, tzinfo=UTC)
    assert _unit_code(session, light.current_unit_id) == "001"  # Ba Đình
    assert _category_code(session, light.category_id) == "chieu_sang"

    trash = reports["HN-1003"]
    assert trash.status == Status.RECEIVED.value  # stays with the city dispatcher
    assert trash.routing_flag == RoutingFlag.NO_LOCATION.value
    assert _category_code(session, trash.category_id) == "khac"  # the default category
    assert json.loads(trash.extra_json or "{}")["extended_attributes"] == {"channel": "hotline"}

    events = session.exec(
        select(ReportEvent)
        .where(ReportEvent.report_id == pothole.id)
        .order_by(col(ReportEvent.seq))
    ).all()
    assert [(e.action, e.to_status) for e in events] == [
        (Action.IMPORT.value, Status.RECEIVED.value),
        (Action.ROUTE.value, Status.WAITING.value),
    ]
    assert (events[0].source_file, events[0].source_row) == (name, 1)
    assert events[0].at == pothole.submitted_at
    assert pothole.version == 2
    # The open reports' histories replay cleanly against the workflow rules.
    for report in (pothole, trash):
        rows = session.exec(
            select(ReportEvent)
            .where(ReportEvent.report_id == report.id)
            .order_by(col(ReportEvent.seq))
        ).all()
        assert check_history(report, rows) == []

    batch = session.get(ImportBatch, result.batch_id)
    assert batch is not None
    assert (batch.total_rows, batch.imported, batch.rejected, batch.outcome) == (
        3,
        3,
        0,
        "imported",
    )


def test_importing_the_same_file_twice_adds_nothing(engine: sa.Engine, session: Session) -> None:
    first = import_file(FIXTURES / "requests.json", source="hanoi311", engine=engine)
    again = import_file(FIXTURES / "requests.xml", source="hanoi311", engine=engine)
    assert (first.imported, again.imported, again.duplicates) == (3, 0, 3)
    assert session.exec(select(sa.func.count()).select_from(Report)).one() == 3


def test_a_bad_status_rejects_the_file_unless_partial_is_accepted(
    engine: sa.Engine, session: Session
) -> None:
    path = FIXTURES / "requests_bad_status.json"
    refused = import_file(path, source="t", engine=engine)
    assert (refused.total, refused.imported, refused.written) == (3, 2, False)
    assert [(e.record, e.field, e.code, e.detail) for e in refused.rejected] == [
        (2, "status", "bad_status", "in_progress")
    ]
    assert session.exec(select(sa.func.count()).select_from(Report)).one() == 0
    assert error_messages(refused.rejected, "vi") == [
        "Dòng/bản ghi 2 [status]: Trạng thái Open311 không hợp lệ (chỉ open hoặc closed)"
        " (in_progress) — ánh xạ giá trị này sang open/closed trong mục statuses: của tệp"
        " ánh xạ (--mapping)"
    ]
    assert error_messages(refused.rejected, "en") == [
        "Record 2 [status]: Invalid Open311 status (open or closed only) (in_progress)"
        " — map this value to open/closed in the statuses: section of the mapping file (--mapping)"
    ]

    partial = import_file(path, source="t", engine=engine, accept_partial=True)
    assert (partial.imported, partial.written) == (2, True)
    assert sorted(_reports(session)) == ["HN-2001", "HN-2003"]
    outcomes = session.exec(select(ImportBatch.outcome).order_by(col(ImportBatch.id))).all()
    assert outcomes == ["rejected", "partial"]


def test_dry_run_counts_exactly_and_writes_no_report(engine: sa.Engine, session: Session) -> None:
    result = import_file(FIXTURES / "requests.xml", source="s", engine=engine, dry_run=True)
    assert (result.imported, result.written, result.dry_run) == (3, False, True)
    assert session.exec(select(sa.func.count()).select_from(Report)).one() == 0


@pytest.mark.parametrize(
    ("name", "code"),
    [("services.json", "services_document"), ("errors.xml", "http_error_status")],
)
def test_documents_that_are_not_requests_are_refused(
    name: str, code: str, engine: sa.Engine
) -> None:
    with pytest.raises(BadFileError) as refused:
        import_file(FIXTURES / name, engine=engine)
    assert refused.value.code == code


def _cli(argv: list[str]) -> int:
    from ihanoi_core import cli_import

    parser = CliParser(prog="t")
    cli_import.register(parser.add_subparsers(dest="command"))
    args: argparse.Namespace = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


def test_cli_exit_codes_and_error_report(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    errors = tmp_path / "loi.csv"
    bad = str(FIXTURES / "requests_bad_status.json")
    assert _cli(["import", bad, "--errors-out", str(errors)]) == 4
    out = capsys.readouterr().out
    assert "3 bản ghi, 2 nhập mới, 0 trùng (đã có), 1 bị từ chối" in out
    assert "KHÔNG ghi gì" in out
    assert (
        errors.read_text(encoding="utf-8-sig")
        .splitlines()[1]
        .startswith("2,status,bad_status,in_progress,")
    )
    assert _cli(["import", bad, "--accept-partial", "--lang", "en"]) == 4
    assert "The valid records were written" in capsys.readouterr().out
    assert _cli(["import", str(FIXTURES / "requests.xml"), "--lang", "en"]) == 0
    assert "Written to the database." in capsys.readouterr().out
    assert _cli(["import", str(FIXTURES / "services.json"), "--lang", "en"]) == 2
    assert "services list, not requests" in capsys.readouterr().err


# ---------------------------------------------------------------- the spec's own JSON


def test_the_specs_leading_zero_codes_are_read_as_text(
    tmp_path: Path, engine: sa.Engine, session: Session
) -> None:
    """`"service_code":006` (the GeoReport v2 examples) is invalid JSON: read as "006",
    with a warning; mapped by an unquoted `006:` line, which YAML would read as 6."""
    mapping = tmp_path / "map.yaml"
    mapping.write_text("services:\n  006: hu_hong_duong\n", encoding="utf-8")
    path = FIXTURES / "requests_spec_zeros.json"
    result = import_file(path, source="spec", mapping=mapping, engine=engine)
    assert (result.total, result.imported, result.rejected) == (2, 2, [])
    assert result.unmapped_services == {}
    assert result.warnings == ("json_leading_zeros:006",)
    reports = _reports(session)
    assert sorted(reports) == ["240805001", "240805002"]  # bare number ids, as text
    closed = reports["240805001"]
    assert _category_code(session, closed.category_id) == "hu_hong_duong"
    assert closed.status == Status.PUBLISHED.value
    assert closed.description == "Mã cũ:007, vỉa hè vỡ"  # inside a string: untouched
    assert closed.media_url == "https://example.org/media/240805001.jpg"
    extra = json.loads(closed.extra_json or "{}")
    assert (extra["service_code"], extra["address_id"], extra["zipcode"]) == (
        "006",
        "0012",
        100000,
    )
    assert error_messages([], "en") == []
    from ihanoi_core.interchange.importer import message

    assert message(result.warnings[0], "en") == (
        "The JSON has numbers with leading zeros (such as 006, invalid JSON): read as the"
        ' text "006"'
    )


@pytest.mark.parametrize(
    ("text", "code", "record"),
    [
        ('[{"service_request_id": "A", "lat": 01x}]', "json_syntax", 1),
        ('[{"service_request_id": "A", "service_code": 0 6}]', "json_syntax", 1),
        ('[{"service_request_id": "A", "service_code": 006 7}]', "json_syntax", 1),
        ('[{"service_request_id": "A", "service_code": 0061', "truncated_file", 1),
        ("[006]", "json_syntax", 2),  # a bare number is not a record's value
    ],
)
def test_other_invalid_json_stays_a_syntax_error(
    tmp_path: Path, engine: sa.Engine, text: str, code: str, record: int
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BadFileError) as refused:
        import_file(path, engine=engine)
    assert (refused.value.code, refused.value.record) == (code, record)


@pytest.mark.parametrize("shift", [-5, -4, -3, -2, -1, 0, 1])
def test_a_leading_zero_number_across_a_read_boundary(
    tmp_path: Path, engine: sa.Engine, session: Session, shift: int
) -> None:
    """The file is decoded in 64 KiB windows: `-0042` cut anywhere still reads whole."""
    from ihanoi_core.interchange.readers import CHUNK

    head = '[{"service_request_id": "Z-1", "description": "'
    tail = '", "requested_datetime": "2024-08-05T08:00:00+07:00", "service_code": -0042}]'
    filler = "x" * (CHUNK + shift - len(head) - tail.index("-0042"))
    path = tmp_path / "cut.json"
    path.write_text(head + filler + tail, encoding="utf-8")
    assert path.read_bytes().find(b"-0042") == CHUNK + shift
    result = import_file(path, engine=engine)
    assert (result.imported, result.warnings) == (1, ("json_leading_zeros:-0042",))
    report = next(iter(_reports(session).values()))
    assert json.loads(report.extra_json or "{}")["service_code"] == "-0042"


def test_the_specs_services_list_is_refused_with_the_mapping_hint(engine: sa.Engine) -> None:
    with pytest.raises(BadFileError) as refused:
        import_file(FIXTURES / "services_spec_zeros.json", engine=engine)
    assert refused.value.code == "services_document"
    from ihanoi_core.interchange.importer import message

    assert "--mapping" in message(refused.value.code, "en")


# ---------------------------------------------------------------- other servers' statuses


def test_foreign_status_words_are_row_errors_without_a_statuses_section(
    engine: sa.Engine, session: Session
) -> None:
    path = FIXTURES / "requests_foreign_status.json"
    result = import_file(path, source="us", mapping=MAPPING, engine=engine)
    # "Closed" and " OPEN " are Open311's words in another case: accepted.
    assert [(e.record, e.field, e.code, e.detail) for e in result.rejected] == [
        (3, "status", "bad_status", "Completed"),
        (4, "status", "bad_status", "In Progress"),
        (5, "status", "bad_status", "1"),
    ]
    assert (result.imported, result.written) == (2, False)
    assert error_messages(result.rejected[:1], "en") == [
        "Record 3 [status]: Invalid Open311 status (open or closed only) (Completed)"
        " — map this value to open/closed in the statuses: section of the mapping file (--mapping)"
    ]
    partial = import_file(path, source="us", mapping=MAPPING, engine=engine, accept_partial=True)
    assert partial.imported == 2
    reports = _reports(session)
    assert (reports["ST-1"].status, reports["ST-2"].status) == (
        Status.PUBLISHED.value,
        Status.RECEIVED.value,  # no location: stays with the dispatcher
    )


def test_a_statuses_section_maps_other_servers_words(engine: sa.Engine, session: Session) -> None:
    path = FIXTURES / "requests_foreign_status.json"
    mapping = FIXTURES / "mapping_statuses.yaml"
    result = import_file(path, source="us", mapping=mapping, engine=engine)
    assert (result.imported, result.rejected, result.written) == (5, [], True)
    reports = _reports(session)
    status = {ref: r.status for ref, r in reports.items()}
    assert status == {
        "ST-1": Status.PUBLISHED.value,
        "ST-2": Status.RECEIVED.value,
        "ST-3": Status.PUBLISHED.value,  # Completed: closed
        "ST-4": Status.RECEIVED.value,  # In Progress: open
        "ST-5": Status.PUBLISHED.value,  # 1: closed
    }
    assert reports["ST-3"].result_text == "Request completed"
    assert reports["ST-3"].finished_at == datetime(2024, 8, 7, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        (
            "services:\n  POT: hu_hong_duong\n  LIGHT: den_duong\n",
            "line 3: services.LIGHT: unknown category 'den_duong'",
        ),
        (
            "service_names:\n  Ổ gà: o_ga\ndefault_category: khac_nua\n",
            "line 2: service_names.Ổ gà: unknown category 'o_ga'; "
            "line 3: default_category: unknown category 'khac_nua'",
        ),
        (
            "statuses:\n  Completed: done\n",
            "line 2: statuses.Completed: 'done' is not open or closed",
        ),
        ("service:\n  POT: hu_hong_duong\n", "line 1: unknown section 'service'"),
        ("services:\n  POT: [a, b]\n", "line 2: services.POT: a text value is expected"),
    ],
)
def test_a_bad_mapping_file_names_the_line_and_writes_nothing(
    tmp_path: Path, engine: sa.Engine, session: Session, text: str, detail: str
) -> None:
    mapping = tmp_path / "map.yaml"
    mapping.write_text(text, encoding="utf-8")
    with pytest.raises(BadFileError) as refused:
        import_file(FIXTURES / "requests.json", mapping=mapping, engine=engine)
    assert refused.value.code == "bad_mapping"
    assert refused.value.detail.startswith(detail)
    assert session.exec(select(sa.func.count()).select_from(Report)).one() == 0
    assert session.exec(select(sa.func.count()).select_from(ImportBatch)).one() == 0


def test_cli_refuses_a_mapping_with_an_unknown_category(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    mapping = tmp_path / "map.yaml"
    mapping.write_text("services:\n  POT: hu_hong_duong\n  LIGHT: den_duong\n", encoding="utf-8")
    argv = ["import", str(FIXTURES / "requests.json"), "--mapping", str(mapping), "--lang", "en"]
    assert _cli(argv) == 2
    err = capsys.readouterr().err
    assert "Invalid service mapping file" in err
    assert "line 3: services.LIGHT: unknown category 'den_duong'" in err
    with Session(sa.create_engine(db_url)) as s:
        assert s.exec(select(sa.func.count()).select_from(Report)).one() == 0


# ---------------------------------------------------------------- import-mapping


@pytest.mark.parametrize("name", ["services_spec_zeros.json", "services.xml"])
def test_import_mapping_writes_a_skeleton_that_a_user_fills_in(
    name: str,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ihanoi_core.interchange.mapping import load_mapping

    out = tmp_path / "map.yaml"
    assert _cli(["import-mapping", str(FIXTURES / name), "-o", str(out), "--lang", "en"]) == 0
    expected = 3 if name.endswith(".json") else 2
    assert f"Wrote {out}: {expected} services" in capsys.readouterr().out
    text = out.read_text(encoding="utf-8")
    assert '  "001": null  # Thùng rác để ngoài quá 24 giờ (vệ sinh)' in text
    assert '  "006": null  # Vỉa hè và bó vỉa (đường phố)' in text
    assert "#   hu_hong_duong" in text  # the category codes to choose from
    assert 'default_category: "khac"' in text
    skeleton = load_mapping(out)  # as written: valid, nothing mapped yet
    assert (skeleton.by_code, skeleton.default_category) == ({}, "khac")

    out.write_text(text.replace('"006": null', '"006": hu_hong_duong'), encoding="utf-8")
    monkeypatch.setenv("DATABASE_URL", db_url)
    requests = str(FIXTURES / "requests_spec_zeros.json")
    assert _cli(["import", requests, "--mapping", str(out), "--lang", "en"]) == 0
    printed = capsys.readouterr().out
    assert "2 records, 2 new" in printed
    assert "Unmapped services" not in printed
    assert "read as the text" in printed  # the leading-zeros warning


@pytest.mark.parametrize(
    ("name", "message_part"),
    [
        ("requests.json", "a requests list, not a services list"),
        ("requests_spec_zeros.json", "a requests list, not a services list"),
        ("requests.xml", "a requests list, not a services list"),
        ("errors.xml", "HTTP error response"),
        ("mapping.yaml", "Not an Open311 services list"),
    ],
)
def test_import_mapping_refuses_what_is_not_a_services_list(
    name: str, message_part: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "map.yaml"
    assert _cli(["import-mapping", str(FIXTURES / name), "-o", str(out), "--lang", "en"]) == 2
    assert message_part in capsys.readouterr().err
    assert not out.exists()


def test_import_mapping_does_not_overwrite_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "map.yaml"
    out.write_text("services:\n  POT: hu_hong_duong\n", encoding="utf-8")
    services = str(FIXTURES / "services.xml")
    assert _cli(["import-mapping", services, "-o", str(out), "--lang", "en"]) == 2
    assert "use --force" in capsys.readouterr().err
    assert out.read_text(encoding="utf-8") == "services:\n  POT: hu_hong_duong\n"
    assert _cli(["import-mapping", services, "-o", str(out), "--force"]) == 0
    assert '"006": null' in out.read_text(encoding="utf-8")
