"""The weekly review report on the 13-report city of `test_queries.build_city`.

Week 32 of 2024 is Mon 5 Aug – Sun 11 Aug; week 31 is Mon 29 Jul – Sun 4 Aug. Counted
by hand from the table in `test_queries`' docstring:

* W32 (submitted 5–11 Aug: D E F G L M on-site, I procedure), as of the end of 11 Aug:
  on-site 6 = 1 processed (L) + 1 refused (E) + 0 processing + 4 pending (D F G M);
  procedure 1 = 1 processing (I drafted); nothing overdue or late yet; no rating.
* W31 (submitted 29 Jul–4 Aug: B on-site, H procedure), as of the end of 4 Aug: both
  published; B late (18:00 against 15:00) and rated unsatisfied; H on time, unrated.
  (A was submitted on Sunday 28 Jul, in W30.)

Cumulative ("lũy kế", `stats --to <Sunday>`): every report submitted by the end of
Sunday, as of then.

* end of W32 (11 Aug): all 13. On-site 11 = processed A B L, refused E, processing
  C J, pending D F G K M; overdue C J K (due 1 Aug); late B. Procedure 2 = H
  processed, I processing. Ratings: A satisfied, B unsatisfied.
* end of W31 (4 Aug): A B C J K on-site (A B published, C J assigned, K waiting;
  C J K overdue, B late), H procedure published; A and B rated (1 Aug).

Units' workload of the week (open at the end of the week, or finished during it):

* W32: open C D F G I J K M, finished in the week E L (A B H finished on 1 Aug are
  not). 002 Hoàn Kiếm: C D E I L = 5 (L processed, E refused, C I processing, D
  pending; C overdue; returned G "not ours" on 8 Aug); 001 Ba Đình: J K M = 3
  (J processing, K M pending; J K overdue); city office: F G = 2 pending.
  Handling time of 002's results of the week: E 11:00 → 13:00 = 1 working hour
  (lunch 12–13), L 10:00 → 14:00 = 3; median 2.
* W31: open C J K, finished in the week A B H. 002: A B C H = 4 (C overdue, B late);
  001: J K = 2, both overdue.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlmodel import Session, select

from ihanoi_core import queries, weekly
from ihanoi_core.cli import main
from ihanoi_core.config import HANOI_TZ
from ihanoi_core.db import get_engine
from ihanoi_core.models import Report
from ihanoi_core.performance import UnitRow
from ihanoi_core.queries import BucketCounts, ReportFilter, SatisfactionCounts, Step
from ihanoi_core.vocab import Kind, UnitKind
from ihanoi_core.weekly import IsoWeek, WeekError, build_weekly_report, parse_week
from tests.core.test_queries import City, build_city, hanoi

LATER = datetime(2024, 9, 2, 3, 0, tzinfo=UTC)  # Mon 2 Sep 10:00 Hanoi: W31, W32 are over
W32, W31 = IsoWeek(2024, 32), IsoWeek(2024, 31)


def counts(*values: int) -> BucketCounts:
    """total, processed, refused, processing, pending, overdue_open, resolved_late."""
    return BucketCounts(*values)


@pytest.fixture
def city(session: Session) -> City:
    built = build_city(session)
    session.commit()
    return built


# ------------------------------------------------------------------ weeks


@pytest.mark.parametrize(
    ("text", "week"),
    [("2024-W32", (2024, 32)), ("2024w05", (2024, 5)), (" 2020-W53 ", (2020, 53))],
)
def test_parse_week_accepts_iso_weeks(text: str, week: tuple[int, int]) -> None:
    assert parse_week(text) == IsoWeek(*week)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2024-32", "format"),
        ("W32-2024", "format"),
        ("2024-08-05", "format"),
        ("", "format"),
        ("2024-W00", "range"),
        ("2021-W53", "range"),  # 2021 has 52 ISO weeks
        ("2024-W54", "range"),
    ],
)
def test_parse_week_refuses_anything_else_with_a_typed_error(text: str, reason: str) -> None:
    with pytest.raises(WeekError) as caught:
        parse_week(text)
    assert (caught.value.text, caught.value.reason) == (text, reason)


def test_a_week_runs_from_monday_midnight_to_monday_midnight_in_hanoi() -> None:
    assert (W32.key, W32.monday, W32.sunday) == ("2024-W32", date(2024, 8, 5), date(2024, 8, 11))
    assert W32.start == datetime(2024, 8, 4, 17, 0, tzinfo=UTC)  # Mon 00:00 at UTC+7
    assert W32.end == datetime(2024, 8, 11, 17, 0, tzinfo=UTC)
    assert W32.last_moment == datetime(2024, 8, 11, 23, 59, 59, 999999, tzinfo=HANOI_TZ)
    assert W32.previous() == W31
    assert IsoWeek(2025, 1).previous() == IsoWeek(2024, 52)
    assert IsoWeek(2020, 53).next() == IsoWeek(2021, 1)
    # Sunday 23:30 in Hanoi is still week 32 although it is Sunday 16:30 UTC
    assert weekly.week_containing(hanoi(8, 11, 23, 30)) == W32
    assert weekly.week_containing(hanoi(8, 12, 0, 0)) == IsoWeek(2024, 33)


def test_default_week_is_the_last_complete_week_before_the_latest_event(
    session: Session, city: City
) -> None:
    # The city's last event is on Thu 8 Aug (W32): W31 is the last complete week,
    # whatever today's date.
    assert weekly.default_week(session, now=LATER) == W31
    assert weekly.default_week(session, now=hanoi(8, 6, 9)) == W31  # now in W32 too


def test_every_week_since_the_first_report_can_be_picked(session: Session, city: City) -> None:
    """A meeting may ask for any week since launch, not only the last year's."""
    first = min(r.submitted_at for r in session.exec(select(Report)))
    weeks = weekly.week_choices(session, now=LATER)
    assert weeks[0] == weekly.week_containing(hanoi(8, 8, 12))  # the latest event's week
    assert weeks[-1] == weekly.week_containing(first)
    assert [w.previous() for w in weeks[:-1]] == weeks[1:]  # newest first, none skipped


