"""Người dùng: the accounts an administrator manages (and, per Quyết định 1207, a unit
leader for their own unit's officers): list, create, deactivate/reactivate, reset a
password, change role or unit. One core call per action; `ihanoi_core.accounts`
holds every rule and writes the admin log.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from ihanoi_core import accounts
from ihanoi_core.accounts import UserRow
from ihanoi_core.db import utcnow
from ihanoi_core.errors import IHanoiError
from ihanoi_core.models import UserCreate
from ihanoi_core.permissions import manageable_roles
from ihanoi_core.services import BCRYPT_MAX_BYTES, MIN_PASSWORD_CHARS
from ihanoi_core.vocab import Role
from ihanoi_ui import state_keys
from ihanoi_ui.auth import account_error_text, require_role
from ihanoi_ui.i18n import current_lang, fmt_date, fmt_datetime, fmt_int, label, t
from ihanoi_ui.navigation import page_roles
from ihanoi_ui.resources import session_scope

user = require_role(*page_roles("users"))

# Session-state keys of this page (to move into state_keys.py).
DIALOG = "ihanoi_users_dialog"  # (action, user_id | None, username | None)
TABLE = "ihanoi_users_table"
F_ROLE, F_UNIT = "ihanoi_users_f_role", "ihanoi_users_f_unit"
F_STATUS, F_SEARCH = "ihanoi_users_f_status", "ihanoi_users_f_search"
K = "ihanoi_users_"  # prefix of the dialogs' widget keys

actor = user.actor()
now = utcnow()

st.title(t("page.users"))
st.caption(t("users.caption"))
if user.role is Role.UNIT_LEADER:
    st.info(t("users.unit_scope", unit=user.unit_name or "—"))
flash = st.session_state.get(state_keys.FLASH)
if isinstance(flash, str):
    st.success(st.session_state.pop(state_keys.FLASH))

with session_scope() as s:
    filter_units = accounts.user_units(s, actor=actor)
    form_units = accounts.assignable_units(s, actor=actor, now=now)
unit_names = {u.unit_id: u.name for u in (*filter_units, *form_units)}
roles = manageable_roles(actor)


# Option labels use the language of this run (Streamlit may call them later, elsewhere).
lang = current_lang()


def role_text(value: Role | None) -> str:
    return t("common.all", lang) if value is None else label("role", value, lang)


def unit_text(unit_id: int | None) -> str:
    return t("users.field.unit_none", lang) if unit_id is None else unit_names.get(unit_id, "—")


# ------------------------------------------------------------------- filters

c1, c2, c3, c4 = st.columns([1, 1.4, 1, 1.6])
f_role = c1.selectbox(
    t("users.filter.role"),
    [None, *(r for r in Role if r is not Role.SYSTEM)],
    format_func=role_text,
    key=F_ROLE,
)
f_unit = c2.selectbox(
    t("users.filter.unit"),
    [None, *(u.unit_id for u in filter_units)],
    format_func=lambda v: t("common.all", lang) if v is None else unit_names.get(v, "—"),
    key=F_UNIT,
)
f_status = c3.selectbox(
    t("users.filter.status"),
    ["all", "active", "inactive"],
    format_func=lambda v: t(f"users.filter.status_{v}", lang),
    key=F_STATUS,
)
f_search = c4.text_input(t("users.filter.search"), key=F_SEARCH)

with session_scope() as s:
    rows = accounts.list_users(
        s,
        actor=actor,
        now=now,
        role=f_role,
        unit_id=f_unit,
        active=None if f_status == "all" else f_status == "active",
        search=f_search,
    )


def status_text(row: UserRow) -> str:
    if not row.active:
        return t("users.status.inactive")
    if row.locked_until is not None:
        return t("users.status.locked", until=fmt_datetime(row.locked_until))
    return t("users.status.active")


def open_dialog(action: str, user_id: int | None, username: str | None) -> None:
    st.session_state[DIALOG] = (action, user_id, username)


bar = st.columns([3, 1])
bar[0].caption(t("users.count", n=fmt_int(len(rows))))
if roles:
    bar[1].button(
        t("users.action.create"),
        key=K + "open_create",
        icon=":material/person_add:",
        on_click=open_dialog,
        args=("create", None, None),
        width="stretch",
    )

# --------------------------------------------------------------------- table

selected: UserRow | None = None
if not rows:
    st.info(t("users.empty"))
else:
    table = pd.DataFrame(
        {
            t("users.col.username"): [r.username for r in rows],
            t("users.col.full_name"): [r.full_name for r in rows],
            t("users.col.role"): [label("role", r.role) for r in rows],
            t("users.col.unit"): [r.unit_name or "—" for r in rows],
            t("users.col.status"): [status_text(r) for r in rows],
            t("users.col.language"): [t(f"auth.language_name.{r.language}") for r in rows],
            t("users.col.created_at"): [fmt_date(r.created_at) for r in rows],
        }
    )
    event = st.dataframe(
        table, key=TABLE, on_select="rerun", selection_mode="single-row", hide_index=True
    )
    positions = list(event.selection.rows)  # positions: turned into an account at once
    selected = rows[positions[0]] if positions and positions[0] < len(rows) else None

if selected is None:
    if rows:
        st.caption(t("users.select_hint"))
else:
    st.markdown(t("users.selected", name=selected.full_name, username=selected.username))
    if not selected.can_manage:
        st.caption(t("users.read_only"))
    else:
        a = st.columns(4)
        ident = (selected.user_id, selected.username)
        if selected.active:
            a[0].button(
                t("users.action.deactivate"),
                key=K + "open_deactivate",
                icon=":material/person_off:",
                on_click=open_dialog,
                args=("deactivate", *ident),
            )
        else:
            a[0].button(
                t("users.action.reactivate"),
                key=K + "open_reactivate",
                icon=":material/person_check:",
                on_click=open_dialog,
                args=("reactivate", *ident),
            )
        a[1].button(
            t("users.action.reset_password"),
            key=K + "open_reset_password",
            icon=":material/key:",
            on_click=open_dialog,
            args=("reset_password", *ident),
        )
        if len(roles) > 1 or len(form_units) > 1:
            a[2].button(
                t("users.action.change_role"),
                key=K + "open_change_role",
                icon=":material/swap_horiz:",
                on_click=open_dialog,
                args=("change_role", *ident),
            )
    with st.expander(t("users.history")):
        with session_scope() as s:
            history = accounts.account_history(s, actor=actor, user_id=selected.user_id)
        if not history:
            st.caption(t("users.history_empty"))
        for h in history:
            who = h.actor_username or t("users.event.system")
            st.markdown(
                f"**{fmt_datetime(h.at)}** · {t(f'users.event.{h.action}')} · {who}"
                + (f" — {h.reason}" if h.reason else "")
            )


# ------------------------------------------------------------------- dialogs


def close_dialog() -> None:
    st.session_state.pop(DIALOG, None)


def finish(message: str) -> None:
    st.session_state[state_keys.FLASH] = message
    close_dialog()
    st.rerun()


def run_action(call: Callable[[], str], done_key: str) -> None:
    """One core call in one transaction; a typed error becomes a sentence."""
    try:
        username = call()
    except IHanoiError as exc:
        st.error(account_error_text(exc))
        return
    finish(t(done_key, username=username))


def password_help() -> str:
    return t("users.help.password", min=MIN_PASSWORD_CHARS, max=BCRYPT_MAX_BYTES)


def unit_options(current: int | None = None) -> list[int | None]:
    options: list[int | None] = [u.unit_id for u in form_units]
    if current is not None and current not in options:
        options.insert(0, current)  # an account in a unit no longer valid keeps it visible
    if user.role is Role.ADMIN:
        options.insert(0, None)
    return options


def create_body() -> None:
    with st.form(K + "create_form", border=False):
        username = st.text_input(
            t("users.field.username"), key=K + "new_username", help=t("users.help.username")
        )
        full_name = st.text_input(t("users.field.full_name"), key=K + "new_full_name")
        role = st.selectbox(
            t("users.field.role"),
            roles,
            index=roles.index(Role.OFFICER) if Role.OFFICER in roles else 0,  # the usual case
            format_func=role_text,
            key=K + "new_role",
        )
        unit_id = st.selectbox(
            t("users.field.unit"),
            unit_options(),
            format_func=unit_text,
            key=K + "new_unit",
            help=t("users.help.unit"),
        )
        password = st.text_input(
            t("users.field.password"), type="password", key=K + "new_password", help=password_help()
        )
        confirm = st.text_input(
            t("users.field.password_confirm"), type="password", key=K + "new_password2"
        )
        reason = st.text_input(
            t("users.field.reason"), key=K + "new_reason", help=t("users.help.reason")
        )
        submitted = st.form_submit_button(
            t("users.action.create"), type="primary", key=K + "create_submit"
        )
    if not submitted:
        return
    if password != confirm:
        st.error(t("users.password_mismatch"))
        return
    unit_code = next((u.code for u in form_units if u.unit_id == unit_id), None)

    def call() -> str:
        with session_scope() as s:
            created = accounts.create_user(
                s,
                actor=actor,
                data=UserCreate(
                    username=username or "",
                    full_name=full_name or "",
                    role=(role or Role.OFFICER).value,
                    unit_code=unit_code,
                    password=password or "",
                ),
                now=utcnow(),
                reason=reason,
            )
            return created.username

    run_action(call, "users.done.create")


def active_body(action: str, user_id: int, username: str) -> None:
    st.markdown(t(f"users.confirm.{action}", username=username))
    reason = st.text_input(
        t("users.field.reason"), key=K + f"{action}_reason", help=t("users.help.reason")
    )
    if not st.button(t("common.confirm"), type="primary", key=K + f"{action}_submit"):
        return
    change = accounts.deactivate_user if action == "deactivate" else accounts.reactivate_user

    def call() -> str:
        with session_scope() as s:
            return change(s, actor=actor, user_id=user_id, now=utcnow(), reason=reason).username

    run_action(call, f"users.done.{action}")


def reset_body(user_id: int, username: str) -> None:
    st.markdown(t("users.confirm.reset_password", username=username))
    with st.form(K + "reset_form", border=False):
        password = st.text_input(
            t("users.field.new_password"),
            type="password",
            key=K + "reset_password",
            help=password_help(),
        )
        confirm = st.text_input(
            t("users.field.password_confirm"), type="password", key=K + "reset_password2"
        )
        reason = st.text_input(t("users.field.reason"), key=K + "reset_reason")
        submitted = st.form_submit_button(
            t("users.action.reset_password"), type="primary", key=K + "reset_submit"
        )
    if not submitted:
        return
    if password != confirm:
        st.error(t("users.password_mismatch"))
        return

    def call() -> str:
        with session_scope() as s:
            return accounts.reset_password(
                s,
                actor=actor,
                user_id=user_id,
                new_password=password or "",
                now=utcnow(),
                reason=reason,
            ).username

    run_action(call, "users.done.reset_password")


def change_body(user_id: int, username: str, target: UserRow | None) -> None:
    st.markdown(t("users.confirm.change_role", username=username))
    current_role = target.role if target else roles[0]
    current_unit = target.unit_id if target else None
    if target is not None and target.unit_id is not None and target.unit_name:
        unit_names.setdefault(target.unit_id, target.unit_name)
    role_choices = roles if current_role in roles else [current_role, *roles]
    units = unit_options(current_unit)
    role = st.selectbox(
        t("users.field.role"),
        role_choices,
        index=role_choices.index(current_role),
        format_func=role_text,
        key=K + "change_role",
    )
    unit_id = st.selectbox(
        t("users.field.unit"),
        units,
        index=units.index(current_unit) if current_unit in units else 0,
        format_func=unit_text,
        key=K + "change_unit",
        help=t("users.help.unit"),
    )
    reason = st.text_input(t("users.field.reason"), key=K + "change_reason")
    if not st.button(t("common.confirm"), type="primary", key=K + "change_submit"):
        return

    def call() -> str:
        with session_scope() as s:
            return accounts.change_role_and_unit(
                s,
                actor=actor,
                user_id=user_id,
                role=role or current_role,
                unit_id=unit_id,
                now=utcnow(),
                reason=reason or "",
            ).username

    run_action(call, "users.done.change_role")


opened = st.session_state.get(DIALOG)
if isinstance(opened, tuple) and len(opened) == 3:
    action, target_id, target_name = opened
    target = next((r for r in rows if r.user_id == target_id), None)
    titles = {
        "create": "users.action.create",
        "deactivate": "users.action.deactivate",
        "reactivate": "users.action.reactivate",
        "reset_password": "users.action.reset_password",
        "change_role": "users.action.change_role",
    }
    if action == "create" and roles:
        st.dialog(t(titles[action]), on_dismiss=close_dialog)(create_body)()
    elif action in ("deactivate", "reactivate") and target_id is not None:
        st.dialog(t(titles[action]), on_dismiss=close_dialog)(active_body)(
            action, target_id, target_name
        )
    elif action == "reset_password" and target_id is not None:
        st.dialog(t(titles[action]), on_dismiss=close_dialog)(reset_body)(target_id, target_name)
    elif action == "change_role" and target_id is not None:
        st.dialog(t(titles[action]), on_dismiss=close_dialog)(change_body)(
            target_id, target_name, target
        )
    else:
        close_dialog()
