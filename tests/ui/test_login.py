"""Home.py: the login form, lockout counted in the database, navigation by role,
logout that really ends the session, cookies that cannot outlive a logout, the
language that follows the account, and the refusal to run without a proper key.

The cookie manager of streamlit-authenticator is a custom component: under AppTest
it renders nothing and `st.context.cookies` is a mock, so a browser's cookie is
played here by patching `auth.request_cookie` (the one place Home.py reads it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import streamlit as st
from sqlmodel import Session, select
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import script_runner
from streamlit.testing.v1 import AppTest

from ihanoi_core import accounts
from ihanoi_core.db import utcnow
from ihanoi_core.models import User
from ihanoi_core.vocab import Role
from ihanoi_ui import auth, state_keys
from ihanoi_ui.navigation import PAGES
from tests.factories import PASSWORD, Cast
from tests.ui.conftest import ROOT

KEY = "test-only-cookie-key-0123456789abcdef"  # 36 bytes
LOCKED_TEXT = "tạm khóa"
WRONG_TEXT = "Tên đăng nhập hoặc mật khẩu không đúng."


@pytest.fixture(autouse=True)
def router_always_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run Home.py on every AppTest run, as a warmed-up server does.

    With a `pages/` folder, Streamlit starts in its v1 multipage mode and runs a
    requested page file *alone*, until some run of Home.py calls `st.navigation`
    (a process-wide switch). AppTest resets that switch before every run, so a rerun
    on a file page would skip the router; this puts the switch where a server has it.
    """

    def run_main(main_script_path: str) -> None:
        PagesManager.uses_pages_directory = False
        code = compile(Path(main_script_path).read_text("utf-8"), main_script_path, "exec")
        exec(code, {"__name__": "__main__", "__file__": main_script_path})

    monkeypatch.setattr(script_runner, "_mpa_v1", run_main)


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test says where the key comes from (secrets or environment)."""
    for name in ("IHANOI_COOKIE_KEY", "IHANOI_LOCK_MINUTES", "IHANOI_MAX_FAILED_LOGINS"):
        monkeypatch.delenv(name, raising=False)


def home(secrets: dict[str, Any] | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "Home.py"), default_timeout=30)
    for name, section in (secrets or {"auth": {"cookie_key": KEY}}).items():
        at.secrets[name] = section
    return at


def log_in(at: AppTest, username: str, password: str = PASSWORD) -> AppTest:
    at.text_input(key=auth.LOGIN_USERNAME).input(username)
    at.text_input(key=auth.LOGIN_PASSWORD).input(password)
    return at.button(key=auth.LOGIN_SUBMIT).click().run()


def db_user(session: Session, username: str) -> User:
    session.commit()  # end the read snapshot: see what the page wrote
    session.expire_all()
    return session.exec(select(User).where(User.username == username)).one()


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def logged_in(at: AppTest) -> auth.SessionUser | None:
    try:
        user = at.session_state[state_keys.USER]
    except KeyError:
        return None
    return user if isinstance(user, auth.SessionUser) else None


def login_form_shown(at: AppTest) -> bool:
    keys = {w.key for w in at.text_input}
    return {auth.LOGIN_USERNAME, auth.LOGIN_PASSWORD} <= keys


def reachable(at: AppTest, file: str) -> bool:
    """Whether the navigation built by the last run offers this page file."""
    try:
        at.switch_page(file)
    except ValueError:
        return False
    return True


@pytest.fixture
def browser_cookie(monkeypatch: pytest.MonkeyPatch) -> Callable[[str | None], None]:
    """Play the browser's re-login cookie (what `st.context.cookies` would carry)."""
    jar: dict[str, str | None] = {"value": None}

    def request_cookie(name: str) -> str | None:
        if st.session_state.get(auth.LIB_LOGOUT):
            return None
        return jar["value"]

    monkeypatch.setattr(auth, "request_cookie", request_cookie)

    def set_cookie(value: str | None) -> None:
        jar["value"] = value

    return set_cookie


@pytest.fixture
def cookies_written(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[Any, ...]]]:
    """The cookie writes Home.py hands to the cookie component (set/delete)."""
    written: list[tuple[Any, ...]] = []
    flush = auth.flush_cookie

    def spy(settings: auth.AuthSettings, authenticator: Any) -> None:
        pending = st.session_state.get(auth.COOKIE_PENDING)
        if pending:
            written.append(pending)
        flush(settings, authenticator)

    monkeypatch.setattr(auth, "flush_cookie", spy)
    yield written


