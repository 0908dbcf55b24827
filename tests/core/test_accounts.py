"""Accounts: lockout counted in the database, sessions and cookie tokens that can be
revoked, and account management with its permissions and admin log (both databases).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from sqlmodel import Session, col, select

from ihanoi_core import accounts
from ihanoi_core.accounts import (
    AccountError,
    LockoutPolicy,
    SessionProblem,
    SessionRefused,
)
from ihanoi_core.errors import NotFound, PermissionDenied
from ihanoi_core.models import AdminEvent, Unit, User, UserCreate
from ihanoi_core.permissions import can_manage_user, manageable_roles
from ihanoi_core.services import check_password
from ihanoi_core.vocab import LOGIN_ROLES, Role
from ihanoi_core.workflow import Actor
from tests.factories import PASSWORD, Cast, unit_id

KEY = "k" * 40  # test-only signing key (40 bytes)
LIFETIME = timedelta(hours=12)
NEW_PASSWORD = "mat-khau-moi-2024"


@pytest.fixture
def cast(session: Session, now: datetime) -> Cast:
    c = Cast(session, now)
    session.commit()
    return c


def user(session: Session, username: str) -> User:
    return session.exec(select(User).where(User.username == username)).one()


def events(session: Session, username: str, action: str | None = None) -> list[AdminEvent]:
    stmt = select(AdminEvent).where(AdminEvent.entity == "user", AdminEvent.entity_key == username)
    if action:
        stmt = stmt.where(AdminEvent.action == action)
    return list(session.exec(stmt.order_by(col(AdminEvent.id))).all())


def identity(session: Session, username: str) -> accounts.Identity:
    return accounts.identity_of(session, user(session, username))


def token_for(session: Session, username: str, now: datetime) -> str:
    return accounts.issue_session_token(
        identity(session, username), key=KEY, now=now, lifetime=LIFETIME
    )


def refused(fn: object, *args: object, **kwargs: object) -> SessionProblem:
    with pytest.raises(SessionRefused) as info:
        fn(*args, **kwargs)  # type: ignore[operator]
    return info.value.reason


# ------------------------------------------------------------------- lockout


def test_failures_are_counted_in_the_database_and_the_fifth_locks(
    session: Session, cast: Cast, now: datetime
) -> None:
    for n in range(1, 5):
        failure = accounts.record_failed_login(session, "can_bo", now)
        assert (failure.failures, failure.locked) == (n, False)
        assert user(session, "can_bo").failed_logins == n
    assert accounts.lock_state(session, "can_bo", now) is None

    failure = accounts.record_failed_login(session, "can_bo", now)
    assert failure.locked and failure.locked_until == now + timedelta(minutes=15)
    row = user(session, "can_bo")
    assert row.locked_until == now + timedelta(minutes=15)
    assert accounts.lock_state(session, "can_bo", now + timedelta(minutes=14)) == row.locked_until
    (lock,) = events(session, "can_bo", "lock")
    assert lock.actor_id is None and json.loads(lock.before or "{}") == {"failed_logins": 5}


def test_a_locked_account_is_refused_even_with_the_right_password_until_the_lock_ends(
    session: Session, cast: Cast, now: datetime
) -> None:
    for _ in range(5):
        accounts.record_failed_login(session, "can_bo", now)
    during = now + timedelta(minutes=10)
    assert refused(accounts.record_login_success, session, "can_bo", during) is (
        SessionProblem.LOCKED
    )
    # attempts during the lock are not counted and do not extend it
    again = accounts.record_failed_login(session, "can_bo", during)
    assert again.locked_until == now + timedelta(minutes=15)
    assert len(events(session, "can_bo", "lock")) == 1

    after = now + timedelta(minutes=15, seconds=1)
    assert accounts.lock_state(session, "can_bo", after) is None
    ident = accounts.record_login_success(session, "can_bo", after)
    assert ident.username == "can_bo"
    row = user(session, "can_bo")
    assert (row.failed_logins, row.locked_until) == (0, None)


def test_the_lockout_policy_is_configuration(session: Session, cast: Cast, now: datetime) -> None:
    policy = LockoutPolicy(max_failures=2, lock_for=timedelta(minutes=3))
    assert not accounts.record_failed_login(session, "can_bo", now, policy).locked
    failure = accounts.record_failed_login(session, "can_bo", now, policy)
    assert failure.locked_until == now + timedelta(minutes=3)


def test_success_clears_the_count_and_names_match_without_case(
    session: Session, cast: Cast, now: datetime
) -> None:
    for _ in range(3):
        accounts.record_failed_login(session, "CAN_BO", now)
    assert user(session, "can_bo").failed_logins == 3
    ident = accounts.record_login_success(session, " Can_Bo ", now)
    assert ident.user_id == cast.officer.user_id and ident.unit_id == cast.unit_id
    assert ident.unit_name == session.get(Unit, cast.unit_id).name  # type: ignore[union-attr]
    assert user(session, "can_bo").failed_logins == 0


def test_unknown_inactive_and_system_accounts_have_nothing_to_count(
    session: Session, cast: Cast, now: datetime
) -> None:
    assert accounts.record_failed_login(session, "nobody", now) == accounts.LoginFailure(0, None)
    assert accounts.record_failed_login(session, "system", now).failures == 0
    row = user(session, "can_bo_2")
    row.active = False
    session.add(row)
    session.flush()
    assert accounts.record_failed_login(session, "can_bo_2", now).failures == 0
    assert user(session, "can_bo_2").failed_logins == 0
    assert refused(accounts.record_login_success, session, "can_bo_2", now) is (
        SessionProblem.INACTIVE
    )


def test_login_accounts_are_the_active_password_accounts(
    session: Session, cast: Cast, now: datetime
) -> None:
    row = user(session, "can_bo_2")
    row.active = False
    session.add(row)
    session.flush()
    names = {a.username for a in accounts.login_accounts(session)}
    assert "can_bo" in names and "quan_tri" in names
    assert "can_bo_2" not in names and "system" not in names
    assert all(a.password_hash.startswith("$2") for a in accounts.login_accounts(session))


# ------------------------------------------------------------------ sessions


def test_logout_revokes_every_session_of_the_account(
    session: Session, cast: Cast, now: datetime
) -> None:
    ident = identity(session, "can_bo")
    live = {
        "user_id": ident.user_id,
        "session_version": ident.session_version,
        "role": ident.role,
        "unit_id": ident.unit_id,
    }
    accounts.check_session(session, **live)  # type: ignore[arg-type]
    new_version = accounts.revoke_sessions(session, ident.user_id, now)
    assert new_version == ident.session_version + 1
    assert refused(accounts.check_session, session, **live) is SessionProblem.REVOKED
    accounts.check_session(session, **{**live, "session_version": new_version})  # type: ignore[arg-type]
    assert events(session, "can_bo", "revoke_sessions") == []  # a plain logout is not logged


def test_a_live_session_ends_when_the_account_changes_under_it(
    session: Session, cast: Cast, now: datetime
) -> None:
    ident = identity(session, "can_bo")
    live = {
        "user_id": ident.user_id,
        "session_version": ident.session_version,
        "role": ident.role,
        "unit_id": ident.unit_id,
    }
    row = user(session, "can_bo")
    row.locked_until = now + timedelta(minutes=5)  # someone else's bad guesses
    session.add(row)
    session.flush()
    accounts.check_session(session, **live)  # type: ignore[arg-type]
    row.unit_id = cast.other_unit_id
    session.add(row)
    session.flush()
    assert refused(accounts.check_session, session, **live) is SessionProblem.CHANGED
    row.unit_id, row.active = cast.unit_id, False
    session.add(row)
    session.flush()
    assert refused(accounts.check_session, session, **live) is SessionProblem.INACTIVE
    gone = {**live, "user_id": 999_999}
    assert refused(accounts.check_session, session, **gone) is SessionProblem.UNKNOWN_USER


def test_a_cookie_token_proves_the_account_until_logout(
    session: Session, cast: Cast, now: datetime
) -> None:
    token = token_for(session, "truong_dv", now)
    later = now + timedelta(hours=2)
    ident = accounts.verify_session_token(session, token, key=KEY, now=later, lifetime=LIFETIME)
    assert (ident.username, ident.role) == ("truong_dv", Role.UNIT_LEADER)

    accounts.revoke_sessions(session, ident.user_id, later)
    check = accounts.verify_session_token
    assert refused(check, session, token, key=KEY, now=later, lifetime=LIFETIME) is (
        SessionProblem.REVOKED
    )
    fresh = token_for(session, "truong_dv", later)
    assert check(session, fresh, key=KEY, now=later, lifetime=LIFETIME).user_id == ident.user_id


def test_a_copied_cookie_made_with_the_real_key_is_refused_after_logout(
    session: Session, cast: Cast, now: datetime
) -> None:
    """The attacker's view: a JWT signed with the same key, as it was before logout."""
    ident = identity(session, "can_bo")
    copied = jwt.encode(
        {
            "uid": ident.user_id,
            "name": "can_bo",
            "sv": ident.session_version,
            "iat": int(now.timestamp()),
            "exp": int((now + LIFETIME).timestamp()),
        },
        KEY,
        algorithm="HS256",
    )
    check = accounts.verify_session_token
    assert check(session, copied, key=KEY, now=now, lifetime=LIFETIME).username == "can_bo"
    accounts.revoke_sessions(session, ident.user_id, now + timedelta(minutes=1))
    later = now + timedelta(minutes=2)
    assert refused(check, session, copied, key=KEY, now=later, lifetime=LIFETIME) is (
        SessionProblem.REVOKED
    )


