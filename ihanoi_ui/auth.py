"""Login, logout and the role guard every page starts with.

Streamlit serves a file in `pages/` by URL even before `Home.py` ran, so each page's
first line is `user = require_role(...)`, which stops the page for anyone not logged
in, not allowed, or whose account changed since login.

Login uses streamlit-authenticator 0.4.2 (credentials dict built from the active
accounts in the database on each run, bcrypt hashes, `auto_hash=False`), hardened
where the library leaves things open (see docs in `stack-notes.md`):

- the cookie key comes from `st.secrets["auth"]["cookie_key"]` or `IHANOI_COOKIE_KEY`
  and must have 32+ bytes; the library's public default key is never used;
- the form is the console's own, so the typed password can be checked before the
  library sees it (a >72-byte password gets a sentence, not a bcrypt crash), and
  every failure is counted in the database (`accounts.record_failed_login`): the
  library's own counter lives in the credentials dict, reset on every run;
- the re-login cookie carries the account's `session_version`; logout bumps it, so a
  copied cookie cannot log back in, and the library's unguarded cookie login (which
  would accept any unexpired token of a known username) is never called;
- `require_role` re-checks the account in the database on every page run.

Cookie writes go through the library's cookie manager (a custom component). They are
queued and rendered on the next full run, never right before `st.rerun()` (the
browser might not get the component at all). Under AppTest the component is inert
and returns its default, so nothing here depends on it answering.

Where the city has an identity provider, Streamlit's own OIDC login (`st.login`,
`streamlit[auth]`) is the stronger option: no password or cookie of ours at all.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import streamlit as st
import streamlit_authenticator as stauth
from streamlit.errors import StreamlitAPIException

from ihanoi_core import accounts
from ihanoi_core.accounts import AccountError, Identity, LockoutPolicy, SessionRefused
from ihanoi_core.db import utcnow
from ihanoi_core.errors import IHanoiError, NotFound, PermissionDenied
from ihanoi_core.services import BCRYPT_MAX_BYTES
from ihanoi_core.vocab import Role
from ihanoi_core.workflow import Actor
from ihanoi_ui import state_keys
from ihanoi_ui.i18n import LANGS, current_lang, fmt_datetime, label, t
from ihanoi_ui.resources import session_scope

# Session-state keys of the login flow (to move into state_keys.py).
LANG_CHOICE = "ihanoi_lang_choice"  # the sidebar language widget; mirrors state_keys.LANG
LOGIN_FORM = "ihanoi_login_form"
LOGIN_USERNAME = "ihanoi_login_username"
LOGIN_PASSWORD = "ihanoi_login_password"
LOGIN_SUBMIT = "ihanoi_login_submit"
COOKIE_PENDING = "ihanoi_cookie_pending"  # ("set", token, expires) | ("delete",)
AUTH_NOTICE = "ihanoi_auth_notice"  # (level, text) on the login page until the next try

# The library's own session-state keys (streamlit-authenticator 0.4.2).
LIB_STATUS = "authentication_status"
LIB_USERNAME = "username"
LIB_NAME = "name"
LIB_LOGOUT = "logout"
_LIB_KEYS = (LIB_STATUS, LIB_USERNAME, LIB_NAME, "email", "roles")
_KEPT_ON_LOGOUT = frozenset({state_keys.LANG, LANG_CHOICE})

DEFAULT_COOKIE_NAME = "ihanoi_session"
DEFAULT_SESSION_HOURS = 12.0  # one working day; the library's default is 30 days


# --------------------------------------------------------------- session user


@dataclass(frozen=True)
class SessionUser:
    """The logged-in person, as kept in the (server-side) session state."""

    user_id: int
    username: str
    full_name: str
    role: Role
    unit_id: int | None
    unit_name: str | None
    session_version: int

    def actor(self) -> Actor:
        return Actor(self.user_id, self.role, self.unit_id, self.username)


def current_user() -> SessionUser | None:
    user = st.session_state.get(state_keys.USER)
    return user if isinstance(user, SessionUser) else None


def revalidate(user: SessionUser) -> SessionUser | None:
    """The same user if their account is still as it was at login, else None (the
    session is ended and the reason is kept for the login page)."""
    try:
        with session_scope() as s:
            accounts.check_session(
                s,
                user_id=user.user_id,
                session_version=user.session_version,
                role=user.role,
                unit_id=user.unit_id,
            )
    except SessionRefused as exc:
        end_session(notice=("warning", t(f"auth.session_ended.{exc.reason.value}")))
        return None
    return user


def require_role(*roles: Role) -> SessionUser:
    """Stop the page unless someone with one of `roles` is logged in and their account
    is still active and unchanged (checked in the database on every run)."""
    user = current_user()
    if user is None:
        st.info(t("common.please_login"))
        with contextlib.suppress(StreamlitAPIException):  # no router yet (page opened alone)
            st.page_link("Home.py", label=t("page.login"), icon=":material/login:")
        st.stop()
    checked = revalidate(user)
    if checked is None:
        notice = st.session_state.get(AUTH_NOTICE)
        st.warning(notice[1] if notice else t("common.please_login"))
        st.stop()
    if roles and checked.role not in roles:
        st.error(t("common.not_allowed"))
        st.stop()
    return checked


def start_session(identity: Identity) -> SessionUser:
    """Log `identity` in: the session user, and the language saved for the account."""
    user = SessionUser(
        identity.user_id,
        identity.username,
        identity.full_name,
        identity.role,
        identity.unit_id,
        identity.unit_name,
        identity.session_version,
    )
    st.session_state[state_keys.USER] = user
    st.session_state[state_keys.LANG] = identity.language
    st.session_state.pop(AUTH_NOTICE, None)
    return user


def end_session(notice: tuple[str, str] | None = None) -> None:
    """Forget everything of the session but its language (filters, selections and
    dialogs of the previous person must not leak to the next one at this browser),
    and queue the deletion of the browser's cookie."""
    lang = current_lang()
    for key in list(st.session_state.keys()):
        if key not in _KEPT_ON_LOGOUT:
            del st.session_state[key]
    st.session_state[state_keys.LANG] = lang
    for key in _LIB_KEYS:
        st.session_state[key] = None
    # The library's flag: the request's cookie (st.context) is stale from now on.
    st.session_state[LIB_LOGOUT] = True
    st.session_state[COOKIE_PENDING] = ("delete",)
    if notice is not None:
        st.session_state[AUTH_NOTICE] = notice


