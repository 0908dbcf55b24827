"""Deadlines of iHanoi reports, from the rules in `db/reference/deadlines.yaml`.

The limits are configuration, not code: the city changes them by decision (today
Quyết định 1207/QĐ-UBND of 28/02/2025), and several are not publicly known yet and are
shipped as marked placeholders. Every limit is in working hours and is counted on the
`WorkingCalendar`, so weekends, holidays and the lunch break never eat into a unit's
time.

Which rule applies: kind + category + priority, else kind + priority, else the
file's default. No function here reads the clock; callers pass `now` and the times,
so tests and SQL filters agree to the microsecond.

The administrator may edit the rules in the console: the edited text is stored as the
`reference_document` row named "deadlines" and wins over the file. `policy_for(session)`
and `rules_for(session)` are what the workflow asks; they parse a stored text once per
version, so a deadline costs one indexed lookup, not a YAML parse.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import yaml
from sqlmodel import Session, col, select

from ihanoi_core.config import reference_path
from ihanoi_core.errors import ValidationError
from ihanoi_core.models import ReferenceDocument
from ihanoi_core.vocab import Kind, Priority
from ihanoi_core.workcalendar import WorkingCalendar

DEADLINES_FILE: Final = "deadlines.yaml"
DEADLINES_DOCUMENT: Final = "deadlines"  # name of the `reference_document` row
DEFAULT_DUE_SOON_HOURS: Final = 8.0

KINDS: Final = frozenset(k.value for k in Kind)
PRIORITIES: Final = frozenset(p.value for p in Priority)

_RULE_KEYS: Final = frozenset(
    {"kind", "category", "priority", "hours", "placeholder", "source", "note"}
)
_LIMIT_KEYS: Final = frozenset({"hours", "placeholder", "source", "note"})

RuleKey = tuple[str, str | None, str]  # (kind, category code or None, priority)


@dataclass(frozen=True, slots=True)
class DeadlineLimit:
    """One limit in working hours, with where it comes from.

    `placeholder` is true when no readable source gives the value: the UI should
    say so next to any deadline computed from it.
    """

    hours: float
    placeholder: bool
    source: str = ""
    note: str = ""


@dataclass(frozen=True, eq=False)
class DeadlineRules:
    """The validated contents of `deadlines.yaml`. Build with `load_deadline_rules()`."""

    receipt: DeadlineLimit
    default: DeadlineLimit
    rules: Mapping[RuleKey, DeadlineLimit]
    due_soon_hours: float = DEFAULT_DUE_SOON_HOURS
    source: str = DEADLINES_FILE

    def limit_for(self, kind: str, category_code: str | None, priority: str) -> DeadlineLimit:
        """The handling limit that applies, most specific rule first."""
        _check_choice("kind", kind, KINDS)
        _check_choice("priority", priority, PRIORITIES)
        if category_code is not None:
            specific = self.rules.get((kind, category_code, priority))
            if specific is not None:
                return specific
        general = self.rules.get((kind, None, priority))
        return general if general is not None else self.default

    def handling_hours(self, kind: str, category_code: str | None, priority: str) -> float:
        """Working hours a unit has to handle a report, counted from its receipt."""
        return self.limit_for(kind, category_code, priority).hours

    def is_placeholder(self, kind: str, priority: str, category_code: str | None = None) -> bool:
        """Whether the applicable handling limit is a placeholder, not a known rule."""
        return self.limit_for(kind, category_code, priority).placeholder


# -- deadlines ----------------------------------------------------------------------


def receipt_due(received_at: datetime, cal: WorkingCalendar, rules: DeadlineRules) -> datetime:
    """When the report must be received (tiếp nhận), counted from its arrival (UTC).

    `received_at` is the moment the report arrived in the unit's queue.
    """
    return cal.add_working_hours(received_at, rules.receipt.hours)


def handling_due(
    received_at: datetime,
    kind: str,
    category_code: str | None,
    priority: str,
    cal: WorkingCalendar,
    rules: DeadlineRules,
) -> datetime:
    """When handling must be finished (UTC).

    QĐ 1207 counts the urgent limit "from receipt", so `received_at` is the moment
    the unit received the report; all limits are counted the same way.
    """
    return cal.add_working_hours(received_at, rules.handling_hours(kind, category_code, priority))


def due_soon_cutoff(now: datetime, cal: WorkingCalendar, rules: DeadlineRules) -> datetime:
    """The moment `due_soon_hours` working hours after `now` (UTC).

    A report is due soon when `now <= due_at < cutoff`. Computing the cutoff once
    lets a query filter with a plain comparison on the stored `due_at` column,
    instead of running the calendar for every row.
    """
    return cal.add_working_hours(now, rules.due_soon_hours)


def is_due_soon(
    due_at: datetime, now: datetime, cal: WorkingCalendar, rules: DeadlineRules
) -> bool:
    """Fewer than `due_soon_hours` working hours left, and not yet overdue."""
    return now <= due_at < due_soon_cutoff(now, cal, rules)


def is_overdue(due_at: datetime, now: datetime) -> bool:
    """Past the deadline by the clock (quá hạn).

    Wall-clock, not working time: on the Saturday after a Friday 17:00 deadline no
    working hour has passed, but the report is late all the same.
    """
    return now > due_at


def time_left_hours(due_at: datetime, now: datetime, cal: WorkingCalendar) -> float:
    """Working hours from `now` to `due_at`; negative when overdue.

    Between a deadline and the next office opening this is 0.0 although the
    report is already overdue; use `is_overdue` for the status.
    """
    return cal.working_hours_between(now, due_at)


# -- loading --------------------------------------------------------------------------


@lru_cache(maxsize=8)
def load_deadline_rules(path: Path | None = None) -> DeadlineRules:
    """The deadline rules from `deadlines.yaml` (default: `db/reference/`), cached.

    A bad file raises `ValidationError` naming the file and the entry, so whoever
    edits the rules sees at once what to fix; nothing is half-loaded.
    """
    file = path if path is not None else reference_path(DEADLINES_FILE)
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValidationError(str(file), f"cannot read deadline rules: {exc}") from exc
    except (yaml.YAMLError, ValueError) as exc:
        raise ValidationError(str(file), f"not valid YAML: {exc}") from exc
    return parse_deadline_rules(raw, source=file.name)


def parse_deadline_rules(raw: object, source: str = DEADLINES_FILE) -> DeadlineRules:
    """Validate parsed YAML data into `DeadlineRules`."""
    data = _mapping(raw, source, "top level")
    _no_unknown_keys(
        data, frozenset({"due_soon_hours", "receipt", "default", "rules"}), source, "top level"
    )
    due_soon = _hours(data.get("due_soon_hours", DEFAULT_DUE_SOON_HOURS), source, "due_soon_hours")
    if due_soon == 0:
        raise ValidationError(f"{source}: due_soon_hours", "must be more than 0")
    if "receipt" not in data:
        raise ValidationError(f"{source}: receipt", "missing: the receipt limit is required")
    if "default" not in data:
        raise ValidationError(f"{source}: default", "missing: the fallback limit is required")
    receipt = _limit(data["receipt"], source, "receipt", _LIMIT_KEYS)
    default = _limit(data["default"], source, "default", _LIMIT_KEYS)

    raw_rules = data.get("rules", [])
    if not isinstance(raw_rules, list):
        raise ValidationError(f"{source}: rules", "expected a list of rules")
    rules: dict[RuleKey, DeadlineLimit] = {}
    for i, item in enumerate(raw_rules):
        entry = _mapping(item, source, f"rules[{i}]")
        where = f"rules[{i}] ({_describe(entry)})"
        kind = entry.get("kind")
        if kind not in KINDS:
            raise ValidationError(
                f"{source}: {where}", f"unknown kind {kind!r} (expected {_listed(KINDS)})"
            )
        priority = entry.get("priority")
        if priority not in PRIORITIES:
            raise ValidationError(
                f"{source}: {where}",
                f"unknown priority {priority!r} (expected {_listed(PRIORITIES)})",
            )
        category = entry.get("category")
        if category is not None and (not isinstance(category, str) or not category.strip()):
            raise ValidationError(f"{source}: {where}", "category must be a category code")
        key: RuleKey = (str(kind), category.strip() if category else None, str(priority))
        limit = _limit(entry, source, where, _RULE_KEYS)
        if key in rules:
            raise ValidationError(f"{source}: {where}", "duplicate rule for this combination")
        rules[key] = limit
    return DeadlineRules(
        receipt=receipt,
        default=default,
        rules=MappingProxyType(rules),
        due_soon_hours=due_soon,
        source=source,
    )


def _limit(value: object, source: str, where: str, allowed: frozenset[str]) -> DeadlineLimit:
    entry = _mapping(value, source, where)
    _no_unknown_keys(entry, allowed, source, where)
    if "hours" not in entry:
        raise ValidationError(f"{source}: {where}", "hours is required (working hours)")
    hours = _hours(entry["hours"], source, where)
    placeholder = entry.get("placeholder", False)
    if not isinstance(placeholder, bool):
        raise ValidationError(f"{source}: {where}", "placeholder must be true or false")
    return DeadlineLimit(
        hours=hours,
        placeholder=placeholder,
        source=str(entry.get("source", "") or ""),
        note=str(entry.get("note", "") or ""),
    )


def _hours(value: object, source: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{source}: {where}", f"hours must be a number, got {value!r}")
    hours = float(value)
    if not math.isfinite(hours) or hours < 0:
        raise ValidationError(
            f"{source}: {where}", f"hours must be a finite number >= 0, got {value!r}"
        )
    return hours


def _check_choice(field: str, value: str, allowed: frozenset[str]) -> None:
    if value not in allowed:
        raise ValidationError(field, f"unknown {field} {value!r} (expected {_listed(allowed)})")


def _listed(values: frozenset[str]) -> str:
    return ", ".join(sorted(values))


def _describe(entry: Mapping[str, Any]) -> str:
    parts = [f"{k}={entry[k]}" for k in ("kind", "category", "priority") if k in entry]
    return ", ".join(parts) or "empty"


def _mapping(value: object, source: str, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError(f"{source}: {where}", "expected a mapping of keys to values")
    return value


def _no_unknown_keys(
    data: Mapping[str, Any], allowed: frozenset[str], source: str, where: str
) -> None:
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        raise ValidationError(
            f"{source}: {where}",
            f"unknown key(s) {', '.join(unknown)} (allowed: {_listed(allowed)})",
        )


# -- the policy the workflow uses ------------------------------------------------------


@dataclass(frozen=True)
class WorkingTimePolicy:
    """`workflow.DeadlinePolicy` on the working calendar and the rules file."""

    calendar: WorkingCalendar
    rules: DeadlineRules

    def receipt_due(self, arrived_at: datetime) -> datetime:
        return receipt_due(arrived_at, self.calendar, self.rules)

    def handling_due(
        self, arrived_at: datetime, kind: str, category_code: str, priority: Priority
    ) -> datetime:
        return handling_due(
            arrived_at, kind, category_code, priority.value, self.calendar, self.rules
        )


@lru_cache(maxsize=1)
def default_policy() -> WorkingTimePolicy:
    """The policy from the shipped calendar and deadline files (cached per process)."""
    from ihanoi_core.workcalendar import load_calendar

    return WorkingTimePolicy(load_calendar(), load_deadline_rules())


# -- rules edited in the console (the `reference_document` row) --------------------------


class DeadlineTextError(ValidationError):
    """A deadline-rules text that cannot be used, with where it breaks.

    `line` is the 1-based line of the offending entry in the text (None when the text
    is not YAML at all and the parser gave no position); `where` is the entry as
    `parse_deadline_rules` names it (e.g. "rules[3] (kind=onsite, priority=urgent)").
    """

    def __init__(self, where: str, reason: str, line: int | None) -> None:
        super().__init__(where, reason)
        self.where = where
        self.line = line


_RULE_INDEX = re.compile(r"rules\[(\d+)\]")


def parse_deadline_text(text: str, source: str = DEADLINES_DOCUMENT) -> DeadlineRules:
    """Validate a deadline-rules YAML text (the file's format) into `DeadlineRules`.

    Every error names the line, so whoever edits the text in the console sees at once
    what to fix.
    """
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise DeadlineTextError(source, f"not valid YAML: {problem}", line) from exc
    try:
        return parse_deadline_rules(raw, source=source)
    except ValidationError as exc:
        where = exc.field.removeprefix(f"{source}: ")
        raise DeadlineTextError(where, exc.reason, entry_line(text, where)) from exc


def entry_line(text: str, where: str) -> int | None:
    """The line of the entry `where` names ("rules[3] ...", "receipt", ...) in `text`."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return None
    if not isinstance(root, yaml.MappingNode):
        return 1 if root is not None else None
    match = _RULE_INDEX.match(where)
    for key, value in root.value:
        if match is not None and key.value == "rules" and isinstance(value, yaml.SequenceNode):
            index = int(match.group(1))
            if index < len(value.value):
                return int(value.value[index].start_mark.line) + 1
        if match is None and where.split(" ")[0] == key.value:
            return int(key.start_mark.line) + 1
    return 1


@dataclass(frozen=True)
class StoredRules:
    """Which stored text is current: enough to know whether a parse is still valid."""

    database: str
    document_id: int
    version: int
    updated_at: datetime


_STORED_CACHE: dict[StoredRules, DeadlineRules] = {}
_STORED_CACHE_MAX: Final = 32


def rules_for(session: Session) -> DeadlineRules:
    """The deadline rules in force for this database: the console's stored text when an
    administrator saved one, else the shipped file.

    The text is parsed once per (database, version): later calls cost one indexed
    lookup of the version.
    """
    row = session.exec(
        select(ReferenceDocument.id, ReferenceDocument.version, ReferenceDocument.updated_at).where(
            ReferenceDocument.name == DEADLINES_DOCUMENT
        )
    ).first()
    if row is None:
        return load_deadline_rules()
    doc_id, version, updated_at = row
    assert doc_id is not None
    key = StoredRules(str(session.get_bind().engine.url), doc_id, version, updated_at)
    rules = _STORED_CACHE.get(key)
    if rules is None:
        content = session.exec(
            select(ReferenceDocument.content).where(col(ReferenceDocument.id) == doc_id)
        ).one()
        rules = parse_deadline_text(content, source=f"{DEADLINES_DOCUMENT} v{version}")
        if len(_STORED_CACHE) >= _STORED_CACHE_MAX:
            _STORED_CACHE.clear()
        _STORED_CACHE[key] = rules
    return rules


def policy_for(session: Session) -> WorkingTimePolicy:
    """The deadline policy in force for this database (see `rules_for`)."""
    rules = rules_for(session)
    if rules is load_deadline_rules():
        return default_policy()
    return _policy_of(rules)


@lru_cache(maxsize=_STORED_CACHE_MAX)
def _policy_of(rules: DeadlineRules) -> WorkingTimePolicy:
    from ihanoi_core.workcalendar import load_calendar

    return WorkingTimePolicy(load_calendar(), rules)