def test_tokens_that_are_not_ours_or_out_of_date_are_refused(
    session: Session, cast: Cast, now: datetime
) -> None:
    ident = identity(session, "can_bo")
    check = accounts.verify_session_token
    good = {
        "uid": ident.user_id,
        "name": "can_bo",
        "sv": ident.session_version,
        "iat": int(now.timestamp()),
        "exp": int((now + LIFETIME).timestamp()),
    }

    def sign(claims: dict[str, object], key: str = KEY) -> str:
        return jwt.encode(claims, key, algorithm="HS256")

    def verdict(token: str, at: datetime = now) -> SessionProblem:
        return refused(check, session, token, key=KEY, now=at, lifetime=LIFETIME)

    assert check(session, sign(good), key=KEY, now=now, lifetime=LIFETIME).username == "can_bo"
    assert verdict(sign(good, "x" * 40)) is SessionProblem.INVALID  # another key
    assert verdict("not-a-jwt") is SessionProblem.INVALID
    library_format = {"username": "can_bo", "exp_date": (now + LIFETIME).timestamp()}
    assert verdict(sign(library_format)) is SessionProblem.INVALID  # the library's own cookie
    assert verdict(sign({**good, "sv": "1"})) is SessionProblem.INVALID
    too_long = {**good, "exp": int((now + timedelta(days=30)).timestamp())}
    assert verdict(sign(too_long)) is SessionProblem.INVALID
    assert verdict(sign(good), now + LIFETIME) is SessionProblem.EXPIRED
    other = identity(session, "can_bo_2")
    assert verdict(sign({**good, "uid": other.user_id})) is SessionProblem.UNKNOWN_USER


