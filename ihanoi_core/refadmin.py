"""Reference data edited by the city administrator: units, categories, templates and
the deadline rules.

Reference data drives routing, deadlines and the refusal texts citizens receive, so a
change here is as consequential as a change of a report, and is held to the same bar:

- **Only the administrator**, checked here against the account as it is in the
  database now (a demoted or deactivated admin's open page cannot write).
- **Optimistic.** The caller passes what it showed (a row snapshot, or the version of
  the deadline text); if the row changed since, `ReferenceConflict` says who changed it
  and when, and nothing is written.
- **Validated before anything is written**; a broken rule is a `RefAdminError` whose
  `code` names it (the UI's sentence key) and whose `values` carry what the sentence
  needs. Deadline texts go through `deadlines.parse_deadline_text`, so the console
  accepts exactly what the workflow can use, with the line of the error.
- **Recorded.** Each change writes one `AdminEvent` (who, when, JSON before/after, the
  required reason) in the same transaction as the change. Entity keys have the same
  shape as the ones `reference.py` writes when a reference file changes, so one entity's
  history holds both.

Nothing is ever deleted that a report, a child or a template still refers to: such a
category is deactivated instead.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any, Final, Generic, TypeVar

import yaml
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select, update

from ihanoi_core.config import HANOI_TZ, reference_path
from ihanoi_core.deadlines import (
    DEADLINES_DOCUMENT,
    DEADLINES_FILE,
    DeadlineRules,
    DeadlineTextError,
    entry_line,
    parse_deadline_text,
    rules_for,
)
from ihanoi_core.errors import IHanoiError, NotFound, PermissionDenied, ValidationError
from ihanoi_core.models import (
    AdminEvent,
    Category,
    ReferenceDocument,
    Report,
    Template,
    Unit,
    User,
)
from ihanoi_core.text import fold
from ihanoi_core.vocab import HANDLING_UNIT_KINDS, Kind, Role, TemplateKind, UnitKind
from ihanoi_core.workflow import MIN_REASON_CHARS, Actor

UNIT_ENTITY: Final = "unit"
CATEGORY_ENTITY: Final = "category"
TEMPLATE_ENTITY: Final = "template"
DOCUMENT_ENTITY: Final = "reference_document"
REFERENCE_ENTITIES: Final = (UNIT_ENTITY, CATEGORY_ENTITY, TEMPLATE_ENTITY, DOCUMENT_ENTITY)

UNIT_CODE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
DATA_CODE: Final = re.compile(r"[a-z0-9][a-z0-9_]{1,63}")  # category and template codes
MAX_NAME: Final = 200
MAX_TEXT: Final = 5000
MAX_DOCUMENT: Final = 200_000
_HANDLING_KINDS: Final = tuple(sorted(HANDLING_UNIT_KINDS))
_Row = TypeVar("_Row", Unit, Category, Template)  # the tables an edit locks
_Shown = TypeVar("_Shown")  # the row as the page showed it


# ------------------------------------------------------------------ errors


class RefAdminError(ValidationError):
    """A reference-data rule was broken; `code` names it (the UI's sentence key),
    `values` carry what the sentence needs (a code, a count, a minimum...)."""

    def __init__(self, problem: str, field: str, /, **values: object) -> None:
        super().__init__(field, problem)
        self.code = problem
        self.values = values


class ReferenceConflict(IHanoiError):
    """The row changed since the user read it (like `ConflictError` for reports);
    nothing was written. `changed_by`/`changed_at` come from the admin log."""

    def __init__(
        self,
        entity: str,
        key: str,
        changed_by: str | None = None,
        changed_at: datetime | None = None,
    ) -> None:
        super().__init__(f"{entity} {key} changed by {changed_by} at {changed_at}")
        self.entity = entity
        self.key = key
        self.changed_by = changed_by
        self.changed_at = changed_at


# ------------------------------------------------------------------ rows


@dataclass(frozen=True)
class UnitRow:
    """A unit as the page shows it; passed back as `expected` when saving."""

    unit_id: int
    code: str
    kind: UnitKind
    level: str | None
    name: str
    name_en: str | None
    valid_from: date | None
    valid_to: date | None
    parent_id: int | None
    parent_code: str | None
    parent_name: str | None


@dataclass(frozen=True)
class UnitEdit:
    """What the administrator may change on a unit."""

    name: str
    name_en: str | None
    valid_from: date | None
    valid_to: date | None
    parent_id: int | None


@dataclass(frozen=True)
class UnitNew:
    code: str
    kind: UnitKind
    name: str
    name_en: str | None = None
    level: str | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    parent_id: int | None = None


@dataclass(frozen=True)
class CategoryRow:
    category_id: int
    code: str
    kind: Kind
    parent_code: str | None
    name_vi: str
    name_en: str
    default_unit_code: str | None
    sort_order: int
    active: bool
    report_count: int  # reports filed under it (a used category cannot be deleted)


@dataclass(frozen=True)
class CategoryEdit:
    name_vi: str
    name_en: str
    default_unit_code: str | None
    sort_order: int
    active: bool


@dataclass(frozen=True)
class CategoryNew:
    code: str
    kind: Kind
    name_vi: str
    name_en: str
    parent_code: str | None = None
    default_unit_code: str | None = None
    sort_order: int = 0


@dataclass(frozen=True)
class TemplateRow:
    template_id: int
    code: str
    kind: TemplateKind
    category_code: str | None
    title_vi: str
    title_en: str
    text_vi: str
    text_en: str
    active: bool


@dataclass(frozen=True)
class TemplateEdit:
    category_code: str | None
    title_vi: str
    title_en: str
    text_vi: str
    text_en: str
    active: bool


@dataclass(frozen=True)
class TemplateNew:
    code: str
    kind: TemplateKind
    title_vi: str
    title_en: str
    text_vi: str
    text_en: str
    category_code: str | None = None


@dataclass(frozen=True)
class DeadlineDocument:
    """The deadline rules text in force. `version` 0: the shipped file, never edited
    in the console (the first save must pass 0)."""

    content: str
    version: int
    stored: bool
    updated_at: datetime | None
    updated_by: str | None


@dataclass(frozen=True)
class FieldChange:
    """One field of a change: before → after (texts of several lines also as a diff)."""

    field: str
    before: Any
    after: Any
    diff: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChangeRow:
    """One admin-log entry about reference data, with its author's username."""

    event_id: int
    at: datetime
    actor_username: str | None
    entity: str
    entity_key: str
    key_text: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None
    changes: tuple[FieldChange, ...]


# ------------------------------------------------------------------ checks


def _require_admin(session: Session, actor: Actor, action: str) -> User:
    """The administrator as the database knows them now, or `PermissionDenied`."""
    user = session.get(User, actor.user_id) if actor.user_id is not None else None
    if user is None or not user.active:
        raise PermissionDenied(action, actor.role.value, "inactive")
    if user.role != Role.ADMIN.value:
        raise PermissionDenied(action, user.role, "reference data is the administrator's")
    return user


def _reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if len(text) < MIN_REASON_CHARS:
        raise RefAdminError("reason_required", "reason", min=MIN_REASON_CHARS)
    return text


def _name(value: str | None, field: str, required: bool = True) -> str | None:
    text = (value or "").strip()
    if not text:
        if required:
            raise RefAdminError("name_required", field)
        return None
    if len(text) > MAX_NAME:
        raise RefAdminError("too_long", field, max=MAX_NAME)
    return text


def _text(value: str | None, field: str) -> str:
    text = (value or "").strip()
    if not text:
        raise RefAdminError("text_required", field)
    if len(text) > MAX_TEXT:
        raise RefAdminError("too_long", field, max=MAX_TEXT)
    return text


def _dates(valid_from: date | None, valid_to: date | None) -> None:
    if valid_from is not None and valid_to is not None and valid_from > valid_to:
        raise RefAdminError(
            "dates_reversed",
            "valid_to",
            valid_from=valid_from.strftime("%d/%m/%Y"),
            valid_to=valid_to.strftime("%d/%m/%Y"),
        )


def _hanoi_day(now: datetime) -> date:
    return now.astimezone(HANOI_TZ).date()


def _is_valid_on(unit: Unit, day: date) -> bool:
    return (unit.valid_from is None or unit.valid_from <= day) and (
        unit.valid_to is None or day <= unit.valid_to
    )


def _routing_unit(session: Session, code: str | None, now: datetime) -> str | None:
    """A category's routing target: a handling unit valid today, or nothing."""
    text = (code or "").strip()
    if not text:
        return None
    units = session.exec(
        select(Unit)
        .where(Unit.code == text)
        .where(col(Unit.kind).in_([k.value for k in _HANDLING_KINDS]))
    ).all()
    if not units:
        raise RefAdminError("unit_unknown", "default_unit_code", code=text)
    if not any(_is_valid_on(u, _hanoi_day(now)) for u in units):
        raise RefAdminError("unit_not_valid", "default_unit_code", code=text)
    return text


def _category_code(session: Session, code: str | None, field: str) -> Category | None:
    text = (code or "").strip()
    if not text:
        return None
    category = session.exec(select(Category).where(Category.code == text)).first()
    if category is None:
        raise RefAdminError("category_unknown", field, code=text)
    return category


def _json(data: dict[str, Any] | None) -> str | None:
    return json.dumps(data, ensure_ascii=False) if data is not None else None


def _key(**parts: str) -> str:
    """The entity key as `reference.py` writes it (JSON of the natural key)."""
    return json.dumps(parts, ensure_ascii=False)


def _last_change(session: Session, entity: str, key: str) -> tuple[str | None, datetime | None]:
    row = session.exec(
        select(AdminEvent.at, User.username)
        .join(User, col(AdminEvent.actor_id) == col(User.id), isouter=True)
        .where(AdminEvent.entity == entity, AdminEvent.entity_key == key)
        .order_by(col(AdminEvent.at).desc(), col(AdminEvent.id).desc())
    ).first()
    return (row[1], row[0]) if row is not None else (None, None)


def _conflict(session: Session, entity: str, key: str) -> ReferenceConflict:
    who, when = _last_change(session, entity, key)
    return ReferenceConflict(entity, key, who, when)


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class _Change:
    """A change under way: who makes it, when, why, to which entity. Every write ends
    in `record`, so the change and its admin-log entry share one transaction."""

    session: Session
    admin: User
    now: datetime
    entity: str
    key: str
    why: str

    def record(
        self, action: str, before: dict[str, Any] | None, after: dict[str, Any] | None
    ) -> None:
        self.session.add(
            AdminEvent(
                at=self.now,
                actor_id=self.admin.id,
                entity=self.entity,
                entity_key=self.key,
                action=action,
                before=_json(before),
                after=_json(after),
                reason=self.why,
            )
        )
        self.session.flush()

    def created(
        self, target: Unit | Category | Template, after: Callable[[], dict[str, Any]]
    ) -> None:
        """Insert `target`, then log what `after` reads of it (ids and parents exist then)."""
        self.session.add(target)
        self.session.flush()
        self.record("create", None, after())

    def edited(
        self,
        target: Unit | Category | Template,
        before: dict[str, Any],
        after: dict[str, Any],
        what: str,
        apply: Callable[[], None] | None = None,
    ) -> None:
        """Write `after` onto `target` (by `apply` when the logged fields are not the
        columns) and log it; an edit changing only `active` is logged as (de)activation."""
        if before == after:
            raise RefAdminError("no_change", what)
        if apply is None:
            for field, value in after.items():
                setattr(target, field, value)
        else:
            apply()
        self.session.add(target)
        only_active = {k for k in after if before[k] != after[k]} == {"active"}
        action = ("activate" if after["active"] else "deactivate") if only_active else "update"
        self.record(action, before, after)


@dataclass(frozen=True)
class _Table(Generic[_Row, _Shown]):
    """What an edit needs of one kind of reference row: its admin-log entity and key,
    and the state compared with the row the page showed (`shown_state`)."""

    entity: str
    model: type[_Row]
    key_of: Callable[[_Row], str]
    state_of: Callable[[Session, _Row], dict[str, Any]]
    shown_state: Callable[[_Shown], dict[str, Any]]


def _coded(
    entity: str, model: type[_Row], state: Callable[[Any], dict[str, Any]]
) -> _Table[_Row, Any]:
    """A table keyed by its code alone, whose state reads the same off the database row
    and off the row the page showed (categories, templates)."""
    return _Table(entity, model, lambda row: _key(code=row.code), lambda _s, row: state(row), state)


def _begin_edit(
    session: Session,
    actor: Actor,
    action: str,
    table: _Table[_Row, _Shown],
    row_id: int,
    expected: _Shown,
    now: datetime,
    reason: str,
) -> tuple[_Row, _Change]:
    """The first half of every edit: re-check the admin, lock the row, refuse it if it
    no longer is what the user was shown, then require the reason (in this order, so a
    stale page says so before asking for anything else)."""
    admin = _require_admin(session, actor, action)
    model = table.model
    row = session.exec(select(model).where(col(model.id) == row_id).with_for_update()).first()
    if row is None:
        raise NotFound(table.entity, row_id)
    key = table.key_of(row)
    if table.state_of(session, row) != table.shown_state(expected):
        raise _conflict(session, table.entity, key)
    return row, _Change(session, admin, now, table.entity, key, _reason(reason))


def _begin_add(
    session: Session,
    actor: Actor,
    action: str,
    reason: str,
    code: str,
    pattern: re.Pattern[str],
    unique_in: type[Category] | type[Template] | None = None,
) -> tuple[User, str, str]:
    """The first checks of every add: the admin, the reason, the code's shape and (for
    category and template codes, unique on their own) that it is free.
    Returns the admin, the reason and the code, stripped."""
    admin = _require_admin(session, actor, action)
    why = _reason(reason)
    text = code.strip()
    if not pattern.fullmatch(text):
        raise RefAdminError("code_invalid", "code", code=text)
    if (
        unique_in is not None
        and session.exec(select(unique_in.id).where(unique_in.code == text)).first() is not None
    ):
        raise RefAdminError("code_taken", "code", code=text)
    return admin, why, text


def _unit_row(session: Session, unit: Unit) -> UnitRow:
    parent = session.get(Unit, unit.parent_id) if unit.parent_id is not None else None
    return _as_unit_row(unit, parent)


def _as_unit_row(unit: Unit, parent: Unit | None) -> UnitRow:
    assert unit.id is not None
    return UnitRow(
        unit_id=unit.id,
        code=unit.code,
        kind=UnitKind(unit.kind),
        level=unit.level,
        name=unit.name,
        name_en=unit.name_en,
        valid_from=unit.valid_from,
        valid_to=unit.valid_to,
        parent_id=unit.parent_id,
        parent_code=parent.code if parent else None,
        parent_name=parent.name if parent else None,
    )


def unit_state(row: UnitRow) -> dict[str, Any]:
    """The fields an edit compares and logs (the page's review shows the same)."""
    return {
        "name": row.name,
        "name_en": row.name_en,
        "valid_from": _iso(row.valid_from),
        "valid_to": _iso(row.valid_to),
        "parent": row.parent_code,
    }


def _unit_key(unit: Unit | UnitRow | UnitNew) -> str:
    kind = unit.kind.value if isinstance(unit.kind, UnitKind) else unit.kind
    return _key(kind=kind, code=unit.code)


_UNITS: Final = _Table(
    UNIT_ENTITY,
    Unit,
    _unit_key,
    lambda session, u: unit_state(_unit_row(session, u)),
    unit_state,
)


def list_units(
    session: Session,
    *,
    actor: Actor,
    kind: UnitKind | None = None,
    search: str | None = None,
) -> list[UnitRow]:
    """Units of one kind (or all), searchable by code or name ignoring case and
    diacritics, in kind then code order."""
    _require_admin(session, actor, "list_units")
    stmt = select(Unit)
    if kind is not None:
        stmt = stmt.where(Unit.kind == kind.value)
    units = session.exec(stmt.order_by(col(Unit.kind), col(Unit.code))).all()
    parents = {
        u.id: u
        for u in session.exec(
            select(Unit).where(
                col(Unit.id).in_({u.parent_id for u in units if u.parent_id is not None})
            )
        ).all()
    }
    needle = fold(search or "")
    rows = []
    for u in units:
        if needle and needle not in fold(f"{u.code} {u.name} {u.name_en or ''}"):
            continue
        rows.append(_as_unit_row(u, parents.get(u.parent_id) if u.parent_id is not None else None))
    return rows


@dataclass(frozen=True)
class UnitOption:
    """A unit a form may offer (a parent, a category's routing unit)."""

    unit_id: int
    code: str
    name: str
    kind: UnitKind


def parent_options(session: Session, *, actor: Actor) -> list[UnitOption]:
    """Units that are parents of others today (the 2024 districts hold the wards)."""
    _require_admin(session, actor, "list_units")
    units = session.exec(
        select(Unit)
        .where(col(Unit.kind).in_([UnitKind.DISTRICT.value, UnitKind.CITY_OFFICE.value]))
        .order_by(col(Unit.kind), col(Unit.code))
    ).all()
    return [UnitOption(u.id, u.code, u.name, UnitKind(u.kind)) for u in units if u.id is not None]


def routing_options(session: Session, *, actor: Actor, now: datetime) -> list[UnitOption]:
    """Handling units a category may route to: valid today, one per code."""
    _require_admin(session, actor, "list_units")
    day = _hanoi_day(now)
    seen: set[str] = set()
    out = []
    order = {UnitKind.DEPARTMENT.value: 0, UnitKind.COMMUNE.value: 1, UnitKind.DISTRICT.value: 2}
    units = session.exec(
        select(Unit).where(col(Unit.kind).in_([k.value for k in _HANDLING_KINDS]))
    ).all()
    for u in sorted(units, key=lambda u: (order.get(u.kind, 9), u.code)):
        if u.id is None or u.code in seen or not _is_valid_on(u, day):
            continue
        seen.add(u.code)
        out.append(UnitOption(u.id, u.code, u.name, UnitKind(u.kind)))
    return out


def _check_parent(session: Session, unit_id: int | None, parent_id: int | None) -> Unit | None:
    """An existing unit that is neither the unit itself nor one of its descendants."""
    if parent_id is None:
        return None
    parent = session.get(Unit, parent_id)
    if parent is None:
        raise RefAdminError("parent_unknown", "parent", id=str(parent_id))
    seen: set[int] = set()
    cursor: Unit | None = parent
    while cursor is not None and cursor.id is not None and cursor.id not in seen:
        if cursor.id == unit_id:
            raise RefAdminError("parent_cycle", "parent", code=parent.code)
        seen.add(cursor.id)
        cursor = session.get(Unit, cursor.parent_id) if cursor.parent_id is not None else None
    return parent


def update_unit(
    session: Session,
    *,
    actor: Actor,
    unit_id: int,
    expected: UnitRow,
    change: UnitEdit,
    now: datetime,
    reason: str,
) -> UnitRow:
    """Rename a unit, change its validity dates or its parent.

    Validity dates are how the 2025 reform is modelled (districts end on 30/06/2025,
    communes start on 01/07/2025), so they are edited here, never deleted.
    """
    unit, edit = _begin_edit(session, actor, "update_unit", _UNITS, unit_id, expected, now, reason)
    current = _unit_row(session, unit)
    name = _name(change.name, "name")
    name_en = _name(change.name_en, "name_en", required=False)
    _dates(change.valid_from, change.valid_to)
    parent = _check_parent(session, unit.id, change.parent_id)
    assert name is not None
    after_row = UnitRow(
        **{
            **asdict(current),
            "name": name,
            "name_en": name_en,
            "valid_from": change.valid_from,
            "valid_to": change.valid_to,
            "parent_id": parent.id if parent else None,
            "parent_code": parent.code if parent else None,
            "parent_name": parent.name if parent else None,
        }
    )

    def apply() -> None:
        unit.name, unit.name_en = after_row.name, after_row.name_en
        unit.valid_from, unit.valid_to = after_row.valid_from, after_row.valid_to
        unit.parent_id = after_row.parent_id

    edit.edited(unit, unit_state(current), unit_state(after_row), "unit", apply)
    return after_row


def add_unit(
    session: Session, *, actor: Actor, data: UnitNew, now: datetime, reason: str
) -> UnitRow:
    """Add a unit (a new department, a commune created by a later reform...)."""
    admin, why, code = _begin_add(session, actor, "add_unit", reason, data.code, UNIT_CODE)
    if data.kind is UnitKind.CITY_OFFICE:
        raise RefAdminError("kind_not_allowed", "kind", kind=data.kind.value)
    name = _name(data.name, "name")
    name_en = _name(data.name_en, "name_en", required=False)
    level = _name(data.level, "level", required=False)
    _dates(data.valid_from, data.valid_to)
    taken = session.exec(
        select(Unit.id).where(Unit.kind == data.kind.value, Unit.code == code)
    ).first()
    if taken is not None:
        raise RefAdminError("code_taken", "code", code=code)
    parent = _check_parent(session, None, data.parent_id)
    assert name is not None
    unit = Unit(
        code=code,
        kind=data.kind.value,
        level=level,
        name=name,
        name_en=name_en,
        valid_from=data.valid_from,
        valid_to=data.valid_to,
        parent_id=parent.id if parent else None,
    )
    _Change(session, admin, now, UNIT_ENTITY, _unit_key(unit), why).created(
        unit,
        lambda: {
            "kind": unit.kind,
            "code": unit.code,
            "level": level,
            **unit_state(_unit_row(session, unit)),
        },
    )
    return _unit_row(session, unit)


# ------------------------------------------------------------------ categories


def _category_counts(session: Session) -> dict[int, int]:
    return {
        cid: n
        for cid, n in session.exec(
            select(Report.category_id, func.count()).group_by(col(Report.category_id))
        ).all()
    }


def _category_row(session: Session, c: Category, count: int | None = None) -> CategoryRow:
    parent = session.get(Category, c.parent_id) if c.parent_id is not None else None
    if count is None:
        count = session.exec(
            select(func.count()).select_from(Report).where(Report.category_id == c.id)
        ).one()
    return _as_category_row(c, parent, count)


def _as_category_row(c: Category, parent: Category | None, count: int) -> CategoryRow:
    assert c.id is not None
    return CategoryRow(
        category_id=c.id,
        code=c.code,
        kind=Kind(c.kind),
        parent_code=parent.code if parent else None,
        name_vi=c.name_vi,
        name_en=c.name_en,
        default_unit_code=c.default_unit_code,
        sort_order=c.sort_order,
        active=c.active,
        report_count=count,
    )


CATEGORY_FIELDS: Final = ("name_vi", "name_en", "default_unit_code", "sort_order", "active")


def category_state(row: CategoryRow | Category) -> dict[str, Any]:
    """The fields an edit compares and logs (the page's review shows the same)."""
    return {field: getattr(row, field) for field in CATEGORY_FIELDS}


_CATEGORIES: Final = _coded(CATEGORY_ENTITY, Category, category_state)


def list_categories(session: Session, *, actor: Actor) -> list[CategoryRow]:
    """Every category, inactive ones too, in the order forms list them."""
    _require_admin(session, actor, "list_categories")
    counts = _category_counts(session)
    cats = session.exec(select(Category).order_by(col(Category.sort_order), col(Category.code)))
    by_id = {c.id: c for c in cats.all()}
    rows = []
    for c in by_id.values():
        parent = by_id.get(c.parent_id) if c.parent_id is not None else None
        rows.append(_as_category_row(c, parent, counts.get(c.id or 0, 0)))
    return rows


def update_category(
    session: Session,
    *,
    actor: Actor,
    category_id: int,
    expected: CategoryRow,
    change: CategoryEdit,
    now: datetime,
    reason: str,
) -> CategoryRow:
    """Rename a category, change its routing unit or order, or (de)activate it.

    Deactivating is how a category used by reports is retired: its reports keep it.
    """
    category, edit = _begin_edit(
        session, actor, "update_category", _CATEGORIES, category_id, expected, now, reason
    )
    name_vi = _name(change.name_vi, "name_vi")
    name_en = _name(change.name_en, "name_en")
    unit_code = _routing_unit(session, change.default_unit_code, now)
    assert name_vi is not None and name_en is not None
    after = {
        "name_vi": name_vi,
        "name_en": name_en,
        "default_unit_code": unit_code,
        "sort_order": int(change.sort_order),
        "active": bool(change.active),
    }
    edit.edited(category, category_state(category), after, "category")
    return _category_row(session, category)


def add_category(
    session: Session, *, actor: Actor, data: CategoryNew, now: datetime, reason: str
) -> CategoryRow:
    """Add a category (top level, or under a top-level one of the same kind)."""
    admin, why, code = _begin_add(
        session, actor, "add_category", reason, data.code, DATA_CODE, Category
    )
    parent = _category_code(session, data.parent_code, "parent")
    if parent is not None and (parent.kind != data.kind.value or parent.parent_id is not None):
        raise RefAdminError("parent_not_top", "parent", code=parent.code)
    name_vi = _name(data.name_vi, "name_vi")
    name_en = _name(data.name_en, "name_en")
    unit_code = _routing_unit(session, data.default_unit_code, now)
    assert name_vi is not None and name_en is not None
    category = Category(
        code=code,
        kind=data.kind.value,
        parent_id=parent.id if parent else None,
        name_vi=name_vi,
        name_en=name_en,
        default_unit_code=unit_code,
        sort_order=int(data.sort_order),
        active=True,
    )
    _Change(session, admin, now, CATEGORY_ENTITY, _key(code=code), why).created(
        category,
        lambda: (
            {"kind": data.kind.value, "parent": parent.code if parent else None}
            | category_state(category)
        ),
    )
    return _category_row(session, category, 0)


def delete_category(
    session: Session,
    *,
    actor: Actor,
    category_id: int,
    expected: CategoryRow,
    now: datetime,
    reason: str,
) -> None:
    """Remove a category nothing refers to (one added by mistake). A category used by
    a report, a child category, a template or a deadline rule is refused: deactivate it."""
    category, edit = _begin_edit(
        session, actor, "delete_category", _CATEGORIES, category_id, expected, now, reason
    )
    reports = session.exec(
        select(func.count()).select_from(Report).where(Report.category_id == category.id)
    ).one()
    if reports:
        raise RefAdminError("category_in_use", "category", code=category.code, reports=reports)
    if session.exec(select(Category.id).where(Category.parent_id == category.id)).first():
        raise RefAdminError("category_has_children", "category", code=category.code)
    if session.exec(select(Template.id).where(Template.category_code == category.code)).first():
        raise RefAdminError("category_has_templates", "category", code=category.code)
    if any(k[1] == category.code for k in rules_for(session).rules):
        raise RefAdminError("category_in_rules", "category", code=category.code)
    before = {"kind": category.kind} | category_state(category)
    session.delete(category)
    edit.record("delete", before, None)


# ------------------------------------------------------------------ templates


def _template_row(t: Template) -> TemplateRow:
    assert t.id is not None
    return TemplateRow(
        template_id=t.id,
        code=t.code,
        kind=TemplateKind(t.kind),
        category_code=t.category_code,
        title_vi=t.title_vi,
        title_en=t.title_en,
        text_vi=t.text_vi,
        text_en=t.text_en,
        active=t.active,
    )


TEMPLATE_FIELDS: Final = ("category_code", "title_vi", "title_en", "text_vi", "text_en", "active")


def template_state(row: TemplateRow | Template) -> dict[str, Any]:
    """The fields an edit compares and logs (the page's review shows the same)."""
    return {field: getattr(row, field) for field in TEMPLATE_FIELDS}


_TEMPLATES: Final = _coded(TEMPLATE_ENTITY, Template, template_state)


def list_templates(session: Session, *, actor: Actor) -> list[TemplateRow]:
    _require_admin(session, actor, "list_templates")
    rows = session.exec(select(Template).order_by(col(Template.kind), col(Template.code))).all()
    return [_template_row(t) for t in rows]


def update_template(
    session: Session,
    *,
    actor: Actor,
    template_id: int,
    expected: TemplateRow,
    change: TemplateEdit,
    now: datetime,
    reason: str,
) -> TemplateRow:
    """Change a template's texts or category, or (de)activate it. Reports that used it
    keep the text they were sent (the event holds it)."""
    template, edit = _begin_edit(
        session, actor, "update_template", _TEMPLATES, template_id, expected, now, reason
    )
    category = _category_code(session, change.category_code, "category_code")
    after = {
        "category_code": category.code if category else None,
        "title_vi": _name(change.title_vi, "title_vi"),
        "title_en": _name(change.title_en, "title_en"),
        "text_vi": _text(change.text_vi, "text_vi"),
        "text_en": _text(change.text_en, "text_en"),
        "active": bool(change.active),
    }
    edit.edited(template, template_state(template), after, "template")
    return _template_row(template)


def add_template(
    session: Session, *, actor: Actor, data: TemplateNew, now: datetime, reason: str
) -> TemplateRow:
    admin, why, code = _begin_add(
        session, actor, "add_template", reason, data.code, DATA_CODE, Template
    )
    category = _category_code(session, data.category_code, "category_code")
    title_vi = _name(data.title_vi, "title_vi")
    title_en = _name(data.title_en, "title_en")
    assert title_vi is not None and title_en is not None
    template = Template(
        code=code,
        kind=TemplateKind(data.kind).value,
        category_code=category.code if category else None,
        title_vi=title_vi,
        title_en=title_en,
        text_vi=_text(data.text_vi, "text_vi"),
        text_en=_text(data.text_en, "text_en"),
        active=True,
    )
    _Change(session, admin, now, TEMPLATE_ENTITY, _key(code=code), why).created(
        template, lambda: {"kind": template.kind} | template_state(template)
    )
    return _template_row(template)


# ------------------------------------------------------------------ deadline rules

_DOCUMENT_KEY: Final = _key(name=DEADLINES_DOCUMENT)


def deadline_document(session: Session, *, actor: Actor) -> DeadlineDocument:
    """The deadline rules text in force: the console's stored text, else the file."""
    _require_admin(session, actor, "deadline_document")
    row = session.exec(
        select(ReferenceDocument, User.username)
        .join(User, col(ReferenceDocument.updated_by) == col(User.id), isouter=True)
        .where(ReferenceDocument.name == DEADLINES_DOCUMENT)
    ).first()
    if row is None:
        text = reference_path(DEADLINES_FILE).read_text(encoding="utf-8")
        return DeadlineDocument(text, 0, False, None, None)
    doc, username = row
    return DeadlineDocument(doc.content, doc.version, True, doc.updated_at, username)


def check_deadline_text(session: Session, text: str) -> DeadlineRules:
    """Validate a deadline-rules text as the workflow would use it, and check that
    every category a rule names exists and belongs to the rule's kind.

    Raises `DeadlineTextError` with the line of the offending entry.
    """
    if len(text) > MAX_DOCUMENT:
        raise RefAdminError("too_long", "content", max=MAX_DOCUMENT)
    rules = parse_deadline_text(text)
    kinds = dict(session.exec(select(Category.code, Category.kind)).all())
    for kind, category, priority in rules.rules:
        if category is None:
            continue
        where = f"rules (kind={kind}, category={category}, priority={priority})"
        if category not in kinds:
            line = _rule_line(text, kind, category, priority)
            raise DeadlineTextError(where, f"unknown category {category!r}", line)
        if kinds[category] != kind:
            line = _rule_line(text, kind, category, priority)
            raise DeadlineTextError(
                where, f"category {category!r} is of kind {kinds[category]!r}", line
            )
    return rules


def _rule_line(text: str, kind: str, category: str, priority: str) -> int | None:
    """The line of the rule with this key (rules are unique per key once parsed)."""
    raw = yaml.safe_load(text)
    for i, entry in enumerate(raw.get("rules") or []):
        if (
            isinstance(entry, dict)
            and entry.get("kind") == kind
            and entry.get("category") == category
            and entry.get("priority") == priority
        ):
            return entry_line(text, f"rules[{i}]")
    return None


def save_deadline_rules(
    session: Session,
    *,
    actor: Actor,
    content: str,
    expected_version: int,
    now: datetime,
    reason: str,
) -> DeadlineDocument:
    """Store a new deadline rules text; from the next deadline the workflow computes
    (a report received, dispatched, reassigned or reopened), it is in force.

    Deadlines already set are not recomputed: each event recorded the deadline it set,
    and that is what the unit was told.
    """
    admin = _require_admin(session, actor, "save_deadline_rules")
    current = session.exec(
        select(ReferenceDocument)
        .where(ReferenceDocument.name == DEADLINES_DOCUMENT)
        .with_for_update()
    ).first()
    current_version = current.version if current is not None else 0
    if current_version != expected_version:
        raise _conflict(session, DOCUMENT_ENTITY, _DOCUMENT_KEY)
    why = _reason(reason)
    text = content.replace("\r\n", "\n")
    check_deadline_text(session, text)
    before_text = (
        current.content
        if current is not None
        else reference_path(DEADLINES_FILE).read_text(encoding="utf-8")
    )
    if text.strip() == before_text.strip():
        raise RefAdminError("no_change", "content")
    new_version = current_version + 1
    if current is None:
        try:
            with session.begin_nested():
                session.add(
                    ReferenceDocument(
                        name=DEADLINES_DOCUMENT,
                        content=text,
                        version=new_version,
                        updated_at=now,
                        updated_by=admin.id,
                    )
                )
                session.flush()
        except IntegrityError as exc:  # someone saved the first version meanwhile
            raise ReferenceConflict(DOCUMENT_ENTITY, _DOCUMENT_KEY) from exc
    else:
        done = session.exec(
            update(ReferenceDocument)
            .where(col(ReferenceDocument.id) == current.id)
            .where(col(ReferenceDocument.version) == expected_version)
            .values(content=text, version=new_version, updated_at=now, updated_by=admin.id)
            .execution_options(synchronize_session=False)
        )
        if done.rowcount != 1:
            raise _conflict(session, DOCUMENT_ENTITY, _DOCUMENT_KEY)
        session.expire(current)
    _Change(session, admin, now, DOCUMENT_ENTITY, _DOCUMENT_KEY, why).record(
        "update",
        {"version": current_version, "content": before_text},
        {"version": new_version, "content": text},
    )
    return DeadlineDocument(text, new_version, True, now, admin.username)


# ------------------------------------------------------------------ history


def field_changes(
    before: dict[str, Any] | None, after: dict[str, Any] | None
) -> tuple[FieldChange, ...]:
    """The fields that differ, in the order of `before`; texts of several lines also as
    a unified diff (a deadline-rules edit is a few lines of a long text)."""
    b, a = before or {}, after or {}
    out = []
    for field in [*b, *(k for k in a if k not in b)]:
        old, new = b.get(field), a.get(field)
        if old == new:
            continue
        diff: tuple[str, ...] = ()
        if isinstance(old, str) and isinstance(new, str) and ("\n" in old or "\n" in new):
            diff = tuple(
                line.rstrip("\n")
                for line in difflib.unified_diff(
                    old.splitlines(), new.splitlines(), "before", "after", lineterm="", n=1
                )
            )
        out.append(FieldChange(field, old, new, diff))
    return tuple(out)


def _key_text(entity_key: str) -> str:
    try:
        parts = json.loads(entity_key)
    except ValueError:
        return entity_key
    if isinstance(parts, dict):
        return " · ".join(str(v) for v in parts.values())
    return entity_key


def _loads(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    value = json.loads(text)
    return value if isinstance(value, dict) else {"value": value}


def reference_history(
    session: Session,
    *,
    actor: Actor,
    entity: str | None = None,
    entity_key: str | None = None,
    limit: int = 200,
) -> list[ChangeRow]:
    """Changes to reference data, newest first: the console's edits and the syncs of
    `init-db` when a reference file changed. Filter by entity and one entity's key."""
    _require_admin(session, actor, "reference_history")
    if entity is not None and entity not in REFERENCE_ENTITIES:
        raise RefAdminError("entity_unknown", "entity", entity=entity)
    stmt = (
        select(AdminEvent, User.username)
        .join(User, col(AdminEvent.actor_id) == col(User.id), isouter=True)
        .where(col(AdminEvent.entity).in_([entity] if entity else list(REFERENCE_ENTITIES)))
    )
    if entity_key is not None:
        stmt = stmt.where(AdminEvent.entity_key == entity_key)
    events = session.exec(
        stmt.order_by(col(AdminEvent.at).desc(), col(AdminEvent.id).desc()).limit(limit)
    ).all()
    rows = []
    for e, username in events:
        assert e.id is not None
        before, after = _loads(e.before), _loads(e.after)
        rows.append(
            ChangeRow(
                event_id=e.id,
                at=e.at,
                actor_username=username,
                entity=e.entity,
                entity_key=e.entity_key,
                key_text=_key_text(e.entity_key),
                action=e.action,
                before=before,
                after=after,
                reason=e.reason,
                changes=field_changes(before, after),
            )
        )
    return rows


def unit_key(row: UnitRow) -> str:
    """The admin-log key of a unit (to ask `reference_history` for its changes)."""
    return _unit_key(row)


def code_key(code: str) -> str:
    """The admin-log key of a category or template."""
    return _key(code=code)


DEADLINES_KEY: Final = _DOCUMENT_KEY
