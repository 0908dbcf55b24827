"""Danh mục: the administrator edits units (with validity dates), categories, the deadline
rules and the refusal/response templates, and reads the history of every change.

Every edit goes form → review → confirm. "Review" runs the core call in a transaction
that is rolled back, so a broken rule shows up under the form at once, in the core's
words; "Confirm" runs it again for real. The row shown when editing began is what the
core compares against (a stale edit is refused, naming who changed the row). Widgets
keep what was typed through any error: nothing is lost. `ihanoi_core.refadmin` holds
every rule and writes the admin log.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
import streamlit as st

from ihanoi_core import refadmin
from ihanoi_core.db import utcnow
from ihanoi_core.deadlines import DeadlineTextError, rules_for
from ihanoi_core.errors import IHanoiError, NotFound, PermissionDenied
from ihanoi_core.refadmin import (
    CategoryEdit,
    CategoryNew,
    CategoryRow,
    ChangeRow,
    FieldChange,
    RefAdminError,
    ReferenceConflict,
    TemplateEdit,
    TemplateNew,
    TemplateRow,
    UnitEdit,
    UnitNew,
    UnitRow,
)
from ihanoi_core.vocab import Kind, TemplateKind, UnitKind
from ihanoi_core.workflow import MIN_REASON_CHARS
from ihanoi_ui import state_keys
from ihanoi_ui.auth import require_role
from ihanoi_ui.i18n import current_lang, fmt_date, fmt_datetime, fmt_int, label, t
from ihanoi_ui.navigation import page_roles
from ihanoi_ui.resources import session_scope

user = require_role(*page_roles("reference"))

# Session-state keys of this page (to move into state_keys.py).
K = "ihanoi_ref_"  # prefix of every widget key of this page
PENDING = K + "pending"  # the change waiting for confirmation (Pending)
BASES = K + "bases"  # {tab: row shown when editing began} (the optimistic "before")
DEADLINE_BASE = K + "deadline_base"  # (version, text) the rules text was read at
DEADLINE_TEXT = K + "deadline_text"
DELETE_ERROR = K + "delete_error"  # why a delete was refused (set in a button callback)
UNIT_TABLE, CATEGORY_TABLE = K + "unit_table", K + "category_table"
TEMPLATE_TABLE, HISTORY_TABLE = K + "template_table", K + "history_table"
DATE_FORMAT = "DD/MM/YYYY"
DATE_MIN, DATE_MAX = date(1990, 1, 1), date(2100, 12, 31)

actor = user.actor()
lang = current_lang()


@dataclass(frozen=True)
class Pending:
    """A change the administrator reviewed: what it changes, why, and the core call."""

    tab: str
    title: str
    changes: tuple[FieldChange, ...]
    reason: str
    run: Callable[[Any], str]  # a session → the sentence to show once saved


class _DryRun(Exception):
    """Raised inside a session to roll it back after a successful preview."""


# ------------------------------------------------------------------ helpers


def field_label(field: str) -> str:
    return t(f"reference.field.{field}", lang)


def error_text(exc: IHanoiError) -> str:
    """A sentence in the user's language for any refusal of the core."""
    if isinstance(exc, DeadlineTextError):
        values = {"where": exc.where, "reason": exc.reason, "line": exc.line}
        key = "deadline_line" if exc.line is not None else "deadline"
        return t(f"reference.error.{key}", lang, **values)
    if isinstance(exc, RefAdminError):
        values = {"field": field_label(exc.field), **exc.values}
        return t(f"reference.error.{exc.code}", lang, **values)
    if isinstance(exc, ReferenceConflict):
        if exc.changed_by is None or exc.changed_at is None:
            return t("reference.error.conflict_unknown", lang)
        return t(
            "reference.error.conflict", lang, who=exc.changed_by, when=fmt_datetime(exc.changed_at)
        )
    if isinstance(exc, PermissionDenied):
        return t("reference.error.permission", lang)
    if isinstance(exc, NotFound):
        return t("reference.error.not_found", lang)
    return t("reference.error.other", lang, detail=str(exc))