def test_a_cookie_of_a_deactivated_or_locked_account_is_refused(
    session: Session, cast: Cast, now: datetime
) -> None:
    token = token_for(session, "can_bo", now)
    for _ in range(5):
        accounts.record_failed_login(session, "can_bo", now)
    check = accounts.verify_session_token
    assert refused(check, session, token, key=KEY, now=now, lifetime=LIFETIME) is (
        SessionProblem.LOCKED
    )
    row = user(session, "can_bo")
    row.locked_until, row.active = None, False
    session.add(row)
    session.flush()
    assert refused(check, session, token, key=KEY, now=now, lifetime=LIFETIME) is (
        SessionProblem.INACTIVE
    )


@pytest.mark.parametrize(
    ("key", "code"),
    [
        (None, "cookie_key_missing"),
        ("  ", "cookie_key_missing"),
        ("some_key", "cookie_key_too_short"),  # the library's public default
        ("x" * 31, "cookie_key_too_short"),
    ],
)
def test_a_missing_or_short_cookie_key_is_refused(key: str | None, code: str) -> None:
    with pytest.raises(AccountError) as info:
        accounts.validate_cookie_key(key)
    assert info.value.code == code


def test_a_long_enough_cookie_key_is_accepted() -> None:
    assert accounts.validate_cookie_key("é" * 16) == "é" * 16  # 32 bytes in UTF-8