# ------------------------------------------------------------------ the figures


def test_week_32_buckets_change_and_satisfaction(session: Session, city: City) -> None:
    report = build_weekly_report(session, W32, now=LATER)
    assert report.complete
    assert report.as_of == W32.last_moment
    assert report.by_kind == {
        Kind.ONSITE: counts(6, 1, 1, 0, 4, 0, 0),
        Kind.PROCEDURE: counts(1, 0, 0, 1, 0, 0, 0),
    }
    assert report.total == counts(7, 1, 1, 1, 4, 0, 0)
    assert report.previous.week == W31
    assert report.previous.as_of == W31.last_moment
    assert report.previous.by_kind == {
        Kind.ONSITE: counts(1, 1, 0, 0, 0, 0, 1),
        Kind.PROCEDURE: counts(1, 1, 0, 0, 0, 0, 0),
    }
    changes = report.changes()
    total = changes["total"]
    assert (total["total"].current, total["total"].previous, total["total"].delta) == (7, 2, 5)
    assert total["total"].share == pytest.approx(2.5)
    assert (total["processed"].delta, total["processed"].share) == (-1, -0.5)
    assert (total["pending"].delta, total["pending"].share) == (4, None)  # from zero: no %
    assert changes["onsite"]["resolved_late"].delta == -1
    assert report.satisfaction == SatisfactionCounts(0, 0, 0)
    assert report.previous.satisfaction == SatisfactionCounts(1, 0, 1)