def shown(value: object) -> str:
    """A value of a before/after snapshot as people read it."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return t("common.yes" if value else "common.no", lang)
    if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
        try:
            return fmt_date(date.fromisoformat(value))
        except ValueError:
            return value
    return str(value)


def preview(run: Callable[[Any], object]) -> IHanoiError | None:
    """Run a core call and roll it back: the refusal it would meet, or None."""
    try:
        with session_scope() as s:
            run(s)
            raise _DryRun
    except _DryRun:
        return None
    except IHanoiError as exc:
        return exc


def propose(
    tab: str,
    title: str,
    before: dict[str, Any] | None,
    after: dict[str, Any],
    reason: str,
    run: Callable[[Any], str],
    *,
    refused: Callable[[str], object] = st.error,
    rerun: bool = True,
) -> None:
    """Check the change through the core (nothing written) and ask for confirmation.
    In a button callback (`rerun` False) the refusal must be kept for the next run
    (`refused`): Streamlit draws nothing from a callback and reruns by itself."""
    st.session_state.pop(PENDING, None)
    problem = preview(run)
    if problem is not None:
        refused(error_text(problem))
        return
    changes = refadmin.field_changes(before, after)
    st.session_state[PENDING] = Pending(tab, title, changes, reason.strip(), run)
    if rerun:
        st.rerun()


def saving(
    call: Callable[..., Any], done: str | Callable[[Any], str], reason: str, **args: Any
) -> Callable[[Any], str]:
    """The core call a confirmed change runs: `call(session, **args)` as this admin, now,
    with the reason; then the sentence to show: the key `done` naming the saved row's
    code, or what `done` says of the call's result."""

    def run(s: Any) -> str:
        saved = call(s, actor=actor, now=utcnow(), reason=reason, **args)
        return t(done, code=saved.code) if isinstance(done, str) else done(saved)

    return run


def review_footer(key: str) -> tuple[str, bool]:
    """The end of every edit form: the reason, and the button that asks for a review."""
    reason = reason_input(key + "reason")
    return reason, st.form_submit_button(t("reference.review"), key=key + "submit")


def bases() -> dict[str, Any]:
    value = st.session_state.get(BASES)
    if not isinstance(value, dict):
        value = {}
        st.session_state[BASES] = value
    return value


def base_of(tab: str, row: Any, same: Callable[[Any], bool]) -> Any:
    """The row as it was when editing it began (kept across reruns), so the core can
    tell whether someone changed it meanwhile."""
    kept = bases().get(tab)
    if kept is None or not same(kept):
        bases()[tab] = row
        return row
    return kept


def forms_below(
    tab: str,
    picked: Any,
    id_of: Callable[[Any], int],
    edit_form: Callable[[Any], None],
    add_form: Callable[[], None],
    *,
    hint: bool = True,
) -> None:
    """Under a tab's table: the selected row's form, on the row as it was when editing
    began (see `base_of`), then the change waiting for confirmation, then the add form."""
    if picked is None:
        if hint:
            st.caption(t("reference.select_hint"))
    else:
        edit_form(base_of(tab, picked, lambda kept: id_of(kept) == id_of(picked)))
    confirm_panel(tab)
    with st.expander(t(f"reference.{tab}.add_title")):
        add_form()


def reload(tab: str) -> None:
    bases().pop(tab, None)
    st.session_state.pop(PENDING, None)


def confirm_panel(tab: str) -> None:
    """The pending change of this tab: before → after, the reason, confirm or cancel."""
    pending = st.session_state.get(PENDING)
    # Not isinstance: the page script (and so the class) is re-executed on every run.
    if getattr(pending, "tab", None) != tab:
        return
    assert pending is not None
    with st.container(border=True):
        st.subheader(t("reference.confirm.title"))
        st.markdown(f"**{pending.title}**")
        st.caption(t("reference.confirm.intro", reason=pending.reason))
        rows = [c for c in pending.changes if not c.diff]
        if rows:
            st.table(
                pd.DataFrame(
                    {
                        t("reference.confirm.field"): [field_label(c.field) for c in rows],
                        t("reference.confirm.before"): [shown(c.before) for c in rows],
                        t("reference.confirm.after"): [shown(c.after) for c in rows],
                    }
                )
            )
        for c in pending.changes:
            if c.diff:
                st.code("\n".join(c.diff), language="diff")
        if not pending.changes:
            st.info(t("reference.confirm.nothing"))
        left, right = st.columns([1, 1])
        go = left.button(t("common.confirm"), type="primary", key=K + "confirm")
        right.button(t("common.cancel"), key=K + "cancel", on_click=reload_pending)
    if not go:
        return
    try:
        with session_scope() as s:
            message = pending.run(s)
    except IHanoiError as exc:
        st.error(error_text(exc))
        if isinstance(exc, ReferenceConflict | NotFound):
            st.button(t("common.reload"), key=K + "reload_" + tab, on_click=reload, args=(tab,))
        return
    st.session_state.pop(PENDING, None)
    bases().pop(tab, None)
    if tab == "deadlines":
        st.session_state.pop(DEADLINE_BASE, None)  # the next run shows the saved text
    st.session_state[state_keys.FLASH] = message
    st.rerun()