def test_the_language_is_saved_for_the_account(session: Session, cast: Cast) -> None:
    accounts.set_language(session, cast.officer.user_id, "en")  # type: ignore[arg-type]
    assert user(session, "can_bo").language == "en"
    assert identity(session, "can_bo").language == "en"
    with pytest.raises(AccountError) as info:
        accounts.set_language(session, cast.officer.user_id, "fr")  # type: ignore[arg-type]
    assert info.value.code == "language_unknown"


# ------------------------------------------------------- account management


def new_user(
    username: str = "can_bo_moi",
    role: Role = Role.OFFICER,
    unit_code: str | None = "002",
    password: str = NEW_PASSWORD,
) -> UserCreate:
    return UserCreate(
        username=username,
        full_name="Nguyễn Văn Mới",
        role=role.value,
        unit_code=unit_code,
        password=password,
    )


def code_of(exc_info: pytest.ExceptionInfo[AccountError]) -> str:
    return exc_info.value.code


def test_the_admin_creates_an_account_and_the_admin_log_says_so(
    session: Session, cast: Cast, now: datetime
) -> None:
    created = accounts.create_user(
        session, actor=cast.admin, data=new_user(), now=now, reason="Cán bộ mới"
    )
    assert created.unit_id == cast.unit_id and created.role == "officer"
    assert check_password(NEW_PASSWORD, created.password_hash)
    (event,) = events(session, "can_bo_moi", "create")
    assert event.actor_id == cast.admin.user_id and event.at == now
    assert event.reason == "Cán bộ mới" and event.before is None
    after = json.loads(event.after or "{}")
    assert after == {
        "username": "can_bo_moi",
        "full_name": "Nguyễn Văn Mới",
        "role": "officer",
        "unit": "002",
        "active": True,
    }
    assert "$2" not in (event.after or "")  # never the hash


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("short", "password_too_short"),
        ("đ" * 37, "password_too_long"),  # 37 characters, 74 bytes
        (" mat-khau-co-dau-cach", "password_whitespace"),
    ],
)
def test_passwords_the_login_cannot_accept_are_refused(
    session: Session, cast: Cast, now: datetime, password: str, code: str
) -> None:
    with pytest.raises(AccountError) as info:
        accounts.create_user(session, actor=cast.admin, data=new_user(password=password), now=now)
    assert code_of(info) == code
    assert session.exec(select(User).where(User.username == "can_bo_moi")).first() is None


def test_usernames_are_unique_ignoring_case_and_well_formed(
    session: Session, cast: Cast, now: datetime
) -> None:
    with pytest.raises(AccountError) as info:
        accounts.create_user(session, actor=cast.admin, data=new_user("Can_Bo"), now=now)
    assert code_of(info) == "username_taken" and info.value.values == {"username": "Can_Bo"}
    with pytest.raises(AccountError) as info:
        accounts.create_user(session, actor=cast.admin, data=new_user("cán bộ"), now=now)
    assert code_of(info) == "username_invalid"


@pytest.mark.parametrize(
    ("role", "unit", "code"),
    [
        (Role.OFFICER, None, "unit_required"),
        (Role.UNIT_LEADER, None, "unit_required"),
        (Role.DISPATCHER, "VP-UBND", "unit_not_allowed"),
        (Role.ADMIN, "002", "unit_not_allowed"),
        (Role.OFFICER, "NO-SUCH-UNIT", "unit_unknown"),
        (Role.SYSTEM, None, "role_system"),
    ],
)
def test_forbidden_role_and_unit_combinations_are_named(
    session: Session, cast: Cast, now: datetime, role: Role, unit: str | None, code: str
) -> None:
    with pytest.raises(AccountError) as info:
        accounts.create_user(
            session, actor=cast.admin, data=new_user(role=role, unit_code=unit), now=now
        )
    assert code_of(info) == code


