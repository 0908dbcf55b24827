"""An imported history is first-class: it verifies, it counts in statistics read from the
history, and a unit's "returned as not ours" figure survives export → import.

The hand-written file (`RECORDS`, Hanoi times, all in August 2024):

    code   kind  category         unit     status     due       finished   rating
    PA-R1  ons.  hu_hong_duong    002      published  06/08 17  05/08 10   satisfied 07/08 09
           returned as not ours by 001 at 01/08 10:00, by SXD at 02/08 09:00
    PA-R2  ons.  rac_thai         001      refused    03/08 17  04/08 09 (LATE)
           returned by 002 at 02/08 08:00
    PA-R3  ons.  chieu_sang       SXD      waiting    05/08 17  -          (OVERDUE on 10/08)
           returned by 001 at 02/08 10:00
    PA-R4  ons.  lan_chiem_via_he 002      published  02/08 17  03/08 10 (LATE)  unsatisfied
    PA-R5  proc. tthc_khac        VP-UBND  received   -
    EXT-1  a foreign Open311 record, "closed" on 02/08 07:00 (category khac, no location)

As of AFTER (10/08 10:00), counted by hand: on-site 5 reports: 3 processed (R1, R4,
EXT-1), 1 refused (R2), 1 pending (R3), 1 overdue (R3), 2 resolved late (R2, R4; R1 was
rated after its deadline but finished before it); procedure 1 pending. Ratings 2: 1
satisfied, 1 not. Returned as not ours: 001 twice (R1, R3), 002 once (R2), SXD once (R1).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from ihanoi_core import queries
from ihanoi_core.config import HANOI_TZ
from ihanoi_core.db import get_engine, session_scope
from ihanoi_core.interchange import fields as F
from ihanoi_core.interchange.exporter import export_reports
from ihanoi_core.interchange.history_fields import (
    format_returned_by,
    returned_by,
    split_returned_by,
)
from ihanoi_core.interchange.importer import error_messages, import_file
from ihanoi_core.models import Report, ReportEvent
from ihanoi_core.queries import BucketCounts, SatisfactionCounts
from ihanoi_core.verify import Mismatch, MismatchCode, check_histories, check_history
from ihanoi_core.vocab import Action, Kind, Status
from tests.conftest import fresh_database_url
from tests.core.test_queries import AS_OF, build_city
from tests.factories import Cast, make_report, step, unit_id


def hanoi(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 8, day, hour, minute, tzinfo=HANOI_TZ)


def iso(day: int, hour: int, minute: int = 0) -> str:
    return hanoi(day, hour, minute).isoformat()


AFTER = hanoi(10, 10)  # after every record's last change
BETWEEN = hanoi(2, 9, 30)  # R1 returned twice, R2 once, R3 not yet
LAST_CHANGE = hanoi(7, 9)  # R1's rating: the latest change in the file


def own(code: str, **values: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        F.SERVICE_REQUEST_ID: code,
        F.IHANOI_CODE: code,
        F.IHANOI_KIND: "onsite",
        F.IHANOI_TITLE: f"Phản ánh {code}",
        F.IHANOI_PRIORITY: "normal",
        F.DESCRIPTION: "Mô tả",
        F.ADDRESS: "Hà Nội",
    }
    record.update(values)
    return record


RECORDS: list[dict[str, Any]] = [
    own(
        "PA-R1",
        ihanoi_status="published",
        ihanoi_category="hu_hong_duong",
        ihanoi_unit="002",
        ihanoi_district="002",
        requested_datetime=iso(1, 8),
        ihanoi_due_datetime=iso(6, 17),
        ihanoi_finished_datetime=iso(5, 10),
        ihanoi_result="Đã vá ổ gà.",
        ihanoi_is_public=True,
        ihanoi_rating="satisfied",
        ihanoi_rated_datetime=iso(7, 9),
        updated_datetime=iso(7, 9),
        ihanoi_bounce_count=2,
        ihanoi_returned_by=f"001@{iso(1, 10)};SXD@{iso(2, 9)}",
    ),
    own(
        "PA-R2",
        ihanoi_status="refused",
        ihanoi_category="rac_thai",
        ihanoi_unit="001",
        requested_datetime=iso(1, 20),
        ihanoi_due_datetime=iso(3, 17),
        ihanoi_finished_datetime=iso(4, 9),
        status_notes="Thông tin không rõ ràng",
        updated_datetime=iso(4, 9),
        ihanoi_bounce_count=1,
        ihanoi_returned_by=f"002@{iso(2, 8)}",
    ),
    own(
        "PA-R3",
        ihanoi_status="waiting",
        ihanoi_category="chieu_sang",
        ihanoi_unit="SXD",
        requested_datetime=iso(2, 7),
        ihanoi_arrived_datetime=iso(2, 11),
        ihanoi_due_datetime=iso(5, 17),
        updated_datetime=iso(2, 11),
        ihanoi_returned_by=f"001@{iso(2, 10)}",  # no bounce count: one, from the list
    ),
    own(
        "PA-R4",
        ihanoi_status="published",
        ihanoi_category="lan_chiem_via_he",
        ihanoi_unit="002",
        requested_datetime=iso(1, 9),
        ihanoi_due_datetime=iso(2, 17),
        ihanoi_finished_datetime=iso(3, 10),
        ihanoi_result="Đã giải tỏa.",
        ihanoi_rating="unsatisfied",
        ihanoi_rated_datetime=iso(3, 12),
        updated_datetime=iso(3, 12),
    ),
    own(
        "PA-R5",
        ihanoi_status="received",
        ihanoi_kind="procedure",
        ihanoi_category="tthc_khac",
        ihanoi_unit="VP-UBND",
        requested_datetime=iso(3, 9),
        updated_datetime=iso(3, 9),
    ),
    {
        F.SERVICE_REQUEST_ID: "EXT-1",
        F.STATUS: "closed",
        F.STATUS_NOTES: "Đã xử lý xong.",
        F.DESCRIPTION: "Báo cáo từ hệ thống khác",
        F.REQUESTED_DATETIME: iso(1, 7),
        F.UPDATED_DATETIME: iso(2, 7),
    },
]


def write(records: list[dict[str, Any]], folder: Path, name: str = "records.json") -> Path:
    path = folder / name
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    return path


def history(session: Session, code: str) -> list[ReportEvent]:
    report = session.exec(select(Report).where(Report.code == code)).one()
    stmt = select(ReportEvent).where(ReportEvent.report_id == report.id)
    return list(session.exec(stmt.order_by(col(ReportEvent.seq))))


def returned_counts(units: list[queries.UnitCounts]) -> dict[str, int]:
    return {u.unit_code: u.returned_not_ours for u in units if u.returned_not_ours}


def unit_lines(units: list[queries.UnitCounts]) -> list[tuple[object, ...]]:
    """By unit code: ids of the same unit differ between two databases."""
    return sorted(
        (
            u.unit_code,
            u.total,
            u.processed,
            u.refused,
            u.processing,
            u.pending,
            u.overdue_open,
            u.resolved_late,
            u.returned_not_ours,
        )
        for u in units
    )


@pytest.fixture
def imported(engine: sa.Engine, session: Session, tmp_path: Path) -> Session:
    result = import_file(write(RECORDS, tmp_path), source="so-lieu-cu", engine=engine)
    assert (result.total, result.imported, result.rejected) == (6, 6, [])
    assert result.written
    session.rollback()  # see what the import committed
    return session


def test_the_refusals_are_recreated_before_the_import_event(imported: Session) -> None:
    session = imported
    events = history(session, "PA-R1")
    assert [(e.seq, e.action, e.to_status) for e in events] == [
        (1, Action.REFUSE_NOT_OURS.value, Status.RETURNED.value),
        (2, Action.REFUSE_NOT_OURS.value, Status.RETURNED.value),
        (3, Action.IMPORT.value, Status.PUBLISHED.value),
    ]
    office = unit_id(session, "VP-UBND")
    assert [(e.from_unit_id, e.to_unit_id, e.at) for e in events[:2]] == [
        (unit_id(session, "001"), office, hanoi(1, 10)),
        (unit_id(session, "SXD"), office, hanoi(2, 9)),
    ]
    assert {(e.actor_role, e.source_file, e.source_row) for e in events} == {
        ("system", "records.json", 1)
    }
    assert events[0].reason == "ihanoi_returned_by: records.json #1"
    assert (events[2].at, events[2].rating, events[2].is_public) == (hanoi(7, 9), "satisfied", True)
    r1 = session.exec(select(Report).where(Report.code == "PA-R1")).one()
    assert (r1.version, r1.bounce_count, r1.finished_at) == (3, 2, hanoi(5, 10))
    r3 = session.exec(select(Report).where(Report.code == "PA-R3")).one()
    assert (r3.version, r3.bounce_count) == (2, 1)


def test_imported_histories_verify_clean(imported: Session) -> None:
    result = check_histories(imported)
    assert result.mismatches == []
    # R1 3 events, R2 2, R3 2, R4 1, R5 1, EXT-1 1 (imported closed: no route step)
    assert (result.reports, result.events) == (6, 10)


def test_a_restored_history_edited_by_hand_is_still_caught(imported: Session) -> None:
    """Restored events skip the transition table, not the comparison with the row."""
    session = imported
    session.execute(
        sa.text("UPDATE report SET rating = NULL, status = 'assigned' WHERE code = 'PA-R1'")
    )
    r1 = session.exec(select(Report.id).where(Report.code == "PA-R1")).one()
    found = {(m.report_id, m.code.value, m.field) for m in check_histories(session).mismatches}
    assert found == {(r1, "state_differs", "status"), (r1, "state_differs", "rating")}


def test_units_returned_counts_come_from_the_restored_refusals(imported: Session) -> None:
    session = imported
    for source in ("columns", "events"):
        units = queries.by_unit(session, as_of=AFTER, source=source)  # type: ignore[arg-type]
        assert returned_counts(units) == {"001": 2, "002": 1, "SXD": 1}, source
    # Each refusal counts from its own time, not from the import's.
    assert returned_counts(queries.by_unit(session, as_of=BETWEEN)) == {
        "001": 1,
        "002": 1,
        "SXD": 1,
    }


def test_stats_from_history_equal_stats_from_the_rows_after_the_last_change(
    imported: Session,
) -> None:
    session = imported
    by_kind = queries.bucket_counts(session, as_of=AFTER, source="events")
    assert by_kind[Kind.ONSITE] == BucketCounts(
        total=5, processed=3, refused=1, processing=0, pending=1, overdue_open=1, resolved_late=2
    )
    assert by_kind[Kind.PROCEDURE] == BucketCounts(total=1, pending=1)
    assert queries.satisfaction(session, as_of=AFTER, source="events") == SatisfactionCounts(
        2, 1, 1
    )
    for as_of in (LAST_CHANGE, AFTER, AFTER + timedelta(days=30)):
        for name in ("bucket_counts", "satisfaction", "by_category", "by_district"):
            query = getattr(queries, name)
            assert query(session, as_of=as_of, source="events") == query(
                session, as_of=as_of, source="columns"
            ), (name, as_of)
        assert unit_lines(queries.by_unit(session, as_of=as_of, source="events")) == unit_lines(
            queries.by_unit(session, as_of=as_of, source="columns")
        ), as_of


def test_bad_returned_by_entries_are_row_errors_and_nothing_is_written(
    engine: sa.Engine, session: Session, tmp_path: Path
) -> None:
    base = RECORDS[0]
    bad = [
        {**base, F.IHANOI_RETURNED_BY: f"001 {iso(1, 10)}"},  # no "@"
        {**base, F.IHANOI_RETURNED_BY: f"KHONG-CO@{iso(1, 10)};SXD@{iso(2, 9)}"},
        {**base, F.IHANOI_RETURNED_BY: "001@hôm qua;SXD@2024-08-02T09:00:00+07:00"},
        {**base, F.IHANOI_RETURNED_BY: f"SXD@{iso(2, 9)};001@{iso(1, 10)}"},  # newest first
        {**base, F.IHANOI_RETURNED_BY: f"001@{iso(1, 7)};SXD@{iso(2, 9)}"},  # before receipt
        {**base, F.IHANOI_RETURNED_BY: f"001@{iso(1, 10)}"},  # one return, bounce count 2
    ]
    records = [{**r, F.IHANOI_CODE: f"PA-X{i}"} for i, r in enumerate(bad, start=1)]
    records.append({**RECORDS[3]})  # a good one: not written either
    result = import_file(write(records, tmp_path), engine=engine)
    field = F.IHANOI_RETURNED_BY
    assert [(e.record, e.field, e.code) for e in result.rejected] == [
        (1, field, "bad_returned_by"),
        (2, field, "unknown_unit"),
        (3, field, "bad_datetime"),
        (4, field, "returned_by_order"),
        (5, field, "returned_by_outside"),
        (6, field, "returned_by_count"),
    ]
    assert (result.written, result.imported, result.rejected_records) == (False, 1, 6)
    assert session.exec(select(sa.func.count()).select_from(Report)).one() == 0
    assert error_messages(result.rejected[5:], "en") == [
        "Record 6 [ihanoi_returned_by]: The returns listed do not match the bounce count"
        " (ihanoi_bounce_count) (1 != 2)"
    ]
    assert error_messages(result.rejected[1:2], "vi") == [
        "Dòng/bản ghi 2 [ihanoi_returned_by]: Mã đơn vị không tồn tại (KHONG-CO)"
    ]


def test_the_field_text_round_trips() -> None:
    text = format_returned_by([("001", hanoi(1, 10)), ("SXD", hanoi(2, 9, 30))])
    assert text == "001@2024-08-01T10:00:00+07:00;SXD@2024-08-02T09:30:00+07:00"
    assert split_returned_by(text + ";") == [
        ("001", "2024-08-01T10:00:00+07:00"),
        ("SXD", "2024-08-02T09:30:00+07:00"),
    ]
    with pytest.raises(ValueError, match="@2024"):
        split_returned_by("@2024-08-01T10:00:00+07:00")


def bounce_twice(session: Session, cast: Cast) -> Report:
    """Returned by 001, then by 002, then sent to 001 again, where it waits."""
    h = timedelta(hours=1)
    t = hanoi(2, 9)
    n = make_report(session, t, category_code="lan_chiem_via_he")
    n = step(session, n, Action.DISPATCH, cast.dispatcher, t + h, to_unit_id=cast.other_unit_id)
    n = step(session, n, Action.REFUSE_NOT_OURS, cast.other_leader, t + 2 * h, reason="Sai đơn vị")
    n = step(session, n, Action.DISPATCH, cast.dispatcher, t + 3 * h, to_unit_id=cast.unit_id)
    n = step(session, n, Action.REFUSE_NOT_OURS, cast.unit_leader, t + 4 * h, reason="Sai đơn vị")
    return step(
        session, n, Action.DISPATCH, cast.dispatcher, t + 5 * h, to_unit_id=cast.other_unit_id
    )


def test_export_then_import_keeps_the_returned_counts(
    request: pytest.FixtureRequest, db_url: str, session: Session, tmp_path: Path
) -> None:
    """The whole trip, with `returned_by` filled in as the exporter is to call it."""
    city = build_city(session)
    bounce_twice(session, city.cast)
    session.commit()
    with session_scope(get_engine(db_url), snapshot=True) as s:
        ids = dict(s.exec(select(Report.code, Report.id)).all())
        extra = returned_by(s, list(ids.values()))
        out = tmp_path / "export.json"
        with out.open("wb") as fh:
            export_reports(s, fmt=F.FORMAT_OPEN311_JSON, out=fh)
        before_units = unit_lines(queries.by_unit(s, as_of=AS_OF))
        before_stats = queries.stats_snapshot(s, as_of=AS_OF).to_dict()
    records = json.loads(out.read_text(encoding="utf-8"))
    for record in records:
        record[F.IHANOI_RETURNED_BY] = extra.get(ids[record[F.IHANOI_CODE]])
    assert sorted(v.count("@") for v in extra.values()) == [1, 2]  # G once, N twice

    folder = tmp_path / "target"
    folder.mkdir()
    kind = "sqlite" if db_url.startswith("sqlite") else "postgresql"
    target = get_engine(fresh_database_url(request, kind, folder))
    result = import_file(write(records, tmp_path, "export-with-returns.json"), engine=target)
    assert (result.rejected, result.imported) == ([], 14)

    with session_scope(target, snapshot=True) as s:
        assert check_histories(s).mismatches == []
        for source in ("auto", "events"):
            units = queries.by_unit(s, as_of=AS_OF, source=source)  # type: ignore[arg-type]
            assert unit_lines(units) == before_units, source
            assert returned_counts(units) == {"001": 1, "002": 2}
        assert queries.stats_snapshot(s, as_of=AS_OF).to_dict() == before_stats


def test_an_imported_report_goes_on_through_the_workflow(imported: Session) -> None:
    """A leader reopens the imported unsatisfied report: our event follows the restored
    state (published, rated), and the whole history still verifies."""
    session = imported
    cast = Cast(session, AFTER)
    r4 = session.exec(select(Report).where(Report.code == "PA-R4")).one()
    r4 = step(session, r4, Action.REOPEN, cast.leader, AFTER, reason="Kiểm tra lại kết quả")
    assert (r4.status, r4.rating, r4.version) == (Status.ASSIGNED.value, None, 2)
    assert check_histories(session).mismatches == []
    assert queries.satisfaction(session, as_of=AFTER) == SatisfactionCounts(1, 1, 0)


def _event(seq: int, action: str, frm: str | None, to: str, **kw: object) -> SimpleNamespace:
    fields: dict[str, object] = {
        "seq": seq,
        "action": action,
        "actor_role": "system",
        "from_status": frm,
        "to_status": to,
        "from_unit_id": None,
        "to_unit_id": 1,
        "assignee_id": None,
        "due_at": None,
        "rating": None,
        "is_public": None,
        "source_file": "a.json",
    }
    fields.update(kw)
    return SimpleNamespace(**fields)


def _row(**kw: object) -> SimpleNamespace:
    fields: dict[str, object] = {
        "id": 7,
        "status": "published",
        "current_unit_id": 1,
        "assignee_id": None,
        "version": 3,
        "due_at": None,
        "rating": "unsatisfied",
        "is_public": True,
    }
    fields.update(kw)
    return SimpleNamespace(**fields)


RESTORED = [
    _event(1, "refuse_not_ours", None, "returned", from_unit_id=2, to_unit_id=9),
    _event(2, "refuse_not_ours", None, "returned", from_unit_id=3, to_unit_id=9),
    _event(3, "import", None, "published", rating="unsatisfied", is_public=True),
]


def test_check_history_accepts_a_restored_history_and_checks_our_steps_after_it() -> None:
    assert check_history(_row(), RESTORED) == []
    # The import alone, straight to "refused", is a valid start too.
    alone = [_event(1, "import", None, "refused")]
    assert (
        check_history(_row(status="refused", version=1, rating=None, is_public=False), alone) == []
    )
    # Our own step after it must start where the import ended ...
    reopen = _event(
        4, "reopen", "published", "assigned", actor_role="leader", source_file=None, from_unit_id=1
    )
    assert check_history(_row(status="assigned", version=4, rating=None), [*RESTORED, reopen]) == []
    wrong = _event(
        4, "reopen", "published", "assigned", actor_role="leader", source_file=None, from_unit_id=2
    )
    assert check_history(_row(status="assigned", version=4, rating=None), [*RESTORED, wrong]) == [
        Mismatch(7, MismatchCode.BROKEN_CHAIN, "events[4].from_unit_id", "1", "2")
    ]
    # ... and the numbering and final state are checked for restored events too.
    gap = [RESTORED[0], RESTORED[2]]
    assert check_history(_row(version=2), gap) == [
        Mismatch(7, MismatchCode.SEQ_GAP, "seq", "2", "3"),
        Mismatch(7, MismatchCode.STATE_DIFFERS, "version", "3", "2"),
    ]
    # An event that did not come from a file gets no such leniency.
    ours = [_event(1, "refuse_not_ours", None, "returned", source_file=None)]
    assert check_history(
        _row(status="returned", version=1, rating=None, is_public=False), ours
    ) == [
        Mismatch(
            7, MismatchCode.BAD_START, "events[1].action", "receive|import", "refuse_not_ours"
        ),
        Mismatch(7, MismatchCode.BAD_START, "events[1].to_status", "received", "returned"),
    ]


# ------------------------------------- a past moment: replaying only what moved since

SPLIT_QUERIES = (
    "bucket_counts",
    "status_counts",
    "by_category",
    "by_district",
    "counts_by_period",
    "satisfaction",
    "satisfaction_by_unit",
    "satisfaction_by_category",
    "step_durations",
)


def test_replaying_only_the_reports_that_moved_since_gives_the_full_replay(
    imported: Session,
) -> None:
    """At each past moment, reading the reports with no later event from their rows and
    replaying the others (`split`) gives what replaying every history gives: with
    imported histories (an import event dated at the record's last change, restored
    refusals before it) and an imported report reopened and published again by us.

    After the file: PA-R4 (published 03/08 10:00, rated unsatisfied 03/08 12:00) is
    reopened on 10/08 10:00 (unrated again), drafted 12/08 09:00, approved 10:00,
    published 11:00; a new report N is submitted 09/08 08:00 and dispatched to 001 at
    09:00 on 12/08.
    """
    session = imported
    cast = Cast(session, AFTER)
    r4 = session.exec(select(Report).where(Report.code == "PA-R4")).one()
    r4 = step(session, r4, Action.REOPEN, cast.leader, AFTER, reason="Kiểm tra lại kết quả")
    r4 = step(session, r4, Action.DRAFT, cast.unit_leader, hanoi(12, 9), result_text="Đã làm lại.")
    r4 = step(session, r4, Action.APPROVE, cast.unit_leader, hanoi(12, 10))
    step(session, r4, Action.PUBLISH, cast.unit_leader, hanoi(12, 11), is_public=True)
    n = make_report(session, hanoi(9, 8), category_code="rac_thai")
    step(session, n, Action.DISPATCH, cast.dispatcher, hanoi(12, 9), to_unit_id=cast.other_unit_id)
    session.flush()
    assert check_histories(session).mismatches == []

    moments = [
        hanoi(1, 12),  # EXT-1 submitted at 07:00, its only (import) event comes on 02/08
        BETWEEN,
        hanoi(3, 11),  # R4 published, not rated yet
        LAST_CHANGE,
        hanoi(11, 12),  # R4 reopened (processing, unrated); N waits for the dispatcher
        hanoi(12, 10, 30),  # R4 approved, N at 001
    ]
    for as_of in moments:
        for name in SPLIT_QUERIES:
            query = getattr(queries, name)
            assert query(session, as_of=as_of, source="split") == query(
                session, as_of=as_of, source="events"
            ), (name, as_of)
        split_units = queries.by_unit(session, as_of=as_of, source="split")
        assert unit_lines(split_units) == unit_lines(
            queries.by_unit(session, as_of=as_of, source="events")
        ), as_of
        week = queries.ReportFilter(date_from=hanoi(5, 0).date(), date_to=hanoi(11, 0).date())
        assert queries.bucket_counts(
            session, as_of=as_of, filt=week, source="split"
        ) == queries.bucket_counts(session, as_of=as_of, filt=week, source="events"), as_of

    # What the figures say at the moments that matter (counted by hand):
    # 03/08 11:00: R4 is published but its rating comes at 12:00; R1 rated on 07/08.
    assert queries.satisfaction(session, as_of=hanoi(3, 11), source="split") == (
        SatisfactionCounts(0, 0, 0)
    )
    # 07/08 09:00: R1 satisfied, R4 unsatisfied.
    assert queries.satisfaction(session, as_of=LAST_CHANGE, source="split") == (
        SatisfactionCounts(2, 1, 1)
    )
    # 11/08 12:00: the reopening took R4's rating away; R4 is processing again, N pending.
    later = queries.bucket_counts(session, as_of=hanoi(11, 12), source="split")
    assert queries.satisfaction(session, as_of=hanoi(11, 12), source="split") == (
        SatisfactionCounts(1, 1, 0)
    )
    assert (later[Kind.ONSITE].total, later[Kind.ONSITE].processing) == (6, 1)
    assert (later[Kind.ONSITE].processed, later[Kind.ONSITE].pending) == (2, 2)  # R1 EXT-1; R3 N
    # 01/08 12:00: only R1 exists (returned by 001 at 10:00); R4 and EXT-1 were submitted
    # by then, but nothing of them was recorded before their import events.
    for source in ("split", "events"):
        early = queries.bucket_counts(session, as_of=hanoi(1, 12), source=source)  # type: ignore[arg-type]
        assert (early[Kind.ONSITE].total, early[Kind.ONSITE].pending) == (1, 1), source

    # `auto` takes the split where few events came after the moment, the full replay
    # where most histories moved on since (the import events all date from 02/08 on).
    assert queries.state_source(session, as_of=hanoi(11, 12)) == "split"
    assert queries.state_source(session, as_of=hanoi(1, 12)) == "events"
    assert queries.state_source(session, as_of=hanoi(13, 0)) == "columns"
    snapshot = queries.stats_snapshot(session, as_of=hanoi(11, 12))
    assert snapshot.by_kind == queries.bucket_counts(session, as_of=hanoi(11, 12), source="events")
    assert unit_lines(snapshot.by_unit) == unit_lines(
        queries.by_unit(session, as_of=hanoi(11, 12), source="events")
    )