def reload_pending() -> None:
    st.session_state.pop(PENDING, None)


def reason_input(key: str) -> str:
    return st.text_input(
        t("reference.field.reason"),
        key=key,
        help=t("reference.help.reason", min=MIN_REASON_CHARS),
    )


def date_field(text: str, value: date | None, key: str, help: str | None = None) -> date | None:
    picked = st.date_input(
        text,
        value=value,
        min_value=DATE_MIN,
        max_value=DATE_MAX,
        format=DATE_FORMAT,
        key=key,
        help=help,
    )
    return picked if isinstance(picked, date) else None


def table_height(rows: int) -> int:
    """Short tables without empty rows below, long ones scroll at ~9 rows."""
    return min(35 * (rows + 1) + 3, 353)


def selectable(
    columns: dict[str, list[Any]], key: str, size: int, *, fit: bool = True
) -> int | None:
    """A table whose selected row opens its form (or detail): the row's position, or
    None. `fit`: sized to its rows (see `table_height`) rather than Streamlit's default."""
    st.dataframe(
        pd.DataFrame(columns),
        key=key,
        on_select="rerun",
        selection_mode="single-row",
        hide_index=True,
        height=table_height(size) if fit else "auto",
    )
    return selected_position(key, size)


def selected_position(key: str, size: int) -> int | None:
    state = st.session_state.get(key)
    rows = list(getattr(getattr(state, "selection", None), "rows", []) or [])
    if not rows and isinstance(state, dict):
        rows = list(state.get("selection", {}).get("rows", []))
    return rows[0] if rows and rows[0] < size else None


# ------------------------------------------------------------------ page

st.title(t("page.reference"))
st.caption(t("reference.caption"))
# Always one slot above the tabs: a message that appears only sometimes would shift the
# tabs, and the browser would reopen the first tab after every save.
flash_slot = st.empty()
flash = st.session_state.pop(state_keys.FLASH, None)
if isinstance(flash, str):
    flash_slot.success(flash)

tab_units, tab_categories, tab_deadlines, tab_templates, tab_history = st.tabs(
    [
        t("reference.tab.units"),
        t("reference.tab.categories"),
        t("reference.tab.deadlines"),
        t("reference.tab.templates"),
        t("reference.tab.history"),
    ]
)

# ------------------------------------------------------------------ units


def units_tab() -> None:
    c1, c2 = st.columns([1, 2])
    kind = c1.selectbox(
        t("reference.filter.kind"),
        [None, *UnitKind],
        format_func=lambda v: t("common.all", lang) if v is None else label("unit_kind", v, lang),
        key=K + "unit_kind",
    )
    search = c2.text_input(t("reference.filter.search"), key=K + "unit_search")
    with session_scope() as s:
        rows = refadmin.list_units(s, actor=actor, kind=kind, search=search)
        parents = refadmin.parent_options(s, actor=actor)
    st.caption(t("reference.count", n=fmt_int(len(rows))))
    position: int | None = None
    if not rows:
        st.info(t("reference.empty"))
    else:
        position = selectable(
            {
                field_label("code"): [r.code for r in rows],
                field_label("kind"): [label("unit_kind", r.kind) for r in rows],
                field_label("name"): [r.name for r in rows],
                field_label("name_en"): [r.name_en or "" for r in rows],
                field_label("valid_from"): [fmt_date(r.valid_from) for r in rows],
                field_label("valid_to"): [fmt_date(r.valid_to) for r in rows],
                field_label("parent"): [r.parent_name or "" for r in rows],
            },
            UNIT_TABLE,
            len(rows),
        )
    forms_below(
        "units",
        None if position is None else rows[position],
        lambda r: r.unit_id,
        lambda base: unit_form(base, parents),
        lambda: unit_add_form(parents),
        hint=bool(rows),
    )