def test_a_unit_that_no_longer_exists_takes_no_new_accounts(
    session: Session, cast: Cast, now: datetime
) -> None:
    after_reform = datetime(2025, 8, 1, 3, 0, tzinfo=UTC)
    with pytest.raises(AccountError) as info:
        accounts.create_user(session, actor=cast.admin, data=new_user(), now=after_reform)
    assert code_of(info) == "unit_not_valid" and info.value.values["valid_to"] == "30/06/2025"
    codes_today = {u.code for u in accounts.assignable_units(session, actor=cast.admin, now=now)}
    codes_after = {
        u.code for u in accounts.assignable_units(session, actor=cast.admin, now=after_reform)
    }
    assert "002" in codes_today and "002" not in codes_after
    assert {"VP-UBND", "SXD"} <= codes_today & codes_after


def test_a_unit_leader_manages_only_the_officers_of_their_unit(
    session: Session, cast: Cast, now: datetime
) -> None:
    leader = cast.unit_leader
    created = accounts.create_user(session, actor=leader, data=new_user(), now=now)
    assert created.unit_id == cast.unit_id
    for data in (
        new_user("khac_don_vi", unit_code="001"),
        new_user("lanh_dao_moi", role=Role.UNIT_LEADER),
    ):
        with pytest.raises(PermissionDenied):
            accounts.create_user(session, actor=leader, data=data, now=now)
    with pytest.raises(PermissionDenied):
        accounts.deactivate_user(
            session,
            actor=leader,
            user_id=cast.other_officer.user_id,  # type: ignore[arg-type]
            now=now,
            reason="Chuyển công tác",
        )
    accounts.deactivate_user(
        session,
        actor=leader,
        user_id=cast.officer2.user_id,  # type: ignore[arg-type]
        now=now,
        reason="Chuyển công tác",
    )
    with pytest.raises(PermissionDenied):
        accounts.change_role_and_unit(
            session,
            actor=leader,
            user_id=cast.officer.user_id,  # type: ignore[arg-type]
            role=Role.UNIT_LEADER,
            unit_id=cast.unit_id,
            now=now,
            reason="Bổ nhiệm",
        )
    seen = {r.username for r in accounts.list_users(session, actor=leader, now=now)}
    assert seen == {"truong_dv", "can_bo", "can_bo_2", "can_bo_moi"}
    manageable = {
        r.username for r in accounts.list_users(session, actor=leader, now=now) if r.can_manage
    }
    assert manageable == {"can_bo", "can_bo_2", "can_bo_moi"}
    assert [u.unit_id for u in accounts.assignable_units(session, actor=leader, now=now)] == [
        cast.unit_id
    ]


@pytest.mark.parametrize("who", ["officer", "dispatcher", "leader", "analyst"])
def test_other_roles_manage_no_account(
    session: Session, cast: Cast, now: datetime, who: str
) -> None:
    actor: Actor = getattr(cast, who)
    with pytest.raises(PermissionDenied):
        accounts.list_users(session, actor=actor, now=now)
    with pytest.raises(PermissionDenied):
        accounts.create_user(session, actor=actor, data=new_user(), now=now)


