"""Replay every report's history and check it against the report row and the rules.

The report row is a cache of its append-only history: statistics at a past moment read
the events, today's figures read the row. `verify_histories` proves the two agree and
that every recorded step was a legal transition, so a hand-edited row, an import that
skipped the workflow, or a bug in a writer shows up as a precise mismatch instead of
as a wrong number in a leaders' report.

Histories restored from a file (events with `source_file` set: an `import` event
carrying a report's state from another system or from our own export, and the
"returned as not ours" steps that came with it) are history we did not produce: for
them only the numbering and the final state are checked, not the transition table,
and an `import` may start a history in any status.

Both tables are read once, as two streams sorted by report (`yield_per` chunks) and
merged in Python, so memory stays flat and the query count does not grow with the
number of reports.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from itertools import pairwise
from typing import Any, Final

import sqlalchemy as sa
from sqlmodel import Session, SQLModel

from ihanoi_core import models as _models  # noqa: F401  (registers the tables)
from ihanoi_core.vocab import Action, Status
from ihanoi_core.workflow import INITIAL_ACTIONS, TRANSITIONS

CHUNK_ROWS: Final = 2000

_REPORT: Final = SQLModel.metadata.tables["report"]
_EVENT: Final = SQLModel.metadata.tables["report_event"]


class MismatchCode(StrEnum):
    """What kind of inconsistency a `Mismatch` is (stable strings for scripts)."""

    NO_HISTORY = "no_history"  # a report without any event
    SEQ_GAP = "seq_gap"  # seqs are not 1..n
    BAD_START = "bad_start"  # first event is not receive -> received, import or from a file
    BROKEN_CHAIN = "broken_chain"  # an event does not start where the previous one ended
    ILLEGAL_TRANSITION = "illegal_transition"  # not a row of workflow.TRANSITIONS
    STATE_DIFFERS = "state_differs"  # the report row disagrees with its history


@dataclass(frozen=True)
class Mismatch:
    """One inconsistency: which report, what kind, which field, expected vs found."""

    report_id: int
    code: MismatchCode
    field: str
    expected: str | None
    actual: str | None

    def describe(self) -> str:
        return (
            f"report {self.report_id}: {self.code} {self.field}: "
            f"expected {self.expected!r}, found {self.actual!r}"
        )


@dataclass(frozen=True)
class VerificationResult:
    reports: int
    events: int
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _stream(session: Session, stmt: sa.Select[Any]) -> Generator[Any, None, None]:
    """Rows in chunks: a server-side cursor on PostgreSQL, a stepped cursor on SQLite."""
    conn = session.connection()
    result = conn.execution_options(yield_per=CHUNK_ROWS).execute(stmt)
    try:
        for chunk in result.partitions():
            yield from chunk
    finally:
        result.close()


def _reports(session: Session) -> Iterator[Any]:
    r = _REPORT.c
    stmt = sa.select(
        r.id, r.status, r.current_unit_id, r.assignee_id, r.version, r.due_at, r.rating, r.is_public
    ).order_by(r.id)
    return _stream(session, stmt)


def _events(session: Session) -> Generator[Any, None, None]:
    e = _EVENT.c
    stmt = sa.select(
        e.report_id,
        e.seq,
        e.action,
        e.actor_role,
        e.from_status,
        e.to_status,
        e.from_unit_id,
        e.to_unit_id,
        e.assignee_id,
        e.due_at,
        e.rating,
        e.is_public,
        e.source_file,
    ).order_by(e.report_id, e.seq)
    return _stream(session, stmt)


def check_history(report: Any, events: list[Any]) -> list[Mismatch]:
    """The mismatches of one report (`report`/`events`: rows with the columns above).

    Pure, so it can be tested without a database and reused by an importer.
    """
    rid = int(report.id)
    found: list[Mismatch] = []

    def add(code: MismatchCode, name: str, expected: Any, actual: Any) -> None:
        found.append(Mismatch(rid, code, name, _text(expected), _text(actual)))

    if not events:
        add(MismatchCode.NO_HISTORY, "events", "at least 1", 0)
        return found

    for i, event in enumerate(events, start=1):
        if event.seq != i:
            add(MismatchCode.SEQ_GAP, "seq", i, event.seq)
            break

    first = events[0]
    if not _from_file(first):
        if first.action not in _INITIAL:
            add(MismatchCode.BAD_START, "events[1].action", "receive|import", first.action)
        if first.from_status is not None:
            add(MismatchCode.BAD_START, "events[1].from_status", None, first.from_status)
        if first.to_status != _RECEIVED and first.action != _IMPORT:
            add(MismatchCode.BAD_START, "events[1].to_status", _RECEIVED, first.to_status)

    rating, is_public = _restored(first, None, False)
    for previous, event in pairwise(events):
        if _from_file(event):
            # Restored, not produced here: it need not follow our table or chain.
            rating, is_public = _restored(event, rating, is_public)
            continue
        if event.from_status != previous.to_status:
            add(
                MismatchCode.BROKEN_CHAIN,
                f"events[{event.seq}].from_status",
                previous.to_status,
                event.from_status,
            )
        if event.from_unit_id != previous.to_unit_id:
            add(
                MismatchCode.BROKEN_CHAIN,
                f"events[{event.seq}].from_unit_id",
                previous.to_unit_id,
                event.from_unit_id,
            )
        problem = _transition_problem(event)
        if problem is not None:
            field_name, allowed, value = problem
            add(
                MismatchCode.ILLEGAL_TRANSITION, f"events[{event.seq}].{field_name}", allowed, value
            )
        if event.action == _RATE:
            rating = event.rating
        elif event.action == _REOPEN:
            rating = None
        if event.action == _PUBLISH:
            is_public = bool(event.is_public)

    last = events[-1]
    expected_state = (
        ("status", last.to_status, report.status),
        ("current_unit_id", last.to_unit_id, report.current_unit_id),
        ("assignee_id", last.assignee_id, report.assignee_id),
        ("version", last.seq, report.version),
        ("due_at", last.due_at, report.due_at),
        ("rating", rating, report.rating),
        ("is_public", is_public, bool(report.is_public)),
    )
    for name, expected, actual in expected_state:
        if actual != expected:
            add(MismatchCode.STATE_DIFFERS, name, expected, actual)
    return found


@dataclass(frozen=True)
class _Rule:
    """A row of `workflow.TRANSITIONS` in plain strings, as the events store them."""

    sources: frozenset[str]
    target: str | None
    roles: frozenset[str]

    @property
    def sources_text(self) -> str:
        return "|".join(sorted(self.sources))

    @property
    def roles_text(self) -> str:
        return "|".join(sorted(self.roles))


# Built once: replaying half a million events spends its time in these lookups.
_RULES: Final[dict[str, _Rule]] = {
    action.value: _Rule(
        frozenset(s.value for s in t.sources),
        t.target.value if t.target else None,
        frozenset(r.value for r in t.roles),
    )
    for action, t in TRANSITIONS.items()
}
_INITIAL: Final = frozenset(a.value for a in INITIAL_ACTIONS)
_RECEIVED: Final = Status.RECEIVED.value
_RATE: Final = Action.RATE.value
_REOPEN: Final = Action.REOPEN.value
_PUBLISH: Final = Action.PUBLISH.value
_IMPORT: Final = Action.IMPORT.value


def _from_file(event: Any) -> bool:
    """An event restored from an imported file (rows without the column: not)."""
    return getattr(event, "source_file", None) is not None


def _restored(event: Any, rating: str | None, is_public: bool) -> tuple[str | None, bool]:
    """Rating and public flag after `event` when it carries a state rather than a step:
    an `import` sets both to what the file said (`is_public` NULL: not public)."""
    if event.action == _IMPORT:
        return event.rating, bool(event.is_public)
    return rating, is_public


def _transition_problem(event: Any) -> tuple[str, str, str] | None:
    """(field, allowed, found) when the event is not a row of the transition table."""
    rule = _RULES.get(event.action)
    if rule is None:  # unknown, or receive/import after the first event
        return ("action", "a workflow action", str(event.action))
    if event.from_status not in rule.sources:
        return ("from_status", rule.sources_text, str(event.from_status))
    target = rule.target or event.from_status
    if event.to_status != target:
        return ("to_status", target, str(event.to_status))
    if event.actor_role not in rule.roles:
        return ("actor_role", rule.roles_text, str(event.actor_role))
    return None


def check_histories(session: Session) -> VerificationResult:
    """Verify every report; also counts what was checked (for the CLI's summary)."""
    session.flush()
    mismatches: list[Mismatch] = []
    reports = events_seen = 0
    events = _events(session)
    try:
        pending = next(events, None)
        for report in _reports(session):
            reports += 1
            while pending is not None and pending.report_id < report.id:
                pending = next(events, None)  # no such report: impossible with the foreign key
            history: list[Any] = []
            while pending is not None and pending.report_id == report.id:
                history.append(pending)
                pending = next(events, None)
            events_seen += len(history)
            mismatches.extend(check_history(report, history))
    finally:
        events.close()  # release the server-side cursor now, not at garbage collection
    return VerificationResult(reports, events_seen, mismatches)


def verify_histories(session: Session) -> list[Mismatch]:
    """Every inconsistency between the reports, their histories and the workflow rules."""
    return check_histories(session).mismatches