def parent_choices(parents: list[refadmin.UnitOption], current: int | None) -> list[int | None]:
    ids: list[int | None] = [None, *(p.unit_id for p in parents)]
    if current is not None and current not in ids:
        ids.insert(1, current)
    return ids


def unit_form(base: UnitRow, parents: list[refadmin.UnitOption]) -> None:
    names = {p.unit_id: f"{p.name} ({p.code})" for p in parents}
    if base.parent_id is not None:
        names.setdefault(base.parent_id, f"{base.parent_name} ({base.parent_code})")
    choices = parent_choices(parents, base.parent_id)
    key = K + f"unit_{base.unit_id}_"
    st.markdown("#### " + t("reference.units.edit_title", name=base.name, code=base.code))
    with st.form(key + "form"):
        name = st.text_input(field_label("name"), value=base.name, key=key + "name")
        name_en = st.text_input(field_label("name_en"), value=base.name_en or "", key=key + "en")
        d1, d2 = st.columns(2)
        with d1:
            valid_from = date_field(field_label("valid_from"), base.valid_from, key + "from")
        with d2:
            valid_to = date_field(
                field_label("valid_to"), base.valid_to, key + "to", t("reference.help.valid_to")
            )
        parent_id = st.selectbox(
            field_label("parent"),
            choices,
            index=choices.index(base.parent_id),
            format_func=lambda v: t("reference.none", lang) if v is None else names.get(v, "?"),
            key=key + "parent",
        )
        reason, submitted = review_footer(key)
    if not submitted:
        return
    change = UnitEdit(name or "", name_en or None, valid_from, valid_to, parent_id)
    parent_code = next((p.code for p in parents if p.unit_id == parent_id), base.parent_code)
    after = {
        "name": (name or "").strip(),
        "name_en": (name_en or "").strip() or None,
        "valid_from": valid_from.isoformat() if valid_from else None,
        "valid_to": valid_to.isoformat() if valid_to else None,
        "parent": parent_code if parent_id is not None else None,
    }
    run = saving(
        refadmin.update_unit,
        "reference.done.unit",
        reason,
        unit_id=base.unit_id,
        expected=base,
        change=change,
    )

    title = t("reference.units.edit_title", name=base.name, code=base.code)
    propose("units", title, refadmin.unit_state(base), after, reason, run)


def unit_add_form(parents: list[refadmin.UnitOption]) -> None:
    names = {p.unit_id: f"{p.name} ({p.code})" for p in parents}
    key = K + "unit_new_"
    kinds = [k for k in UnitKind if k is not UnitKind.CITY_OFFICE]
    with st.form(key + "form"):
        c1, c2 = st.columns(2)
        code = c1.text_input(field_label("code"), key=key + "code")
        kind = c2.selectbox(
            field_label("kind"),
            kinds,
            format_func=lambda v: label("unit_kind", v, lang),
            key=key + "kind",
        )
        name = st.text_input(field_label("name"), key=key + "name")
        name_en = st.text_input(field_label("name_en"), key=key + "en")
        level = st.text_input(field_label("level"), key=key + "level")
        d1, d2 = st.columns(2)
        with d1:
            valid_from = date_field(field_label("valid_from"), None, key + "from")
        with d2:
            valid_to = date_field(field_label("valid_to"), None, key + "to")
        parent_id = st.selectbox(
            field_label("parent"),
            parent_choices(parents, None),
            format_func=lambda v: t("reference.none", lang) if v is None else names.get(v, "?"),
            key=key + "parent",
        )
        reason, submitted = review_footer(key)
    if not submitted:
        return
    data = UnitNew(
        code=code or "",
        kind=kind or UnitKind.DEPARTMENT,
        name=name or "",
        name_en=name_en or None,
        level=level or None,
        valid_from=valid_from,
        valid_to=valid_to,
        parent_id=parent_id,
    )
    run = saving(refadmin.add_unit, "reference.done.unit_added", reason, data=data)

    after = {
        "code": data.code.strip(),
        "kind": label("unit_kind", data.kind, lang),
        "name": data.name.strip(),
        "name_en": data.name_en,
        "level": data.level,
        "valid_from": valid_from.isoformat() if valid_from else None,
        "valid_to": valid_to.isoformat() if valid_to else None,
        "parent": names.get(parent_id) if parent_id is not None else None,
    }
    propose("units", t("reference.units.add_title"), None, after, reason, run)