def test_week_32_cumulative_figures_and_their_change(session: Session, city: City) -> None:
    report = build_weekly_report(session, W32, now=LATER)
    assert report.cumulative.as_of == W32.last_moment
    assert report.cumulative.by_kind == {
        Kind.ONSITE: counts(11, 3, 1, 2, 5, 3, 1),
        Kind.PROCEDURE: counts(2, 1, 0, 1, 0, 0, 0),
    }
    assert report.cumulative.total == counts(13, 4, 1, 3, 5, 3, 1)
    assert report.cumulative.satisfaction == SatisfactionCounts(2, 1, 1)
    assert report.cumulative_previous.as_of == W31.last_moment
    assert report.cumulative_previous.by_kind == {
        Kind.ONSITE: counts(5, 2, 0, 2, 1, 3, 1),
        Kind.PROCEDURE: counts(1, 1, 0, 0, 0, 0, 0),
    }
    total = report.cumulative_changes()["total"]
    assert [(name, total[name].current, total[name].previous) for name in total] == [
        ("total", 13, 6),
        ("processed", 4, 3),
        ("refused", 1, 0),
        ("processing", 3, 2),
        ("pending", 5, 1),
        ("overdue_open", 3, 3),  # C J K were already overdue a week earlier
        ("resolved_late", 1, 1),
    ]
    assert total["pending"].share == pytest.approx(4.0)
    assert total["refused"].share is None  # from zero: no %


@pytest.mark.parametrize("path", ["split", "replay"])
def test_both_ways_of_reading_the_past_give_the_cumulative_figures(
    session: Session, city: City, path: weekly.PastStatePath
) -> None:
    """Replaying only the histories that moved after `as_of` (the others are read from
    their columns) gives what replaying every history gives."""
    # Thu 1 Aug 14:30 (test_queries' HIST, inside W31): A approved, B drafted, H
    # approved, C J assigned, K waiting; C J K past their 11:00 deadline.
    early = weekly.cumulative_figures(session, W31, as_of=hanoi(8, 1, 14, 30), path=path)
    assert early.by_kind == {
        Kind.ONSITE: counts(5, 0, 0, 4, 1, 3, 0),
        Kind.PROCEDURE: counts(1, 0, 0, 1, 0, 0, 0),
    }
    assert early.satisfaction == SatisfactionCounts(0, 0, 0)
    for week, moment in [
        (W31, hanoi(8, 1, 19)),
        (W31, W31.last_moment),
        (IsoWeek(2024, 30), IsoWeek(2024, 30).last_moment),
        (W32, hanoi(8, 8, 12)),
        (W32, LATER),
    ]:
        got = weekly.cumulative_figures(session, week, as_of=moment, path=path)
        filt = ReportFilter(date_to=week.sunday)
        assert got.by_kind == queries.bucket_counts(
            session, as_of=moment, filt=filt, source="events"
        ), (week, moment)
        assert got.satisfaction == queries.satisfaction(
            session, as_of=moment, filt=filt, source="events"
        )


