"""Vietnamese state working time: which days are working days, and counting working hours.

Deadlines in iHanoi are counted in working hours of Hanoi's state offices, not in
wall-clock time: a report received on Friday at 16:00 with 4 working hours to go is
due on Monday at 11:00. Office hours, the working weekdays and the government's
one-off changes (compensatory working Saturdays, swapped days off) are data, in
`db/reference/calendar.yaml`; public holidays come from the `holidays` package.

Counting is done on a "working-time axis": every moment maps to the number of
working microseconds elapsed since the start of the calendar's coverage. Adding hours
and measuring between moments are then integer arithmetic plus one binary search over
a precomputed, sorted tuple of working days, so a deadline costs a few microseconds
whatever its length, instead of a loop over hours or days.

All datetimes in and out are timezone-aware; results are in UTC so they compare and
store like every other timestamp. Naive datetimes are refused: guessing their zone is
exactly the kind of silent error that moves a deadline by seven hours.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final
from zoneinfo import ZoneInfo

import holidays
import yaml

from ihanoi_core.config import HANOI_TZ, reference_path
from ihanoi_core.errors import ValidationError

CALENDAR_FILE: Final = "calendar.yaml"

_US_PER_SECOND: Final = 1_000_000
_US_PER_HOUR: Final = 3600 * _US_PER_SECOND
_US_PER_DAY: Final = 24 * _US_PER_HOUR

_WEEKDAYS: Final[dict[str, int]] = {
    "mon": 0,
    "tue": 1,
    "wed": 2,
    "thu": 3,
    "fri": 4,
    "sat": 5,
    "sun": 6,
}
EXCEPTION_KINDS: Final = ("working_day", "day_off")


@dataclass(frozen=True, slots=True)
class CalendarException:
    """A government decision that overrides the regular week and the holidays package."""

    day: date
    kind: str  # "working_day" | "day_off"
    note: str
    source: str
    verified: bool


@dataclass(frozen=True, eq=False)
class WorkingCalendar:
    """Immutable working calendar over a fixed span of years.

    Build it with `load_calendar()`; the constructor takes already-validated data.
    Coverage is limited to `first_day..last_day` because holiday decisions are only
    known for those years; asking about a moment outside raises ValueError rather
    than silently counting an unknown year as ordinary weeks.
    """

    tz: ZoneInfo
    first_day: date
    last_day: date
    # Office periods of a working day, in microseconds since local midnight, sorted.
    periods: tuple[tuple[int, int], ...]
    # Proleptic ordinals (date.toordinal) of every working day in coverage, sorted.
    working_ordinals: tuple[int, ...]
    exceptions: tuple[CalendarException, ...]
    day_notes: Mapping[date, str]
    source: str = ""
    _working_set: frozenset[int] = field(init=False, repr=False)
    _day_us: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Derived lookups; frozen, so set once here through object.__setattr__.
        object.__setattr__(self, "_working_set", frozenset(self.working_ordinals))
        object.__setattr__(self, "_day_us", sum(end - start for start, end in self.periods))

    @property
    def hours_per_day(self) -> float:
        """Working hours in one working day (8 for Vietnamese state offices)."""
        return self._day_us / _US_PER_HOUR

    # -- days ---------------------------------------------------------------------

    def is_working_day(self, d: date) -> bool:
        """Whether offices work on `d` (compensatory Saturdays count, holidays do not)."""
        if isinstance(d, datetime):
            raise TypeError("is_working_day takes a date; use t.astimezone(tz).date()")
        self._check_day(d.toordinal(), repr(d))
        return d.toordinal() in self._working_set

    def day_note(self, d: date) -> str | None:
        """Why `d` is special (holiday name or the government decision), for people."""
        return self.day_notes.get(d)

    # -- moments ------------------------------------------------------------------

    def next_working_moment(self, t: datetime) -> datetime:
        """`t` itself if offices are working then, else when they next open (UTC).

        Period ends are exclusive: at 12:00 or 17:00 nobody can work any more, so the
        next working moment is 13:00, or 08:00 on the next working day.
        """
        local = self._to_local(t, "t")
        ordinal = local.toordinal()
        self._check_day(ordinal, t.isoformat())
        us = _micro_of_day(local)
        if ordinal in self._working_set:
            for start, end in self.periods:
                if us < start:
                    return self._utc(ordinal, start)
                if us < end:
                    return t.astimezone(UTC)
        index = bisect_right(self.working_ordinals, ordinal)
        if index >= len(self.working_ordinals):
            raise self._beyond(t.isoformat())
        return self._utc(self.working_ordinals[index], self.periods[0][0])

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """The moment `hours` working hours after `start` (UTC).

        A start outside office hours counts from the next working moment. The result
        is the earliest moment at which the hours are used up, so 4 hours from 08:00
        is 12:00 the same day (not 13:00) and 1 hour from Friday 16:00 is Friday
        17:00 (not Monday 08:00): a deadline is met by finishing before offices close.
        """
        if not math.isfinite(hours) or hours < 0:
            raise ValueError(f"hours must be a finite number >= 0, got {hours!r}")
        amount = round(hours * _US_PER_HOUR)
        if amount == 0:
            return self.next_working_moment(start)
        return self._moment_at(self._position(start, "start") + amount, start)

    def working_hours_between(self, a: datetime, b: datetime) -> float:
        """Working hours from `a` to `b`; negative when `b` is before `a`.

        Consistent with `add_working_hours`: measuring from `start` to
        `add_working_hours(start, h)` gives back `h` (to the microsecond).
        """
        return (self._position(b, "b") - self._position(a, "a")) / _US_PER_HOUR

    # -- the working-time axis ----------------------------------------------------

    def _position(self, t: datetime, name: str) -> int:
        """Working microseconds from the start of coverage up to `t`."""
        local = self._to_local(t, name)
        ordinal = local.toordinal()
        self._check_day(ordinal, t.isoformat())
        index = bisect_left(self.working_ordinals, ordinal)
        position = index * self._day_us
        if index < len(self.working_ordinals) and self.working_ordinals[index] == ordinal:
            us = _micro_of_day(local)
            for start, end in self.periods:
                if us <= start:
                    break
                position += min(us, end) - start
        return position

    def _moment_at(self, position: int, origin: datetime) -> datetime:
        """The earliest moment whose working-time position is `position` (> 0)."""
        day_index, remainder = divmod(position - 1, self._day_us)
        remainder += 1  # in 1..day length: the earliest moment, never the next opening
        if day_index >= len(self.working_ordinals):
            raise self._beyond(f"{origin.isoformat()} + {position / _US_PER_HOUR:g} h")
        for start, end in self.periods:
            length = end - start
            if remainder <= length:
                return self._utc(self.working_ordinals[day_index], start + remainder)
            remainder -= length
        raise AssertionError("unreachable: remainder exceeds a working day")

    # -- helpers ------------------------------------------------------------------

    def _to_local(self, t: datetime, name: str) -> datetime:
        if not isinstance(t, datetime):
            raise TypeError(f"{name} must be a datetime, got {type(t).__name__}")
        if t.tzinfo is None or t.utcoffset() is None:
            raise ValueError(
                f"{name} is a naive datetime ({t.isoformat()}): pass a timezone-aware "
                "datetime, e.g. datetime(..., tzinfo=datetime.UTC)"
            )
        return t.astimezone(self.tz)

    def _utc(self, ordinal: int, micro_of_day: int) -> datetime:
        # Hanoi has had no DST since 1975, so local wall time maps to one instant.
        naive = datetime.combine(date.fromordinal(ordinal), time()) + timedelta(
            microseconds=micro_of_day
        )
        return naive.replace(tzinfo=self.tz).astimezone(UTC)

    def _check_day(self, ordinal: int, what: str) -> None:
        if not self.first_day.toordinal() <= ordinal <= self.last_day.toordinal():
            raise ValueError(
                f"{what} is outside the working calendar's coverage "
                f"({self.first_day.isoformat()}..{self.last_day.isoformat()}); "
                f"extend the years in {self.source or CALENDAR_FILE}"
            )

    def _beyond(self, what: str) -> ValueError:
        return ValueError(
            f"{what} runs past the working calendar's last day "
            f"({self.last_day.isoformat()}); extend the years in {self.source or CALENDAR_FILE}"
        )


def _micro_of_day(local: datetime) -> int:
    return (
        (local.hour * 60 + local.minute) * 60 + local.second
    ) * _US_PER_SECOND + local.microsecond


# -- loading ----------------------------------------------------------------------


class _DatesAsTextLoader(yaml.SafeLoader):
    """Safe loader that leaves dates as text.

    PyYAML turns 2024-13-04 into a bare ValueError with no line; as text, the date
    is checked by `_day`, which names the entry.
    """


_DatesAsTextLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@lru_cache(maxsize=8)
def load_calendar(path: Path | None = None) -> WorkingCalendar:
    """The working calendar from `calendar.yaml` (default: `db/reference/`), cached.

    Cached because building it asks the holidays package for eight years and sorts a
    few thousand days; the result is immutable, so sharing it is safe.
    """
    file = path if path is not None else reference_path(CALENDAR_FILE)
    try:
        raw = yaml.load(file.read_text(encoding="utf-8"), Loader=_DatesAsTextLoader)  # a SafeLoader
    except OSError as exc:
        raise ValidationError(str(file), f"cannot read calendar file: {exc}") from exc
    except (yaml.YAMLError, ValueError) as exc:
        raise ValidationError(str(file), f"not valid YAML: {exc}") from exc
    return build_calendar(raw, source=file.name)


def build_calendar(raw: object, source: str = CALENDAR_FILE) -> WorkingCalendar:
    """Validate the parsed calendar data and combine it with the holidays package.

    Precedence for a day: an entry in `exceptions` (the government's decision) wins;
    else a compensatory working Saturday known to the holidays package; else a
    holiday from the package is a day off; else the regular working weekdays.
    """
    data = _mapping(raw, source, "top level")
    _no_unknown_keys(
        data,
        {"years", "office_hours", "working_weekdays", "holidays_package", "exceptions"},
        source,
        "top level",
    )
    first_year, last_year = _years(data.get("years"), source)
    periods = _office_hours(data.get("office_hours"), source)
    weekdays = _weekdays(data.get("working_weekdays"), source)
    use_package, country = _package(data.get("holidays_package"), source)
    exceptions = _exceptions(data.get("exceptions", []), source, first_year, last_year)

    first_day, last_day = date(first_year, 1, 1), date(last_year, 12, 31)
    notes: dict[date, str] = {}
    package_off: set[date] = set()
    package_work: set[date] = set()
    if use_package:
        calendar = holidays.country_holidays(country, years=range(first_year, last_year + 1))
        for day, name in calendar.items():
            package_off.add(day)
            notes[day] = str(name)
        package_work = set(getattr(calendar, "weekend_workdays", set()))
        for day in package_work:
            notes.setdefault(day, "compensatory working day (holidays package)")
    decided = {e.day: e for e in exceptions}
    for e in exceptions:
        notes[e.day] = e.note

    working: list[int] = []
    for ordinal in range(first_day.toordinal(), last_day.toordinal() + 1):
        day = date.fromordinal(ordinal)
        if day in decided:
            is_working = decided[day].kind == "working_day"
        elif day in package_work:
            is_working = True
        elif day in package_off:
            is_working = False
        else:
            is_working = day.weekday() in weekdays
        if is_working:
            working.append(ordinal)

    return WorkingCalendar(
        tz=HANOI_TZ,
        first_day=first_day,
        last_day=last_day,
        periods=periods,
        working_ordinals=tuple(working),
        exceptions=exceptions,
        day_notes=MappingProxyType(notes),
        source=source,
    )


def _mapping(value: object, source: str, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError(f"{source}: {where}", "expected a mapping of keys to values")
    return value


def _no_unknown_keys(data: Mapping[str, Any], allowed: set[str], source: str, where: str) -> None:
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        raise ValidationError(
            f"{source}: {where}",
            f"unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})",
        )


def _years(value: object, source: str) -> tuple[int, int]:
    data = _mapping(value, source, "years")
    _no_unknown_keys(data, {"first", "last"}, source, "years")
    first, last = data.get("first"), data.get("last")
    if not (isinstance(first, int) and isinstance(last, int)) or isinstance(first, bool):
        raise ValidationError(f"{source}: years", "first and last must be whole years")
    if not 2000 <= first <= last <= 2100:
        raise ValidationError(
            f"{source}: years", f"need 2000 <= first <= last <= 2100, got {first}..{last}"
        )
    return first, last


def _clock(value: object, source: str, where: str) -> int:
    if isinstance(value, int):
        raise ValidationError(
            f"{source}: {where}",
            f"got the number {value}: quote times, e.g. '13:00' (YAML reads 13:00 as 780)",
        )
    if not isinstance(value, str):
        raise ValidationError(f"{source}: {where}", f"expected a time 'HH:MM', got {value!r}")
    try:
        parsed = time.fromisoformat(value)
    except ValueError as exc:
        raise ValidationError(
            f"{source}: {where}", f"expected a time 'HH:MM', got {value!r}"
        ) from exc
    return ((parsed.hour * 60 + parsed.minute) * 60 + parsed.second) * _US_PER_SECOND


def _office_hours(value: object, source: str) -> tuple[tuple[int, int], ...]:
    if not isinstance(value, list) or not value:
        raise ValidationError(f"{source}: office_hours", "expected a non-empty list of periods")
    periods: list[tuple[int, int]] = []
    for i, item in enumerate(value):
        where = f"office_hours[{i}]"
        entry = _mapping(item, source, where)
        _no_unknown_keys(entry, {"start", "end"}, source, where)
        start = _clock(entry.get("start"), source, f"{where}.start")
        end = _clock(entry.get("end"), source, f"{where}.end")
        if start >= end:
            raise ValidationError(f"{source}: {where}", "start must be before end")
        if periods and start < periods[-1][1]:
            raise ValidationError(
                f"{source}: {where}", "periods must be in order and must not overlap"
            )
        periods.append((start, end))
    return tuple(periods)


def _weekdays(value: object, source: str) -> frozenset[int]:
    if not isinstance(value, list) or not value:
        raise ValidationError(
            f"{source}: working_weekdays", "expected a non-empty list, e.g. [mon, tue]"
        )
    days: set[int] = set()
    for item in value:
        key = str(item).strip().lower()[:3]
        if key not in _WEEKDAYS:
            raise ValidationError(
                f"{source}: working_weekdays", f"unknown weekday {item!r} (use mon..sun)"
            )
        days.add(_WEEKDAYS[key])
    return frozenset(days)


def _package(value: object, source: str) -> tuple[bool, str]:
    data = _mapping(value, source, "holidays_package")
    _no_unknown_keys(data, {"enabled", "country"}, source, "holidays_package")
    enabled = data.get("enabled", True)
    country = data.get("country", "VN")
    if not isinstance(enabled, bool) or not isinstance(country, str):
        raise ValidationError(
            f"{source}: holidays_package", "enabled must be true/false and country a code"
        )
    return enabled, country


def _exceptions(
    value: object, source: str, first_year: int, last_year: int
) -> tuple[CalendarException, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ValidationError(f"{source}: exceptions", "expected a list of entries")
    seen: set[date] = set()
    result: list[CalendarException] = []
    for i, item in enumerate(value):
        entry = _mapping(item, source, f"exceptions[{i}]")
        raw_day = entry.get("date")
        where = f"exceptions[{i}] ({raw_day})"
        _no_unknown_keys(entry, {"date", "kind", "note", "source", "verified"}, source, where)
        day = _day(raw_day, source, where)
        kind = entry.get("kind")
        if kind not in EXCEPTION_KINDS:
            raise ValidationError(
                f"{source}: {where}", f"unknown kind {kind!r} (expected working_day or day_off)"
            )
        note = entry.get("note")
        if not isinstance(note, str) or not note.strip():
            raise ValidationError(f"{source}: {where}", "note is required: say what was decided")
        verified = entry.get("verified", False)
        if not isinstance(verified, bool):
            raise ValidationError(f"{source}: {where}", "verified must be true or false")
        if not first_year <= day.year <= last_year:
            raise ValidationError(
                f"{source}: {where}", f"date outside years {first_year}..{last_year}"
            )
        if day in seen:
            raise ValidationError(f"{source}: {where}", "date listed twice")
        seen.add(day)
        result.append(
            CalendarException(
                day=day,
                kind=kind,
                note=note.strip(),
                source=str(entry.get("source", "")),
                verified=verified,
            )
        )
    return tuple(result)


def _day(value: object, source: str, where: str) -> date:
    if isinstance(value, datetime):
        raise ValidationError(f"{source}: {where}", "date must be a day (YYYY-MM-DD), not a time")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValidationError(f"{source}: {where}", f"date must be YYYY-MM-DD, got {value!r}")
