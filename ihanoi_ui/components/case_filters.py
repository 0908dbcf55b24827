"""The case list's filters, turned into a `cases.CaseFilter` (no rule here: the core
decides what "overdue" or "due soon" means, this only collects the choices)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final

import streamlit as st

from ihanoi_core.cases import (
    DEFAULT_PAGE_SIZE,
    CaseFilter,
    CaseOrder,
    FilterOptions,
    UnitOption,
)
from ihanoi_core.vocab import Bucket, Kind, Priority, Status
from ihanoi_ui.components.case_table import distinct_labels
from ihanoi_ui.i18n import label, t

STATUS_KEY: Final = "cases_f_status"
BUCKET_KEY: Final = "cases_f_bucket"
KIND_KEY: Final = "cases_f_kind"
UNIT_KEY: Final = "cases_f_unit"
DISTRICT_KEY: Final = "cases_f_district"
WARD_KEY: Final = "cases_f_ward"
CATEGORY_KEY: Final = "cases_f_category"
PRIORITY_KEY: Final = "cases_f_priority"
FROM_KEY: Final = "cases_f_from"
TO_KEY: Final = "cases_f_to"
OVERDUE_KEY: Final = "cases_f_overdue"
DUE_SOON_KEY: Final = "cases_f_due_soon"
TEXT_KEY: Final = "cases_f_text"
ORDER_KEY: Final = "cases_f_order"
PAGE_SIZE_KEY: Final = "cases_page_size"
PAGE_SIZES: Final = (10, DEFAULT_PAGE_SIZE, 50, 100)
DATE_FORMAT: Final = "DD/MM/YYYY"  # the city's documents write dates this way


@dataclass(frozen=True)
class ListChoice:
    """What the user asked the list for; compared between runs to reset the page."""

    filt: CaseFilter
    order: CaseOrder
    page_size: int

    def signature(self) -> tuple[CaseFilter, bool, CaseOrder, int]:
        """The choice without the due-soon cutoff, which moves with the clock."""
        due_soon = self.filt.due_soon_before is not None
        return replace(self.filt, due_soon_before=None), due_soon, self.order, self.page_size


WardChoices = Callable[[int | None], Sequence[UnitOption]]


def case_filters(
    options: FilterOptions,
    due_soon_before: datetime,
    lang: str,
    ward_choices: WardChoices | None = None,
) -> ListChoice:
    """Draw the search box and the filters; return what they select.

    `due_soon_before` is the core's cutoff for "due soon" now (`due_soon_cutoff_at`).
    `ward_choices(district_id)` gives the wards or communes to offer once the district
    is known (the core's `geostats.ward_options`); without it there is no ward filter.
    """
    text = st.text_input(t("cases.f_search"), key=TEXT_KEY, help=t("cases.f_search_help"))
    with st.expander(t("cases.filters")):
        c1, c2, c3 = st.columns(3)
        statuses = c1.multiselect(
            t("cases.f_status"),
            options=[s.value for s in Status],
            format_func=lambda v: label("status", v),
            key=STATUS_KEY,
            placeholder=t("common.all"),
        )
        bucket = c2.selectbox(
            t("cases.f_bucket"),
            options=[b.value for b in Bucket],
            index=None,
            format_func=lambda v: label("bucket", v),
            key=BUCKET_KEY,
            placeholder=t("common.all"),
        )
        kind = c3.selectbox(
            t("cases.f_kind"),
            options=[k.value for k in Kind],
            index=None,
            format_func=lambda v: label("kind", v),
            key=KIND_KEY,
            placeholder=t("common.all"),
        )
        units = distinct_labels(
            [
                (u.id, f"{u.name} · {label('unit_kind', u.kind.value)}", u.code)
                for u in options.units
            ]
        )
        districts = distinct_labels([(u.id, u.name, u.code) for u in options.districts])
        unit_id = c1.selectbox(
            t("cases.f_unit"),
            options=list(units),
            index=None,
            format_func=lambda i: units[i],
            key=UNIT_KEY,
            placeholder=t("common.all"),
        )
        district_id = c2.selectbox(
            t("cases.f_district"),
            options=list(districts),
            index=None,
            format_func=lambda i: districts[i],
            key=DISTRICT_KEY,
            placeholder=t("common.all"),
        )
        ward_id = None
        if ward_choices is not None:
            wards = distinct_labels([(u.id, u.name, u.code) for u in ward_choices(district_id)])
            if st.session_state.get(WARD_KEY) not in wards:
                st.session_state.pop(WARD_KEY, None)  # a ward of the district left behind
            ward_id = c2.selectbox(
                t("cases.f_ward"),
                options=list(wards),
                index=None,
                format_func=lambda i: wards[i],
                key=WARD_KEY,
                placeholder=t("common.all"),
                help=t("cases.f_ward_help"),
            )
        priority = c3.selectbox(
            t("cases.f_priority"),
            options=[p.value for p in Priority],
            index=None,
            format_func=lambda v: label("priority", v),
            key=PRIORITY_KEY,
            placeholder=t("common.all"),
        )

        category_names = distinct_labels(
            [
                (
                    c.code,
                    ("· " if c.parent_code else "") + (c.name_en if lang == "en" else c.name_vi),
                    c.code,
                )
                for c in options.categories
            ]
        )
        category_codes = st.multiselect(
            t("cases.f_category"),
            options=list(category_names),
            format_func=lambda code: category_names[code],
            key=CATEGORY_KEY,
            placeholder=t("common.all"),
        )
        d1, d2, d3, d4 = st.columns(4)
        date_from = d1.date_input(t("cases.f_from"), value=None, format=DATE_FORMAT, key=FROM_KEY)
        date_to = d2.date_input(t("cases.f_to"), value=None, format=DATE_FORMAT, key=TO_KEY)
        overdue = d3.checkbox(t("cases.f_overdue"), key=OVERDUE_KEY)
        due_soon = d4.checkbox(t("cases.f_due_soon"), key=DUE_SOON_KEY)
        o1, o2 = st.columns(2)
        order = o1.selectbox(
            t("cases.f_order"),
            options=[o.value for o in CaseOrder],
            format_func=lambda v: t(f"cases.order.{v}"),
            key=ORDER_KEY,
        )
        page_size = o2.selectbox(
            t("cases.page_size"), options=list(PAGE_SIZES), index=1, key=PAGE_SIZE_KEY
        )
    filt = CaseFilter(
        statuses=tuple(Status(s) for s in statuses),
        bucket=Bucket(bucket) if bucket else None,
        kind=Kind(kind) if kind else None,
        unit_id=unit_id,
        district_id=district_id,
        ward_id=ward_id,
        category_codes=tuple(category_codes),
        priority=Priority(priority) if priority else None,
        date_from=date_from if not isinstance(date_from, tuple) else None,
        date_to=date_to if not isinstance(date_to, tuple) else None,
        overdue_only=overdue,
        due_soon_before=due_soon_before if due_soon else None,
        text=text.strip(),
    )
    return ListChoice(filt, CaseOrder(order), int(page_size))