# ------------------------------------------------------------------ categories


def categories_tab() -> None:
    with session_scope() as s:
        rows = refadmin.list_categories(s, actor=actor)
        routing = refadmin.routing_options(s, actor=actor, now=utcnow())
    st.caption(t("reference.count", n=fmt_int(len(rows))))
    position = selectable(
        {
            field_label("code"): [r.code for r in rows],
            field_label("kind"): [label("kind", r.kind) for r in rows],
            field_label("parent_category"): [r.parent_code or "" for r in rows],
            field_label("name_vi"): [r.name_vi for r in rows],
            field_label("name_en"): [r.name_en for r in rows],
            field_label("default_unit_code"): [r.default_unit_code or "" for r in rows],
            field_label("active"): [r.active for r in rows],
            field_label("report_count"): [r.report_count for r in rows],
        },
        CATEGORY_TABLE,
        len(rows),
    )
    forms_below(
        "categories",
        None if position is None else rows[position],
        lambda r: r.category_id,
        lambda base: category_form(base, routing),
        lambda: category_add_form(rows, routing),
    )


def routing_choices(routing: list[refadmin.UnitOption], current: str | None) -> list[str | None]:
    codes: list[str | None] = [None, *(u.code for u in routing)]
    if current is not None and current not in codes:
        codes.insert(1, current)
    return codes


def category_form(base: CategoryRow, routing: list[refadmin.UnitOption]) -> None:
    names = {u.code: f"{u.name} ({u.code})" for u in routing}
    choices = routing_choices(routing, base.default_unit_code)
    key = K + f"category_{base.category_id}_"
    title = t("reference.categories.edit_title", name=base.name_vi, code=base.code)
    st.markdown("#### " + title)
    with st.form(key + "form"):
        name_vi = st.text_input(field_label("name_vi"), value=base.name_vi, key=key + "vi")
        name_en = st.text_input(field_label("name_en"), value=base.name_en, key=key + "en")
        c1, c2, c3 = st.columns([3, 1, 1])
        unit_code = c1.selectbox(
            field_label("default_unit_code"),
            choices,
            index=choices.index(base.default_unit_code),
            format_func=lambda v: t("reference.none", lang) if v is None else names.get(v, v),
            key=key + "unit",
            help=t("reference.help.default_unit_code"),
        )
        sort_order = c2.number_input(
            field_label("sort_order"), value=base.sort_order, step=1, key=key + "order"
        )
        active = c3.checkbox(
            field_label("active"),
            value=base.active,
            key=key + "active",
            help=t("reference.help.active"),
        )
        reason, submitted = review_footer(key)
    with st.expander(t("reference.categories.delete")):
        st.caption(t("reference.categories.delete_help"))
        reason_input(key + "delete_reason")
        st.button(
            t("reference.categories.delete"),
            key=key + "delete",
            icon=":material/delete:",
            on_click=propose_delete,
            args=(base, key + "delete_reason"),
        )
    if not submitted:
        return
    change = CategoryEdit(name_vi or "", name_en or "", unit_code, int(sort_order or 0), active)
    run = saving(
        refadmin.update_category,
        "reference.done.category",
        reason,
        category_id=base.category_id,
        expected=base,
        change=change,
    )

    after = {
        "name_vi": change.name_vi.strip(),
        "name_en": change.name_en.strip(),
        "default_unit_code": unit_code,
        "sort_order": change.sort_order,
        "active": active,
    }
    propose("categories", title, refadmin.category_state(base), after, reason, run)


def propose_delete(base: CategoryRow, reason_key: str) -> None:
    """Delete asks for the same reason field as an edit, and the same confirmation."""
    reason = str(st.session_state.get(reason_key) or "")
    run = saving(
        refadmin.delete_category,
        lambda _: t("reference.done.category_deleted", code=base.code),
        reason,
        category_id=base.category_id,
        expected=base,
    )

    propose(
        "categories",
        t("reference.confirm.delete", code=base.code),
        {"code": base.code, **refadmin.category_state(base)},
        {},
        reason,
        run,
        refused=keep_delete_error,
        rerun=False,
    )