def test_deactivation_ends_the_sessions_and_needs_a_reason(
    session: Session, cast: Cast, now: datetime
) -> None:
    target = cast.officer.user_id
    assert target is not None
    token = token_for(session, "can_bo", now)
    with pytest.raises(AccountError) as info:
        accounts.deactivate_user(session, actor=cast.admin, user_id=target, now=now, reason=" ")
    assert code_of(info) == "reason_required"
    version = user(session, "can_bo").session_version
    accounts.deactivate_user(
        session, actor=cast.admin, user_id=target, now=now, reason="Nghỉ hưu từ 01/08"
    )
    row = user(session, "can_bo")
    assert not row.active and row.session_version == version + 1
    (event,) = events(session, "can_bo", "deactivate")
    assert json.loads(event.before or "{}")["active"] is True
    assert json.loads(event.after or "{}")["active"] is False
    assert event.reason == "Nghỉ hưu từ 01/08" and event.actor_id == cast.admin.user_id
    check = accounts.verify_session_token
    assert refused(check, session, token, key=KEY, now=now, lifetime=LIFETIME) in (
        SessionProblem.INACTIVE,
        SessionProblem.REVOKED,
    )
    with pytest.raises(AccountError) as info:
        accounts.deactivate_user(
            session, actor=cast.admin, user_id=target, now=now, reason="Lần hai"
        )
    assert code_of(info) == "already_inactive"

    for _ in range(2):
        row.failed_logins += 1
    row.locked_until = now + timedelta(minutes=10)
    session.add(row)
    accounts.reactivate_user(
        session, actor=cast.admin, user_id=target, now=now, reason="Đi làm lại"
    )
    row = user(session, "can_bo")
    assert row.active and row.failed_logins == 0 and row.locked_until is None
    assert [e.action for e in events(session, "can_bo")] == ["deactivate", "reactivate"]


def test_nobody_deactivates_or_demotes_themselves(
    session: Session, cast: Cast, now: datetime
) -> None:
    me = cast.admin.user_id
    assert me is not None
    with pytest.raises(AccountError) as info:
        accounts.deactivate_user(session, actor=cast.admin, user_id=me, now=now, reason="Thử")
    assert code_of(info) == "self_action"
    with pytest.raises(AccountError) as info:
        accounts.change_role_and_unit(
            session,
            actor=cast.admin,
            user_id=me,
            role=Role.ANALYST,
            unit_id=None,
            now=now,
            reason="Thử nghiệm",
        )
    assert code_of(info) == "self_action"


def test_a_password_reset_revokes_old_sessions_and_lifts_a_lock(
    session: Session, cast: Cast, now: datetime
) -> None:
    target = cast.officer.user_id
    assert target is not None
    token = token_for(session, "can_bo", now)
    for _ in range(5):
        accounts.record_failed_login(session, "can_bo", now)
    with pytest.raises(AccountError) as info:
        accounts.reset_password(
            session, actor=cast.admin, user_id=target, new_password="x" * 73, now=now
        )
    assert code_of(info) == "password_too_long"
    accounts.reset_password(
        session,
        actor=cast.admin,
        user_id=target,
        new_password=NEW_PASSWORD,
        now=now,
        reason="Quên mật khẩu",
    )
    row = user(session, "can_bo")
    assert check_password(NEW_PASSWORD, row.password_hash)
    assert not check_password(PASSWORD, row.password_hash)
    assert row.locked_until is None and row.failed_logins == 0
    check = accounts.verify_session_token
    assert refused(check, session, token, key=KEY, now=now, lifetime=LIFETIME) is (
        SessionProblem.REVOKED
    )
    (event,) = events(session, "can_bo", "reset_password")
    assert event.reason == "Quên mật khẩu" and NEW_PASSWORD not in (event.after or "")


def test_a_role_or_unit_change_is_logged_and_ends_the_sessions(
    session: Session, cast: Cast, now: datetime
) -> None:
    target = cast.officer.user_id
    assert target is not None
    version = user(session, "can_bo").session_version
    change = accounts.change_role_and_unit
    with pytest.raises(AccountError) as info:
        change(
            session,
            actor=cast.admin,
            user_id=target,
            role=Role.OFFICER,
            unit_id=cast.unit_id,
            now=now,
            reason="Không đổi gì",
        )
    assert code_of(info) == "no_change"
    with pytest.raises(AccountError) as info:
        change(
            session,
            actor=cast.admin,
            user_id=target,
            role=Role.DISPATCHER,
            unit_id=cast.unit_id,
            now=now,
            reason="Điều động",
        )
    assert code_of(info) == "unit_not_allowed"
    change(
        session,
        actor=cast.admin,
        user_id=target,
        role=Role.UNIT_LEADER,
        unit_id=cast.other_unit_id,
        now=now,
        reason="Bổ nhiệm",
    )
    row = user(session, "can_bo")
    assert (row.role, row.unit_id) == ("unit_leader", cast.other_unit_id)
    assert row.session_version == version + 1
    (event,) = events(session, "can_bo", "change_role_unit")
    assert json.loads(event.before or "{}")["role"] == "officer"
    assert json.loads(event.after or "{}")["unit"] == "001"
    history = accounts.account_history(session, actor=cast.admin, user_id=target)
    assert [(h.action, h.actor_username) for h in history] == [("change_role_unit", "quan_tri")]


