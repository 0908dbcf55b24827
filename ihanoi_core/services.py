"""Use cases that write: create a report (and route it), create a user.

Status changes go through `workflow.apply`; these functions only add new rows and
always record the first event of a report's history.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime

import bcrypt
from sqlmodel import Session, col, select

from ihanoi_core.boundaries import layout_by_id
from ihanoi_core.config import HANOI_TZ
from ihanoi_core.errors import ValidationError
from ihanoi_core.models import Category, Report, ReportCreate, ReportEvent, Unit, User, UserCreate
from ihanoi_core.reference import SYSTEM_USERNAME
from ihanoi_core.routing import Router, router_for
from ihanoi_core.text import search_text_of
from ihanoi_core.vocab import HANDLING_UNIT_KINDS, Action, Kind, Role, RoutingFlag, Status, UnitKind
from ihanoi_core.workflow import ActionParams, Actor, DeadlinePolicy, apply

HANDLING_KINDS = tuple(sorted(HANDLING_UNIT_KINDS))
BCRYPT_MAX_BYTES = 72
MIN_PASSWORD_CHARS = 8
USERNAME_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


# ----------------------------------------------------------------- users


def validate_password(password: str) -> None:
    """bcrypt ignores bytes past 72 (bcrypt 5 refuses them): say so instead of failing."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise ValidationError("password", f"at least {MIN_PASSWORD_CHARS} characters")
    if len(password.encode("utf-8")) > BCRYPT_MAX_BYTES:
        raise ValidationError("password", f"at most {BCRYPT_MAX_BYTES} bytes (UTF-8)")
    if password != password.strip():
        # the login form strips what is typed: such a password could never log in
        raise ValidationError("password", "no spaces at the start or the end")


def hash_password(password: str) -> str:
    validate_password(password)
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt()).decode("ascii")


def check_password(password: str, password_hash: str) -> bool:
    encoded = password.encode("utf-8")
    if len(encoded) > BCRYPT_MAX_BYTES or not password_hash.startswith("$2"):
        return False
    try:
        return bcrypt.checkpw(encoded, password_hash.encode("ascii"))
    except ValueError:  # a damaged stored hash means "no", never a crash of the login page
        return False


def find_unit(
    session: Session, code: str, kinds: tuple[UnitKind, ...] | None = None
) -> Unit | None:
    """The unit with `code` among `kinds`: codes repeat across kinds (a 2025 commune
    reuses the GSO code of a 2024 ward), so callers say which kind they mean."""
    stmt = select(Unit).where(Unit.code == code)
    if kinds:
        stmt = stmt.where(col(Unit.kind).in_([k.value for k in kinds]))
    return session.exec(stmt.order_by(col(Unit.id))).first()


def unit_by_code(session: Session, code: str, kinds: tuple[UnitKind, ...] | None = None) -> Unit:
    unit = find_unit(session, code, kinds)
    if unit is None:
        raise ValidationError("unit", f"unknown unit code {code!r}")
    return unit


def create_user(
    session: Session, *, data: UserCreate, now: datetime, password_hash: str | None = None
) -> User:
    """Add a login account; unit roles must name their unit."""
    try:
        role = Role(data.role)
    except ValueError:
        raise ValidationError("role", f"unknown role {data.role!r}") from None
    if role is Role.SYSTEM:
        raise ValidationError("role", "the system role cannot log in")
    # The login form lower-cases what is typed, so usernames are stored lower-case and
    # "Lan" and "lan" cannot both exist.
    username = data.username.strip().lower()
    if not USERNAME_PATTERN.fullmatch(username):
        raise ValidationError("username", "letters, digits, '.', '_' or '-' (1-64 chars)")
    if session.exec(select(User).where(User.username == username)).first():
        raise ValidationError("username", f"{username!r} already exists")
    unit_id: int | None = None
    if data.unit_code:
        unit_id = unit_by_code(session, data.unit_code, HANDLING_KINDS).id
    elif role in (Role.OFFICER, Role.UNIT_LEADER):
        raise ValidationError("unit", "unit roles need a unit")
    user = User(
        username=username,
        full_name=data.full_name.strip() or username,
        role=role.value,
        unit_id=unit_id,
        password_hash=password_hash or hash_password(data.password),
        created_at=now,
    )
    session.add(user)
    session.flush()
    return user


def system_actor(session: Session) -> Actor:
    user = session.exec(select(User).where(User.username == SYSTEM_USERNAME)).one()
    return Actor.of(user)


# --------------------------------------------------------------- reports