def test_week_32_categories_and_units(session: Session, city: City) -> None:
    report = build_weekly_report(session, W32, now=LATER)
    assert [(c.category_code, c.count) for c in report.categories] == [
        ("ve_sinh_moi_truong", 4),  # D F L M
        ("giao_thong", 1),  # E
        ("thu_tuc_hanh_chinh", 1),  # I
        ("van_minh_do_thi", 1),  # G
    ]
    assert report.categories[0].share == pytest.approx(4 / 7)
    assert [
        (
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
        for u in report.units
    ] == [
        ("001", 3, 0, 0, 1, 2, 2, 0, 0),  # J K M; J K overdue
        ("002", 5, 1, 1, 2, 1, 1, 0, 1),  # C D E I L; C overdue; returned G
        ("VP-UBND", 2, 0, 0, 0, 2, 0, 0, 0),  # F G
    ]
    # the meeting chases the old backlog too, not only the week's intake
    assert [(u.unit_code, u.overdue_rate) for u in report.overdue_units] == [
        ("001", pytest.approx(2 / 3)),
        ("002", pytest.approx(1 / 5)),
    ]
    hoan_kiem = report.units[1]
    assert (hoan_kiem.median_handling_hours, hoan_kiem.handled) == (pytest.approx(2.0), 2)
    # only Hoàn Kiếm has 5 reports of workload: L and E finished on time, 2 of 5
    assert [(r.rank, r.unit.unit_code, r.on_time) for r in report.best] == [(1, "002", 2)]
    assert report.best[0].on_time_share == pytest.approx(0.4)
    assert report.worst == []


def test_overdue_by_unit_worst_first_in_week_31(session: Session, city: City) -> None:
    report = build_weekly_report(session, W31, now=LATER)
    assert [
        (u.unit_code, u.received, u.overdue_open, u.resolved_late) for u in report.overdue_units
    ] == [
        ("001", 2, 2, 0),  # J K
        ("002", 4, 1, 1),  # A B C H: C overdue, B published late
    ]
    assert [u.overdue_rate for u in report.overdue_units] == [1.0, 0.5]
    assert report.overdue_units[1].formal_name == "UBND quận Hoàn Kiếm"
    # A 11:00 → 15:00 and H 11:00 → 15:00 are 3 working hours, B 10:00 → 18:00 is 6
    assert report.overdue_units[1].median_handling_hours == pytest.approx(3.0)


def test_bottlenecks_of_week_32(session: Session, city: City) -> None:
    """The city office dispatched D, E, G and I on Thu 8 Aug, each 10:00 → 11:00
    (1 working hour), and L and M were routed on receipt (0 h): 6 stays, median and
    90th percentile 1 h. F (not routed) and G (returned) still sit with it."""
    report = build_weekly_report(session, W32, now=LATER)
    office = [b for b in report.bottlenecks if b.unit_code == "VP-UBND" and b.step is Step.DISPATCH]
    assert len(office) == 1
    cell = office[0]
    assert (cell.count, cell.open_count) == (6, 2)
    assert cell.median_hours == pytest.approx(1.0)
    assert cell.p90_hours == pytest.approx(1.0)


def test_a_running_week_is_read_as_of_now(session: Session, city: City) -> None:
    now = hanoi(8, 9, 10)  # Friday of W32
    report = build_weekly_report(session, W32, now=now)
    assert not report.complete
    assert report.as_of == now
    assert report.total.total == 7


def test_the_figures_are_json_with_the_weeks_numbers(session: Session, city: City) -> None:
    figures = build_weekly_report(session, W32, now=LATER).figures()
    again = json.loads(json.dumps(figures, allow_nan=False))
    assert again["week"] == "2024-W32"
    assert again["as_of"] == "2024-08-11T23:59:59.999999+07:00"
    assert again["total"]["pending"] == 4
    assert again["previous"]["by_kind"]["onsite"]["resolved_late"] == 1
    assert again["units"][1]["unit_name"] == "UBND quận Hoàn Kiếm"
    assert again["units_scope"] == "open_at_end_or_finished_in_week"
    assert again["cumulative"]["total"]["total"] == 13
    assert again["cumulative"]["as_of"] == "2024-08-11T23:59:59.999999+07:00"
    assert again["cumulative"]["previous"]["week"] == "2024-W31"
    assert again["cumulative"]["previous"]["total"]["processed"] == 3


def test_naive_now_is_refused(session: Session, city: City) -> None:
    with pytest.raises(ValueError, match="naive"):
        build_weekly_report(session, W32, now=datetime(2024, 9, 2))


# ------------------------------------------------------------------ ranking


def unit_row(
    code: str,
    received: int,
    processed: int,
    refused: int = 0,
    *,
    late: int = 0,
    overdue: int = 0,
    median: float | None = 10.0,
    kind: UnitKind = UnitKind.DISTRICT,
) -> UnitRow:
    open_ = received - processed - refused
    return UnitRow(
        unit_id=sum(map(ord, code)),
        unit_code=code,
        unit_name=code,
        unit_kind=kind,
        unit_level=None,
        formal_name=code,
        received=received,
        processed=processed,
        refused=refused,
        processing=open_,
        pending=0,
        overdue_open=overdue,
        resolved_late=late,
        returned_not_ours=0,
        overdue_rate=(overdue + late) / received,
        median_handling_hours=median,
        handled=processed + refused,
    )


def test_units_are_ranked_by_the_share_finished_on_time() -> None:
    units = [
        unit_row("A", 10, 8),  # 8/10 on time
        unit_row("B", 10, 8, late=4),  # 4/10: late results do not count
        unit_row("C", 10, 6, 3),  # 9/10: a refusal is an outcome
        unit_row("D", 4, 4),  # too few reports to rank
        unit_row("VP", 50, 50, kind=UnitKind.CITY_OFFICE),  # the office dispatches
        unit_row("E", 10, 2, overdue=3),  # 2/10, 3 overdue
        unit_row("F", 10, 2, overdue=1),  # 2/10, 1 overdue: better than E
        unit_row("G", 20, 16, median=30.0),  # 8/10 like A, slower: after A
        unit_row("H", 5, 4, median=None),  # 8/10, no measured time: after G
    ]
    best, worst = weekly.rank_units(units)
    assert [(r.rank, r.unit.unit_code) for r in best] == [
        (1, "C"),
        (2, "A"),
        (3, "G"),
        (4, "H"),
        (5, "B"),
    ]
    assert best[0].on_time == 9 and best[0].on_time_share == pytest.approx(0.9)
    # the rest, worst first; nobody is both best and worst
    assert [(r.rank, r.unit.unit_code) for r in worst] == [(1, "E"), (2, "F")]


# ------------------------------------------------------------------ equal to `stats`


@pytest.fixture
def cli_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("DATABASE_URL", db_url)
    get_engine.cache_clear()
    yield db_url
    get_engine().dispose()
    get_engine.cache_clear()


def stats_json(
    capsys: pytest.CaptureFixture[str], week: IsoWeek, *, cumulative: bool = False
) -> dict[str, Any]:
    period = ["--to", str(week.sunday)]
    if not cumulative:
        period = ["--from", str(week.monday), *period]
    assert main(["stats", "--format", "json", *period]) == 0
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    return data


def kind_totals(stats: dict[str, Any]) -> dict[str, int]:
    return {
        name: sum(kind[name] for kind in stats["by_kind"].values()) for name in weekly.BUCKET_FIELDS
    }


@pytest.mark.parametrize("week", [IsoWeek(2024, 30), W31, W32], ids=lambda w: w.key)
def test_the_intake_equals_stats_from_monday_to_sunday(
    session: Session, cli_db: str, city: City, capsys: pytest.CaptureFixture[str], week: IsoWeek
) -> None:
    stats = stats_json(capsys, week)
    figures = build_weekly_report(session, week, now=LATER).figures()
    assert figures["as_of"] == stats["as_of"]
    assert figures["by_kind"] == stats["by_kind"]  # every bucket and lateness figure
    assert figures["total"] == kind_totals(stats)
    assert figures["satisfaction"] == stats["satisfaction"]
    assert [(c["category_code"], c["count"]) for c in figures["categories"]] == [
        (c["category_code"], c["count"]) for c in stats["by_category"]
    ]
    assert figures["total"]["total"] > 0


@pytest.mark.parametrize("week", [IsoWeek(2024, 30), W31, W32], ids=lambda w: w.key)
def test_the_cumulative_block_equals_stats_to_sunday(
    session: Session, cli_db: str, city: City, capsys: pytest.CaptureFixture[str], week: IsoWeek
) -> None:
    stats = stats_json(capsys, week, cumulative=True)
    before = stats_json(capsys, week.previous(), cumulative=True)
    figures = build_weekly_report(session, week, now=LATER).figures()
    cumulative = figures["cumulative"]
    assert cumulative["as_of"] == stats["as_of"]
    assert cumulative["by_kind"] == stats["by_kind"]
    assert cumulative["total"] == kind_totals(stats)
    assert cumulative["satisfaction"] == stats["satisfaction"]
    assert cumulative["previous"]["by_kind"] == before["by_kind"]
    assert cumulative["previous"]["satisfaction"] == before["satisfaction"]
    # the units' workload holds every open report: each unit's overdue backlog is its
    # line in `stats --to <Sunday>`
    overdue = {u["unit_code"]: u["overdue_open"] for u in stats["by_unit"] if u["overdue_open"]}
    assert overdue == {
        u["unit_code"]: u["overdue_open"] for u in figures["units"] if u["overdue_open"]
    }
    assert sum(overdue.values()) == cumulative["total"]["overdue_open"]
    assert cumulative["total"]["total"] > 0
