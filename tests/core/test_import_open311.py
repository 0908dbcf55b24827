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
        " (in_progress)"
    ]
    assert error_messages(refused.rejected, "en") == [
        "Record 2 [status]: Invalid Open311 status (open or closed only) (in_progress)"
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