# ---------------------------------------------------------------- the form


def test_the_login_form_speaks_vietnamese(cast: Cast) -> None:
    at = home().run()
    assert not at.exception
    assert [w.label for w in at.text_input] == ["Tên đăng nhập", "Mật khẩu"]
    assert [b.label for b in at.button] == ["Đăng nhập"]
    assert at.title[0].value == "iHanoi — Bảng điều hành"
    assert at.sidebar.selectbox[0].label == "Ngôn ngữ"
    assert logged_in(at) is None
    assert not reachable(at, "pages/3_phan_anh.py")  # nothing but the login page


def test_the_login_form_follows_the_language_switch(cast: Cast) -> None:
    at = home().run()
    at.sidebar.selectbox(key=auth.LANG_CHOICE).set_value("en").run()
    assert [w.label for w in at.text_input] == ["Username", "Password"]
    log_in(at, "can_bo", "sai-mat-khau")
    assert errors(at) == ["Wrong username or password."]


@pytest.mark.parametrize(
    ("username", "role"),
    [
        ("quan_tri", Role.ADMIN),
        ("can_bo", Role.OFFICER),
        ("truong_dv", Role.UNIT_LEADER),
        ("dieu_phoi", Role.DISPATCHER),
        ("phan_tich", Role.ANALYST),
    ],
)
def test_a_correct_login_offers_exactly_the_roles_pages(
    cast: Cast, ui_session: Session, username: str, role: Role
) -> None:
    at = log_in(home().run(), username)
    user = logged_in(at)
    assert user is not None and (user.username, user.role) == (username, role)
    assert user.session_version == db_user(ui_session, username).session_version
    assert at.session_state[state_keys.LANG] == "vi"
    offered = {spec.file for spec in PAGES if reachable(at, spec.file)}
    assert offered == {spec.file for spec in PAGES if role in spec.roles}
    assert at.sidebar.button(key=state_keys.LOGOUT_BUTTON).label == "Đăng xuất"
    assert not login_form_shown(at)


def test_a_login_queues_a_cookie_that_carries_the_session_version(
    cast: Cast, ui_session: Session, cookies_written: list[tuple[Any, ...]]
) -> None:
    log_in(home().run(), "can_bo")
    ((kind, token, expires),) = cookies_written
    assert kind == "set" and expires > utcnow() + timedelta(hours=11)
    ident = accounts.verify_session_token(
        ui_session, token, key=KEY, now=utcnow(), lifetime=timedelta(hours=12)
    )
    assert ident.username == "can_bo"


# ------------------------------------------------------------------ lockout


def test_a_wrong_password_is_refused_and_counted_in_the_database(
    cast: Cast, ui_session: Session
) -> None:
    at = log_in(home().run(), "can_bo", "sai-mat-khau")
    assert errors(at) == [WRONG_TEXT]
    assert logged_in(at) is None
    assert db_user(ui_session, "can_bo").failed_logins == 1
    log_in(at, "khong_co_ai", "sai-mat-khau")  # unknown: same sentence, nothing to count
    assert errors(at) == [WRONG_TEXT]


def test_the_fifth_failure_locks_the_account_even_for_the_right_password(
    cast: Cast, ui_session: Session
) -> None:
    at = home().run()
    for _ in range(4):
        log_in(at, "can_bo", "sai-mat-khau")
        assert errors(at) == [WRONG_TEXT]
    log_in(at, "can_bo", "sai-mat-khau")
    assert LOCKED_TEXT in errors(at)[0]
    row = db_user(ui_session, "can_bo")
    assert row.locked_until is not None
    assert timedelta(minutes=14) < row.locked_until - utcnow() <= timedelta(minutes=15)

    log_in(at, "can_bo", PASSWORD)  # the right password does not help during the lock
    assert LOCKED_TEXT in errors(at)[0] and logged_in(at) is None

    row.locked_until = utcnow() - timedelta(seconds=1)  # the lock has run out
    ui_session.add(row)
    ui_session.commit()
    log_in(at, "can_bo", PASSWORD)
    assert logged_in(at) is not None
    assert db_user(ui_session, "can_bo").failed_logins == 0


