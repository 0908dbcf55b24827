"""Working-time deadlines: every expected datetime below was counted by hand.

Hanoi is UTC+7 all year. Office hours 08:00-12:00 and 13:00-17:00, Mon-Fri.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ihanoi_core.config import HANOI_TZ
from ihanoi_core.deadlines import (
    DeadlineRules,
    due_soon_cutoff,
    handling_due,
    is_due_soon,
    is_overdue,
    load_deadline_rules,
    receipt_due,
    time_left_hours,
)
from ihanoi_core.errors import ValidationError
from ihanoi_core.workcalendar import WorkingCalendar, load_calendar


def hn(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    """A Hanoi wall-clock moment."""
    return datetime(y, mo, d, h, mi, tzinfo=HANOI_TZ)


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return load_calendar()


@pytest.fixture(scope="module")
def rules() -> DeadlineRules:
    return load_deadline_rules()


# -- the shipped calendar ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2024, 8, 8), True),  # ordinary Thursday
        (date(2024, 8, 10), False),  # ordinary Saturday
        (date(2024, 2, 8), False),  # 29 Tết Giáp Thìn
        (date(2024, 2, 14), False),  # mùng 5 Tết, last day of the 2024 break
        (date(2024, 2, 15), True),
        (date(2024, 4, 29), False),  # swapped day off
        (date(2024, 5, 4), True),  # compensatory Saturday (làm bù)
        (date(2024, 9, 2), False),  # National Day
        (date(2024, 9, 3), False),  # the extra National Day day off in 2024
        (date(2025, 1, 27), False),  # Tết Ất Tỵ, Monday
        (date(2025, 1, 31), False),  # Tết Ất Tỵ, Friday
        (date(2025, 2, 3), True),
        (date(2025, 2, 8), False),  # not a Vietnamese make-up day (China's)
        (date(2025, 4, 26), True),  # compensatory Saturday for Fri 02/05/2025
        (date(2025, 5, 2), False),
        (date(2026, 1, 2), False),  # New Year 2026 swap (data file, not in the package)
        (date(2026, 1, 10), True),  # its compensatory Saturday
    ],
)
def test_shipped_calendar_days(cal: WorkingCalendar, day: date, working: bool) -> None:
    assert cal.is_working_day(day) is working


def test_calendar_has_eight_hour_days_and_is_immutable(cal: WorkingCalendar) -> None:
    assert cal.hours_per_day == 8.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        cal.first_day = date(2000, 1, 1)  # type: ignore[misc]
    assert load_calendar() is cal  # cached


# -- adding working hours -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "hours", "expected"),
    [
        # across a weekend: Fri 16-17 (1 h) + Mon 08-11 (3 h)
        (hn(2024, 8, 9, 16), 4, hn(2024, 8, 12, 11)),
        # finishing exactly at closing time stays on Friday
        (hn(2024, 8, 9, 16), 1, hn(2024, 8, 9, 17)),
        # across lunch: 11-12 + 13-14
        (hn(2024, 8, 8, 11), 2, hn(2024, 8, 8, 14)),
        # a morning's work ends at 12:00, not 13:00
        (hn(2024, 8, 8, 8), 4, hn(2024, 8, 8, 12)),
        # starting during lunch counts from 13:00
        (hn(2024, 8, 8, 12, 30), 1, hn(2024, 8, 8, 14)),
        # starting at night counts from the next morning
        (hn(2024, 8, 8, 20), 1, hn(2024, 8, 9, 9)),
        # before opening
        (hn(2024, 8, 8, 6), 0.5, hn(2024, 8, 8, 8, 30)),
        # on Sunday: a full Monday
        (hn(2024, 8, 11, 10), 8, hn(2024, 8, 12, 17)),
        # Tết 2024 (Thu 08/02 - Wed 14/02 off): Wed 07/02 16-17, then Thu 15/02 08-11
        (hn(2024, 2, 7, 16), 4, hn(2024, 2, 15, 11)),
        # 8 h receipt over Tết 2024: 07/02 10-12, 13-17 (6 h), 15/02 08-10
        (hn(2024, 2, 7, 10), 8, hn(2024, 2, 15, 10)),
        # Tết 2025 (Mon 27/01 - Fri 31/01 off): Fri 24/01 15-17, then Mon 03/02 08-10
        (hn(2025, 1, 24, 15), 4, hn(2025, 2, 3, 10)),
        # Sat 08/02/2025 is not worked: Fri 07/02 16-17, Mon 10/02 08-09
        (hn(2025, 2, 7, 16), 2, hn(2025, 2, 10, 9)),
        # 30/4-1/5/2024: Fri 26/04 16-17 (1), Thu 02/05 (8), Fri 03/05 (8),
        # compensatory Sat 04/05 08-12 (4) and 13-16 (3) = 24 h
        (hn(2024, 4, 26, 16), 24, hn(2024, 5, 4, 16)),
        # 2/9/2024 (Mon 02/09 and Tue 03/09 off): Fri 30/08 14-17 (3), Wed 04/09 08-12, 13-14
        (hn(2024, 8, 30, 14), 8, hn(2024, 9, 4, 14)),
        # 2/9/2025 (Mon 01/09 and Tue 02/09 off): Fri 29/08 16-17, Wed 03/09 08-09
        (hn(2025, 8, 29, 16), 2, hn(2025, 9, 3, 9)),
        # New Year 2026 (Thu 01/01 holiday, Fri 02/01 swapped): Wed 31/12 16-17, Mon 05/01 08-09
        (hn(2025, 12, 31, 16), 2, hn(2026, 1, 5, 9)),
    ],
)
def test_add_working_hours(
    cal: WorkingCalendar, start: datetime, hours: float, expected: datetime
) -> None:
    result = cal.add_working_hours(start, hours)
    assert result == expected
    assert result.tzinfo is UTC


def test_utc_in_utc_out(cal: WorkingCalendar) -> None:
    start = datetime(2024, 8, 8, 1, 0, tzinfo=UTC)  # 08:00 in Hanoi, Thursday
    assert cal.add_working_hours(start, 4) == datetime(2024, 8, 8, 5, 0, tzinfo=UTC)
    assert cal.add_working_hours(start, 5) == datetime(2024, 8, 8, 7, 0, tzinfo=UTC)  # 14:00
    # 07:30 Hanoi is before opening: counting starts at 08:00 = 01:00Z
    assert cal.next_working_moment(datetime(2024, 8, 8, 0, 30, tzinfo=UTC)) == start


def test_other_input_zones_are_converted(cal: WorkingCalendar) -> None:
    paris = datetime(2024, 8, 8, 3, 0, tzinfo=ZoneInfo("Europe/Paris"))  # 01:00Z
    assert cal.add_working_hours(paris, 1) == datetime(2024, 8, 8, 2, 0, tzinfo=UTC)


def test_naive_datetime_is_refused(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="naive"):
        cal.add_working_hours(datetime(2024, 8, 8, 8), 1)
    with pytest.raises(ValueError, match="naive"):
        cal.working_hours_between(hn(2024, 8, 8, 8), datetime(2024, 8, 9))


def test_bad_hours_and_coverage_are_refused(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match=">= 0"):
        cal.add_working_hours(hn(2024, 8, 8, 8), -1)
    with pytest.raises(ValueError, match="coverage"):
        cal.add_working_hours(hn(2031, 1, 6, 8), 1)
    with pytest.raises(ValueError, match="last day"):
        cal.add_working_hours(hn(2030, 12, 31, 16), 8)


def test_next_working_moment(cal: WorkingCalendar) -> None:
    assert cal.next_working_moment(hn(2024, 8, 8, 10)) == hn(2024, 8, 8, 10)
    assert cal.next_working_moment(hn(2024, 8, 8, 12)) == hn(2024, 8, 8, 13)
    assert cal.next_working_moment(hn(2024, 8, 9, 17)) == hn(2024, 8, 12, 8)
    assert cal.next_working_moment(hn(2024, 2, 7, 18)) == hn(2024, 2, 15, 8)
    # zero hours: counting starts at the next working moment
    assert cal.add_working_hours(hn(2024, 8, 10, 9), 0) == hn(2024, 8, 12, 8)


# -- measuring working hours ---------------------------------------------------------------


def test_working_hours_between(cal: WorkingCalendar) -> None:
    assert cal.working_hours_between(hn(2024, 8, 9, 16), hn(2024, 8, 12, 11)) == 4.0
    assert cal.working_hours_between(hn(2024, 8, 12, 11), hn(2024, 8, 9, 16)) == -4.0
    assert cal.working_hours_between(hn(2024, 8, 10, 9), hn(2024, 8, 11, 18)) == 0.0
    assert cal.working_hours_between(hn(2024, 8, 8, 11, 30), hn(2024, 8, 8, 13, 30)) == 1.0
    # a whole Tết week is worth nothing
    assert cal.working_hours_between(hn(2024, 2, 7, 17), hn(2024, 2, 15, 8)) == 0.0


_starts = st.datetimes(
    min_value=datetime(2023, 1, 1), max_value=datetime(2029, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=300, deadline=None)
@given(start=_starts, hours=st.floats(min_value=0, max_value=200, allow_nan=False))
def test_add_then_measure_gives_back_the_hours(
    cal: WorkingCalendar, start: datetime, hours: float
) -> None:
    end = cal.add_working_hours(start, hours)
    assert end >= start
    assert cal.working_hours_between(start, end) == pytest.approx(hours, abs=1e-9)
    assert cal.working_hours_between(end, start) == pytest.approx(-hours, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(
    start=_starts,
    first=st.integers(min_value=1, max_value=6000),
    second=st.integers(min_value=1, max_value=6000),
)
def test_adding_in_two_steps_is_adding_once(
    cal: WorkingCalendar, start: datetime, first: int, second: int
) -> None:
    """Minutes, so the sum is exact: h1 then h2 lands where h1 + h2 does."""
    step = cal.add_working_hours(start, first / 60)
    assert cal.add_working_hours(step, second / 60) == cal.add_working_hours(
        start, (first + second) / 60
    )


# -- deadlines from the shipped rules --------------------------------------------------------


def test_shipped_rules_follow_qd_1207(rules: DeadlineRules) -> None:
    assert rules.receipt.hours == 8 and not rules.receipt.placeholder
    assert rules.handling_hours("onsite", None, "urgent") == 4
    assert not rules.is_placeholder("onsite", "urgent")
    assert rules.is_placeholder("onsite", "normal")
    assert rules.is_placeholder("onsite", "complex")
    assert rules.is_placeholder("procedure", "normal")
    assert rules.due_soon_hours == 8


def test_receipt_and_urgent_handling_due(cal: WorkingCalendar, rules: DeadlineRules) -> None:
    received = hn(2024, 8, 9, 16)  # Friday
    # Fri 16-17 (1), Mon 08-12 (4), 13-16 (3)
    assert receipt_due(received, cal, rules) == hn(2024, 8, 12, 16)
    assert handling_due(received, "onsite", None, "urgent", cal, rules) == hn(2024, 8, 12, 11)


def test_due_soon_cutoff(cal: WorkingCalendar, rules: DeadlineRules) -> None:
    now = hn(2024, 8, 9, 15)  # Friday: 15-17 (2), Mon 08-12 (4), 13-15 (2)
    cutoff = due_soon_cutoff(now, cal, rules)
    assert cutoff == hn(2024, 8, 12, 15)
    assert is_due_soon(hn(2024, 8, 12, 14, 59), now, cal, rules)
    assert is_due_soon(now, now, cal, rules)
    assert not is_due_soon(hn(2024, 8, 12, 15), now, cal, rules)  # exactly 8 h left
    assert not is_due_soon(hn(2024, 8, 9, 14), now, cal, rules)  # already overdue


def test_time_left_and_overdue(cal: WorkingCalendar) -> None:
    due = hn(2024, 8, 12, 11)
    assert time_left_hours(due, hn(2024, 8, 9, 16), cal) == 4.0
    assert time_left_hours(due, hn(2024, 8, 10, 10), cal) == 3.0  # Saturday
    assert time_left_hours(due, hn(2024, 8, 12, 14), cal) == -2.0  # 11-12, 13-14
    # just after a Friday deadline no working hour has passed, but it is overdue
    friday = hn(2024, 8, 9, 17)
    assert time_left_hours(friday, hn(2024, 8, 10, 10), cal) == 0.0
    assert is_overdue(friday, hn(2024, 8, 10, 10))
    assert not is_overdue(friday, friday)


# -- rule precedence -----------------------------------------------------------------------


RULES_YAML = """
due_soon_hours: 4
receipt: {hours: 8}
default: {hours: 99, placeholder: true}
rules:
  - {kind: onsite, priority: normal, hours: 40, placeholder: true}
  - {kind: onsite, priority: urgent, hours: 4}
  - {kind: onsite, category: TRASH, priority: normal, hours: 16}
