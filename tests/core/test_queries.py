"""Statistics on a small hand-built city whose every figure was counted by hand.

The city (`build_city`) has 13 reports, driven through the real workflow. Times are
Hanoi local; reports step one hour apart unless said otherwise. Deadlines come from
the shipped rules: on-site normal 40 working hours, urgent 4, procedure normal 80.

    id kind  category (top level)     submitted (local)  unit at AS_OF  state at AS_OF
    A  ons.  rac_thai (ve_sinh)       Sun 28/07 22:00    002   published 01/08 15:00 (due 08/08
                                                               11:00), rated satisfied
    B  ons.  lan_chiem (van_minh)     Thu 01/08 08:00    002   urgent, 2 h per step: published
                                                               01/08 18:00, due 15:00: LATE;
                                                               rated unsatisfied
    C  ons.  xay_dung (van_minh)      Thu 25/07 10:00    002   assigned, due 01/08 11:00: OVERDUE
    D  ons.  rac_thai (ve_sinh)       Thu 08/08 10:00    002   waiting, due 15/08 11:00
    E  ons.  hu_hong_duong (giao_th.) Thu 08/08 10:00    002   refused 08/08 13:00
    F  ons.  rac_thai (ve_sinh)       Thu 08/08 06:30 *  office received (not routed)
    G  ons.  lan_chiem (van_minh)     Thu 08/08 10:00    office returned "not ours" by 002,
                                                               due 15/08 11:00
    H  proc. tthc_ho_tich             Thu 01/08 10:00    002   published 01/08 15:00, unrated
    I  proc. tthc_khac                Thu 08/08 10:00    002   drafted
    J  ons.  hu_hong_duong (giao_th.) Thu 25/07 10:00    001   assigned, due 01/08 11:00: OVERDUE
    K  ons.  den_tin_hieu (giao_th.)  Tue 23/07 09:00    001   waiting, due 01/08 11:00: OVERDUE
    L  ons.  do_phe_thai (ve_sinh)    Thu 08/08 10:00    002   located in district 002, routed
                                                               there on receipt, published 14:00
    M  ons.  rac_thai (ve_sinh)       Thu 08/08 10:00    001   located in district 001, routed
                                                               there on receipt, waiting, due
                                                               15/08 10:00
    (*) 06:30 on 8 Aug in Hanoi is 23:30 on 7 Aug in UTC.

Units: 002 = Hoàn Kiếm (the cast's unit), 001 = Ba Đình, VP-UBND = the city office.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pytest
from sqlmodel import Session

from ihanoi_core import queries
from ihanoi_core.config import HANOI_TZ
from ihanoi_core.deadlines import due_soon_cutoff, load_deadline_rules
from ihanoi_core.models import Report, ReportCreate
from ihanoi_core.queries import BucketCounts, ReportFilter, SatisfactionCounts, Step
from ihanoi_core.services import create_report
from ihanoi_core.vocab import Action, Bucket, Kind, Priority, Rating, Status
from ihanoi_core.workcalendar import load_calendar
from tests.factories import Cast, make_report, report_in, step, unit_id


def hanoi(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, month, day, hour, minute, tzinfo=HANOI_TZ)


T0 = hanoi(8, 8, 10)  # Thu 8 Aug 10:00 (the conftest's FIXED_NOW)
W1 = hanoi(8, 1, 10)  # one week earlier
W2 = hanoi(7, 25, 10)  # two weeks earlier
AS_OF = hanoi(8, 9, 10)  # Fri 9 Aug 10:00: after every event of the city
HIST = hanoi(8, 1, 14, 30)  # Thu 1 Aug 14:30: A approved, B drafted, neither published
HIST2 = hanoi(8, 1, 19)  # Thu 1 Aug 19:00: A published and rated, B published late, unrated


@dataclass(frozen=True)
class StubRoute:
    unit_code: str | None
    district_code: str | None
    ward_code: str | None = None
    layout: str = "2024"
    reason: str | None = None


@dataclass(frozen=True)
class StubRouter:
    """Routes every point to one 2024 district (the point-in-polygon work is not tested here)."""

    district: str

    def route(self, lat: float | None, lon: float | None, on: object) -> StubRoute:
        return StubRoute(self.district, self.district)


@dataclass(frozen=True)
class City:
    cast: Cast
    ids: dict[str, int]  # report letter -> id
    unit: int  # 002 Hoàn Kiếm
    other: int  # 001 Ba Đình
    office: int  # VP-UBND

    def report(self, session: Session, letter: str) -> Report:
        report = session.get(Report, self.ids[letter])
        assert report is not None
        return report


def _located(session: Session, district: str, category: str, now: datetime) -> Report:
    return create_report(
        session,
        data=ReportCreate(
            kind="onsite",
            category_code=category,
            title="Phản ánh có vị trí",
            lat=21.03,
            lon=105.85,
            submitted_at=now,
        ),
        now=now,
        router=StubRouter(district),
    )


def build_city(session: Session) -> City:
    """The 13 reports of the module docstring, through the real services and workflow."""
    cast = Cast(session, T0)
    h = timedelta(hours=1)
    ids: dict[str, int] = {}

    def keep(letter: str, report: Report) -> None:
        assert report.id is not None
        ids[letter] = report.id

    keep(
        "A",
        report_in(
            session,
            cast,
            Status.PUBLISHED,
            W1,
            rating=Rating.SATISFIED,
            category_code="rac_thai",
            submitted_at=hanoi(7, 28, 22),
        ),
    )
    keep(
        "B",
        report_in(
            session,
            cast,
            Status.PUBLISHED,
            hanoi(8, 1, 8),
            rating=Rating.UNSATISFIED,
            priority=Priority.URGENT,
            hours_per_step=2,
            category_code="lan_chiem_via_he",
        ),
    )
    keep("C", report_in(session, cast, Status.ASSIGNED, W2, category_code="xay_dung_trai_phep"))
    keep("D", report_in(session, cast, Status.WAITING, T0, category_code="rac_thai"))
    keep("E", report_in(session, cast, Status.REFUSED, T0, category_code="hu_hong_duong"))
    keep(
        "F",
        report_in(
            session,
            cast,
            Status.RECEIVED,
            T0,
            category_code="rac_thai",
            submitted_at=hanoi(8, 8, 6, 30),
        ),
    )
    keep("G", report_in(session, cast, Status.RETURNED, T0, category_code="lan_chiem_via_he"))
    keep(
        "H",
        report_in(
            session, cast, Status.PUBLISHED, W1, kind="procedure", category_code="tthc_ho_tich"
        ),
    )
    keep(
        "I",
        report_in(session, cast, Status.DRAFTED, T0, kind="procedure", category_code="tthc_khac"),
    )

    j = make_report(session, W2, category_code="hu_hong_duong")
    j = step(session, j, Action.DISPATCH, cast.dispatcher, W2 + h, to_unit_id=cast.other_unit_id)
    j = step(
        session,
        j,
        Action.ASSIGN,
        cast.other_leader,
        W2 + 2 * h,
        assignee_id=cast.other_officer.user_id,
        priority=Priority.NORMAL,
    )
    keep("J", j)
    k = make_report(session, W2, category_code="den_tin_hieu", submitted_at=hanoi(7, 23, 9))
    keep(
        "K",
        step(session, k, Action.DISPATCH, cast.dispatcher, W2 + h, to_unit_id=cast.other_unit_id),
    )

    lr = _located(session, "002", "do_phe_thai", T0)  # routed to 002 at once
    lr = step(
        session,
        lr,
        Action.ASSIGN,
        cast.unit_leader,
        T0 + h,
        assignee_id=cast.officer.user_id,
        priority=Priority.NORMAL,
    )
    lr = step(
        session, lr, Action.DRAFT, cast.officer, T0 + 2 * h, result_text="Đã thu gom phế thải."
    )
    lr = step(session, lr, Action.APPROVE, cast.unit_leader, T0 + 3 * h)
    keep("L", step(session, lr, Action.PUBLISH, cast.unit_leader, T0 + 4 * h, is_public=True))
    keep("M", _located(session, "001", "rac_thai", T0))
    session.flush()
    return City(cast, ids, cast.unit_id, cast.other_unit_id, unit_id(session, "VP-UBND"))


def counts(*values: int) -> BucketCounts:
    """total, processed, refused, processing, pending, overdue_open, resolved_late."""
    return BucketCounts(*values)


def unit_line(u: queries.UnitCounts) -> tuple[object, ...]:
    return (
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


# ------------------------------------------------------------------ buckets


def test_the_dataset_is_what_the_docstring_says(session: Session) -> None:
    city = build_city(session)
    expected = {
        "A": ("published", city.unit, "2024-08-08 11:00", Rating.SATISFIED),
        "B": ("published", city.unit, "2024-08-01 15:00", Rating.UNSATISFIED),
        "C": ("assigned", city.unit, "2024-08-01 11:00", None),
        "D": ("waiting", city.unit, "2024-08-15 11:00", None),
        "F": ("received", city.office, None, None),
        "G": ("returned", city.office, "2024-08-15 11:00", None),
        "J": ("assigned", city.other, "2024-08-01 11:00", None),
        "K": ("waiting", city.other, "2024-08-01 11:00", None),
        "M": ("waiting", city.other, "2024-08-15 10:00", None),
    }
    for letter, (status, unit, due, rating) in expected.items():
        r = city.report(session, letter)
        local_due = r.due_at.astimezone(HANOI_TZ).strftime("%Y-%m-%d %H:%M") if r.due_at else None
        assert (r.status, r.current_unit_id, local_due, r.rating) == (status, unit, due, rating), (
            letter
        )


def test_bucket_counts_per_kind(session: Session) -> None:
    build_city(session)
    result = queries.bucket_counts(session, as_of=AS_OF)
    # on-site, 11 reports: processed A B L; refused E; processing C J; pending D F G K M.
    # overdue_open: C J K (due 1 Aug, still open); resolved_late: B (published 18:00,
    # due 15:00). A, L, E finished before their deadlines.
    assert result[Kind.ONSITE] == counts(11, 3, 1, 2, 5, 3, 1)
    # procedure, 2 reports: H published on time, I drafted.
    assert result[Kind.PROCEDURE] == counts(2, 1, 0, 1, 0, 0, 0)
    assert queries.total_counts(result) == counts(13, 4, 1, 3, 5, 3, 1)


def test_every_bucket_is_one_of_four_and_status_counts_add_up(session: Session) -> None:
    build_city(session)
    by_status = queries.status_counts(session, as_of=AS_OF)
    assert by_status == {
        Status.RECEIVED: 1,  # F
        Status.WAITING: 3,  # D K M
        Status.ASSIGNED: 2,  # C J
        Status.RETURNED: 1,  # G
        Status.DRAFTED: 1,  # I
        Status.APPROVED: 0,
        Status.PUBLISHED: 4,  # A B H L
        Status.REFUSED: 1,  # E
    }


def test_historical_as_of_replays_the_events(session: Session) -> None:
    build_city(session)
    # At Thu 1 Aug 14:30 only K, C, J, A, B, H had been submitted. A was approved (its
    # publication came at 15:00), B drafted, H approved: all "processing", none finished.
    # C and J (assigned) and K (waiting) were already past their 11:00 deadline; B's
    # urgent deadline (15:00) was still ahead.
    at_hist = queries.bucket_counts(session, as_of=HIST)
    assert at_hist[Kind.ONSITE] == counts(5, 0, 0, 4, 1, 3, 0)
    assert at_hist[Kind.PROCEDURE] == counts(1, 0, 0, 1, 0, 0, 0)
    assert queries.satisfaction(session, as_of=HIST) == SatisfactionCounts(0, 0, 0)

    # At 19:00 the same day A (15:00) and B (18:00, after its 15:00 deadline) were
    # published; A was rated at 16:00, B's rating came at 20:00.
    at_evening = queries.bucket_counts(session, as_of=HIST2)
    assert at_evening[Kind.ONSITE] == counts(5, 2, 0, 2, 1, 3, 1)
    assert queries.satisfaction(session, as_of=HIST2) == SatisfactionCounts(1, 1, 0)


def test_history_and_columns_agree_when_nothing_happened_since(session: Session) -> None:
    build_city(session)
    assert queries.resolve_source(session, as_of=AS_OF) == "columns"
    assert queries.resolve_source(session, as_of=HIST) == "events"
    for filt in (
        None,
        ReportFilter(unit_id=unit_id(session, "001")),
        ReportFilter(kind=Kind.ONSITE),
    ):
        for fn in (
            queries.bucket_counts,
            queries.status_counts,
            queries.by_unit,
            queries.by_category,
            queries.by_district,
            queries.counts_by_period,
            queries.satisfaction,
            queries.step_durations,
        ):
            from_events = fn(session, as_of=AS_OF, filt=filt, source="events")  # type: ignore[operator]
            from_columns = fn(session, as_of=AS_OF, filt=filt, source="columns")  # type: ignore[operator]
            assert from_events == from_columns, fn.__name__


def test_columns_are_refused_for_a_past_moment(session: Session) -> None:
    build_city(session)
    with pytest.raises(ValueError, match="needs the events"):
        queries.bucket_counts(session, as_of=HIST, source="columns")


def test_naive_as_of_is_refused(session: Session) -> None:
    with pytest.raises(ValueError, match="naive"):
        queries.bucket_counts(session, as_of=datetime(2024, 8, 9, 10))


def test_a_reopened_report_loses_its_rating_from_the_reopening_on(session: Session) -> None:
    city = build_city(session)
    b = city.report(session, "B")
    step(session, b, Action.REOPEN, city.cast.leader, hanoi(8, 8, 13), reason="Kết quả chưa đạt")
    # B is back with its officer (processing), unrated, with a new urgent deadline of
    # 4 working hours: 8 Aug 17:00, so it is overdue at AS_OF instead of "resolved late".
    after = queries.bucket_counts(session, as_of=AS_OF)
    assert after[Kind.ONSITE] == counts(11, 2, 1, 3, 5, 4, 0)
    assert queries.satisfaction(session, as_of=AS_OF) == SatisfactionCounts(1, 1, 0)
    # Before the reopening, B's unsatisfied rating was in force (the history says so).
    assert queries.satisfaction(session, as_of=hanoi(8, 1, 21)) == SatisfactionCounts(2, 1, 1)
    assert queries.resolve_source(session, as_of=AS_OF) == "columns"
    assert queries.satisfaction(session, as_of=AS_OF, source="events") == SatisfactionCounts(
        1, 1, 0
    )


# ------------------------------------------------------------------ groupings


def test_by_unit_worst_first(session: Session) -> None:
    build_city(session)
    rows = [unit_line(u) for u in queries.by_unit(session, as_of=AS_OF)]
    # code, total, processed, refused, processing, pending, overdue, late, returned
    assert rows == [
        # Ba Đình: J assigned and K waiting both overdue, M waiting: 2 overdue, worst.
        ("001", 3, 0, 0, 1, 2, 2, 0, 0),
        # Hoàn Kiếm: A B H L published (B late), E refused, C I processing (C overdue),
        # D waiting; it also sent G back as "not our function".
        ("002", 8, 4, 1, 2, 1, 1, 1, 1),
        # City office: F received and G returned, nothing overdue.
        ("VP-UBND", 2, 0, 0, 0, 2, 0, 0, 0),
    ]
    names = {u.unit_code: u.unit_name for u in queries.by_unit(session, as_of=AS_OF)}
    assert names["002"] == "Hoàn Kiếm"


def test_by_unit_at_a_past_moment_uses_the_unit_of_that_moment(session: Session) -> None:
    city = build_city(session)
    d = city.report(session, "D")
    step(session, d, Action.REASSIGN, city.cast.dispatcher, hanoi(8, 8, 16), to_unit_id=city.other)
    # D moved from 002 to 001 at 16:00 on 8 Aug. At 15:00 it still counted for 002.
    before = {u.unit_code: u.pending for u in queries.by_unit(session, as_of=hanoi(8, 8, 15))}
    after = {u.unit_code: u.pending for u in queries.by_unit(session, as_of=AS_OF)}
    assert (before["002"], before["001"]) == (1, 2)  # D | K M
    assert (after["002"], after["001"]) == (0, 3)  # - | D K M


def test_by_unit_unit_filter_counts_its_returns(session: Session) -> None:
    city = build_city(session)
    rows = queries.by_unit(session, as_of=AS_OF, filt=ReportFilter(unit_id=city.unit))
    assert [unit_line(u) for u in rows] == [("002", 8, 4, 1, 2, 1, 1, 1, 1)]


def test_by_category_top_and_leaf(session: Session) -> None:
    build_city(session)
    top = queries.by_category(session, as_of=AS_OF)
    # ve_sinh: A D F L M; giao_thong: E J K; van_minh: B C G; procedures: H I.
    # Ties are listed by code.
    assert [(c.category_code, c.count) for c in top] == [
        ("ve_sinh_moi_truong", 5),
        ("giao_thong", 3),
        ("van_minh_do_thi", 3),
        ("thu_tuc_hanh_chinh", 2),
    ]
    assert top[0].name_vi == "Vệ sinh môi trường"
    assert top[0].share == pytest.approx(5 / 13)
    assert sum(c.share for c in top) == pytest.approx(1.0)

    leaf = queries.by_category(session, as_of=AS_OF, level="leaf")
    assert [(c.category_code, c.count) for c in leaf] == [
        ("rac_thai", 4),  # A D F M
        ("hu_hong_duong", 2),  # E J
        ("lan_chiem_via_he", 2),  # B G
        ("den_tin_hieu", 1),
        ("do_phe_thai", 1),
        ("tthc_ho_tich", 1),
        ("tthc_khac", 1),
        ("xay_dung_trai_phep", 1),
    ]


def test_by_district_groups_reports_without_location_as_null(session: Session) -> None:
    build_city(session)
    rows = queries.by_district(session, as_of=AS_OF)
    # L was located in Hoàn Kiếm, M in Ba Đình; the 11 others have no location.
    assert [(d.district_code, d.name, d.count) for d in rows] == [
        ("001", "Ba Đình", 1),
        ("002", "Hoàn Kiếm", 1),
        (None, None, 11),
    ]


def test_counts_by_day_use_hanoi_dates(session: Session) -> None:
    build_city(session)
    rows = queries.counts_by_period(session, as_of=AS_OF, grain="day")
    # F was submitted at 06:30 on 8 Aug in Hanoi, 23:30 on 7 Aug in UTC: it is an 8 Aug
    # report. Buckets are those at AS_OF.
    assert [(r.label, r.kind, r.counts.total) for r in rows] == [
        ("2024-07-23", "onsite", 1),  # K
        ("2024-07-25", "onsite", 2),  # C J
        ("2024-07-28", "onsite", 1),  # A
        ("2024-08-01", "onsite", 1),  # B
        ("2024-08-01", "procedure", 1),  # H
        ("2024-08-08", "onsite", 6),  # D E F G L M
        ("2024-08-08", "procedure", 1),  # I
    ]
    aug8 = rows[5].counts
    # L published, E refused, D F G M pending: nothing late or overdue yet.
    assert aug8 == counts(6, 1, 1, 0, 4, 0, 0)
    assert rows[1].counts == counts(2, 0, 0, 2, 0, 2, 0)  # C J assigned, both overdue


def test_counts_by_iso_week_start_on_monday(session: Session) -> None:
    build_city(session)
    rows = queries.counts_by_period(session, as_of=AS_OF, grain="week")
    # Week 30 (Mon 22 Jul) holds K (Tue), C J (Thu) and A (Sun 28 Jul, still week 30).
    assert [(r.period_start, r.label, r.kind, r.counts.total) for r in rows] == [
        (date(2024, 7, 22), "2024-W30", "onsite", 4),
        (date(2024, 7, 29), "2024-W31", "onsite", 1),  # B
        (date(2024, 7, 29), "2024-W31", "procedure", 1),  # H
        (date(2024, 8, 5), "2024-W32", "onsite", 6),
        (date(2024, 8, 5), "2024-W32", "procedure", 1),
    ]
    # Week 30 at AS_OF: A published; C, J assigned; K waiting; C J K overdue.
    assert rows[0].counts == counts(4, 1, 0, 2, 1, 3, 0)


def test_satisfaction_overall_per_unit_and_category(session: Session) -> None:
    build_city(session)
    assert queries.satisfaction(session, as_of=AS_OF) == SatisfactionCounts(2, 1, 1)
    assert queries.satisfaction(session, as_of=AS_OF).satisfied_share == 0.5
    per_unit = queries.satisfaction_by_unit(session, as_of=AS_OF)
    assert [(g.key, g.counts) for g in per_unit] == [("002", SatisfactionCounts(2, 1, 1))]
    per_category = queries.satisfaction_by_category(session, as_of=AS_OF)
    # B (unsatisfied) is urban order, A (satisfied) sanitation: most unsatisfied first.
    assert [(g.key, g.counts) for g in per_category] == [
        ("van_minh_do_thi", SatisfactionCounts(1, 0, 1)),
        ("ve_sinh_moi_truong", SatisfactionCounts(1, 1, 0)),
    ]
    leaf = queries.satisfaction_by_category(session, as_of=AS_OF, level="leaf")
    assert [g.key for g in leaf] == ["lan_chiem_via_he", "rac_thai"]


def test_due_soon_counts_open_reports_due_before_the_cutoff(session: Session) -> None:
    city = build_city(session)
    as_of = hanoi(8, 14, 16)  # Wed 16:00
    cutoff = due_soon_cutoff(as_of, load_calendar(), load_deadline_rules())
    # 8 working hours: Wed 16-17, Thu 8-12 and 13-16.
    assert cutoff == hanoi(8, 15, 16)
    # Due on Thu 15 Aug: D and G at 11:00, M at 10:00 (all open); E (refused) and L and H
    # (published) are due then too but finished. C J K are overdue already, I due 22 Aug.
    assert queries.due_soon_count(session, as_of=as_of, cutoff=cutoff) == 3
    assert (
        queries.due_soon_count(
            session, as_of=as_of, cutoff=cutoff, filt=ReportFilter(unit_id=city.other)
        )
        == 1  # M
    )
    assert queries.due_soon_count(session, as_of=as_of, cutoff=hanoi(8, 15, 10)) == 0
    assert queries.due_soon_count(session, as_of=as_of, cutoff=hanoi(8, 15, 10, 1)) == 1  # M


# ---------------------------------------------------------------- step durations


def test_step_durations_per_step(session: Session) -> None:
    build_city(session)
    rows = queries.step_durations(session, as_of=AS_OF, per_unit=False)
    got = {r.step: (r.count, r.avg_hours, r.median_hours, r.max_hours) for r in rows}
    # dispatch: A C D E G H I J K 1 h each, B 2 h, L M 0 h (routed on receipt):
    # 12 stays, 11 h in all. F is still received and G returned: not measured.
    assert got[Step.DISPATCH] == pytest.approx((12, 11 / 12, 1.0, 2.0))
    # waiting: A C E G H I J L 1 h, B 2 h (D K M still waiting).
    assert got[Step.WAITING] == pytest.approx((9, 10 / 9, 1.0, 2.0))
    # handling: A E H I L 1 h, B 2 h (C J still assigned).
    assert got[Step.HANDLING] == pytest.approx((6, 7 / 6, 1.0, 2.0))
    # approval and publication: A H L 1 h, B 2 h (I still drafted).
    assert got[Step.APPROVAL] == pytest.approx((4, 5 / 4, 1.0, 2.0))
    assert got[Step.PUBLICATION] == pytest.approx((4, 5 / 4, 1.0, 2.0))
    assert [r.step for r in rows] == list(Step)


def test_step_durations_per_unit(session: Session) -> None:
    build_city(session)
    rows = queries.step_durations(session, as_of=AS_OF)
    waiting = [(r.unit_code, r.count, r.avg_hours) for r in rows if r.step is Step.WAITING]
    # 002 held A C E G H I L 1 h and B 2 h; 001 held J 1 h. Longest average first.
    assert waiting == [("002", 8, pytest.approx(9 / 8)), ("001", 1, pytest.approx(1.0))]
    dispatch = [r for r in rows if r.step is Step.DISPATCH]
    assert [(r.unit_code, r.count) for r in dispatch] == [("VP-UBND", 12)]
    assert dispatch[0].unit_name == "Văn phòng UBND Thành phố"


def test_step_median_interpolates_between_the_middle_stays(session: Session) -> None:
    build_city(session)
    filt = ReportFilter(kind=Kind.ONSITE, date_from=date(2024, 7, 28), date_to=date(2024, 8, 1))
    rows = queries.step_durations(session, as_of=AS_OF, filt=filt, per_unit=False)
    # Only A (1 h per step) and B (2 h per step): median of [1, 2] is 1.5.
    approval = next(r for r in rows if r.step is Step.APPROVAL)
    assert (approval.count, approval.median_hours, approval.avg_hours) == (
        2,
        pytest.approx(1.5),
        pytest.approx(1.5),
    )


def test_step_durations_stop_at_as_of(session: Session) -> None:
    build_city(session)
    rows = queries.step_durations(session, as_of=HIST, per_unit=False)
    approval = next(r for r in rows if r.step is Step.APPROVAL)
    # At 14:30 on 1 Aug A and H had been approved (13:00 -> 14:00); B, drafted at 14:00,
    # was approved only at 16:00, so its stay was still running.
    assert (approval.count, approval.avg_hours) == (2, pytest.approx(1.0))
    assert not any(r.step is Step.PUBLICATION for r in rows)


# ------------------------------------------------------------------ filters


@pytest.mark.parametrize(
    ("make_filter", "onsite", "procedure"),
    [
        # H and I.
        (lambda c: ReportFilter(kind=Kind.PROCEDURE), counts(), counts(2, 1, 0, 1, 0, 0, 0)),
        # A top-level code includes its children: E (refused), J (assigned), K (waiting).
        (
            lambda c: ReportFilter(category_codes=("giao_thong",)),
            counts(3, 0, 1, 1, 1, 2, 0),
            counts(),
        ),
        # Leaf code: A (published) D M (waiting) F (received).
        (
            lambda c: ReportFilter(category_codes=("rac_thai",)),
            counts(4, 1, 0, 0, 3, 0, 0),
            counts(),
        ),
        # Two codes: B C G + H.
        (
            lambda c: ReportFilter(category_codes=("van_minh_do_thi", "tthc_ho_tich")),
            counts(3, 1, 0, 1, 1, 1, 1),
            counts(1, 1, 0, 0, 0, 0, 0),
        ),
        # L is the only report located in Hoàn Kiếm.
        (lambda c: ReportFilter(district_id=c.unit), counts(1, 1, 0, 0, 0, 0, 0), counts()),
        # At Ba Đình now: J K M.
        (lambda c: ReportFilter(unit_id=c.other), counts(3, 0, 0, 1, 2, 2, 0), counts()),
        # Pending: D F G K M (K overdue).
        (lambda c: ReportFilter(bucket=Bucket.PENDING), counts(5, 0, 0, 0, 5, 1, 0), counts()),
        # Waiting: D K M.
        (lambda c: ReportFilter(status=Status.WAITING), counts(3, 0, 0, 0, 3, 1, 0), counts()),
        # Submitted 8 Aug in Hanoi, F included: D E F G L M + I.
        (
            lambda c: ReportFilter(date_from=date(2024, 8, 8), date_to=date(2024, 8, 8)),
            counts(6, 1, 1, 0, 4, 0, 0),
            counts(1, 0, 0, 1, 0, 0, 0),
        ),
        # Up to 7 Aug: K C J A B + H (F belongs to 8 Aug).
        (
            lambda c: ReportFilter(date_to=date(2024, 8, 7)),
            counts(5, 2, 0, 2, 1, 3, 1),
            counts(1, 1, 0, 0, 0, 0, 0),
        ),
        # On-site, at Hoàn Kiếm, processed: A B L.
        (
            lambda c: ReportFilter(kind=Kind.ONSITE, unit_id=c.unit, bucket=Bucket.PROCESSED),
            counts(3, 3, 0, 0, 0, 0, 1),
            counts(),
        ),
    ],
)
def test_filters(
    session: Session, make_filter: object, onsite: BucketCounts, procedure: BucketCounts
) -> None:
    city = build_city(session)
    filt = make_filter(city)  # type: ignore[operator]
    result = queries.bucket_counts(session, as_of=AS_OF, filt=filt)
    assert (result[Kind.ONSITE], result[Kind.PROCEDURE]) == (onsite, procedure)
    from_events = queries.bucket_counts(session, as_of=AS_OF, filt=filt, source="events")
    assert from_events == result


def test_filters_apply_to_every_grouping(session: Session) -> None:
    city = build_city(session)
    filt = ReportFilter(unit_id=city.other)  # J K M
    assert [
        (c.category_code, c.count) for c in queries.by_category(session, as_of=AS_OF, filt=filt)
    ] == [
        ("giao_thong", 2),
        ("ve_sinh_moi_truong", 1),
    ]
    assert [
        (d.district_code, d.count) for d in queries.by_district(session, as_of=AS_OF, filt=filt)
    ] == [
        ("001", 1),
        (None, 2),
    ]
    assert queries.satisfaction(session, as_of=AS_OF, filt=filt) == SatisfactionCounts()
    weeks = queries.counts_by_period(session, as_of=AS_OF, filt=filt, grain="week")
    assert [(w.label, w.counts.total) for w in weeks] == [("2024-W30", 2), ("2024-W32", 1)]


# ---------------------------------------------------------------- snapshot, frames


def test_stats_snapshot_for_one_week(session: Session) -> None:
    build_city(session)
    end_of_week = hanoi(8, 8, 23, 59)
    snap = queries.stats_snapshot(
        session, as_of=end_of_week, date_from=date(2024, 8, 5), date_to=date(2024, 8, 11)
    )
    # Week of 5-11 Aug: D E F G L M on-site, I procedure.
    assert snap.by_kind[Kind.ONSITE] == counts(6, 1, 1, 0, 4, 0, 0)
    assert snap.by_kind[Kind.PROCEDURE] == counts(1, 0, 0, 1, 0, 0, 0)
    assert snap.satisfaction == SatisfactionCounts()
    assert snap.to_dict()["as_of"] == "2024-08-08T23:59:00+07:00"
    assert [u.unit_code for u in snap.by_unit] == ["002", "VP-UBND", "001"]  # open 2, 2, 1


def test_frames_for_the_notebook(session: Session) -> None:
    build_city(session)
    table = queries.category_district_frame(session, as_of=AS_OF)
    assert table.loc["ve_sinh_moi_truong", "Hoàn Kiếm"] == 1  # L
    assert table.loc["ve_sinh_moi_truong", "Ba Đình"] == 1  # M
    assert table.loc["ve_sinh_moi_truong", queries.NO_DISTRICT_LABEL] == 3  # A D F
    assert table.loc["giao_thong", "Hoàn Kiếm"] == 0
    assert int(table.to_numpy().sum()) == 13

    overdue = queries.overdue_by_unit_frame(session, as_of=AS_OF)
    assert list(overdue["unit_code"]) == ["001", "002", "VP-UBND"]
    assert overdue.loc[0, "overdue_share"] == pytest.approx(2 / 3)  # J K of J K M
    assert overdue.loc[2, "overdue_share"] == 0.0