def test_the_lockout_is_configuration(cast: Cast, ui_session: Session) -> None:
    at = home({"auth": {"cookie_key": KEY, "max_failed_logins": 2, "lock_minutes": 3}}).run()
    log_in(at, "can_bo", "sai-mat-khau")
    log_in(at, "can_bo", "sai-mat-khau")
    assert LOCKED_TEXT in errors(at)[0]
    locked_until = db_user(ui_session, "can_bo").locked_until
    assert locked_until is not None and locked_until - utcnow() <= timedelta(minutes=3)


def test_a_password_over_72_bytes_gets_a_clear_message(cast: Cast, ui_session: Session) -> None:
    at = log_in(home().run(), "can_bo", "mật khẩu rất dài " * 4)  # 68 chars, 84 bytes
    assert not at.exception
    (message,) = errors(at)
    assert "72 byte" in message
    assert db_user(ui_session, "can_bo").failed_logins == 0


def test_a_deactivated_account_cannot_log_in(cast: Cast, ui_session: Session) -> None:
    row = db_user(ui_session, "can_bo_2")
    row.active = False
    ui_session.add(row)
    ui_session.commit()
    at = log_in(home().run(), "can_bo_2")
    assert errors(at) == [WRONG_TEXT] and logged_in(at) is None


# ------------------------------------------------------------------- logout


def test_logout_clears_the_session_and_bumps_the_version(
    cast: Cast, ui_session: Session, cookies_written: list[tuple[Any, ...]]
) -> None:
    at = log_in(home().run(), "quan_tri")
    version = db_user(ui_session, "quan_tri").session_version
    at.session_state["ihanoi_some_filter"] = "left by the previous person"
    at.sidebar.button(key=state_keys.LOGOUT_BUTTON).click().run()
    assert logged_in(at) is None
    assert "ihanoi_some_filter" not in at.session_state
    assert at.session_state[auth.LIB_STATUS] is None and at.session_state[auth.LIB_LOGOUT]
    assert db_user(ui_session, "quan_tri").session_version == version + 1
    assert [w.label for w in at.text_input] == ["Tên đăng nhập", "Mật khẩu"]
    assert "Bạn đã đăng xuất" in at.info[0].value
    assert [c[0] for c in cookies_written] == ["set", "delete"]
    assert auth.COOKIE_PENDING not in at.session_state  # handed to the component


def test_a_cookie_copied_before_logout_does_not_log_back_in(
    cast: Cast,
    ui_session: Session,
    browser_cookie: Callable[[str | None], None],
    cookies_written: list[tuple[Any, ...]],
) -> None:
    first = log_in(home().run(), "truong_dv")
    token = cookies_written[0][1]

    browser_cookie(token)  # another browser with a copy of the cookie: logged in
    other = home().run()
    user = logged_in(other)
    assert user is not None and user.username == "truong_dv" and not login_form_shown(other)

    first.sidebar.button(key=state_keys.LOGOUT_BUTTON).click().run()
    third = home().run()  # the copy, after logout
    assert logged_in(third) is None
    assert [w.label for w in third.text_input] == ["Tên đăng nhập", "Mật khẩu"]
    assert "Phiên làm việc đã kết thúc" in third.warning[0].value
    other.run()  # the other browser's live session ends at its next run
    assert logged_in(other) is None


def test_a_forged_or_foreign_cookie_is_ignored(
    cast: Cast, browser_cookie: Callable[[str | None], None], ui_session: Session
) -> None:
    ident = accounts.identity_of(ui_session, db_user(ui_session, "quan_tri"))
    foreign = accounts.issue_session_token(
        ident, key="another-deployment-key-0123456789", now=utcnow(), lifetime=timedelta(hours=1)
    )
    browser_cookie(foreign)
    at = home().run()
    assert logged_in(at) is None and not at.warning  # quietly ignored
    assert [b.label for b in at.button] == ["Đăng nhập"]


# ---------------------------------------------------- sessions that change


def test_a_deactivated_users_session_ends_at_the_next_run(cast: Cast, ui_session: Session) -> None:
    at = log_in(home().run(), "can_bo")
    assert logged_in(at) is not None
    row = db_user(ui_session, "can_bo")
    row.active = False
    ui_session.add(row)
    ui_session.commit()
    at.run()
    assert logged_in(at) is None
    assert "đã bị vô hiệu hóa" in at.warning[0].value
    assert [w.label for w in at.text_input] == ["Tên đăng nhập", "Mật khẩu"]