def keep_delete_error(text: str) -> None:
    """Shown above the tabs on the next run (a button callback cannot draw)."""
    st.session_state[DELETE_ERROR] = text


def category_add_form(rows: list[CategoryRow], routing: list[refadmin.UnitOption]) -> None:
    names = {u.code: f"{u.name} ({u.code})" for u in routing}
    tops = [r for r in rows if r.parent_code is None]
    key = K + "category_new_"
    with st.form(key + "form"):
        c1, c2, c3 = st.columns(3)
        code = c1.text_input(field_label("code"), key=key + "code")
        kind = c2.selectbox(
            field_label("kind"),
            list(Kind),
            format_func=lambda v: label("kind", v, lang),
            key=key + "kind",
        )
        parent = c3.selectbox(
            field_label("parent_category"),
            [None, *(r.code for r in tops)],
            format_func=lambda v: t("reference.none", lang) if v is None else v,
            key=key + "parent",
        )
        name_vi = st.text_input(field_label("name_vi"), key=key + "vi")
        name_en = st.text_input(field_label("name_en"), key=key + "en")
        c4, c5 = st.columns([3, 1])
        unit_code = c4.selectbox(
            field_label("default_unit_code"),
            routing_choices(routing, None),
            format_func=lambda v: t("reference.none", lang) if v is None else names.get(v, v),
            key=key + "unit",
        )
        sort_order = c5.number_input(field_label("sort_order"), value=0, step=1, key=key + "order")
        reason, submitted = review_footer(key)
    if not submitted:
        return
    data = CategoryNew(
        code=code or "",
        kind=kind or Kind.ONSITE,
        name_vi=name_vi or "",
        name_en=name_en or "",
        parent_code=parent,
        default_unit_code=unit_code,
        sort_order=int(sort_order or 0),
    )
    run = saving(refadmin.add_category, "reference.done.category_added", reason, data=data)

    after = {
        "code": data.code.strip(),
        "kind": label("kind", data.kind, lang),
        "parent_category": parent,
        "name_vi": data.name_vi.strip(),
        "name_en": data.name_en.strip(),
        "default_unit_code": unit_code,
        "sort_order": data.sort_order,
    }
    propose("categories", t("reference.categories.add_title"), None, after, reason, run)


# ------------------------------------------------------------------ deadline rules


def deadlines_tab() -> None:
    st.caption(t("reference.deadlines.intro"))
    with session_scope() as s:
        doc = refadmin.deadline_document(s, actor=actor)
        in_force = rules_for(s)
    if doc.stored:
        st.info(
            t(
                "reference.deadlines.source_db",
                version=doc.version,
                who=doc.updated_by or "—",
                when=fmt_datetime(doc.updated_at),
            )
        )
    else:
        st.info(t("reference.deadlines.source_file"))
    with st.expander(t("reference.deadlines.in_force", version=doc.version)):
        st.dataframe(rules_frame(in_force), hide_index=True)
    base = st.session_state.get(DEADLINE_BASE)
    if not (isinstance(base, tuple) and len(base) == 2):
        base = (doc.version, doc.content)
        st.session_state[DEADLINE_BASE] = base
        st.session_state[DEADLINE_TEXT] = doc.content
    base_version, base_text = base
    text = st.text_area(field_label("content"), key=DEADLINE_TEXT, height=480)
    reason = reason_input(K + "deadline_reason")
    b1, b2, b3 = st.columns([1, 1, 2])
    check = b1.button(t("reference.deadlines.check"), key=K + "deadline_check")
    review = b2.button(t("reference.review"), type="primary", key=K + "deadline_review")
    b3.button(
        t("reference.deadlines.reload"),
        key=K + "deadline_reload",
        on_click=reload_deadlines,
        args=(doc.version, doc.content),
    )
    if check:
        try:
            with session_scope() as s:
                checked = refadmin.check_deadline_text(s, text or "")
        except IHanoiError as exc:
            st.error(t("reference.error.deadline_intro") + " " + error_text(exc))
        else:
            st.success(t("reference.deadlines.valid", n=fmt_int(len(checked.rules))))
            st.dataframe(rules_frame(checked), hide_index=True)
    if review:
        content = text or ""
        run = saving(
            refadmin.save_deadline_rules,
            lambda saved: t("reference.done.deadlines", version=saved.version),
            reason,
            content=content,
            expected_version=base_version,
        )

        propose(
            "deadlines",
            t("reference.tab.deadlines") + f" v{base_version} → v{base_version + 1}",
            {"content": base_text},
            {"content": content},
            reason,
            run,
            refused=lambda text: st.error(t("reference.error.deadline_intro") + " " + text),
        )
    confirm_panel("deadlines")


