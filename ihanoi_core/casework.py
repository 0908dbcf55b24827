"""What the case pages write: one action with its evidence, or a batch of dispatches.

Both run in the caller's transaction (one `session_scope` per user action) and change
statuses only through `workflow.apply`, so the transition table, the version check and
the history stay the single source of truth. The results are plain values: a page
must not keep ORM objects between reruns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from sqlmodel import Session, col, select

from ihanoi_core.attachments import (
    AttachmentRejected,
    NewAttachment,
    UploadProblem,
    UploadRules,
    add_attachments,
    load_upload_rules,
    read_upload,
)
from ihanoi_core.errors import (
    ConflictError,
    IHanoiError,
    NotFound,
    PermissionDenied,
    TransitionNotAllowed,
    ValidationError,
)
from ihanoi_core.models import Report, ReportEvent
from ihanoi_core.vocab import Action, Status
from ihanoi_core.workflow import (
    TRANSITIONS,
    ActionParams,
    Actor,
    DeadlinePolicy,
    apply,
    last_change,
)

# Actions whose result a unit backs with files (photos after handling, a record of the
# violation, the refusal's proof). Other actions are decisions, not findings.
EVIDENCE_ACTIONS: Final = frozenset({Action.DRAFT, Action.REFUSE_INACCURATE})


class BulkInterrupted(IHanoiError):
    """The database dropped the whole transaction mid-batch; nothing of it was saved."""

    def __init__(self, report_id: int) -> None:
        super().__init__(f"batch interrupted at report {report_id}; nothing was saved")
        self.report_id = report_id


@dataclass(frozen=True)
class ActionResult:
    """The report after the action, as the page shows it in its confirmation."""

    report_id: int
    code: str
    action: Action
    status: Status
    version: int
    event_id: int
    attachment_ids: tuple[int, ...] = ()


def _checked_evidence(
    action: Action, evidence: Sequence[NewAttachment], rules: UploadRules
) -> list[NewAttachment]:
    """Refuse bad files before anything is written (the transaction would undo it, but a
    caller that catches the error must not be left with a half-done action)."""
    if not evidence:
        return []
    if action not in EVIDENCE_ACTIONS:
        raise ValidationError("evidence", f"{action.value} takes no attachment")
    if len(evidence) > rules.max_files:
        raise AttachmentRejected(f"{len(evidence)}", UploadProblem.TOO_MANY, rules.max_files)
    return [read_upload(f.filename, f.data, rules) for f in evidence]


def perform_action(
    session: Session,
    *,
    action: Action,
    report_id: int,
    actor: Actor,
    expected_version: int,
    now: datetime,
    params: ActionParams | None = None,
    evidence: Sequence[NewAttachment] = (),
    deadlines: DeadlinePolicy | None = None,
) -> ActionResult:
    """Fire `action` (`workflow.apply`) and attach `evidence` to the event it wrote.

    A stale `expected_version` raises `ConflictError` (who changed it, when) and
    nothing is written; so does any refused file. The caller commits.
    """
    files = _checked_evidence(action, evidence, load_upload_rules())
    report = apply(
        session,
        action=action,
        report_id=report_id,
        actor=actor,
        expected_version=expected_version,
        now=now,
        params=params,
        deadlines=deadlines,
    )
    assert report.id is not None
    event_id = session.exec(
        select(ReportEvent.id).where(
            ReportEvent.report_id == report.id, col(ReportEvent.seq) == report.version
        )
    ).one()
    assert event_id is not None
    attachment_ids = add_attachments(session, report.id, event_id, files, actor, now)
    return ActionResult(
        report_id=report.id,
        code=report.code,
        action=action,
        status=Status(report.status),
        version=report.version,
        event_id=event_id,
        attachment_ids=tuple(attachment_ids),
    )


# ------------------------------------------------------------------- bulk


class ItemOutcome(StrEnum):
    OK = "ok"
    CONFLICT = "conflict"  # changed by someone since the list was read
    NOT_ALLOWED = "not_allowed"  # its status (or the user's role) does not allow it
    INVALID = "invalid"  # e.g. already at that unit, or the unit does not exist that day
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class BulkItem:
    """One report's outcome; `error` carries the typed error for the UI's sentence."""

    report_id: int
    code: str | None
    outcome: ItemOutcome
    action: Action | None = None
    version: int | None = None  # the new version when dispatched
    changed_by: str | None = None
    changed_at: datetime | None = None
    error: IHanoiError | None = None


@dataclass(frozen=True)
class BulkResult:
    items: tuple[BulkItem, ...]

    @property
    def ok_count(self) -> int:
        return sum(1 for i in self.items if i.outcome is ItemOutcome.OK)

    @property
    def failed(self) -> tuple[BulkItem, ...]:
        return tuple(i for i in self.items if i.outcome is not ItemOutcome.OK)


def dispatch_action_for(status: Status) -> Action | None:
    """DISPATCH from the city office's queue, REASSIGN for a report already at a unit."""
    for action in (Action.DISPATCH, Action.REASSIGN):
        if status in TRANSITIONS[action].sources:
            return action
    return None


