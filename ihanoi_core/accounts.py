"""Accounts: logging in, sessions that can really end, and managing users.

Streamlit-free, so the console, the CLI and the tests share one set of rules:

- **Lockout lives in the database.** The login library keeps its failed-attempt
  counter in a credentials dict that the console rebuilds on every run, so it would
  never reach its limit; `record_failed_login` counts in `User.failed_logins` (one
  atomic UPDATE, so parallel guesses are all counted) and sets `locked_until`.
- **Sessions can be revoked.** A session (the server-side one and the browser's
  cookie) carries the account's `session_version`; logging out, a password reset,
  a deactivation or a role/unit change bumps it, and `check_session` /
  `verify_session_token` refuse anything that carries an older one. A copied
  cookie is therefore worthless once its owner has logged out.
- **Account management follows the regulation.** Every change writes an
  `AdminEvent` (who, when, before/after, why); `permissions.can_manage_user` says
  who may touch which account (the city administrator: all; a unit leader: the
  officers of their own unit).

Errors are typed: `AccountError.code` names the broken rule so the UI can say it
in the user's language; `SessionRefused.reason` says why a session was refused.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

import jwt
from sqlmodel import Session, col, func, select, update

from ihanoi_core import services
from ihanoi_core.config import HANOI_TZ
from ihanoi_core.errors import IHanoiError, NotFound, PermissionDenied, ValidationError
from ihanoi_core.models import AdminEvent, Unit, User, UserCreate
from ihanoi_core.permissions import can_manage_user, can_open_user_admin
from ihanoi_core.text import fold
from ihanoi_core.vocab import HANDLING_UNIT_KINDS, LOGIN_ROLES, UNIT_ROLES, Role, UnitKind
from ihanoi_core.workflow import MIN_REASON_CHARS, Actor

SUPPORTED_LANGUAGES: tuple[str, ...] = ("vi", "en")
CITY_ROLES: frozenset[Role] = frozenset(LOGIN_ROLES) - UNIT_ROLES
MIN_COOKIE_KEY_BYTES = 32
TOKEN_ALGORITHM = "HS256"
TOKEN_CLOCK_SKEW = timedelta(minutes=1)
USER_ENTITY = "user"
_UNIT_KIND_ORDER = (UnitKind.CITY_OFFICE, UnitKind.DEPARTMENT, UnitKind.DISTRICT, UnitKind.COMMUNE)


# ------------------------------------------------------------------ types


class AccountError(ValidationError):
    """An account rule was broken; `code` names it (the UI's sentence key), `values`
    carry what the sentence needs (a minimum length, a date...)."""

    def __init__(self, code: str, field: str, **values: object) -> None:
        super().__init__(field, code)
        self.code = code
        self.values = values


class SessionProblem(StrEnum):
    INVALID = "invalid"  # not signed with our key, malformed, or not one of our tokens
    EXPIRED = "expired"
    UNKNOWN_USER = "unknown_user"
    INACTIVE = "inactive"
    LOCKED = "locked"
    REVOKED = "revoked"  # logged out, password reset, deactivated, role/unit changed
    CHANGED = "changed"  # role or unit no longer what the session was opened with


class SessionRefused(IHanoiError):
    """A session (live or restored from a cookie) is no longer acceptable."""

    def __init__(self, reason: SessionProblem) -> None:
        super().__init__(f"session refused: {reason.value}")
        self.reason = reason


@dataclass(frozen=True)
class LockoutPolicy:
    """How many wrong passwords lock an account, and for how long (configuration)."""

    max_failures: int = 5
    lock_for: timedelta = timedelta(minutes=15)


DEFAULT_LOCKOUT = LockoutPolicy()


@dataclass(frozen=True)
class LoginFailure:
    """What a wrong password did: the count so far and, if now locked, until when."""

    failures: int
    locked_until: datetime | None

    @property
    def locked(self) -> bool:
        return self.locked_until is not None


@dataclass(frozen=True)
class Identity:
    """Who logged in, as the UI keeps it (plain values, no ORM object)."""

    user_id: int
    username: str
    full_name: str
    role: Role
    unit_id: int | None
    unit_name: str | None
    session_version: int
    language: str


@dataclass(frozen=True)
class LoginAccount:
    """One entry of the login library's credentials: an active account with a bcrypt hash."""

    username: str
    full_name: str
    password_hash: str
    role: Role


@dataclass(frozen=True)
class UserRow:
    """One line of the users table; `can_manage` says whether the viewer may change it."""

    user_id: int
    username: str
    full_name: str
    role: Role
    unit_id: int | None
    unit_code: str | None
    unit_name: str | None
    active: bool
    locked_until: datetime | None
    language: str
    created_at: datetime
    can_manage: bool


@dataclass(frozen=True)
class UnitChoice:
    """A unit an account may be placed in (the form's select options)."""

    unit_id: int
    code: str
    name: str
    kind: UnitKind


# ------------------------------------------------------------- validation


def validate_cookie_key(key: str | None) -> str:
    """The cookie-signing key, or an error: the login library's default key is public,
    and a short key can be brute-forced offline from one stolen cookie."""
    if key is None or not key.strip():
        raise AccountError("cookie_key_missing", "cookie_key", min_bytes=MIN_COOKIE_KEY_BYTES)
    if len(key.encode("utf-8")) < MIN_COOKIE_KEY_BYTES:
        raise AccountError("cookie_key_too_short", "cookie_key", min_bytes=MIN_COOKIE_KEY_BYTES)
    return key


def is_password_too_long(password: str) -> bool:
    """bcrypt 5 refuses passwords over 72 bytes (UTF-8): say so rather than crash."""
    return len(password.encode("utf-8")) > services.BCRYPT_MAX_BYTES


def validate_new_password(password: str) -> None:
    """The rules for a password an administrator sets.

    Leading/trailing spaces are refused because the login form's library strips
    them before checking: such a password could never be typed in successfully.
    """
    if len(password) < services.MIN_PASSWORD_CHARS:
        raise AccountError("password_too_short", "password", min=services.MIN_PASSWORD_CHARS)
    if is_password_too_long(password):
        raise AccountError("password_too_long", "password", max=services.BCRYPT_MAX_BYTES)
    if password != password.strip():
        raise AccountError("password_whitespace", "password")


def _reason_text(reason: str | None, required: bool) -> str | None:
    text = (reason or "").strip()
    if required and len(text) < MIN_REASON_CHARS:
        raise AccountError("reason_required", "reason", min=MIN_REASON_CHARS)
    return text or None


def _login_role(value: Role | str) -> Role:
    try:
        role = Role(value)
    except ValueError:
        raise AccountError("role_unknown", "role", role=str(value)) from None
    if role not in LOGIN_ROLES:
        raise AccountError("role_system", "role")
    return role


def _valid_on(unit: Unit, day: date) -> bool:
    return (unit.valid_from is None or unit.valid_from <= day) and (
        unit.valid_to is None or day <= unit.valid_to
    )


def _hanoi_day(now: datetime) -> date:
    return now.astimezone(HANOI_TZ).date()


def _check_role_unit(role: Role, unit: Unit | None, now: datetime, unit_is_new: bool) -> None:
    """Unit roles work in one handling unit; city-wide roles belong to no unit (a unit on
    a dispatcher or leader would wrongly scope what the workflow lets them see)."""
    if role in UNIT_ROLES and unit is None:
        raise AccountError("unit_required", "unit", role=role.value)
    if role in CITY_ROLES and unit is not None:
        raise AccountError("unit_not_allowed", "unit", role=role.value)
    if unit is None:
        return
    if UnitKind(unit.kind) not in HANDLING_UNIT_KINDS:
        raise AccountError("unit_not_handling", "unit", unit=unit.name)
    if unit_is_new and not _valid_on(unit, _hanoi_day(now)):
        valid_to = unit.valid_to.strftime("%d/%m/%Y") if unit.valid_to else ""
        valid_from = unit.valid_from.strftime("%d/%m/%Y") if unit.valid_from else ""
        raise AccountError(
            "unit_not_valid", "unit", unit=unit.name, valid_from=valid_from, valid_to=valid_to
        )


# ---------------------------------------------------------------- lookups


def _user_by_username(session: Session, username: str) -> User | None:
    """The login account named `username`, ignoring case (the login library lowercases
    what people type). Two accounts that differ only by case are ambiguous: neither
    can log in, rather than the wrong one."""
    name = username.strip().lower()
    if not name:
        return None
    rows = session.exec(select(User).where(func.lower(User.username) == name)).all()
    if len(rows) != 1 or rows[0].role == Role.SYSTEM.value:
        return None
    return rows[0]


def _unit_name(session: Session, unit_id: int | None) -> str | None:
    unit = session.get(Unit, unit_id) if unit_id is not None else None
    return unit.name if unit else None


def identity_of(session: Session, user: User) -> Identity:
    assert user.id is not None
    return Identity(
        user_id=user.id,
        username=user.username,
        full_name=user.full_name,
        role=Role(user.role),
        unit_id=user.unit_id,
        unit_name=_unit_name(session, user.unit_id),
        session_version=user.session_version,
        language=user.language if user.language in SUPPORTED_LANGUAGES else "vi",
    )


def login_accounts(session: Session) -> list[LoginAccount]:
    """Active accounts that can log in with a password (the system account cannot)."""
    rows = session.exec(
        select(User.username, User.full_name, User.password_hash, User.role)
        .where(col(User.active).is_(True))
        .where(col(User.role).in_([r.value for r in LOGIN_ROLES]))
        .where(col(User.password_hash).startswith("$2"))
        .order_by(col(User.username))
    ).all()
    return [LoginAccount(u, n, h, Role(r)) for u, n, h, r in rows]


# ------------------------------------------------------------------ login


def is_locked(user: User, now: datetime) -> bool:
    return user.locked_until is not None and user.locked_until > now


def lock_state(session: Session, username: str, now: datetime) -> datetime | None:
    """Until when `username` is locked, or None (also for unknown names)."""
    user = _user_by_username(session, username)
    if user is None or not is_locked(user, now):
        return None
    return user.locked_until


def record_failed_login(
    session: Session, username: str, now: datetime, policy: LockoutPolicy = DEFAULT_LOCKOUT
) -> LoginFailure:
    """Count a wrong password for `username`; the `policy.max_failures`-th locks the
    account for `policy.lock_for` (and is written to the admin log).

    Attempts on a locked account are not counted (the lock does not grow while an
    attacker keeps trying); unknown and inactive accounts have nothing to count.
    """
    user = _user_by_username(session, username)
    if user is None or user.id is None or not user.active:
        return LoginFailure(0, None)
    if is_locked(user, now):
        return LoginFailure(user.failed_logins, user.locked_until)
    session.exec(
        update(User)
        .where(col(User.id) == user.id)
        .values(failed_logins=col(User.failed_logins) + 1)
        .execution_options(synchronize_session=False)
    )
    session.refresh(user)
    failures = user.failed_logins
    if failures < policy.max_failures:
        return LoginFailure(failures, None)
    user.locked_until = now + policy.lock_for
    user.failed_logins = 0
    session.add(user)
    _log(
        session,
        actor_id=None,
        now=now,
        user=user,
        action="lock",
        before={"failed_logins": failures},
        after={"locked_until": user.locked_until.isoformat()},
        reason=f"{failures} failed logins",
    )
    session.flush()
    return LoginFailure(failures, user.locked_until)


def record_login_success(session: Session, username: str, now: datetime) -> Identity:
    """Clear the failure count after a correct password; refuse a locked or inactive
    account even then (the lock is the point of counting)."""
    user = _user_by_username(session, username)
    if user is None:
        raise SessionRefused(SessionProblem.UNKNOWN_USER)
    if not user.active:
        raise SessionRefused(SessionProblem.INACTIVE)
    if is_locked(user, now):
        raise SessionRefused(SessionProblem.LOCKED)
    user.failed_logins = 0
    user.locked_until = None
    session.add(user)
    session.flush()
    return identity_of(session, user)


def _bump_session_version(user: User) -> None:
    user.session_version += 1


def revoke_sessions(
    session: Session,
    user_id: int,
    now: datetime,
    *,
    by: Actor | None = None,
    reason: str | None = None,
) -> int:
    """End every session of the account (this browser's and any copied cookie): bump
    `session_version`. Returns the new version.

    A plain logout (`by` None) is not written to the admin log; a revocation by an
    administrator is, at `now`.
    """
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(USER_ENTITY, user_id)
    before = user.session_version
    _bump_session_version(user)
    session.add(user)
    if by is not None:
        _log(
            session,
            actor_id=by.user_id,
            now=now,
            user=user,
            action="revoke_sessions",
            before={"session_version": before},
            after={"session_version": user.session_version},
            reason=_reason_text(reason, required=False),
        )
    session.flush()
    return user.session_version


def set_language(session: Session, user_id: int, language: str) -> None:
    """Remember the console language of an account (restored at its next login)."""
    if language not in SUPPORTED_LANGUAGES:
        raise AccountError("language_unknown", "language", language=language)
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(USER_ENTITY, user_id)
    user.language = language
    session.add(user)
    session.flush()


def check_session(
    session: Session, *, user_id: int, session_version: int, role: Role, unit_id: int | None
) -> None:
    """Raise `SessionRefused` unless the account behind a live session is still as it
    was at login: present, active, same session version, same role and unit.

    A lock (failed attempts by someone else) does not end a live session.
    """
    user = session.get(User, user_id)
    if user is None or user.role == Role.SYSTEM.value:
        raise SessionRefused(SessionProblem.UNKNOWN_USER)
    if not user.active:
        raise SessionRefused(SessionProblem.INACTIVE)
    if user.session_version != session_version:
        raise SessionRefused(SessionProblem.REVOKED)
    if user.role != role.value or user.unit_id != unit_id:
        raise SessionRefused(SessionProblem.CHANGED)


# ----------------------------------------------------------- cookie tokens


def issue_session_token(identity: Identity, *, key: str, now: datetime, lifetime: timedelta) -> str:
    """A signed token for the re-login cookie, carrying the account's session version.

    Deliberately not the login library's own format (no `username` claim), so the
    library's unguarded cookie login can never accept it: only
    `verify_session_token`, which checks the version against the database, can.
    """
    claims = {
        "uid": identity.user_id,
        "name": identity.username.lower(),
        "sv": identity.session_version,
        "iat": math.floor(now.timestamp()),
        "exp": math.floor((now + lifetime).timestamp()),
    }
    return jwt.encode(claims, validate_cookie_key(key), algorithm=TOKEN_ALGORITHM)


def _int_claim(claims: dict[str, Any], name: str) -> int:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SessionRefused(SessionProblem.INVALID)
    return value


def verify_session_token(
    session: Session, token: str, *, key: str, now: datetime, lifetime: timedelta
) -> Identity:
    """The identity a cookie token proves, or `SessionRefused` saying why not.

    Times are checked against `now` (not the machine clock) so tests are exact; a
    token claiming a longer life than the console issues is not one of ours.
    """
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[TOKEN_ALGORITHM],
            options={
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "require": ["uid", "name", "sv", "iat", "exp"],
            },
        )
    except jwt.PyJWTError:
        raise SessionRefused(SessionProblem.INVALID) from None
    user_id, version = _int_claim(claims, "uid"), _int_claim(claims, "sv")
    issued, expires = _int_claim(claims, "iat"), _int_claim(claims, "exp")
    name = claims.get("name")
    if not isinstance(name, str):
        raise SessionRefused(SessionProblem.INVALID)
    stamp = now.timestamp()
    if (
        issued > stamp + TOKEN_CLOCK_SKEW.total_seconds()
        or expires - issued > (lifetime + TOKEN_CLOCK_SKEW).total_seconds()
    ):
        raise SessionRefused(SessionProblem.INVALID)
    if expires <= stamp:
        raise SessionRefused(SessionProblem.EXPIRED)
    user = session.get(User, user_id)
    if user is None or user.role == Role.SYSTEM.value or user.username.lower() != name:
        raise SessionRefused(SessionProblem.UNKNOWN_USER)
    if not user.active:
        raise SessionRefused(SessionProblem.INACTIVE)
    if is_locked(user, now):
        raise SessionRefused(SessionProblem.LOCKED)
    if user.session_version != version:
        raise SessionRefused(SessionProblem.REVOKED)
    return identity_of(session, user)


