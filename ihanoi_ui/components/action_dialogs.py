"""The dialogs behind the action buttons: one form per workflow action.

Which dialog is open lives in `st.session_state[OPEN_DIALOG]` as (action, report id,
version read), so reruns and AppTest see the same thing the user sees; it is closed by
clearing that key and rerunning. Opening a dialog re-reads what it offers
(`cases.action_form`, which also re-checks that the action is still allowed); saving is
one `casework.perform_action` carrying the version the user saw, so a report changed
by someone else in between is refused with "changed by X at T" and nothing is written.

The rules (who may, which units, how long a reason must be) are the core's: this module
only collects input and turns the core's typed errors into sentences.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

import pandas as pd
import streamlit as st

from ihanoi_core import db
from ihanoi_core.attachments import (
    AttachmentRejected,
    NewAttachment,
    load_upload_rules,
    read_uploads,
)
from ihanoi_core.cases import (
    ActionForm,
    TemplateOption,
    UnitOption,
    action_form,
    dispatch_targets,
)
from ihanoi_core.casework import (
    EVIDENCE_ACTIONS,
    BulkInterrupted,
    BulkItem,
    BulkResult,
    ItemOutcome,
    bulk_dispatch,
    perform_action,
)
from ihanoi_core.config import HANOI_TZ
from ihanoi_core.errors import ConflictError, IHanoiError, PermissionDenied, ValidationError
from ihanoi_core.vocab import Action, Priority
from ihanoi_core.workflow import MIN_REASON_CHARS, MIN_RESULT_CHARS, ActionParams
from ihanoi_ui import state_keys
from ihanoi_ui.auth import SessionUser
from ihanoi_ui.components.case_table import clear_table_selection, distinct_labels
from ihanoi_ui.i18n import fmt_datetime, label, t
from ihanoi_ui.resources import session_scope

DIALOG_PREFIX: Final = "dlg_"  # every widget of a dialog: cleared when one opens
UNIT_KEY: Final = "dlg_unit"
NOTE_KEY: Final = "dlg_note"
OFFICER_KEY: Final = "dlg_officer"
PRIORITY_KEY: Final = "dlg_priority"
TEMPLATE_KEY: Final = "dlg_template"
RESULT_KEY: Final = "dlg_result"
REASON_KEY: Final = "dlg_reason"
PUBLIC_KEY: Final = "dlg_public"
EVIDENCE_KEY: Final = "dlg_evidence"
SAVE_KEY: Final = "dlg_save"
CANCEL_KEY: Final = "dlg_cancel"
RELOAD_KEY: Final = "dlg_reload"

_MB: Final = 1024 * 1024
_UPLOAD_TYPES: Final = ("jpg", "jpeg", "png", "webp", "pdf")
_MIN_CHARS: Final = {"result_text": MIN_RESULT_CHARS, "reason": MIN_REASON_CHARS}


# ------------------------------------------------------------------ clock


def console_now() -> datetime:
    """The console's clock: the only place the case pages read the time (the core takes
    `now`). Tests freeze it by patching `ihanoi_core.db.utcnow`."""
    return db.utcnow()


# ------------------------------------------------------------ errors → text


def error_text(exc: IHanoiError) -> str:
    """A sentence for a core error, in the user's language (never a stack trace)."""
    if isinstance(exc, ConflictError):
        return t("common.conflict", who=exc.changed_by or "?", when=fmt_datetime(exc.changed_at))
    if isinstance(exc, AttachmentRejected):
        rules = load_upload_rules()
        return t(
            f"dialog.upload.{exc.problem.value}",
            name=exc.filename,
            mb=math.ceil(rules.max_bytes / _MB),
            n=exc.limit if exc.limit is not None else rules.max_files,
        )
    if isinstance(exc, ValidationError):
        key = f"dialog.invalid.{exc.field}"
        text = t(key, n=_MIN_CHARS.get(exc.field, 0))
        if text != key:
            return text
        return t("error.ValidationError", field=exc.field, reason=exc.reason)
    if isinstance(exc, PermissionDenied) and exc.action == "view":
        return t("cases.detail.not_visible")
    if isinstance(exc, BulkInterrupted):
        return t("cases.bulk.interrupted")
    key = f"error.{type(exc).__name__}"
    text = t(key)
    return text if text != key else str(exc)


