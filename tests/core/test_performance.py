"""Unit performance and overdue lists on a small city whose figures were counted by hand.

`build_overdue_city` is also the dataset of the intake, letter and page tests. Times
are Hanoi local, 2024; the working calendar is 08-12 and 13-17, Mon-Fri (no holiday
in July-August 2024 before 2/9). Limits: on-site normal 40 working hours, procedure
normal 80, counted from the arrival at the unit. AS_OF = Fri 9 Aug 11:00.

    key kind  unit at AS_OF  story (times local)                       due (local)
    A   ons.  002            Mon 29/07 09:00; arrives 10:00, published  Mon 05/08 10:00
                             14:00 (3 working h)
    B   ons.  002            Mon 22/07 09:00, a step every 48 h: arrives Wed 31/07 09:00
                             Wed 24/07 09:00, published Thu 01/08 09:00:
                             LATE (48 working h)
    C   ons.  002            Tue 23/07 09:00; arrives 10:00, assigned:  Tue 30/07 10:00
                             OVERDUE 10 d 1 h -> 11 days
    D   ons.  002            Wed 24/07 14:00; arrives 15:00, waiting:   Wed 31/07 15:00
                             OVERDUE 8 d 20 h -> 9 days
    E   ons.  002            Thu 08/08 09:00; arrives 10:00, waiting    Thu 15/08 10:00
    F   ons.  002            Thu 01/08 09:00; arrives 10:00, refused    Thu 08/08 10:00
                             (inaccurate) 12:00 (2 working h)
    Q   ons.  002            Fri 02/08 14:00; arrives 15:00, waiting    Fri 09/08 15:00
                             (DUE SOON at AS_OF)
    G   ons.  office         Fri 02/08 09:00; at 002 10:00, returned    Fri 09/08 10:00
                             "not ours" by 002 11:00: OVERDUE 1 h -> 1 day
    H   ons.  001            Mon 22/07 09:00; arrives 10:00, assigned:  Mon 29/07 10:00
                             OVERDUE 11 d 1 h -> 12 days
    I   ons.  001            Tue 23/07 09:00; arrives 10:00, waiting:   Tue 30/07 10:00
                             OVERDUE -> 11 days
    J   ons.  001            Thu 25/07 09:00; arrives 10:00, published  Thu 01/08 10:00
                             15:00 (4 working h)
    K   proc. SXD            Mon 22/07 09:00, routed to Sở Xây dựng by  Mon 05/08 09:00
                             its category, waiting: OVERDUE 4 d 2 h -> 5 days
    L   ons.  office         Thu 08/08 16:00, no location: unrouted
    M   proc. office         Fri 09/08 08:30, city level: unrouted
    N   ons.  office         Mon 05/08 09:00; 002 refuses "not ours"    Mon 12/08 12:00
                             11:00, 001 refuses 13:00: returned,
                             BOUNCED twice
    P   ons.  office         submitted Fri 09/08 06:30 (Thu 23:30 UTC),
                             received 09:45, no location: unrouted
    O   ons.  002            Mon 08/07 09:00 (before the period):       Mon 15/07 10:00
                             assigned, OVERDUE

PERIOD = 15/07-09/08 (O is outside). Units: 002 = quận Hoàn Kiếm (the cast's unit),
001 = quận Ba Đình, SXD = Sở Xây dựng, VP-UBND = the city office.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pytest
from sqlmodel import Session

from ihanoi_core import performance, queries
from ihanoi_core.config import HANOI_TZ
from ihanoi_core.models import Report
from ihanoi_core.performance import UnitRow, days_overdue, formal_unit_name
from ihanoi_core.vocab import Action, Kind, Priority, Status, UnitKind
from tests.factories import Cast, make_report, report_in, step, unit_id


def hanoi(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, month, day, hour, minute, tzinfo=HANOI_TZ)


AS_OF = hanoi(8, 9, 11)  # Fri 9 Aug 11:00
PERIOD = (date(2024, 7, 15), date(2024, 8, 9))
PAST = hanoi(7, 31, 12)  # Wed 31 Jul 12:00: B approved, not yet published


@dataclass
class OverdueCity:
    cast: Cast
    ids: dict[str, int] = field(default_factory=dict)
    codes: dict[str, str] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)
    units: dict[str, int] = field(default_factory=dict)  # "002", "001", "SXD", "VP-UBND"

    def keep(self, key: str, report: Report) -> None:
        assert report.id is not None
        self.ids[key] = report.id
        self.codes[key] = report.code
        self.titles[key] = report.title


def build_overdue_city(session: Session) -> OverdueCity:
    """The reports of the module docstring, through the real services and workflow."""
    cast = Cast(session, hanoi(7, 1, 8))
    city = OverdueCity(cast)
    for code in ("002", "001", "SXD", "VP-UBND"):
        city.units[code] = unit_id(session, code)
    h = timedelta(hours=1)

    def at_002(key: str, status: Status, now: datetime, title: str, **kw: object) -> None:
        city.keep(key, report_in(session, cast, status, now, title=title, **kw))  # type: ignore[arg-type]

    at_002("A", Status.PUBLISHED, hanoi(7, 29, 9), "Rác thải tập kết sai quy định ở ngõ Hàng Bè")
    at_002(
        "B",
        Status.PUBLISHED,
        hanoi(7, 22, 9),
        "Lấn chiếm vỉa hè phố Hàng Đồng",
        hours_per_step=48,
        category_code="lan_chiem_via_he",
    )
    at_002(
        "C",
        Status.ASSIGNED,
        hanoi(7, 23, 9),
        "Xây dựng trái phép tại phố Hàng Bạc",
        category_code="xay_dung_trai_phep",
    )
    at_002("D", Status.WAITING, hanoi(7, 24, 14), "Đổ trộm phế thải ở phố Lò Sũ")
    at_002("E", Status.WAITING, hanoi(8, 8, 9), "Rác thải ven hồ Hoàn Kiếm")
    at_002("F", Status.REFUSED, hanoi(8, 1, 9), "Phản ánh không rõ nội dung")
    at_002("Q", Status.WAITING, hanoi(8, 2, 14), "Ổ gà trên phố Hàng Khay")
    at_002(
        "G",
        Status.RETURNED,
        hanoi(8, 2, 9),
        "Đèn chiếu sáng công cộng hỏng ở phố Hàng Gai",
        category_code="chieu_sang",
    )
    at_002("O", Status.ASSIGNED, hanoi(7, 8, 9), "Phản ánh cũ trước kỳ báo cáo")

    other = city.units["001"]

    def at_001(key: str, now: datetime, title: str, until: Status) -> None:
        r = make_report(session, now, title=title)
        r = step(session, r, Action.DISPATCH, cast.dispatcher, now + h, to_unit_id=other)
        if until is not Status.WAITING:
            r = step(
                session,
                r,
                Action.ASSIGN,
                cast.other_leader,
                now + 2 * h,
                assignee_id=cast.other_officer.user_id,
                priority=Priority.NORMAL,
            )
        if until is Status.PUBLISHED:
            r = step(
                session,
                r,
                Action.DRAFT,
                cast.other_officer,
                now + 4 * h,
                result_text="Đã kiểm tra, xử lý xong.",
            )
            r = step(session, r, Action.APPROVE, cast.other_leader, now + 5 * h)
            r = step(session, r, Action.PUBLISH, cast.other_leader, now + 6 * h, is_public=True)
        city.keep(key, r)

    at_001("H", hanoi(7, 22, 9), "Cây xanh nguy hiểm trên phố Đội Cấn", Status.ASSIGNED)
    at_001("I", hanoi(7, 23, 9), "Đèn chiếu sáng hỏng ở phố Kim Mã", Status.WAITING)
    at_001("J", hanoi(7, 25, 9), "Ngập úng ngõ 307 Giảng Võ", Status.PUBLISHED)

    city.keep(
        "K",
        make_report(
            session,
            hanoi(7, 22, 9),
            kind="procedure",
            category_code="tthc_xay_dung",
            title="Chậm cấp giấy phép xây dựng nhà ở riêng lẻ",
        ),
    )
    city.keep("L", make_report(session, hanoi(8, 8, 16), title="Tiếng ồn về đêm, không rõ vị trí"))
    city.keep(
        "M",
        make_report(
            session,
            hanoi(8, 9, 8, 30),
            kind="procedure",
            category_code="tthc_ho_tich",
            title="Chậm trả kết quả chứng thực",
        ),
    )
    n = make_report(session, hanoi(8, 5, 9), title="Xe tải đỗ sai quy định cả ngày")
    n = step(session, n, Action.DISPATCH, cast.dispatcher, hanoi(8, 5, 10), to_unit_id=cast.unit_id)
    n = step(
        session,
        n,
        Action.REFUSE_NOT_OURS,
        cast.unit_leader,
        hanoi(8, 5, 11),
        reason="Không thuộc địa bàn quận Hoàn Kiếm",
    )
    n = step(session, n, Action.DISPATCH, cast.dispatcher, hanoi(8, 5, 12), to_unit_id=other)
    n = step(
        session,
        n,
        Action.REFUSE_NOT_OURS,
        cast.other_leader,
        hanoi(8, 5, 13),
        reason="Thuộc thẩm quyền Công an Thành phố",
    )
    city.keep("N", n)
    city.keep(
        "P",
        make_report(
            session,
            hanoi(8, 9, 9, 45),
            title="Phản ánh gửi lúc sáng sớm",
            submitted_at=hanoi(8, 9, 6, 30),
        ),
    )
    session.flush()
    return city


def line(u: UnitRow) -> tuple[object, ...]:
    return (
        u.unit_code,
        u.received,
        u.processed,
        u.refused,
        u.processing,
        u.pending,
        u.overdue_open,
        u.resolved_late,
        u.returned_not_ours,
    )


# ------------------------------------------------------------------ the dataset


def test_the_dataset_is_what_the_docstring_says(session: Session) -> None:
    city = build_overdue_city(session)
    expected = {
        "A": ("published", "002", "2024-08-05 10:00"),
        "B": ("published", "002", "2024-07-31 09:00"),
        "C": ("assigned", "002", "2024-07-30 10:00"),
        "D": ("waiting", "002", "2024-07-31 15:00"),
        "E": ("waiting", "002", "2024-08-15 10:00"),
        "F": ("refused", "002", "2024-08-08 10:00"),
        "Q": ("waiting", "002", "2024-08-09 15:00"),
        "G": ("returned", "VP-UBND", "2024-08-09 10:00"),
        "H": ("assigned", "001", "2024-07-29 10:00"),
        "I": ("waiting", "001", "2024-07-30 10:00"),
        "J": ("published", "001", "2024-08-01 10:00"),
        "K": ("waiting", "SXD", "2024-08-05 09:00"),
        "L": ("received", "VP-UBND", None),
        "M": ("received", "VP-UBND", None),
        "N": ("returned", "VP-UBND", "2024-08-12 12:00"),
        "P": ("received", "VP-UBND", None),
        "O": ("assigned", "002", "2024-07-15 10:00"),
    }
    by_id = {v: k for k, v in city.units.items()}
    for key, (status, unit, due) in expected.items():
        r = session.get(Report, city.ids[key])
        assert r is not None
        local_due = r.due_at.astimezone(HANOI_TZ).strftime("%Y-%m-%d %H:%M") if r.due_at else None
        assert (r.status, by_id.get(r.current_unit_id or 0), local_due) == (status, unit, due), key
    n = session.get(Report, city.ids["N"])
    assert n is not None and n.bounce_count == 2


# ------------------------------------------------------------------ the table


def test_unit_performance_worst_first_with_hand_counted_figures(session: Session) -> None:
    build_overdue_city(session)
    rows = performance.unit_performance(
        session, date_from=PERIOD[0], date_to=PERIOD[1], as_of=AS_OF
    )
    # code, received, processed, refused, processing, pending, overdue, late, returned
    assert [line(u) for u in rows] == [
        # Ba Đình: H (assigned) and I (waiting) overdue, J published; N refused as not ours.
        ("001", 3, 1, 0, 1, 1, 2, 0, 1),
        # Hoàn Kiếm: A B published (B late), F refused, C assigned, D E Q waiting (C D
        # overdue); G and N refused as not ours. O is outside the period.
        ("002", 7, 2, 1, 1, 3, 2, 1, 2),
        # Sở Xây dựng: K waiting, overdue.
        ("SXD", 1, 0, 0, 0, 1, 1, 0, 0),
        # City office: G N returned, L M P unrouted; G overdue since 10:00.
        ("VP-UBND", 5, 0, 0, 0, 5, 1, 0, 0),
    ]
    # Ties on overdue (001 and 002 have 2) are broken by the overdue rate: 2/3 > 3/7.
    rates = [u.overdue_rate for u in rows]
    assert rates == [pytest.approx(2 / 3), pytest.approx(3 / 7), 1.0, pytest.approx(1 / 5)]
    # Median working hours from arrival to finish: 002 has A 3 h, B 48 h, F 2 h; 001 has
    # J 4 h (10-12, 13-15); the others finished nothing.
    medians = [(u.unit_code, u.median_handling_hours, u.handled) for u in rows]
    assert medians == [("001", 4.0, 1), ("002", 3.0, 3), ("SXD", None, 0), ("VP-UBND", None, 0)]
    names = [u.formal_name for u in rows]
    assert names == [
        "UBND quận Ba Đình",
        "UBND quận Hoàn Kiếm",
        "Sở Xây dựng",
        "Văn phòng UBND Thành phố",
    ]
    assert [u.is_city_office for u in rows] == [False, False, False, True]
    assert rows[2].unit_kind is UnitKind.DEPARTMENT


def test_the_counts_are_those_of_the_statistics(session: Session) -> None:
    build_overdue_city(session)
    filt = queries.ReportFilter(date_from=PERIOD[0], date_to=PERIOD[1])
    stats = {u.unit_code: u for u in queries.by_unit(session, as_of=AS_OF, filt=filt)}
    for row in performance.unit_performance(
        session, date_from=PERIOD[0], date_to=PERIOD[1], as_of=AS_OF
    ):
        s = stats[row.unit_code]
        assert (row.received, row.overdue_open, row.resolved_late, row.returned_not_ours) == (
            s.total,
            s.overdue_open,
            s.resolved_late,
            s.returned_not_ours,
        )


def test_without_a_period_older_reports_count_too(session: Session) -> None:
    build_overdue_city(session)
    rows = performance.unit_performance(session, date_from=None, date_to=None, as_of=AS_OF)
    # O (8 Jul, assigned, overdue) joins Hoàn Kiếm, which becomes the worst unit.
    assert [line(u) for u in rows][:2] == [
        ("002", 8, 2, 1, 2, 3, 3, 1, 2),
        ("001", 3, 1, 0, 1, 1, 2, 0, 1),
    ]


def test_a_short_period_keeps_only_its_reports(session: Session) -> None:
    build_overdue_city(session)
    # Week of 5-11 Aug: E (at 002), L M N P (at the office). N was refused by both units.
    rows = performance.unit_performance(
        session, date_from=date(2024, 8, 5), date_to=date(2024, 8, 11), as_of=AS_OF
    )
    assert [line(u) for u in rows] == [
        ("VP-UBND", 4, 0, 0, 0, 4, 0, 0, 0),
        ("002", 1, 0, 0, 0, 1, 0, 0, 1),
        ("001", 0, 0, 0, 0, 0, 0, 0, 1),
    ]
    assert rows[2].overdue_rate is None  # holds nothing: no rate, not 0 %


def test_a_past_moment_replays_the_history(session: Session) -> None:
    build_overdue_city(session)
    rows = performance.unit_performance(session, date_from=PERIOD[0], date_to=PERIOD[1], as_of=PAST)
    by_code = {u.unit_code: u for u in rows}
    # Wed 31 Jul 12:00: B approved (published only on 1 Aug) and past its 09:00 deadline,
    # C overdue; D due at 15:00. A published on 29 Jul. J published 25 Jul.
    assert line(by_code["002"]) == ("002", 4, 1, 0, 2, 1, 2, 0, 0)
    assert line(by_code["001"]) == ("001", 3, 1, 0, 1, 1, 2, 0, 0)
    # Only A had finished at 002 by then (B's 48 h came later).
    assert (by_code["002"].median_handling_hours, by_code["002"].handled) == (3.0, 1)


def test_naive_as_of_is_refused(session: Session) -> None:
    with pytest.raises(ValueError, match="naive"):
        performance.unit_performance(
            session, date_from=None, date_to=None, as_of=datetime(2024, 8, 9, 11)
        )


# ------------------------------------------------------------ overdue lists


def test_overdue_reports_of_a_unit_longest_overdue_first(session: Session) -> None:
    city = build_overdue_city(session)
    rows = performance.overdue_reports_of_unit(
        session, city.units["002"], AS_OF, date_from=PERIOD[0], date_to=PERIOD[1]
    )
    assert [(r.code, r.days_overdue, r.status) for r in rows] == [
        (city.codes["C"], 11, Status.ASSIGNED),  # due Tue 30/07 10:00: 10 d 1 h late
        (city.codes["D"], 9, Status.WAITING),  # due Wed 31/07 15:00: 8 d 20 h late
    ]
    assert rows[0].title == "Xây dựng trái phép tại phố Hàng Bạc"
    assert rows[0].formal_unit_name == "UBND quận Hoàn Kiếm"
    assert rows[0].due_at == hanoi(7, 30, 10)
    # Without a period O (due 15/07) comes first.
    everything = performance.overdue_reports_of_unit(session, city.units["002"], AS_OF)
    assert [r.code for r in everything] == [city.codes[k] for k in ("O", "C", "D")]


def test_overdue_lists_match_the_table_for_every_unit(session: Session) -> None:
    build_overdue_city(session)
    table = performance.unit_performance(
        session, date_from=PERIOD[0], date_to=PERIOD[1], as_of=AS_OF
    )
    listed = performance.overdue_reports(
        session, as_of=AS_OF, date_from=PERIOD[0], date_to=PERIOD[1], limit=None
    )
    per_unit: dict[int, int] = {}
    for r in listed:
        per_unit[r.unit_id] = per_unit.get(r.unit_id, 0) + 1
    assert per_unit == {u.unit_id: u.overdue_open for u in table if u.overdue_open}


def test_overdue_at_a_past_moment_uses_the_history(session: Session) -> None:
    city = build_overdue_city(session)
    rows = performance.overdue_reports(session, as_of=PAST, date_from=PERIOD[0], date_to=PERIOD[1])
    # At Wed 31/07 12:00 B was approved, not yet published, and 3 h past its deadline:
    # overdue then although it is finished now. D was due at 15:00 that day.
    got = [(r.unit_code, r.code, r.days_overdue, r.status) for r in rows]
    assert got == [
        ("001", city.codes["H"], 3, Status.ASSIGNED),  # due 29/07 10:00: 2 d 2 h
        ("001", city.codes["I"], 2, Status.WAITING),  # due 30/07 10:00: 1 d 2 h
        ("002", city.codes["C"], 2, Status.ASSIGNED),
        ("002", city.codes["B"], 1, Status.APPROVED),
    ]


def test_events_and_columns_give_the_same_list_now(session: Session) -> None:
    city = build_overdue_city(session)
    assert queries.resolve_source(session, as_of=AS_OF) == "columns"
    lists = [
        [
            (r.code, r.unit_code, r.status, r.due_at, r.days_overdue)
            for r in performance.overdue_reports(session, as_of=AS_OF, limit=None, source=source)
        ]
        for source in ("events", "columns")
    ]
    assert lists[0] == lists[1]
    # Without a period: H I (001), C D O (002), K (SXD), G (office).
    assert sorted(code for code, *_ in lists[0]) == sorted(
        city.codes[k] for k in ("C", "D", "G", "H", "I", "K", "O")
    )


def test_the_list_is_limited_and_unit_filters_apply(session: Session) -> None:
    city = build_overdue_city(session)
    assert len(performance.overdue_reports(session, as_of=AS_OF, limit=2)) == 2
    assert performance.overdue_reports(session, as_of=AS_OF, unit_ids=[]) == []
    only = performance.overdue_reports(session, as_of=AS_OF, unit_ids=[city.units["SXD"]])
    assert [(r.code, r.days_overdue, r.kind) for r in only] == [
        (city.codes["K"], 5, Kind.PROCEDURE)
    ]


def test_units_view_is_the_table_plus_the_chosen_unit(session: Session) -> None:
    city = build_overdue_city(session)
    view = performance.units_view(
        session, date_from=PERIOD[0], date_to=PERIOD[1], as_of=AS_OF, unit_id=city.units["001"]
    )
    assert [u.unit_code for u in view.rows] == ["001", "002", "SXD", "VP-UBND"]
    assert [r.code for r in view.overdue] == [city.codes["H"], city.codes["I"]]
    assert [r.days_overdue for r in view.overdue] == [12, 11]
    assert (
        performance.units_view(session, date_from=PERIOD[0], date_to=PERIOD[1], as_of=AS_OF).overdue
        == []
    )


# ------------------------------------------------------------------ helpers


@pytest.mark.parametrize(
    ("due", "as_of", "days"),
    [
        (hanoi(8, 9, 10), hanoi(8, 9, 10), 0),  # at the deadline: not late yet
        (hanoi(8, 9, 10), hanoi(8, 9, 10, 1), 1),  # one minute late: first day
        (hanoi(8, 8, 10), hanoi(8, 9, 10), 1),  # exactly 24 h
        (hanoi(8, 8, 10), hanoi(8, 9, 10, 1), 2),
    ],
)
def test_days_overdue_counts_started_days(due: datetime, as_of: datetime, days: int) -> None:
    assert days_overdue(due, as_of) == days


@pytest.mark.parametrize(
    ("kind", "level", "name", "formal"),
    [
        ("district", "quan", "Hoàn Kiếm", "UBND quận Hoàn Kiếm"),
        ("district", "huyen", "Đông Anh", "UBND huyện Đông Anh"),
        ("district", "thi_xa", "Sơn Tây", "UBND thị xã Sơn Tây"),
        ("commune", "phuong", "Hoàn Kiếm", "UBND phường Hoàn Kiếm"),
        ("commune", "xa", "Sóc Sơn", "UBND xã Sóc Sơn"),
        ("department", None, "Sở Xây dựng", "Sở Xây dựng"),
        ("district", None, "Mới", "UBND Mới"),
    ],
)
def test_formal_unit_names(kind: str, level: str | None, name: str, formal: str) -> None:
    assert formal_unit_name(kind, level, name) == formal