def reload_deadlines(version: int, content: str) -> None:
    st.session_state[DEADLINE_BASE] = (version, content)
    st.session_state[DEADLINE_TEXT] = content
    st.session_state.pop(PENDING, None)


def rules_frame(rules: Any) -> pd.DataFrame:
    """The rules as a table, most general first (receipt, default, then each rule)."""
    cols = [f"reference.deadlines.col.{c}" for c in ("kind", "category", "priority")]
    cols += ["reference.deadlines.col.hours", "reference.deadlines.col.placeholder"]
    data: list[list[object]] = [
        [t("reference.deadlines.receipt"), "", "", rules.receipt.hours, rules.receipt.placeholder],
        [t("reference.deadlines.default"), "", "", rules.default.hours, rules.default.placeholder],
    ]
    for (kind, category, priority), limit in rules.rules.items():
        data.append(
            [
                label("kind", kind),
                category or t("reference.deadlines.any_category"),
                label("priority", priority),
                limit.hours,
                limit.placeholder,
            ]
        )
    return pd.DataFrame(data, columns=[t(c) for c in cols])


# ------------------------------------------------------------------ templates


def templates_tab() -> None:
    with session_scope() as s:
        rows = refadmin.list_templates(s, actor=actor)
        categories = [c.code for c in refadmin.list_categories(s, actor=actor)]
    st.caption(t("reference.count", n=fmt_int(len(rows))))
    position = selectable(
        {
            field_label("code"): [r.code for r in rows],
            field_label("kind"): [t(f"reference.template_kind.{r.kind.value}") for r in rows],
            field_label("category"): [r.category_code or "" for r in rows],
            field_label("title_vi"): [r.title_vi for r in rows],
            field_label("active"): [r.active for r in rows],
        },
        TEMPLATE_TABLE,
        len(rows),
        fit=False,
    )
    forms_below(
        "templates",
        None if position is None else rows[position],
        lambda r: r.template_id,
        lambda base: template_form(base, categories),
        lambda: template_add_form(categories),
    )


def category_choices(categories: list[str], current: str | None) -> list[str | None]:
    codes: list[str | None] = [None, *categories]
    if current is not None and current not in codes:
        codes.insert(1, current)
    return codes


def template_form(base: TemplateRow, categories: list[str]) -> None:
    key = K + f"template_{base.template_id}_"
    title = t("reference.templates.edit_title", title=base.title_vi, code=base.code)
    choices = category_choices(categories, base.category_code)
    st.markdown("#### " + title)
    with st.form(key + "form"):
        c1, c2 = st.columns([3, 1])
        category = c1.selectbox(
            field_label("category_code"),
            choices,
            index=choices.index(base.category_code),
            format_func=lambda v: t("reference.none", lang) if v is None else v,
            key=key + "category",
        )
        active = c2.checkbox(
            field_label("active"),
            value=base.active,
            key=key + "active",
            help=t("reference.help.active"),
        )
        title_vi = st.text_input(field_label("title_vi"), value=base.title_vi, key=key + "tvi")
        text_vi = st.text_area(field_label("text_vi"), value=base.text_vi, key=key + "xvi")
        title_en = st.text_input(field_label("title_en"), value=base.title_en, key=key + "ten")
        text_en = st.text_area(field_label("text_en"), value=base.text_en, key=key + "xen")
        reason, submitted = review_footer(key)
    if not submitted:
        return
    change = TemplateEdit(
        category, title_vi or "", title_en or "", text_vi or "", text_en or "", active
    )
    run = saving(
        refadmin.update_template,
        "reference.done.template",
        reason,
        template_id=base.template_id,
        expected=base,
        change=change,
    )

    after = {
        "category_code": category,
        "title_vi": change.title_vi.strip(),
        "title_en": change.title_en.strip(),
        "text_vi": change.text_vi.strip(),
        "text_en": change.text_en.strip(),
        "active": active,
    }
    propose("templates", title, refadmin.template_state(base), after, reason, run)


