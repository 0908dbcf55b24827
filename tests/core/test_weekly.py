"""The weekly review report on the 13-report city of `test_queries.build_city`.

Week 32 of 2024 is Mon 5 Aug – Sun 11 Aug; week 31 is Mon 29 Jul – Sun 4 Aug. Counted
by hand from the table in `test_queries`' docstring:

* W32 (submitted 5–11 Aug: D E F G L M on-site, I procedure), as of the end of 11 Aug:
  on-site 6 = 1 processed (L) + 1 refused (E) + 0 processing + 4 pending (D F G M);
  procedure 1 = 1 processing (I drafted); nothing overdue or late yet; no rating.
* W31 (submitted 29 Jul–4 Aug: B on-site, H procedure), as of the end of 4 Aug: both
  published; B late (18:00 against 15:00) and rated unsatisfied; H on time, unrated.
  (A was submitted on Sunday 28 Jul, in W30.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlmodel import Session

from ihanoi_core import weekly
from ihanoi_core.cli import main
from ihanoi_core.config import HANOI_TZ
from ihanoi_core.db import get_engine
from ihanoi_core.performance import UnitRow
from ihanoi_core.queries import BucketCounts, SatisfactionCounts, Step
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


def test_week_32_categories_and_units(session: Session, city: City) -> None:
    report = build_weekly_report(session, W32, now=LATER)
    assert [(c.category_code, c.count) for c in report.categories] == [
        ("ve_sinh_moi_truong", 4),  # D F L M
        ("giao_thong", 1),  # E
        ("thu_tuc_hanh_chinh", 1),  # I
        ("van_minh_do_thi", 1),  # G
    ]
    assert report.categories[0].share == pytest.approx(4 / 7)
    assert [(u.unit_code, u.received) for u in report.units] == [
        ("002", 4),  # D E I L
        ("VP-UBND", 2),  # F G
        ("001", 1),  # M
    ]
    assert report.overdue_units == []  # nothing of the week is late by Sunday night
    # no unit received 5 reports: nobody is ranked on so little
    assert (report.best, report.worst) == ([], [])


def test_overdue_by_unit_worst_first_in_week_31(session: Session, city: City) -> None:
    report = build_weekly_report(session, W31, now=LATER)
    assert [
        (u.unit_code, u.received, u.overdue_open, u.resolved_late) for u in report.overdue_units
    ] == [
        ("002", 2, 0, 1)  # B published late; H on time
    ]
    assert report.overdue_units[0].overdue_rate == pytest.approx(0.5)
    assert report.overdue_units[0].formal_name == "UBND quận Hoàn Kiếm"


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
    assert again["units"][0]["unit_name"] == "UBND quận Hoàn Kiếm"


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


def stats_json(capsys: pytest.CaptureFixture[str], week: IsoWeek) -> dict[str, Any]:
    args = ["stats", "--format", "json", "--from", str(week.monday), "--to", str(week.sunday)]
    assert main(args) == 0
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    return data


@pytest.mark.parametrize("week", [IsoWeek(2024, 30), W31, W32], ids=lambda w: w.key)
def test_the_report_equals_stats_from_monday_to_sunday(
    session: Session, cli_db: str, city: City, capsys: pytest.CaptureFixture[str], week: IsoWeek
) -> None:
    stats = stats_json(capsys, week)
    figures = build_weekly_report(session, week, now=LATER).figures()
    assert figures["as_of"] == stats["as_of"]
    assert figures["by_kind"] == stats["by_kind"]  # every bucket and lateness figure
    totals = {
        name: sum(kind[name] for kind in stats["by_kind"].values()) for name in weekly.BUCKET_FIELDS
    }
    assert figures["total"] == totals
    assert figures["satisfaction"] == stats["satisfaction"]
    assert [(c["category_code"], c["count"]) for c in figures["categories"]] == [
        (c["category_code"], c["count"]) for c in stats["by_category"]
    ]
    assert {
        u["unit_code"]: (u["received"], u["overdue_open"], u["resolved_late"])
        for u in figures["units"]
    } == {
        u["unit_code"]: (u["total"], u["overdue_open"], u["resolved_late"])
        for u in stats["by_unit"]
    }
    assert figures["total"]["total"] > 0