# ------------------------------------------------------- user management


def _current_actor(session: Session, actor: Actor, action: str) -> Actor:
    """The actor as the database knows them now (a stale session cannot manage anyone)."""
    user = session.get(User, actor.user_id) if actor.user_id is not None else None
    if user is None or not user.active:
        raise PermissionDenied(action, actor.role.value, "inactive")
    current = Actor.of(user)
    if not can_open_user_admin(current):
        raise PermissionDenied(action, current.role.value, "not an account manager")
    return current


def _target(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or user.role == Role.SYSTEM.value:
        raise NotFound(USER_ENTITY, user_id)
    return user


def _require_manage(
    actor: Actor, action: str, unit_id: int | None, role: Role, what: str = "account"
) -> None:
    if not can_manage_user(actor, unit_id, role):
        raise PermissionDenied(action, actor.role.value, f"{what} outside your remit")


def _not_self(actor: Actor, user: User) -> None:
    """Deactivating or demoting oneself would lock the last administrator out."""
    if actor.user_id == user.id:
        raise AccountError("self_action", "user")


def _snapshot(session: Session, user: User) -> dict[str, Any]:
    unit = session.get(Unit, user.unit_id) if user.unit_id is not None else None
    return {
        "username": user.username,
        "full_name": user.full_name,
        "role": user.role,
        "unit": unit.code if unit else None,
        "active": user.active,
    }


def _log(
    session: Session,
    *,
    actor_id: int | None,
    now: datetime,
    user: User,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    reason: str | None,
) -> None:
    session.add(
        AdminEvent(
            at=now,
            actor_id=actor_id,
            entity=USER_ENTITY,
            entity_key=user.username,
            action=action,
            before=json.dumps(before, ensure_ascii=False) if before is not None else None,
            after=json.dumps(after, ensure_ascii=False) if after is not None else None,
            reason=reason,
        )
    )


def _unit_by_id(session: Session, unit_id: int | None) -> Unit | None:
    if unit_id is None:
        return None
    unit = session.get(Unit, unit_id)
    if unit is None:
        raise AccountError("unit_unknown", "unit", unit=str(unit_id))
    return unit


def _unit_by_code(session: Session, code: str | None) -> Unit | None:
    if not code or not code.strip():
        return None
    unit = services.find_unit(session, code.strip(), services.HANDLING_KINDS)
    if unit is None:
        raise AccountError("unit_unknown", "unit", unit=code)
    return unit


def list_users(
    session: Session,
    *,
    actor: Actor,
    now: datetime,
    role: Role | None = None,
    unit_id: int | None = None,
    active: bool | None = None,
    search: str | None = None,
) -> list[UserRow]:
    """The accounts `actor` may see: all for the administrator, their unit's for a unit
    leader. `search` ignores case and diacritics ("nguyen" finds "Nguyễn")."""
    current = _current_actor(session, actor, "list_users")
    stmt = (
        select(User, Unit)
        .join(Unit, col(User.unit_id) == col(Unit.id), isouter=True)
        .where(User.role != Role.SYSTEM.value)
    )
    if current.role is not Role.ADMIN:
        stmt = stmt.where(col(User.unit_id) == current.unit_id)
    if role is not None:
        stmt = stmt.where(User.role == role.value)
    if unit_id is not None:
        stmt = stmt.where(col(User.unit_id) == unit_id)
    if active is not None:
        stmt = stmt.where(col(User.active).is_(active))
    needle = fold(search or "")
    rows: list[UserRow] = []
    for user, unit in session.exec(stmt.order_by(col(User.username))).all():
        assert user.id is not None
        if needle and needle not in fold(
            f"{user.username} {user.full_name} {unit.name if unit else ''}"
        ):
            continue
        user_role = Role(user.role)
        rows.append(
            UserRow(
                user_id=user.id,
                username=user.username,
                full_name=user.full_name,
                role=user_role,
                unit_id=user.unit_id,
                unit_code=unit.code if unit else None,
                unit_name=unit.name if unit else None,
                active=user.active,
                locked_until=user.locked_until if is_locked(user, now) else None,
                language=user.language,
                created_at=user.created_at,
                can_manage=can_manage_user(current, user.unit_id, user_role),
            )
        )
    return rows


def assignable_units(session: Session, *, actor: Actor, now: datetime) -> list[UnitChoice]:
    """Units `actor` may put an account in today: every handling unit valid today for the
    administrator (not the 2024 districts after the 2025 reform), their own for a unit
    leader."""
    current = _current_actor(session, actor, "list_units")
    stmt = select(Unit).where(col(Unit.kind).in_([k.value for k in HANDLING_UNIT_KINDS]))
    if current.role is not Role.ADMIN:
        stmt = stmt.where(col(Unit.id) == current.unit_id)
    day = _hanoi_day(now)
    units = [u for u in session.exec(stmt).all() if _valid_on(u, day) and u.id is not None]
    order = {k.value: i for i, k in enumerate(_UNIT_KIND_ORDER)}
    units.sort(key=lambda u: (order.get(u.kind, 99), fold(u.name)))
    return [UnitChoice(u.id, u.code, u.name, UnitKind(u.kind)) for u in units if u.id is not None]


def create_user(
    session: Session,
    *,
    actor: Actor,
    data: UserCreate,
    now: datetime,
    reason: str | None = None,
) -> User:
    """Add an account (through `services.create_user`), checking what that leaves open:
    who may create it, the role/unit combination, a unit valid today, a username
    unique ignoring case, and a password the login form can accept."""
    action = "create_user"
    current = _current_actor(session, actor, action)
    role = _login_role(data.role)
    unit = _unit_by_code(session, data.unit_code)
    _check_role_unit(role, unit, now, unit_is_new=True)
    _require_manage(current, action, unit.id if unit else None, role)
    username = data.username.strip()
    if not services.USERNAME_PATTERN.fullmatch(username):
        raise AccountError("username_invalid", "username")
    taken = session.exec(
        select(User.id).where(func.lower(User.username) == username.lower())
    ).first()
    if taken is not None:
        raise AccountError("username_taken", "username", username=username)
    validate_new_password(data.password)
    user = services.create_user(
        session,
        data=UserCreate(
            username=username,
            full_name=data.full_name.strip() or username,
            role=role.value,
            unit_code=unit.code if unit else None,
            password=data.password,
        ),
        now=now,
    )
    user.unit_id = unit.id if unit else None  # codes may repeat across unit kinds
    session.add(user)
    session.flush()
    _log(
        session,
        actor_id=current.user_id,
        now=now,
        user=user,
        action="create",
        before=None,
        after=_snapshot(session, user),
        reason=_reason_text(reason, required=False),
    )
    session.flush()
    return user


def _change_user(
    session: Session,
    *,
    actor: Actor,
    user_id: int,
    now: datetime,
    action: str,
    logged_as: str,
    reason: str | None,
    reason_required: bool,
    change: Callable[[User], dict[str, Any] | None],
    forbid_self: bool = False,
) -> User:
    """The one path of an account change: re-read the actor, check they may manage the
    target, apply `change`, and log before/after with the reason in the same
    transaction. `change` returns what to log as "after" when the snapshot would hide
    it (a password), else None."""
    current = _current_actor(session, actor, action)
    user = _target(session, user_id)
    _require_manage(current, action, user.unit_id, Role(user.role))
    if forbid_self:
        _not_self(current, user)
    why = _reason_text(reason, required=reason_required)
    before = _snapshot(session, user)
    logged_after = change(user)
    session.add(user)
    _log(
        session,
        actor_id=current.user_id,
        now=now,
        user=user,
        action=logged_as,
        before=None if logged_after is not None else before,
        after=logged_after if logged_after is not None else _snapshot(session, user),
        reason=why,
    )
    session.flush()
    return user


def deactivate_user(
    session: Session, *, actor: Actor, user_id: int, now: datetime, reason: str
) -> User:
    """Close an account (kept for history; its reports keep their author) and end its
    sessions at once."""

    def change(user: User) -> None:
        if not user.active:
            raise AccountError("already_inactive", "user", username=user.username)
        user.active = False
        _bump_session_version(user)

    return _change_user(
        session,
        actor=actor,
        user_id=user_id,
        now=now,
        action="deactivate_user",
        logged_as="deactivate",
        reason=reason,
        reason_required=True,
        change=change,
        forbid_self=True,
    )


def reactivate_user(
    session: Session, *, actor: Actor, user_id: int, now: datetime, reason: str
) -> User:
    """Reopen an account, with a clean failure count and no lock."""

    def change(user: User) -> None:
        if user.active:
            raise AccountError("already_active", "user", username=user.username)
        user.active = True
        user.failed_logins = 0
        user.locked_until = None

    return _change_user(
        session,
        actor=actor,
        user_id=user_id,
        now=now,
        action="reactivate_user",
        logged_as="reactivate",
        reason=reason,
        reason_required=True,
        change=change,
    )


def reset_password(
    session: Session,
    *,
    actor: Actor,
    user_id: int,
    new_password: str,
    now: datetime,
    reason: str | None = None,
) -> User:
    """Set a new password, lift a lock and end every session (whoever had the old
    password, or a cookie made with it, is out)."""

    def change(user: User) -> dict[str, Any]:
        validate_new_password(new_password)
        user.password_hash = services.hash_password(new_password)
        user.failed_logins = 0
        user.locked_until = None
        _bump_session_version(user)
        return {"password": "reset", "sessions": "revoked"}

    return _change_user(
        session,
        actor=actor,
        user_id=user_id,
        now=now,
        action="reset_password",
        logged_as="reset_password",
        reason=reason,
        reason_required=False,
        change=change,
    )


def change_role_and_unit(
    session: Session,
    *,
    actor: Actor,
    user_id: int,
    role: Role | str,
    unit_id: int | None,
    now: datetime,
    reason: str,
) -> User:
    """Move an account to another role and/or unit; its sessions end, so the person
    logs in again and sees exactly what the new role allows."""
    action = "change_role_and_unit"
    current = _current_actor(session, actor, action)
    user = _target(session, user_id)
    _require_manage(current, action, user.unit_id, Role(user.role))
    _not_self(current, user)
    new_role = _login_role(role)
    new_unit = _unit_by_id(session, unit_id)
    new_unit_id = new_unit.id if new_unit else None
    _check_role_unit(new_role, new_unit, now, unit_is_new=new_unit_id != user.unit_id)
    _require_manage(current, action, new_unit_id, new_role, what="new role or unit")
    why = _reason_text(reason, required=True)
    if new_role.value == user.role and new_unit_id == user.unit_id:
        raise AccountError("no_change", "role")
    before = _snapshot(session, user)
    user.role = new_role.value
    user.unit_id = new_unit_id
    _bump_session_version(user)
    session.add(user)
    _log(
        session,
        actor_id=current.user_id,
        now=now,
        user=user,
        action="change_role_unit",
        before=before,
        after=_snapshot(session, user),
        reason=why,
    )
    session.flush()
    return user


@dataclass(frozen=True)
class HistoryRow:
    """One admin-log entry about an account, with its author's username."""

    at: datetime
    actor_username: str | None
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None


def user_units(session: Session, *, actor: Actor) -> list[UnitChoice]:
    """The units that have accounts `actor` may see (the users table's unit filter:
    it must list the 2024 districts too, where older accounts still are)."""
    current = _current_actor(session, actor, "list_users")
    stmt = select(Unit).where(
        col(Unit.id).in_(select(User.unit_id).where(col(User.unit_id).is_not(None)))
    )
    if current.role is not Role.ADMIN:
        stmt = stmt.where(col(Unit.id) == current.unit_id)
    order = {k.value: i for i, k in enumerate(_UNIT_KIND_ORDER)}
    units = sorted(session.exec(stmt).all(), key=lambda u: (order.get(u.kind, 99), fold(u.name)))
    return [UnitChoice(u.id, u.code, u.name, UnitKind(u.kind)) for u in units if u.id is not None]


def account_history(
    session: Session, *, actor: Actor, user_id: int, limit: int = 50
) -> list[HistoryRow]:
    """The admin-log history of one account the actor may see, newest first."""
    current = _current_actor(session, actor, "account_history")
    user = _target(session, user_id)
    if current.role is not Role.ADMIN and user.unit_id != current.unit_id:
        raise PermissionDenied("account_history", current.role.value, "account outside your unit")
    events = session.exec(
        select(AdminEvent, User.username)
        .join(User, col(AdminEvent.actor_id) == col(User.id), isouter=True)
        .where(AdminEvent.entity == USER_ENTITY)
        .where(AdminEvent.entity_key == user.username)
        .order_by(col(AdminEvent.at).desc(), col(AdminEvent.id).desc())
        .limit(limit)
    ).all()
    return [
        HistoryRow(
            at=e.at,
            actor_username=name,
            action=e.action,
            before=json.loads(e.before) if e.before else None,
            after=json.loads(e.after) if e.after else None,
            reason=e.reason,
        )
        for e, name in events
    ]