"""


def _write(tmp_path: Path, text: str, name: str = "deadlines.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_rule_precedence(tmp_path: Path) -> None:
    rules = load_deadline_rules(_write(tmp_path, RULES_YAML))
    # kind + category + priority
    assert rules.handling_hours("onsite", "TRASH", "normal") == 16
    assert not rules.is_placeholder("onsite", "normal", "TRASH")
    # kind + priority: other category, no category, or the category's other priority
    assert rules.handling_hours("onsite", "ROADS", "normal") == 40
    assert rules.handling_hours("onsite", None, "normal") == 40
    assert rules.is_placeholder("onsite", "normal")
    assert rules.handling_hours("onsite", "TRASH", "urgent") == 4
    # default
    assert rules.handling_hours("procedure", None, "normal") == 99
    assert rules.handling_hours("onsite", "TRASH", "complex") == 99


def test_due_soon_hours_come_from_the_file(tmp_path: Path, cal: WorkingCalendar) -> None:
    rules = load_deadline_rules(_write(tmp_path, RULES_YAML))
    # Friday 15-17 (2), Monday 08-10 (2)
    assert due_soon_cutoff(hn(2024, 8, 9, 15), cal, rules) == hn(2024, 8, 12, 10)


def test_unknown_kind_or_priority_in_a_call(rules: DeadlineRules) -> None:
    with pytest.raises(ValidationError) as err:
        rules.handling_hours("onsite", None, "hurry")
    assert err.value.field == "priority"
    with pytest.raises(ValidationError) as err:
        rules.handling_hours("letter", None, "normal")
    assert err.value.field == "kind"


# -- bad data files are rejected with the file and entry named --------------------------


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("{kind: onsite, priority: hight, hours: 4}", "unknown priority 'hight'"),
        ("{kind: on-site, priority: normal, hours: 4}", "unknown kind 'on-site'"),
        ("{kind: onsite, priority: complex, hours: -4}", ">= 0"),
        ("{kind: onsite, priority: complex, hours: four}", "must be a number"),
        ("{kind: onsite, priority: complex, hour: 4}", "unknown key(s) hour"),
        ("{kind: onsite, priority: urgent, hours: 4}", "duplicate"),
    ],
)
def test_bad_rule_is_rejected(tmp_path: Path, rule: str, message: str) -> None:
    text = RULES_YAML + f"  - {rule}\n"
    path = _write(tmp_path, text, "bad_deadlines.yaml")
    with pytest.raises(ValidationError) as err:
        load_deadline_rules(path)
    assert "bad_deadlines.yaml" in err.value.field
    assert "rules[3]" in err.value.field  # the fourth rule: the one appended
    assert message in err.value.reason


def test_missing_receipt_is_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, "default: {hours: 8}\n", "no_receipt.yaml")
    with pytest.raises(ValidationError, match=r"no_receipt\.yaml: receipt"):
        load_deadline_rules(path)


# -- the calendar file -------------------------------------------------------------------


CALENDAR_YAML = """
years: {first: 2024, last: 2024}
office_hours:
  - {start: "08:00", end: "12:00"}
  - {start: "13:00", end: "17:00"}