def new_report_code(submitted_at: datetime, token: str | None = None) -> str:
    """Public code `PA-yymmdd-XXXXX`: readable on the phone, no sequence to contend for."""
    token = token or "".join(secrets.choice(CODE_ALPHABET) for _ in range(5))
    return f"PA-{submitted_at.astimezone(HANOI_TZ):%y%m%d}-{token}"


def validate_report(data: ReportCreate) -> None:
    if data.kind not in {k.value for k in Kind}:
        raise ValidationError("kind", f"unknown kind {data.kind!r}")
    if not data.title.strip():
        raise ValidationError("title", "a title is required")
    if (data.lat is None) != (data.lon is None):
        raise ValidationError("location", "latitude and longitude go together")
    if (
        data.lat is not None
        and data.lon is not None
        and not (-90 <= data.lat <= 90 and -180 <= data.lon <= 180)
    ):
        raise ValidationError("location", "coordinates out of range")
    if data.submitted_at.tzinfo is None:
        raise ValidationError("submitted_at", "a time zone is required")


def create_report(
    session: Session,
    *,
    data: ReportCreate,
    now: datetime,
    router: Router | None = None,
    deadlines: DeadlinePolicy | None = None,
    code: str | None = None,
    auto_route: bool = True,
    first_action: Action = Action.RECEIVE,
) -> Report:
    """Record a new report (first event `receive`) and route it when the rules allow.

    Routing order: the category's own unit (e.g. power outage → the power company),
    then the location's district/commune; procedure reports, reports without a
    location and points outside Hanoi stay with the city dispatcher, flagged.
    """
    validate_report(data)
    category = session.exec(select(Category).where(Category.code == data.category_code)).first()
    if category is None or category.id is None:
        raise ValidationError("category", f"unknown category {data.category_code!r}")
    if category.kind != data.kind:
        raise ValidationError("category", "category does not belong to this kind of report")
    if not category.active:
        raise ValidationError("category", f"category {data.category_code!r} is no longer in use")

    target: Unit | None = None
    flag: RoutingFlag | None = None
    district_id = ward_id = None
    if data.lat is None or data.lon is None:
        flag = RoutingFlag.NO_LOCATION
    else:
        if router is None:
            router = router_for(session)
        on = data.submitted_at.astimezone(HANOI_TZ).date()
        result = router.route(data.lat, data.lon, on)
        if result.unit_code is None:
            flag = RoutingFlag.OUTSIDE_HANOI
        else:
            # Layouts are data: the handling unit's kind is the layout's, not a year's.
            unit_kind = UnitKind(layout_by_id(result.layout).unit_kind)
            target = unit_by_code(session, result.unit_code, (unit_kind,))
            if unit_kind is UnitKind.COMMUNE:
                ward_id = target.id
            else:
                district_id = target.id
                if result.ward_code:
                    ward = find_unit(session, result.ward_code, (UnitKind.WARD,))
                    ward_id = ward.id if ward else None  # a loaded file may name new wards
    if category.default_unit_code:
        target = unit_by_code(session, category.default_unit_code, HANDLING_KINDS)
        flag = None
    elif data.kind == Kind.PROCEDURE.value:
        target, flag = None, RoutingFlag.CITY_LEVEL

    system = system_actor(session)
    code = code or new_report_code(data.submitted_at)
    report = Report(
        code=code,
        kind=data.kind,
        category_id=category.id,
        title=data.title.strip(),
        description=data.description,
        address=data.address,
        lat=data.lat,
        lon=data.lon,
        district_id=district_id,
        ward_id=ward_id,
        submitted_at=data.submitted_at,
        received_at=now,
        status=Status.RECEIVED.value,
        current_unit_id=session.exec(
            select(Unit.id).where(Unit.kind == UnitKind.CITY_OFFICE.value)
        ).one(),
        routing_flag=flag.value if flag else None,
        source=data.source,
        source_ref=data.source_ref,
        search_text=search_text_of(code, data.title, data.description, data.address),
        updated_at=now,
    )
    session.add(report)
    session.flush()
    assert report.id is not None
    session.add(
        ReportEvent(
            report_id=report.id,
            seq=1,
            at=now,
            actor_id=system.user_id,
            actor_role=Role.SYSTEM.value,
            action=first_action.value,
            from_status=None,
            to_status=Status.RECEIVED.value,
            to_unit_id=report.current_unit_id,
            priority=report.priority,
        )
    )
    session.flush()
    if auto_route and target is not None and target.id is not None:
        apply(
            session,
            action=Action.ROUTE,
            report_id=report.id,
            actor=system,
            expected_version=report.version,
            now=now,
            params=ActionParams(to_unit_id=target.id),
            deadlines=deadlines,
        )
    return report