# --------------------------------------------------------- open and close


def open_dialog(action: Action, report_id: int, version: int) -> None:
    """Button callback: open `action`'s dialog for the version the user is looking at."""
    for key in [k for k in st.session_state if str(k).startswith(DIALOG_PREFIX)]:
        del st.session_state[key]
    st.session_state[state_keys.OPEN_DIALOG] = (action.value, report_id, version)


def close_dialog() -> None:
    st.session_state.pop(state_keys.OPEN_DIALOG, None)


def action_button(action: Action, report_id: int, version: int) -> None:
    """The button of one allowed action (stable key: one detail panel per page)."""
    st.button(
        label("action", action.value),
        key=f"case_action_{action.value}",
        on_click=open_dialog,
        args=(action, report_id, version),
        type="primary" if action in (Action.APPROVE, Action.PUBLISH) else "secondary",
    )


def open_dialog_spec() -> tuple[Action, int, int] | None:
    spec = st.session_state.get(state_keys.OPEN_DIALOG)
    if not spec:
        return None
    action, report_id, version = spec
    return Action(action), int(report_id), int(version)


def render_open_dialog(user: SessionUser, now: datetime) -> None:
    """Show the dialog named in `OPEN_DIALOG`, if any (call once, at the page's end)."""
    spec = open_dialog_spec()
    if spec is None:
        return
    action, report_id, version = spec
    dialog = st.dialog(label("action", action.value), width="large", on_dismiss=close_dialog)
    dialog(_dialog_body)(action, report_id, version, user, now)


# ------------------------------------------------------------------ forms


def _unit_labels(units: Sequence[UnitOption]) -> dict[int, str]:
    return distinct_labels(
        [(u.id, f"{u.name} · {label('unit_kind', u.kind.value)}", u.code) for u in units]
    )


def _prefill(key: str, value: Any) -> None:
    """Give a widget its starting value once (setting `value=` would fight the state)."""
    if key not in st.session_state:
        st.session_state[key] = value


def _use_template(templates: dict[str, TemplateOption], target: str) -> None:
    """Template picked: put its text in the editable box. The citizen reads Vietnamese,
    so the Vietnamese text is used whatever the console's language."""
    code = st.session_state.get(TEMPLATE_KEY)
    if code in templates:
        st.session_state[target] = templates[code].text_vi


def _template_picker(form: ActionForm, target: str, *, required: bool, label_key: str) -> None:
    templates = {tpl.code: tpl for tpl in form.templates}
    lang_en = st.session_state.get(state_keys.LANG) == "en"
    titles = distinct_labels(
        [(tpl.code, tpl.title_en if lang_en else tpl.title_vi, tpl.code) for tpl in form.templates]
    )
    if required and templates:
        first = next(iter(templates.values()))
        _prefill(TEMPLATE_KEY, first.code)
        _prefill(target, first.text_vi)
    st.selectbox(
        t(label_key),
        options=list(templates),
        index=None if not required else 0,
        format_func=lambda c: titles[c],
        placeholder=t("dialog.template_placeholder"),
        key=TEMPLATE_KEY,
        on_change=_use_template,
        args=(templates, target),
    )


def _evidence_uploader() -> list[tuple[str, bytes]]:
    rules = load_upload_rules()
    mb = math.ceil(rules.max_bytes / _MB)
    files = st.file_uploader(
        t("dialog.evidence"),
        type=list(_UPLOAD_TYPES),
        accept_multiple_files=True,
        key=EVIDENCE_KEY,
        help=t("dialog.evidence_help", mb=mb, n=rules.max_files),
        max_upload_size=mb,
    )
    return [(f.name, f.getvalue()) for f in files or []]


