"""Đơn vị quá hạn: per handling unit, the reports of a period in the city's buckets, how
many are overdue or were finished late, the median handling time, worst unit first;
one unit's overdue reports; and the reminder letter to units (.docx and PDF)."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pandas as pd
import streamlit as st

from ihanoi_core import db
from ihanoi_core.config import HANOI_TZ
from ihanoi_core.letters import (
    MIME_TYPES,
    LetterFormat,
    letter_filename,
    pdf_font_available,
    render_overdue_letter,
)
from ihanoi_core.performance import OverdueReport, UnitRow, units_view
from ihanoi_core.vocab import Role
from ihanoi_ui import state_keys
from ihanoi_ui.auth import require_role
from ihanoi_ui.i18n import (
    current_lang,
    fmt_date,
    fmt_datetime,
    fmt_float,
    fmt_int,
    fmt_pct,
    label,
    t,
)
from ihanoi_ui.navigation import page_roles, page_spec
from ihanoi_ui.resources import session_scope

user = require_role(*page_roles("units"))

FROM_KEY = "units_period_from"
TO_KEY = "units_period_to"
UNIT_KEY = "units_pick_unit"
REPORT_KEY = "units_pick_report"
OPEN_KEY = "units_open_report"
ONLY_KEY = "units_letter_only_selected"
DEFAULT_DAYS = 30
LETTER_ROLES = frozenset({Role.DISPATCHER, Role.LEADER})  # analysts read, they do not write
CASES_PAGE = page_spec("cases").file

lang = current_lang()
now = db.utcnow()
today = now.astimezone(HANOI_TZ).date()
st.title(t("page.units"))
st.caption(t("units.caption", now=fmt_datetime(now)))

left, right = st.columns(2)
date_from: date = left.date_input(
    t("units.period_from"),
    value=today - timedelta(days=DEFAULT_DAYS - 1),
    max_value=today,
    format="DD/MM/YYYY",
    key=FROM_KEY,
)
date_to: date = right.date_input(
    t("units.period_to"), value=today, max_value=today, format="DD/MM/YYYY", key=TO_KEY
)
if date_from > date_to:
    st.error(t("units.bad_period"))
    st.stop()

# The unit chosen last run (a select box below): its overdue list comes with the table,
# in the same call.
chosen_unit = st.session_state.get(UNIT_KEY)
with session_scope() as session:
    view = units_view(
        session,
        date_from=date_from,
        date_to=date_to,
        as_of=now,
        unit_id=chosen_unit if isinstance(chosen_unit, int) else None,
    )
rows = view.rows
if not rows:
    st.info(t("units.empty"))
    st.stop()

st.markdown(
    t(
        "units.summary",
        units=fmt_int(sum(1 for r in rows if r.overdue_open)),
        overdue=fmt_int(sum(r.overdue_open for r in rows)),
    )
)


def unit_frame(table: list[UnitRow]) -> pd.DataFrame:
    """The table as people read it: Vietnamese number formats, worst unit first."""
    return pd.DataFrame(
        [
            {
                t("units.col.unit"): r.formal_name,
                t("units.col.received"): fmt_int(r.received),
                t("units.col.processed"): fmt_int(r.processed),
                t("units.col.refused"): fmt_int(r.refused),
                t("units.col.processing"): fmt_int(r.processing),
                t("units.col.pending"): fmt_int(r.pending),
                t("units.col.overdue_open"): fmt_int(r.overdue_open),
                t("units.col.resolved_late"): fmt_int(r.resolved_late),
                t("units.col.overdue_rate"): fmt_pct(r.overdue_rate),
                t("units.col.median_hours"): fmt_float(r.median_handling_hours),
                t("units.col.returned_not_ours"): fmt_int(r.returned_not_ours),
            }
            for r in table
        ]
    )


st.dataframe(
    unit_frame(rows),
    hide_index=True,
    width="stretch",
    column_config={
        t("units.col.overdue_rate"): st.column_config.TextColumn(help=t("units.rate_help"))
    },
)


def unit_labels(table: list[UnitRow]) -> dict[int, str]:
    """Names for the select box; a repeated name gets its code, so no two look alike."""
    counts = Counter(r.formal_name for r in table)
    return {
        r.unit_id: r.formal_name
        if counts[r.formal_name] == 1
        else f"{r.formal_name} ({r.unit_code})"
        for r in table
    }


names = unit_labels(rows)
if chosen_unit not in names:
    st.session_state.pop(UNIT_KEY, None)
unit_id = st.selectbox(
    t("units.pick_unit"),
    list(names),
    index=None,
    format_func=lambda uid: names.get(uid, str(uid)),
    placeholder=t("units.pick_unit_placeholder"),
    key=UNIT_KEY,
)


def overdue_frame(reports: list[OverdueReport]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                t("units.col.code"): r.code,
                t("units.col.title"): r.title,
                t("units.col.received_at"): fmt_date(r.received_at),
                t("units.col.due"): fmt_datetime(r.due_at),
                t("units.col.days_overdue"): fmt_int(r.days_overdue),
                t("units.col.status"): label("status", r.status),
            }
            for r in reports
        ]
    )


if unit_id is not None and unit_id == view.unit_id:
    st.subheader(t("units.unit_overdue", unit=names[unit_id], n=fmt_int(len(view.overdue))))
    if not view.overdue:
        st.info(t("units.unit_none"))
    else:
        st.dataframe(overdue_frame(view.overdue), hide_index=True, width="stretch")
        expected = next(r.overdue_open for r in rows if r.unit_id == unit_id)
        if expected > len(view.overdue):
            st.caption(t("units.unit_capped", shown=fmt_int(len(view.overdue))))
        titles = {r.report_id: f"{r.code} — {r.title}" for r in view.overdue}
        report_id = st.selectbox(
            t("units.pick_report"),
            list(titles),
            index=None,
            format_func=lambda rid: titles.get(rid, str(rid)),
            placeholder=t("units.pick_report_placeholder"),
            key=REPORT_KEY,
        )
        if st.button(t("units.open"), key=OPEN_KEY, disabled=report_id is None):
            st.session_state[state_keys.SELECTED_REPORT] = report_id
            st.switch_page(CASES_PAGE)


# ------------------------------------------------------------------ the letter

if user.role in LETTER_ROLES:
    # The city office writes the letter; it is not one of its addressees.
    late_units = [r for r in rows if r.overdue_open and not r.is_city_office]
    st.subheader(t("units.letter.title"))
    st.caption(t("units.letter.intro"))
    only_selected = st.checkbox(
        t("units.letter.only_selected"), key=ONLY_KEY, disabled=unit_id is None
    )
    letter_units = [unit_id] if only_selected and unit_id is not None else None
    has_letter = (
        any(r.overdue_open for r in late_units if r.unit_id == unit_id)
        if letter_units
        else bool(late_units)
    )
    if not has_letter:
        st.info(t("units.letter.nothing"))
    else:

        def letter(fmt: LetterFormat) -> bytes:
            """Built only when the button is clicked (Streamlit calls it then)."""
            with session_scope() as session:
                return render_overdue_letter(
                    session,
                    fmt=fmt,
                    as_of=now,
                    date_from=date_from,
                    date_to=date_to,
                    unit_ids=letter_units,
                )

        docx_col, pdf_col = st.columns(2)
        docx_col.download_button(
            t("units.letter.docx"),
            data=lambda: letter("docx"),
            file_name=letter_filename(today, "docx"),
            mime=MIME_TYPES["docx"],
            on_click="ignore",
            icon=":material/description:",
        )
        font_ok = pdf_font_available()
        pdf_col.download_button(
            t("units.letter.pdf"),
            data=lambda: letter("pdf"),
            file_name=letter_filename(today, "pdf"),
            mime=MIME_TYPES["pdf"],
            on_click="ignore",
            icon=":material/picture_as_pdf:",
            disabled=not font_ok,
            help=None if font_ok else t("units.letter.no_font"),
        )
