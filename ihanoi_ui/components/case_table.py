"""The case table shared by "Phản ánh" and "Việc của tôi", and its selection.

`st.dataframe` reports a selection as row *positions*. Positions are only meaningful
against the rows the user was looking at when they clicked, which are the rows drawn
in the previous run (a report may have arrived since, shifting every row). So the table
remembers the (id, version) pairs it drew, and turns a new selection into report ids
at once against those; later reruns keep the ids, never re-reading positions. The
version travels with the id, so a save re-checks exactly what the user saw.

A select box of report codes offers the same choice without a pointer (keyboard and
screen-reader users, and AppTest).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

import pandas as pd
import streamlit as st

from ihanoi_core.cases import CaseRow
from ihanoi_ui import state_keys
from ihanoi_ui.i18n import current_lang, fmt_datetime, fmt_float, label, t

CaseRef = tuple[int, int]  # (report id, version read)

# Columns each table shows, in order (keys of `_CELLS`).
LIST_COLUMNS: Final = (
    "code",
    "title",
    "status",
    "priority",
    "category",
    "unit",
    "district",
    "submitted",
    "due",
    "overdue",
)
QUEUE_COLUMNS: Final = (
    "code",
    "title",
    "status",
    "priority",
    "due",
    "time_left",
    "overdue",
    "assignee",
)


def _place(row: CaseRow) -> str:
    parts = [p for p in (row.ward_name, row.district_name) if p]
    return ", ".join(parts) if parts else "—"


_CELLS: Final[dict[str, Callable[[CaseRow, str], Any]]] = {
    "code": lambda r, lang: r.code,
    "title": lambda r, lang: r.title,
    "kind": lambda r, lang: label("kind", r.kind, lang),
    "category": lambda r, lang: r.category_name_en if lang == "en" else r.category_name_vi,
    "status": lambda r, lang: label("status", r.status, lang),
    "priority": lambda r, lang: label("priority", r.priority, lang),
    "unit": lambda r, lang: r.unit_name or "—",
    "district": lambda r, lang: _place(r),
    "assignee": lambda r, lang: r.assignee_name or "—",
    "submitted": lambda r, lang: fmt_datetime(r.submitted_at),
    "due": lambda r, lang: fmt_datetime(r.due_at),
    "overdue": lambda r, lang: r.is_overdue,
    "time_left": lambda r, lang: fmt_float(r.time_left_hours, 1, lang),
}


def case_frame(rows: Sequence[CaseRow], columns: Sequence[str], lang: str) -> pd.DataFrame:
    """The rows as the table shows them: formatted text, labels in the user's language."""
    headers = [t(f"cases.col.{c}", lang) for c in columns]
    data = [[_CELLS[c](row, lang) for c in columns] for row in rows]
    return pd.DataFrame(data, columns=headers)


def _shown_key(table_key: str) -> str:
    return f"{table_key}__shown"  # the (id, version) pairs drawn last run


def _seen_key(table_key: str) -> str:
    return f"{table_key}__seen"  # the positions already turned into ids


def _chosen_key(table_key: str) -> str:
    return f"{table_key}__chosen"  # the ids (with versions) the user chose


def case_table(
    rows: Sequence[CaseRow],
    *,
    key: str,
    columns: Sequence[str] = LIST_COLUMNS,
    multi: bool = False,
) -> tuple[list[CaseRef], bool]:
    """Draw the table; return the chosen (id, version) pairs and whether that changed now.

    `multi` lets the dispatcher select several rows for a bulk dispatch.
    """
    lang = current_lang()
    current = [(row.id, row.version) for row in rows]
    previous: list[CaseRef] = st.session_state.get(_shown_key(key), current)
    event = st.dataframe(
        case_frame(rows, columns, lang),
        key=key,
        on_select="rerun",
        selection_mode="multi-row" if multi else "single-row",
        hide_index=True,
        width="stretch",
    )
    positions = tuple(int(p) for p in event.selection.rows)
    changed = positions != st.session_state.get(_seen_key(key), ())
    if changed:
        st.session_state[_chosen_key(key)] = [
            previous[p] for p in positions if 0 <= p < len(previous)
        ]
        st.session_state[_seen_key(key)] = positions
    st.session_state[_shown_key(key)] = current
    chosen: list[CaseRef] = st.session_state.get(_chosen_key(key), [])
    return chosen, changed


def clear_table_selection(key: str) -> None:
    """Forget the table's selection (call from a callback, before the table is drawn)."""
    st.session_state[key] = {"selection": {"rows": [], "columns": [], "cells": []}}
    st.session_state[_seen_key(key)] = ()
    st.session_state[_chosen_key(key)] = []


def _pick(pick_key: str) -> None:
    st.session_state[state_keys.SELECTED_REPORT] = st.session_state.get(pick_key)


def case_picker(rows: Sequence[CaseRow], *, key: str, label_key: str = "cases.pick") -> None:
    """A select box of the page's report codes; choosing one opens its detail."""
    titles = {row.id: f"{row.code} — {row.title}" for row in rows}
    st.selectbox(
        t(label_key),
        options=list(titles),
        index=None,
        format_func=lambda report_id: titles.get(report_id, str(report_id)),
        placeholder=t("cases.pick_placeholder"),
        key=key,
        on_change=_pick,
        args=(key,),
    )


def follow_table_choice(chosen: Sequence[CaseRef], changed: bool) -> int | None:
    """Keep `SELECTED_REPORT` in step with the table (a single selected row opens it)
    and return the report to show."""
    if changed:
        st.session_state[state_keys.SELECTED_REPORT] = chosen[0][0] if len(chosen) == 1 else None
    selected = st.session_state.get(state_keys.SELECTED_REPORT)
    return selected if isinstance(selected, int) else None


def distinct_labels(items: Sequence[tuple[Any, str, str]]) -> dict[Any, str]:
    """{value: label} where no two labels are equal.

    A select box sends its *label* back to the server, which maps it to the first
    option with that label: two units named "Hoàn Kiếm" (the 2024 district and the 2025
    phường) or two officers with the same name would silently pick the wrong one. Each
    item is (value, label, disambiguator); a repeated label gets its disambiguator
    (a unit code, a username) appended.
    """
    counts: dict[str, int] = {}
    for _, text, _ in items:
        counts[text] = counts.get(text, 0) + 1
    return {
        value: text if counts[text] == 1 else f"{text} ({extra})" for value, text, extra in items
    }
