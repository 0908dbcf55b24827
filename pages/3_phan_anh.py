"""Phản ánh: the reports the user may see, filtered and paged by the database; one
report's detail with exactly the actions the workflow allows; bulk dispatch for the
city dispatcher."""

from __future__ import annotations

import streamlit as st

from ihanoi_core.cases import UnitOption, due_soon_cutoff_at, filter_options, list_cases
from ihanoi_core.geostats import ward_options
from ihanoi_core.vocab import Role
from ihanoi_ui import state_keys
from ihanoi_ui.auth import require_role
from ihanoi_ui.components.action_dialogs import (
    bulk_dispatch_panel,
    render_open_dialog,
    show_bulk_result,
)
from ihanoi_ui.components.case_detail import console_now, render_case_detail, show_flash
from ihanoi_ui.components.case_filters import case_filters
from ihanoi_ui.components.case_table import case_picker, case_table, follow_table_choice
from ihanoi_ui.i18n import current_lang, fmt_int, t
from ihanoi_ui.navigation import page_roles
from ihanoi_ui.resources import session_scope

user = require_role(*page_roles("cases"))

TABLE_KEY = "cases_table"
PICK_KEY = "cases_pick"
PAGE_KEY = "cases_page_no"

now = console_now()
lang = current_lang()
st.title(t("page.cases"))
st.caption(t("cases.intro"))
show_flash()
show_bulk_result()

with session_scope() as session:
    options = filter_options(session)
    due_soon_before = due_soon_cutoff_at(session, now)  # on the deadline rules in force


def ward_choices(district_id: int | None) -> list[UnitOption]:
    with session_scope() as session:
        return ward_options(session, district_id)


choice = case_filters(options, due_soon_before, lang, ward_choices)
if st.session_state.get(state_keys.CASE_FILTERS) != choice.signature():
    st.session_state[state_keys.CASE_FILTERS] = choice.signature()
    st.session_state[PAGE_KEY] = 1

with session_scope() as session:
    page = list_cases(
        session,
        filt=choice.filt,
        viewer=user.actor(),
        now=now,
        page=int(st.session_state.get(PAGE_KEY, 1)),
        page_size=choice.page_size,
        order=choice.order,
    )

st.caption(t("cases.count", total=fmt_int(page.total), page=page.page, pages=page.pages))
if not page.rows:
    st.info(t("cases.empty"))
is_dispatcher = user.role is Role.DISPATCHER
chosen, changed = case_table(page.rows, key=TABLE_KEY, multi=is_dispatcher)
st.session_state[PAGE_KEY] = page.page  # the core may have clamped it
st.number_input(t("cases.page_no"), min_value=1, max_value=page.pages, step=1, key=PAGE_KEY)
case_picker(page.rows, key=PICK_KEY)

selected = follow_table_choice(chosen, changed)
if is_dispatcher and len(chosen) > 1:
    st.caption(t("cases.selected", n=len(chosen)))
    bulk_dispatch_panel(chosen, user, now, TABLE_KEY)
elif selected is not None:
    render_case_detail(selected, user, now)

render_open_dialog(user, now)