def _on_logout() -> None:
    """Logout button callback: end every session of the account, not just this one."""
    user = current_user()
    if user is not None:
        try:
            with session_scope() as s:
                accounts.revoke_sessions(s, user.user_id, utcnow())
        except NotFound:
            pass
    end_session(notice=("info", t("auth.logged_out")))


# ------------------------------------------------------------------ settings


@dataclass(frozen=True)
class AuthSettings:
    """Login configuration: `.streamlit/secrets.toml` section [auth], else the environment.

    cookie_key (IHANOI_COOKIE_KEY, required, 32+ bytes), cookie_name
    (IHANOI_COOKIE_NAME), session_hours (IHANOI_SESSION_HOURS, default 12),
    cookie_secure (IHANOI_COOKIE_SECURE: set it behind HTTPS), max_failed_logins
    (IHANOI_MAX_FAILED_LOGINS, default 5), lock_minutes (IHANOI_LOCK_MINUTES, default 15).
    """

    cookie_key: str
    cookie_name: str = DEFAULT_COOKIE_NAME
    lifetime: timedelta = timedelta(hours=DEFAULT_SESSION_HOURS)
    cookie_secure: bool = False
    lockout: LockoutPolicy = accounts.DEFAULT_LOCKOUT


class SettingError(ValueError):
    def __init__(self, name: str, value: object) -> None:
        super().__init__(f"{name} = {value!r}")
        self.name = name
        self.value = value