def _form_fields(action: Action, form: ActionForm) -> tuple[ActionParams, list[tuple[str, bytes]]]:
    """The widgets of `action`'s form and what they hold now, as the core's parameters."""
    files: list[tuple[str, bytes]] = []
    if action in (Action.DISPATCH, Action.REASSIGN):
        units = _unit_labels(form.units)
        unit_id = st.selectbox(
            t("dialog.unit"),
            options=list(units),
            index=None,
            format_func=lambda i: units[i],
            placeholder=t("dialog.unit_placeholder"),
            key=UNIT_KEY,
        )
        note = st.text_input(t("dialog.note"), key=NOTE_KEY)
        return ActionParams(to_unit_id=unit_id, reason=note or None), files
    if action is Action.ASSIGN:
        officers = distinct_labels(
            [
                (o.id, t("dialog.officer_option", name=o.full_name, n=o.open_cases), o.username)
                for o in form.officers
            ]
        )
        officer_id = st.selectbox(
            t("dialog.officer"),
            options=list(officers),
            index=None,
            format_func=lambda i: officers[i],
            placeholder=t("dialog.officer_placeholder"),
            key=OFFICER_KEY,
        )
        _prefill(PRIORITY_KEY, form.priority.value)
        priority = st.selectbox(
            t("dialog.priority"),
            options=[p.value for p in Priority],
            format_func=lambda p: label("priority", p),
            key=PRIORITY_KEY,
        )
        return ActionParams(assignee_id=officer_id, priority=Priority(priority)), files
    if action is Action.DRAFT:
        _template_picker(form, RESULT_KEY, required=False, label_key="dialog.template")
        _prefill(RESULT_KEY, form.result_text or "")
        result = st.text_area(t("dialog.result"), key=RESULT_KEY, height=180)
        files = _evidence_uploader()
        return ActionParams(result_text=result), files
    if action in (Action.REFUSE_NOT_OURS, Action.REFUSE_INACCURATE):
        required = action is Action.REFUSE_INACCURATE
        _template_picker(form, REASON_KEY, required=required, label_key="dialog.template_refusal")
        _prefill(REASON_KEY, "")
        reason = st.text_area(t("dialog.refusal_text"), key=REASON_KEY, height=150)
        if action in EVIDENCE_ACTIONS:
            files = _evidence_uploader()
        template = st.session_state.get(TEMPLATE_KEY)
        return ActionParams(reason=reason, template_code=template or None), files
    if action in (Action.APPROVE, Action.PUBLISH):
        st.markdown(f"**{t('dialog.draft_to_review')}**")
        st.info(form.result_text or t("dialog.no_draft"))
        if action is Action.APPROVE:
            st.caption(t("dialog.confirm_approve"))
            return ActionParams(), files
        public = st.toggle(t("dialog.public"), key=PUBLIC_KEY, help=t("dialog.public_help"))
        return ActionParams(is_public=public), files
    # reject, reopen: a reason only
    reason = st.text_area(t("dialog.reason"), key=REASON_KEY, height=120)
    return ActionParams(reason=reason), files


def _save(
    action: Action,
    report_id: int,
    version: int,
    user: SessionUser,
    params: ActionParams,
    files: Sequence[tuple[str, bytes]],
) -> None:
    # Read the clock at the click: a dialog reruns as a fragment with the arguments of
    # the last full run, so the `now` it was opened with may be minutes old.
    now = console_now()
    try:
        evidence: list[NewAttachment] = read_uploads(files) if files else []
        with session_scope() as session:
            result = perform_action(
                session,
                action=action,
                report_id=report_id,
                actor=user.actor(),
                expected_version=version,
                now=now,
                params=params,
                evidence=evidence,
            )
    except ConflictError as exc:
        st.error(error_text(exc))
        st.button(t("common.reload"), key=RELOAD_KEY, on_click=close_dialog)
        return
    except IHanoiError as exc:
        st.error(error_text(exc))
        return
    close_dialog()
    st.session_state[state_keys.FLASH] = t(
        "dialog.saved", action=label("action", action.value), code=result.code
    )
    st.rerun()