working_weekdays: [mon, tue, wed, thu, fri]
holidays_package: {enabled: true, country: VN}
exceptions:
"""


def test_data_file_wins_over_the_package(tmp_path: Path) -> None:
    text = CALENDAR_YAML + (
        "  - {date: 2024-02-08, kind: working_day, note: test, verified: false}\n"
        "  - {date: 2024-08-08, kind: day_off, note: test, verified: false}\n"
    )
    cal = load_calendar(_write(tmp_path, text, "calendar.yaml"))
    assert cal.is_working_day(date(2024, 2, 8))  # 29 Tết in the package
    assert not cal.is_working_day(date(2024, 8, 8))  # an ordinary Thursday
    assert cal.is_working_day(date(2024, 5, 4))  # package's own make-up Saturday
    assert cal.add_working_hours(hn(2024, 8, 7, 16), 2) == hn(2024, 8, 9, 9)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{date: 2024-05-04, kind: holiday, note: x}", "unknown kind 'holiday'"),
        ("{date: 2024-13-04, kind: day_off, note: x}", "YYYY-MM-DD"),
        ("{date: 2024-05-04, kind: day_off}", "note is required"),
        ("{date: 2027-05-04, kind: day_off, note: x}", "outside years"),
    ],
)
def test_bad_calendar_entry_is_rejected(tmp_path: Path, entry: str, message: str) -> None:
    path = _write(tmp_path, CALENDAR_YAML + f"  - {entry}\n", "bad_calendar.yaml")
    with pytest.raises(ValidationError) as err:
        load_calendar(path)
    assert "bad_calendar.yaml: exceptions[0]" in err.value.field
    assert message in err.value.reason


def test_unquoted_office_hour_is_explained(tmp_path: Path) -> None:
    text = CALENDAR_YAML.replace('end: "17:00"', "end: 17:00")
    with pytest.raises(ValidationError, match="quote times"):
        load_calendar(_write(tmp_path, text, "calendar.yaml"))


def test_hours_from_the_file_drive_the_counting(tmp_path: Path) -> None:
    """A 07:30-11:30 / 13:30-17:30 office (some units use it) shifts every deadline."""
    text = CALENDAR_YAML.replace('"08:00", end: "12:00"', '"07:30", end: "11:30"').replace(
        '"13:00", end: "17:00"', '"13:30", end: "17:30"'
    )
    cal = load_calendar(_write(tmp_path, text, "calendar.yaml"))
    assert cal.add_working_hours(hn(2024, 8, 8, 11), 1) == hn(2024, 8, 8, 14)
    assert cal.next_working_moment(hn(2024, 8, 9, 17)) == hn(2024, 8, 9, 17)
    assert cal.add_working_hours(hn(2024, 8, 9, 17), 1) == hn(2024, 8, 12, 8)