def _secrets_section() -> Mapping[str, Any]:
    try:
        section = st.secrets.get("auth")
    except FileNotFoundError:  # no secrets file: the environment may still have the key
        return {}
    return section if isinstance(section, Mapping) else {}


def _setting(section: Mapping[str, Any], name: str, env: str) -> Any:
    value = section.get(name)
    if value is None or value == "":
        value = os.environ.get(env) or None
    return value


def _number(section: Mapping[str, Any], name: str, env: str, default: float) -> float:
    raw = _setting(section, name, env)
    if raw is None:
        return default
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise SettingError(name, raw) from None
    if not value > 0:
        raise SettingError(name, raw)
    return value


def load_settings() -> AuthSettings:
    """Read the settings; `AccountError` for a missing/short key, `SettingError` for a
    malformed number. Secrets win over the environment."""
    section = _secrets_section()
    key = accounts.validate_cookie_key(_setting(section, "cookie_key", "IHANOI_COOKIE_KEY"))
    secure = str(_setting(section, "cookie_secure", "IHANOI_COOKIE_SECURE") or "").lower()
    return AuthSettings(
        cookie_key=key,
        cookie_name=str(
            _setting(section, "cookie_name", "IHANOI_COOKIE_NAME") or DEFAULT_COOKIE_NAME
        ),
        lifetime=timedelta(
            hours=_number(section, "session_hours", "IHANOI_SESSION_HOURS", DEFAULT_SESSION_HOURS)
        ),
        cookie_secure=secure in ("1", "true", "yes"),
        lockout=LockoutPolicy(
            max_failures=int(_number(section, "max_failed_logins", "IHANOI_MAX_FAILED_LOGINS", 5)),
            lock_for=timedelta(minutes=_number(section, "lock_minutes", "IHANOI_LOCK_MINUTES", 15)),
        ),
    )


def settings_or_stop() -> AuthSettings:
    """The settings, or a clear message and a stopped app: never a default key."""
    try:
        return load_settings()
    except AccountError as exc:
        st.error(t(f"auth.config.{exc.code}", None, **exc.values))
    except SettingError as exc:
        st.error(t("auth.config.invalid_setting", name=exc.name, value=exc.value))
    st.stop()
    raise AssertionError("unreachable")  # st.stop() raises


# ------------------------------------------------------------- authenticator


def credentials_of(login_accounts: list[accounts.LoginAccount]) -> dict[str, Any]:
    """The library's credentials dict. Usernames are lowercased (the library lowercases
    what is typed); two accounts equal but for case are left out, never guessed."""
    users: dict[str, dict[str, Any]] = {}
    ambiguous: set[str] = set()
    for account in login_accounts:
        key = account.username.lower()
        if key in users:
            ambiguous.add(key)
        users[key] = {
            "name": account.full_name,
            "password": account.password_hash,
            "roles": [account.role.value],
        }
    for key in ambiguous:
        del users[key]
    return {"usernames": users}


def build_authenticator(settings: AuthSettings) -> stauth.Authenticate:
    """The library object for this run (it renders its cookie component, so build it
    once per run, and only on runs that need it)."""
    with session_scope() as s:
        credentials = credentials_of(accounts.login_accounts(s))
    with st.sidebar:
        return stauth.Authenticate(
            credentials,
            cookie_name=settings.cookie_name,
            cookie_key=settings.cookie_key,
            cookie_expiry_days=settings.lifetime.total_seconds() / 86400,
            auto_hash=False,
            login_sleep_time=0,  # no 0.7 s pause on every anonymous rerun
        )


def cookie_pending() -> bool:
    return COOKIE_PENDING in st.session_state