def _dialog_body(
    action: Action, report_id: int, version: int, user: SessionUser, now: datetime
) -> None:
    try:
        with session_scope() as session:
            form = action_form(
                session,
                action=action,
                report_id=report_id,
                viewer=user.actor(),
                now=now,
                expected_version=version,
            )
    except ConflictError as exc:
        st.error(error_text(exc))
        st.button(t("common.reload"), key=RELOAD_KEY, on_click=close_dialog)
        return
    except IHanoiError as exc:
        st.error(error_text(exc))
        st.caption(t("dialog.stale_hint"))
        st.button(t("common.close"), key=CANCEL_KEY, on_click=close_dialog)
        return
    st.markdown(t("dialog.report", code=form.code, title=form.title))
    params, files = _form_fields(action, form)
    save_col, cancel_col = st.columns(2)
    save = save_col.button(t("dialog.save"), key=SAVE_KEY, type="primary")
    cancel_col.button(t("common.cancel"), key=CANCEL_KEY, on_click=close_dialog)
    if save:
        _save(action, report_id, version, user, params, files)


# ------------------------------------------------------------ bulk dispatch

BULK_UNIT_KEY: Final = "cases_bulk_unit"
BULK_GO_KEY: Final = "cases_bulk_go"
BULK_RESULT_KEY: Final = "cases_bulk_result"  # BulkResult or an error sentence


def _bulk_dispatch(chosen: Sequence[tuple[int, int]], user: SessionUser, table_key: str) -> None:
    """Button callback: dispatch every chosen (id, version) to the chosen unit."""
    unit_id = st.session_state.get(BULK_UNIT_KEY)
    if unit_id is None:
        st.session_state[BULK_RESULT_KEY] = t("cases.bulk.need_unit")
        return
    try:
        with session_scope() as session:
            result = bulk_dispatch(
                session,
                items=list(chosen),
                to_unit_id=int(unit_id),
                actor=user.actor(),
                now=console_now(),
            )
    except IHanoiError as exc:
        st.session_state[BULK_RESULT_KEY] = error_text(exc)
        return
    st.session_state[BULK_RESULT_KEY] = result
    clear_table_selection(table_key)
    st.session_state[state_keys.SELECTED_REPORT] = None


def bulk_dispatch_panel(
    chosen: Sequence[tuple[int, int]], user: SessionUser, now: datetime, table_key: str
) -> None:
    """For the dispatcher: send every selected report to one unit at once."""
    with session_scope() as session:
        targets = dispatch_targets(session, now.astimezone(HANOI_TZ).date())
    names = _unit_labels(targets)
    with st.container(border=True):
        st.markdown(f"**{t('cases.bulk.title', n=len(chosen))}**")
        st.selectbox(
            t("cases.bulk.unit"),
            options=list(names),
            index=None,
            format_func=lambda i: names[i],
            placeholder=t("dialog.unit_placeholder"),
            key=BULK_UNIT_KEY,
        )
        st.button(
            t("cases.bulk.go"),
            key=BULK_GO_KEY,
            type="primary",
            on_click=_bulk_dispatch,
            args=(list(chosen), user, table_key),
        )


def _outcome_text(item: BulkItem) -> str:
    if item.outcome is ItemOutcome.CONFLICT:
        return t(
            "cases.bulk.outcome.conflict",
            who=item.changed_by or "?",
            when=fmt_datetime(item.changed_at),
        )
    if item.outcome is ItemOutcome.INVALID and item.error is not None:
        return t("cases.bulk.outcome.invalid", reason=error_text(item.error))
    return t(f"cases.bulk.outcome.{item.outcome.value}")


def show_bulk_result() -> None:
    """The outcome of the last bulk dispatch, report by report (shown once)."""
    result = st.session_state.pop(BULK_RESULT_KEY, None)
    if result is None:
        return
    if isinstance(result, str):
        st.error(result)
        return
    if not isinstance(result, BulkResult):
        return
    total = len(result.items)
    message = t("cases.bulk.done", ok=result.ok_count, total=total)
    (st.success if result.ok_count == total else st.warning)(message)
    st.markdown(f"**{t('cases.bulk.result')}**")
    st.dataframe(
        pd.DataFrame(
            [(item.code or f"#{item.report_id}", _outcome_text(item)) for item in result.items],
            columns=[t("cases.bulk.col_code"), t("cases.bulk.col_outcome")],
        ),
        hide_index=True,
        key="cases_bulk_table",
    )