def test_a_deactivated_administrator_can_no_longer_manage_accounts(
    session: Session, cast: Cast, now: datetime
) -> None:
    admin = user(session, "quan_tri")
    admin.active = False
    session.add(admin)
    session.flush()
    with pytest.raises(PermissionDenied):
        accounts.create_user(session, actor=cast.admin, data=new_user(), now=now)


def test_unknown_accounts_are_not_found(session: Session, cast: Cast, now: datetime) -> None:
    with pytest.raises(NotFound):
        accounts.reset_password(
            session, actor=cast.admin, user_id=999_999, new_password=NEW_PASSWORD, now=now
        )
    system_id = cast.system.user_id
    assert system_id is not None
    with pytest.raises(NotFound):
        accounts.deactivate_user(
            session, actor=cast.admin, user_id=system_id, now=now, reason="Không được"
        )


def test_the_list_filters_and_searches_without_diacritics(
    session: Session, cast: Cast, now: datetime
) -> None:
    accounts.create_user(session, actor=cast.admin, data=new_user(), now=now)
    admin = cast.admin
    found = accounts.list_users(session, actor=admin, now=now, search="nguyen van moi")
    assert [r.username for r in found] == ["can_bo_moi"]
    by_unit = accounts.list_users(session, actor=admin, now=now, unit_id=unit_id(session, "001"))
    assert {r.username for r in by_unit} == {"truong_khac", "can_bo_khac"}
    leaders = accounts.list_users(session, actor=admin, now=now, role=Role.UNIT_LEADER)
    assert {r.username for r in leaders} == {"truong_dv", "truong_khac"}
    assert "system" not in {r.username for r in accounts.list_users(session, actor=admin, now=now)}
    accounts.deactivate_user(
        session,
        actor=admin,
        user_id=cast.officer2.user_id,
        now=now,
        reason="Nghỉ việc",  # type: ignore[arg-type]
    )
    inactive = accounts.list_users(session, actor=admin, now=now, active=False)
    assert [r.username for r in inactive] == ["can_bo_2"]
    units = {u.code for u in accounts.user_units(session, actor=admin)}
    assert units == {"001", "002"}


# --------------------------------------------------------------- permissions


def test_who_may_manage_whom() -> None:
    admin = Actor(1, Role.ADMIN, None)
    leader = Actor(2, Role.UNIT_LEADER, 10)
    for role in LOGIN_ROLES:
        assert can_manage_user(admin, 10, role)
    assert not can_manage_user(admin, None, Role.SYSTEM)
    assert can_manage_user(leader, 10, Role.OFFICER)
    assert not can_manage_user(leader, 11, Role.OFFICER)
    assert not can_manage_user(leader, 10, Role.UNIT_LEADER)
    assert not can_manage_user(leader, None, Role.OFFICER)
    assert not can_manage_user(Actor(3, Role.UNIT_LEADER, None), None, Role.OFFICER)
    for role in (Role.OFFICER, Role.DISPATCHER, Role.LEADER, Role.ANALYST):
        assert not can_manage_user(Actor(4, role, 10), 10, Role.OFFICER)
    assert manageable_roles(leader) == [Role.OFFICER]
    assert manageable_roles(admin) == list(LOGIN_ROLES)
    assert manageable_roles(Actor(5, Role.DISPATCHER, None)) == []