def flush_cookie(settings: AuthSettings, authenticator: stauth.Authenticate) -> None:
    """Render the queued cookie write (set after login, delete after logout)."""
    pending = st.session_state.pop(COOKIE_PENDING, None)
    if not pending:
        return
    with st.sidebar:
        if pending[0] == "set":
            _, token, expires = pending
            authenticator.cookie_controller.cookie_model.cookie_manager.set(
                settings.cookie_name,
                token,
                expires_at=expires,
                secure=settings.cookie_secure or None,
                same_site="strict",
            )
        else:
            authenticator.cookie_controller.delete_cookie()  # tolerates a missing cookie


def request_cookie(name: str) -> str | None:
    """The re-login cookie sent with this session's first request, unless this session
    logged out since (then that cookie is stale: the browser was told to delete it)."""
    if st.session_state.get(LIB_LOGOUT):
        return None
    value = st.context.cookies.get(name)
    # Under AppTest (mocked runtime, no browser) this is a MagicMock, not a string.
    return value if isinstance(value, str) and value else None


def restore_from_cookie(
    settings: AuthSettings, authenticator: stauth.Authenticate
) -> SessionUser | None:
    """Log in from the browser's cookie if the database still vouches for it."""
    token = request_cookie(settings.cookie_name)
    if token is None:
        return None
    try:
        with session_scope() as s:
            identity = accounts.verify_session_token(
                s, token, key=settings.cookie_key, now=utcnow(), lifetime=settings.lifetime
            )
    except SessionRefused as exc:
        quiet = exc.reason in (accounts.SessionProblem.INVALID, accounts.SessionProblem.EXPIRED)
        end_session(
            notice=None if quiet else ("warning", t(f"auth.session_ended.{exc.reason.value}"))
        )
        return None
    _library_login(authenticator, identity)
    return start_session(identity)


def _library_login(authenticator: stauth.Authenticate, identity: Identity) -> None:
    """Keep the library's session keys consistent with ours (for its logout/cookies)."""
    try:
        authenticator.authentication_controller.login(token={"username": identity.username.lower()})
    except stauth.LoginError:  # not in this run's credentials: our state is what counts
        st.session_state[LIB_STATUS] = True
        st.session_state[LIB_USERNAME] = identity.username.lower()


# --------------------------------------------------------------------- login


class LoginOutcome(StrEnum):
    OK = "ok"
    EMPTY = "empty"
    TOO_LONG = "too_long"
    LOCKED = "locked"
    BAD = "bad"


@dataclass(frozen=True)
class LoginResult:
    outcome: LoginOutcome
    user: SessionUser | None = None
    locked_until: datetime | None = None


def attempt_login(
    authenticator: stauth.Authenticate,
    settings: AuthSettings,
    username: str,
    password: str,
    now: datetime,
) -> LoginResult:
    """Check a typed username and password, counting failures in the database.

    Order matters: a too-long password is answered before bcrypt sees it; a locked
    account is refused before its password is checked (so the right password does not
    help during the lock); the library checks the hash; the database records the
    outcome either way.
    """
    name = username.strip()
    if not name or not password:
        return LoginResult(LoginOutcome.EMPTY)
    if accounts.is_password_too_long(password):
        return LoginResult(LoginOutcome.TOO_LONG)
    with session_scope() as s:
        until = accounts.lock_state(s, name, now)
    if until is not None:
        return LoginResult(LoginOutcome.LOCKED, locked_until=until)
    try:
        ok = bool(authenticator.authentication_controller.login(name, password))
    except stauth.LoginError:
        ok = False
    if ok:
        try:
            with session_scope() as s:
                identity = accounts.record_login_success(s, name, now)
        except SessionRefused:
            for key in _LIB_KEYS:
                st.session_state[key] = None
            return LoginResult(LoginOutcome.BAD)
        token = accounts.issue_session_token(
            identity, key=settings.cookie_key, now=now, lifetime=settings.lifetime
        )
        st.session_state[COOKIE_PENDING] = ("set", token, now + settings.lifetime)
        return LoginResult(LoginOutcome.OK, user=start_session(identity))
    with session_scope() as s:
        failure = accounts.record_failed_login(s, name, now, settings.lockout)
    if failure.locked:
        return LoginResult(LoginOutcome.LOCKED, locked_until=failure.locked_until)
    return LoginResult(LoginOutcome.BAD)


