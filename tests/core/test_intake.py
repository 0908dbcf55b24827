"""The overview's figures, live feed and dispatcher queues, on the city of test_performance.

Reminder of the reports that matter here (times Hanoi, 2024; see `build_overdue_city`):
this ISO week (Mon 5 - Sun 11 Aug) E (Thu 09:00, waiting at 002), L (Thu 16:00, no
location), N (Mon 09:00, bounced twice, returned), P (submitted Fri 06:30 = Thu 23:30
UTC, received Fri 09:45, no location) and M (procedure, Fri 08:30, city level).
NOW = Fri 9 Aug 11:00.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import Session

from ihanoi_core import intake, queries
from ihanoi_core.intake import feed_interval_seconds
from ihanoi_core.queries import BucketCounts
from ihanoi_core.vocab import Kind, RoutingFlag, Status
from tests.core.test_performance import AS_OF, build_overdue_city, hanoi

NOW = AS_OF


def counts(*values: int) -> BucketCounts:
    """total, processed, refused, processing, pending, overdue_open, resolved_late."""
    return BucketCounts(*values)


# ------------------------------------------------------------------ summary


def test_intake_summary_now(session: Session) -> None:
    build_overdue_city(session)
    s = intake.intake_summary(session, now=NOW)
    assert (s.day, s.week_start) == (date(2024, 8, 9), date(2024, 8, 5))
    # Today: P (06:30 in Hanoi is still Friday, although Thursday in UTC) and M.
    assert s.today == {
        Kind.ONSITE: counts(1, 0, 0, 0, 1, 0, 0),
        Kind.PROCEDURE: counts(1, 0, 0, 0, 1, 0, 0),
    }
    # This week: E L N P waiting for a unit or the dispatcher; M.
    assert s.week == {
        Kind.ONSITE: counts(4, 0, 0, 0, 4, 0, 0),
        Kind.PROCEDURE: counts(1, 0, 0, 0, 1, 0, 0),
    }
    assert (s.today_total, s.week_total) == (2, 5)
    # Every report: on-site A B J published (B late), F refused, C H O assigned, D E G I L
    # N P Q pending; overdue C D G H I O. Procedure: K (overdue) and M pending.
    assert s.all_time == {
        Kind.ONSITE: counts(15, 3, 1, 3, 8, 6, 1),
        Kind.PROCEDURE: counts(2, 0, 0, 0, 2, 1, 0),
    }
    assert s.overdue_open == 7
    # 8 working hours from Fri 11:00 end on Mon 12 Aug 11:00: Q (due Fri 15:00) is due
    # soon; N (due Mon 12:00) just misses the cutoff.
    assert s.due_soon_cutoff == hanoi(8, 12, 11)
    assert s.due_soon == 1


def test_intake_summary_early_morning_reads_the_history(session: Session) -> None:
    build_overdue_city(session)
    s = intake.intake_summary(session, now=hanoi(8, 9, 7))
    # At 07:00 P was written (06:30) but not yet received (09:45): not in the system.
    assert s.today == {Kind.ONSITE: counts(), Kind.PROCEDURE: counts()}
    assert s.week[Kind.ONSITE] == counts(3, 0, 0, 0, 3, 0, 0)  # E L N
    assert s.week[Kind.PROCEDURE] == counts()
    # G (returned, due 10:00) is not overdue yet: C D H I O + K.
    assert s.overdue_open == 6
    # Offices open at 08:00: the cutoff is Fri 17:00; G (10:00) and Q (15:00) due soon.
    assert (s.due_soon_cutoff, s.due_soon) == (hanoi(8, 9, 17), 2)


def test_intake_summary_agrees_with_the_statistics(session: Session) -> None:
    build_overdue_city(session)
    s = intake.intake_summary(session, now=NOW)
    week = queries.bucket_counts(
        session, as_of=NOW, filt=queries.ReportFilter(date_from=s.week_start, date_to=s.day)
    )
    assert s.week == week
    assert s.all_time == queries.bucket_counts(session, as_of=NOW)


def test_intake_summary_on_an_empty_database(session: Session) -> None:
    s = intake.intake_summary(session, now=NOW)
    assert s.today == s.week == s.all_time == {Kind.ONSITE: counts(), Kind.PROCEDURE: counts()}
    assert (s.overdue_open, s.due_soon) == (0, 0)


def test_naive_now_is_refused(session: Session) -> None:
    with pytest.raises(ValueError, match="naive"):
        intake.intake_summary(session, now=NOW.replace(tzinfo=None))


# ------------------------------------------------------------------ live feed


def test_recent_reports_newest_received_first(session: Session) -> None:
    city = build_overdue_city(session)
    rows = intake.recent_reports(session, since=hanoi(8, 8, 12), limit=10)
    # P was written before M but reached the system after it.
    assert [r.code for r in rows] == [city.codes[k] for k in ("P", "M", "L")]
    p = rows[0]
    assert (p.kind, p.status, p.routing_flag, p.unit_name) == (
        Kind.ONSITE,
        Status.RECEIVED,
        RoutingFlag.NO_LOCATION,
        "Văn phòng UBND Thành phố",
    )
    assert p.submitted_at == hanoi(8, 9, 6, 30)
    assert p.received_at == hanoi(8, 9, 9, 45)
    assert rows[1].routing_flag is RoutingFlag.CITY_LEVEL
    # (categories.yaml cuts this name at its comma today; either spelling starts so)
    assert rows[1].category_name_vi.startswith("Hộ tịch")
    assert [r.code for r in intake.recent_reports(session, since=None, limit=2)] == [
        city.codes["P"],
        city.codes["M"],
    ]
    before_p = intake.recent_reports(session, since=hanoi(8, 8, 12), until=hanoi(8, 9, 9))
    assert [r.code for r in before_p] == [city.codes["M"], city.codes["L"]]


def test_live_feed_is_what_the_panel_shows_on_each_tick(session: Session) -> None:
    city = build_overdue_city(session)
    opened = hanoi(8, 9, 8)  # the dispatcher opened the page at 08:00
    at_nine = intake.live_feed(session, now=hanoi(8, 9, 9), since=opened, limit=3)
    assert [r.code for r in at_nine.rows] == [city.codes[k] for k in ("M", "L", "E")]
    assert at_nine.new_count == 1  # M
    assert at_nine.today == {Kind.ONSITE: 0, Kind.PROCEDURE: 1}

    # Next tick, after P came in: it tops the list and the counters move.
    later = intake.live_feed(session, now=NOW, since=opened, limit=3)
    assert [r.code for r in later.rows] == [city.codes[k] for k in ("P", "M", "L")]
    assert later.new_count == 2  # M P
    assert later.today == {Kind.ONSITE: 1, Kind.PROCEDURE: 1}
    assert later.today_total == 2
    # The feed's "today" is the summary's "today".
    summary = intake.intake_summary(session, now=NOW)
    assert later.today == {k: c.total for k, c in summary.today.items()}
    assert intake.live_feed(session, now=NOW).new_count == 0  # no "since": nothing is new


# ---------------------------------------------------------- dispatcher queues


def test_unrouted_reports_oldest_first_with_their_reason(session: Session) -> None:
    city = build_overdue_city(session)
    page = intake.unrouted_reports(session, now=NOW)
    assert page.total == 3
    assert [(r.code, r.routing_flag) for r in page.rows] == [
        (city.codes["L"], RoutingFlag.NO_LOCATION),
        (city.codes["M"], RoutingFlag.CITY_LEVEL),
        (city.codes["P"], RoutingFlag.NO_LOCATION),
    ]
    assert page.rows[0].waiting_since == hanoi(8, 8, 16)
    assert page.rows[0].refused_by_unit_name is None
    assert page.rows[1].kind is Kind.PROCEDURE


def test_unrouted_reports_are_paginated(session: Session) -> None:
    city = build_overdue_city(session)
    first = intake.unrouted_reports(session, now=NOW, limit=2)
    second = intake.unrouted_reports(session, now=NOW, limit=2, offset=2)
    assert [r.code for r in first.rows] == [city.codes["L"], city.codes["M"]]
    assert [r.code for r in second.rows] == [city.codes["P"]]
    assert first.total == second.total == 3


def test_returned_reports_name_the_refusing_unit_and_reason(session: Session) -> None:
    city = build_overdue_city(session)
    page = intake.returned_reports(session, now=NOW)
    got = [
        (r.code, r.refused_by_unit_name, r.reason, r.waiting_since, r.is_overdue, r.bounce_count)
        for r in page.rows
    ]
    assert got == [
        (city.codes["G"], "Hoàn Kiếm", "Không thuộc thẩm quyền", hanoi(8, 2, 11), True, 1),
        # N's last refusal was Ba Đình's, after Hoàn Kiếm's.
        (
            city.codes["N"],
            "Ba Đình",
            "Thuộc thẩm quyền Công an Thành phố",
            hanoi(8, 5, 13),
            False,
            2,
        ),
    ]
    assert page.rows[0].refused_by_unit_id == city.units["002"]
    assert page.total == 2


def test_bounced_reports_list_every_refusing_unit(session: Session) -> None:
    city = build_overdue_city(session)
    page = intake.bounced_reports(session, now=NOW)
    assert [(r.code, r.bounce_count, r.refusing_units) for r in page.rows] == [
        (city.codes["N"], 2, ("Hoàn Kiếm", "Ba Đình"))
    ]
    # G bounced once only: a single refusal is ordinary dispatching, not a problem.
    assert city.codes["G"] not in {r.code for r in page.rows}


def test_overview_bundles_summary_and_queues_in_one_call(session: Session) -> None:
    city = build_overdue_city(session)
    view = intake.overview(session, now=NOW, queue_limit=2)
    assert view.summary == intake.intake_summary(session, now=NOW)
    queues = view.queues
    assert (queues.unrouted.total, queues.returned.total, queues.bounced.total) == (3, 2, 1)
    assert [r.code for r in queues.unrouted.rows] == [city.codes["L"], city.codes["M"]]


def test_queues_are_empty_on_an_empty_database(session: Session) -> None:
    queues = intake.dispatcher_queues(session, now=NOW)
    assert queues.unrouted == intake.QueuePage([], 0, intake.DEFAULT_QUEUE_LIMIT)
    assert queues.returned.total == queues.bounced.total == 0


# ------------------------------------------------------------------ settings


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, 5.0),
        ("", 5.0),
        ("10", 10.0),
        (2.5, 2.5),
        ("0", None),
        ("off", None),
        (0, None),
        ("0.2", 1.0),  # never faster than once a second
        ("abc", 5.0),
        ("-3", 5.0),
        ("nan", 5.0),
    ],
)
def test_feed_interval_from_a_setting(value: str | float | None, seconds: float | None) -> None:
    assert feed_interval_seconds(value) == seconds