def template_add_form(categories: list[str]) -> None:
    key = K + "template_new_"
    with st.form(key + "form"):
        c1, c2, c3 = st.columns(3)
        code = c1.text_input(field_label("code"), key=key + "code")
        kind = c2.selectbox(
            field_label("kind"),
            list(TemplateKind),
            format_func=lambda v: t(f"reference.template_kind.{v.value}", lang),
            key=key + "kind",
        )
        category = c3.selectbox(
            field_label("category_code"),
            category_choices(categories, None),
            format_func=lambda v: t("reference.none", lang) if v is None else v,
            key=key + "category",
        )
        title_vi = st.text_input(field_label("title_vi"), key=key + "tvi")
        text_vi = st.text_area(field_label("text_vi"), key=key + "xvi")
        title_en = st.text_input(field_label("title_en"), key=key + "ten")
        text_en = st.text_area(field_label("text_en"), key=key + "xen")
        reason, submitted = review_footer(key)
    if not submitted:
        return
    data = TemplateNew(
        code=code or "",
        kind=kind or TemplateKind.RESPONSE,
        title_vi=title_vi or "",
        title_en=title_en or "",
        text_vi=text_vi or "",
        text_en=text_en or "",
        category_code=category,
    )
    run = saving(refadmin.add_template, "reference.done.template_added", reason, data=data)

    after = {
        "code": data.code.strip(),
        "kind": t(f"reference.template_kind.{data.kind.value}", lang),
        "category_code": category,
        "title_vi": data.title_vi.strip(),
        "title_en": data.title_en.strip(),
        "text_vi": data.text_vi.strip(),
        "text_en": data.text_en.strip(),
    }
    propose("templates", t("reference.templates.add_title"), None, after, reason, run)


# ------------------------------------------------------------------ history


def change_summary(row: ChangeRow) -> str:
    parts = []
    for c in row.changes:
        if c.diff:
            parts.append(f"{field_label(c.field)}: {t('reference.history.text_changed')}")
        else:
            parts.append(f"{field_label(c.field)}: {shown(c.before)} → {shown(c.after)}")
    return "; ".join(parts)


def history_tab() -> None:
    entity = st.selectbox(
        t("reference.filter.entity"),
        [None, *refadmin.REFERENCE_ENTITIES],
        format_func=lambda v: (
            t("common.all", lang) if v is None else t(f"reference.entity.{v}", lang)
        ),
        key=K + "history_entity",
    )
    with session_scope() as s:
        rows = refadmin.reference_history(s, actor=actor, entity=entity)
    if not rows:
        st.info(t("reference.history.empty"))
        return
    col = "reference.history.col."
    position = selectable(
        {
            t(col + "at"): [fmt_datetime(r.at) for r in rows],
            t(col + "who"): [r.actor_username or t("reference.history.system") for r in rows],
            t(col + "entity"): [t(f"reference.entity.{r.entity}") for r in rows],
            t(col + "key"): [r.key_text for r in rows],
            t(col + "action"): [t(f"reference.event.{r.action}") for r in rows],
            t(col + "reason"): [r.reason or "" for r in rows],
            t(col + "changes"): [change_summary(r) for r in rows],
        },
        HISTORY_TABLE,
        len(rows),
        fit=False,
    )
    if position is None:
        st.caption(t("reference.history.select_hint"))
        return
    row = rows[position]
    st.markdown(f"#### {t('reference.history.detail')}")
    st.markdown(
        f"**{fmt_datetime(row.at)}** · {row.actor_username or t('reference.history.system')} · "
        f"{t(f'reference.entity.{row.entity}')} {row.key_text} · "
        f"{t(f'reference.event.{row.action}')}" + (f" — {row.reason}" if row.reason else "")
    )
    for c in row.changes:
        if c.diff:
            st.code("\n".join(c.diff), language="diff")
        else:
            st.markdown(f"- {field_label(c.field)}: {shown(c.before)} → {shown(c.after)}")


delete_error = st.session_state.pop(DELETE_ERROR, None)
with tab_units:
    units_tab()
with tab_categories:
    if isinstance(delete_error, str):
        st.error(delete_error)
    categories_tab()
with tab_deadlines:
    deadlines_tab()
with tab_templates:
    templates_tab()
with tab_history:
    history_tab()