def login_message(result: LoginResult) -> str:
    if result.outcome is LoginOutcome.EMPTY:
        return t("auth.empty")
    if result.outcome is LoginOutcome.TOO_LONG:
        return t("auth.password_too_long", max=BCRYPT_MAX_BYTES)
    if result.outcome is LoginOutcome.LOCKED:
        return t("auth.locked", until=fmt_datetime(result.locked_until))
    return t("auth.bad_credentials")


def login_page_for(
    settings: AuthSettings, authenticator: stauth.Authenticate
) -> Callable[[], None]:
    """The login page (a callable `st.Page`) bound to this run's authenticator."""

    def login() -> None:
        st.title(t("app.name"))
        st.caption(t("app.tagline"))
        # Kept until the next attempt: the cookie component's first answer reruns the
        # script, and a message popped on the first run would flash and vanish.
        notice, notice_slot = st.session_state.get(AUTH_NOTICE), st.empty()
        if notice:
            (notice_slot.info if notice[0] == "info" else notice_slot.warning)(notice[1])
        with st.form(LOGIN_FORM, border=True):
            st.subheader(t("auth.form_title"))
            st.caption(t("auth.intro"))
            username = st.text_input(
                t("auth.username"), key=LOGIN_USERNAME, autocomplete="username"
            )
            password = st.text_input(
                t("auth.password"),
                type="password",
                key=LOGIN_PASSWORD,
                autocomplete="current-password",
            )
            submitted = st.form_submit_button(t("auth.submit"), type="primary", key=LOGIN_SUBMIT)
        if not submitted:
            return
        st.session_state.pop(AUTH_NOTICE, None)
        notice_slot.empty()
        try:
            result = attempt_login(
                authenticator, settings, username or "", password or "", utcnow()
            )
        except IHanoiError:
            st.error(t("auth.unexpected"))
            return
        if result.outcome is LoginOutcome.OK:
            st.rerun()
        st.error(login_message(result))

    return login


# ------------------------------------------------------------------- sidebar


def _on_language_change() -> None:
    """Switch the console language and remember it for the account."""
    lang = st.session_state.get(LANG_CHOICE)
    if lang not in LANGS:
        return
    st.session_state[state_keys.LANG] = lang
    user = current_user()
    if user is not None:
        try:
            with session_scope() as s:
                accounts.set_language(s, user.user_id, str(lang))
        except NotFound:
            pass


def language_switch() -> None:
    """Tiếng Việt / English in the sidebar, each name in its own language."""
    lang = current_lang()
    st.session_state[LANG_CHOICE] = lang
    st.sidebar.selectbox(
        t("common.language"),
        LANGS,
        key=LANG_CHOICE,
        format_func=lambda v: t(f"auth.language_name.{v}", lang),
        on_change=_on_language_change,
    )


def account_sidebar(user: SessionUser) -> None:
    """Who is logged in, and the logout button (never keyed "logout": the library's)."""
    st.sidebar.caption(t("common.signed_in_as", name=user.full_name, role=label("role", user.role)))
    if user.unit_name:
        st.sidebar.caption(t("auth.unit", unit=user.unit_name))
    st.sidebar.button(
        t("common.logout"),
        key=state_keys.LOGOUT_BUTTON,
        icon=":material/logout:",
        on_click=_on_logout,
    )


# -------------------------------------------------------------------- errors


def account_error_text(exc: IHanoiError) -> str:
    """A sentence in the user's language for an error of account management."""
    if isinstance(exc, AccountError):
        values = dict(exc.values)
        if "role" in values:
            values["role"] = label("role", str(values["role"]))
        return t(f"users.error.{exc.code}", None, **values)
    if isinstance(exc, PermissionDenied):
        return t("users.error.permission")
    if isinstance(exc, NotFound):
        return t("users.error.not_found")
    return t("users.error.other", detail=str(exc))
