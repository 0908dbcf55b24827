"""Việc của tôi: what waits for this officer's or unit leader's own action now,
overdue first; the same detail panel and dialogs as "Phản ánh"."""

from __future__ import annotations

import streamlit as st

from ihanoi_core.cases import my_queue
from ihanoi_ui.auth import require_role
from ihanoi_ui.components.action_dialogs import render_open_dialog
from ihanoi_ui.components.case_detail import console_now, render_case_detail, show_flash
from ihanoi_ui.components.case_table import (
    QUEUE_COLUMNS,
    case_picker,
    case_table,
    follow_table_choice,
)
from ihanoi_ui.i18n import fmt_int, t
from ihanoi_ui.navigation import page_roles
from ihanoi_ui.resources import session_scope

user = require_role(*page_roles("my_queue"))

TABLE_KEY = "queue_table"
PICK_KEY = "queue_pick"

now = console_now()
st.title(t("page.my_queue"))
st.caption(t("queue.intro"))
show_flash()

with session_scope() as session:
    rows = my_queue(session, user.actor(), now)

overdue = sum(1 for row in rows if row.is_overdue)
st.markdown(t("queue.count", n=fmt_int(len(rows)), overdue=fmt_int(overdue)))
if not rows:
    st.info(t("queue.empty"))
chosen, changed = case_table(rows, key=TABLE_KEY, columns=QUEUE_COLUMNS)
case_picker(rows, key=PICK_KEY, label_key="queue.pick")

selected = follow_table_choice(chosen, changed)
if selected is not None:
    render_case_detail(selected, user, now)

render_open_dialog(user, now)