def _begin_real_transaction(session: Session) -> None:
    """Make SQLite's savepoints nest inside a real transaction.

    Python's sqlite3 driver (legacy transaction control) opens no transaction before a
    SAVEPOINT, so SQLite treats the first SAVEPOINT as the transaction itself and its
    RELEASE commits: the batch would no longer belong to the caller's transaction.
    Opening it explicitly restores the nesting. PostgreSQL needs nothing.
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    driver = connection.connection.driver_connection
    if driver is not None and not getattr(driver, "in_transaction", True):
        connection.exec_driver_sql("BEGIN")


def bulk_dispatch(
    session: Session,
    *,
    items: Sequence[tuple[int, int]],
    to_unit_id: int,
    actor: Actor,
    now: datetime,
    deadlines: DeadlinePolicy | None = None,
) -> BulkResult:
    """Send each (report_id, version read) to `to_unit_id`; report what became of each.

    Each item runs in its own SAVEPOINT: a stale, refused or invalid item is rolled
    back alone and the others stay dispatched in the caller's transaction. Each row is
    locked (`FOR UPDATE` on PostgreSQL) before its version is checked, so no other
    writer can slip in between the check and the write. A report listed twice is
    dispatched once.
    """
    _begin_real_transaction(session)
    outer = session.get_transaction()
    results: list[BulkItem] = []
    seen: set[int] = set()
    for report_id, version in items:
        if report_id in seen:
            continue
        seen.add(report_id)
        code: str | None = None
        action: Action | None = None
        try:
            with session.begin_nested():
                report = session.get(
                    Report, report_id, with_for_update=True, populate_existing=True
                )
                if report is None:
                    raise NotFound("report", report_id)
                code = report.code
                if report.version != version:
                    who, when = last_change(session, report_id)
                    raise ConflictError(report_id, version, report.version, who, when)
                action = dispatch_action_for(Status(report.status))
                if action is None:
                    raise TransitionNotAllowed(
                        Action.DISPATCH.value, report.status, actor.role.value
                    )
                done = apply(
                    session,
                    action=action,
                    report_id=report_id,
                    actor=actor,
                    expected_version=version,
                    now=now,
                    params=ActionParams(to_unit_id=to_unit_id),
                    deadlines=deadlines,
                )
                results.append(
                    BulkItem(report_id, code, ItemOutcome.OK, action, version=done.version)
                )
        except ConflictError as exc:
            results.append(
                BulkItem(
                    report_id,
                    code,
                    ItemOutcome.CONFLICT,
                    action,
                    changed_by=exc.changed_by,
                    changed_at=exc.changed_at,
                    error=exc,
                )
            )
        except (TransitionNotAllowed, PermissionDenied) as exc:
            results.append(BulkItem(report_id, code, ItemOutcome.NOT_ALLOWED, action, error=exc))
        except ValidationError as exc:
            results.append(BulkItem(report_id, code, ItemOutcome.INVALID, action, error=exc))
        except NotFound as exc:
            results.append(BulkItem(report_id, code, ItemOutcome.NOT_FOUND, action, error=exc))
        if session.get_transaction() is not outer:
            # `workflow.apply` rolls the whole session back on a lost race: the items
            # reported OK so far are gone too. Say so rather than report them done.
            raise BulkInterrupted(report_id)
    return BulkResult(tuple(results))