def test_require_role_stops_a_page_whose_user_was_deactivated(
    cast: Cast, ui_session: Session, open_page: Callable[..., AppTest]
) -> None:
    at = open_page("pages/9_nguoi_dung.py", as_user="quan_tri")
    assert at.dataframe  # the admin's table
    row = db_user(ui_session, "quan_tri")
    row.active = False
    ui_session.add(row)
    ui_session.commit()
    at.run()
    assert not at.dataframe
    assert "đã bị vô hiệu hóa" in at.warning[0].value
    assert state_keys.USER not in at.session_state


def test_require_role_stops_a_session_whose_role_changed(
    cast: Cast, ui_session: Session, open_page: Callable[..., AppTest]
) -> None:
    at = open_page("pages/9_nguoi_dung.py", as_user="quan_tri")
    row = db_user(ui_session, "quan_tri")
    row.role = Role.ANALYST.value  # changed behind the session's back (no version bump)
    ui_session.add(row)
    ui_session.commit()
    at.run()
    assert not at.dataframe and "Vai trò hoặc đơn vị" in at.warning[0].value


# ------------------------------------------------------------------ language


def test_the_language_is_saved_and_restored_at_the_next_login(
    cast: Cast, ui_session: Session
) -> None:
    at = log_in(home().run(), "can_bo")
    at.sidebar.selectbox(key=auth.LANG_CHOICE).set_value("en").run()
    assert db_user(ui_session, "can_bo").language == "en"
    assert at.sidebar.button(key=state_keys.LOGOUT_BUTTON).label == "Log out"

    later = home().run()  # another day, another browser: Vietnamese until login
    assert later.text_input[0].label == "Tên đăng nhập"
    log_in(later, "can_bo")
    assert later.session_state[state_keys.LANG] == "en"
    assert later.sidebar.selectbox(key=auth.LANG_CHOICE).value == "en"
    assert later.sidebar.button(key=state_keys.LOGOUT_BUTTON).label == "Log out"


# ----------------------------------------------------------- configuration


def test_without_a_key_the_console_refuses_to_run(cast: Cast) -> None:
    at = home({"other": {"x": 1}}).run()
    assert not at.text_input
    assert "make secrets" in errors(at)[0] and "IHANOI_COOKIE_KEY" in errors(at)[0]


def test_a_short_key_is_refused_and_the_library_default_is_never_used(cast: Cast) -> None:
    at = home({"auth": {"cookie_key": "some_key"}}).run()
    assert not at.text_input and "quá ngắn" in errors(at)[0]


def test_the_key_may_come_from_the_environment(cast: Cast, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IHANOI_COOKIE_KEY", KEY)
    at = home({"other": {"x": 1}}).run()
    assert not errors(at) and at.text_input[0].label == "Tên đăng nhập"


def test_anonymous_reruns_do_not_sleep(cast: Cast, monkeypatch: pytest.MonkeyPatch) -> None:
    """The library pauses 0.7 s before its form unless `login_sleep_time` says otherwise;
    the console's form never calls that path, and the setting guards any future use."""
    from streamlit_authenticator.views import authentication_view

    slept: list[float] = []
    monkeypatch.setattr(
        authentication_view, "time", SimpleNamespace(sleep=lambda s: slept.append(s))
    )
    built: list[Any] = []
    build = auth.build_authenticator

    def spy(settings: auth.AuthSettings) -> Any:
        built.append(build(settings))
        return built[-1]

    monkeypatch.setattr(auth, "build_authenticator", spy)
    at = home().run()
    started = time.perf_counter()
    at.run()
    assert time.perf_counter() - started < 0.6
    assert all(s == 0 for s in slept)
    assert len(built) == 2 and all(a.attrs.get("login_sleep_time") == 0 for a in built)


def test_ambiguous_usernames_are_left_out_of_the_credentials() -> None:
    def acct(name: str) -> accounts.LoginAccount:
        return accounts.LoginAccount(name, name, "$2b$12$x", Role.OFFICER)

    creds = auth.credentials_of([acct("Lan"), acct("lan"), acct("Minh")])
    assert set(creds["usernames"]) == {"minh"}
    assert creds["usernames"]["minh"]["password"] == "$2b$12$x"
