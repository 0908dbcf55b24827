"""Phân tích: category × district, trends, satisfaction (with the answers to review) and
bottlenecks, for the reports of a period. Every figure: chart, table, CSV and XLSX.

Tabs run lazily (only the open one queries the database), so a page of four sections
costs one section's queries per run.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Final

import pandas as pd
import streamlit as st

from ihanoi_core import analytics, db
from ihanoi_core.cases import filter_options
from ihanoi_core.config import HANOI_TZ
from ihanoi_core.queries import ReportFilter, Step
from ihanoi_core.vocab import Kind
from ihanoi_ui.auth import require_role
from ihanoi_ui.components.charts import (
    Column,
    bar_chart,
    draw,
    format_value,
    heatmap_chart,
    line_chart,
    show_figure,
)
from ihanoi_ui.i18n import current_lang, fmt_date, fmt_datetime, fmt_int, fmt_pct, label, t
from ihanoi_ui.navigation import page_roles
from ihanoi_ui.resources import session_scope

user = require_role(*page_roles("analytics"))

FROM_KEY: Final = "analytics_from"
TO_KEY: Final = "analytics_to"
KIND_KEY: Final = "analytics_kind"
CATEGORY_KEY: Final = "analytics_category"
UNIT_KEY: Final = "analytics_unit"
TABS_KEY: Final = "analytics_tab"
GRAIN_KEY: Final = "analytics_grain"
DEFAULT_DAYS: Final = 28
CHART_UNITS: Final = 20

lang = current_lang()
now = db.utcnow()
st.title(t("page.analytics"))

with session_scope() as session:
    until = analytics.data_until(session) or now.astimezone(HANOI_TZ).date()
    options = filter_options(session)

st.caption(t("analytics.caption", now=fmt_datetime(now), until=fmt_date(until)))

c1, c2, c3 = st.columns(3)
date_from: date = c1.date_input(
    t("analytics.period_from"),
    value=until - timedelta(days=DEFAULT_DAYS - 1),
    format="DD/MM/YYYY",
    key=FROM_KEY,
)
date_to: date = c2.date_input(
    t("analytics.period_to"), value=until, format="DD/MM/YYYY", key=TO_KEY
)
kind = c3.selectbox(
    t("analytics.kind"),
    [None, *Kind],
    format_func=lambda k: t("analytics.all") if k is None else label("kind", k),
    key=KIND_KEY,
)
c4, c5 = st.columns(2)
top_categories = {
    c.code: (c.name_en if lang == "en" else c.name_vi)
    for c in options.categories
    if c.parent_code is None and (kind is None or c.kind is kind)
}
categories = c4.multiselect(
    t("analytics.category"),
    list(top_categories),
    format_func=lambda code: top_categories.get(code, code),
    placeholder=t("analytics.category_placeholder"),
    key=CATEGORY_KEY,
)
unit_names = {u.id: u.name for u in options.units}
unit_id = c5.selectbox(
    t("analytics.unit"),
    list(unit_names),
    index=None,
    format_func=lambda uid: unit_names.get(uid, str(uid)),
    placeholder=t("analytics.unit_placeholder"),
    key=UNIT_KEY,
)
if date_from > date_to:
    st.error(t("analytics.bad_period"))
    st.stop()

filt = ReportFilter(
    date_from=date_from,
    date_to=date_to,
    kind=kind,
    unit_id=unit_id,
    category_codes=tuple(c for c in categories if c in top_categories),
)
stamp = f"{date_from:%Y%m%d}-{date_to:%Y%m%d}"
tabs = st.tabs(
    [
        t("analytics.tab.heatmap"),
        t("analytics.tab.trends"),
        t("analytics.tab.satisfaction"),
        t("analytics.tab.bottlenecks"),
    ],
    key=TABS_KEY,
    on_change="rerun",
)


def kind_label(value: str) -> str:
    return label("kind", value)


# ------------------------------------------------------------ category × district

with tabs[0]:
    if tabs[0].open:
        with session_scope() as session:
            heat = analytics.heatmap(session, as_of=now, filt=filt)
        if heat.total == 0:
            st.info(t("analytics.empty"))
        else:
            name_col = "category_en" if lang == "en" else "category_vi"
            cells = heat.cells.assign(
                category=heat.cells[name_col],
                district=heat.cells["district_name"]
                .astype("object")
                .fillna(t("analytics.no_district")),
            )
            cat_col = Column("category", t("analytics.col.category"))
            dist_col = Column("district", t("analytics.col.district"))
            count_col = Column("count", t("analytics.col.count"), "int")
            cell_columns = [
                cat_col,
                dist_col,
                count_col,
                Column("share", t("analytics.col.share"), "pct"),
                Column("share_in_district", t("analytics.col.share_in_district"), "pct"),
            ]
            categories_ranked = heat.categories.assign(category=heat.categories[name_col])
            districts_ranked = heat.districts.assign(
                district=heat.districts["district_name"]
                .astype("object")
                .fillna(t("analytics.no_district"))
            )
            show_figure(
                key="an_heatmap",
                title=t("analytics.heatmap.title"),
                caption=t("analytics.heatmap.caption", total=fmt_int(heat.total)),
                chart=heatmap_chart(
                    cells,
                    x=dist_col,
                    y=cat_col,
                    value=count_col,
                    x_order=list(districts_ranked["district"]),
                    y_order=list(categories_ranked["category"]),
                    tips=cell_columns,
                ),
                data=cells,
                columns=cell_columns,
                filename=f"linh-vuc-dia-ban-{stamp}",
                table_height=300,
            )
            rank_col = Column("rank", t("analytics.col.rank"), "int")
            share_col = Column("share", t("analytics.col.share"), "pct")
            cat_columns = [rank_col, cat_col, count_col, share_col]
            show_figure(
                key="an_categories",
                title=t("analytics.heatmap.categories"),
                chart=bar_chart(
                    categories_ranked,
                    category=cat_col,
                    value=count_col,
                    tips=cat_columns,
                    order=list(categories_ranked["category"]),
                ),
                data=categories_ranked,
                columns=cat_columns,
                filename=f"linh-vuc-{stamp}",
            )
            dist_columns = [rank_col, dist_col, count_col, share_col]
            show_figure(
                key="an_districts",
                title=t("analytics.heatmap.districts"),
                caption=t("analytics.heatmap.districts_caption"),
                chart=bar_chart(
                    districts_ranked,
                    category=dist_col,
                    value=count_col,
                    tips=dist_columns,
                    order=list(districts_ranked["district"]),
                ),
                data=districts_ranked,
                columns=dist_columns,
                filename=f"dia-ban-{stamp}",
                table_height=300,
            )

# -------------------------------------------------------------------- trends

with tabs[1]:
    if tabs[1].open:
        grains = list(analytics.GRAINS)
        grain = (
            st.segmented_control(
                t("analytics.trends.grain"),
                grains,
                default="week",
                format_func=lambda g: t(f"analytics.trends.grain_{g}"),
                key=GRAIN_KEY,
            )
            or "week"
        )
        with session_scope() as session:
            trend = analytics.trends(session, as_of=now, filt=filt, grain=grain)
        if trend.empty or int(trend.loc[trend["measure"] == "total", "count"].sum()) == 0:
            st.info(t("analytics.empty"))
        else:
            st.caption(t("analytics.trends.caption"))
            trend = trend.assign(
                kind_text=trend["kind"].map(kind_label),
                measure_text=trend["measure"].map(lambda m: t(f"analytics.trends.measure.{m}")),
            )
            last = trend["period_start"].max()
            st.markdown(t("analytics.trends.latest", period=fmt_date(last)))
            latest = trend[(trend["period_start"] == last) & (trend["measure"] == "total")]
            metric_cols = st.columns(max(1, len(latest)))
            for col, row in zip(metric_cols, latest.itertuples(), strict=False):
                delta = None if pd.isna(row.change) else format_value(row.change, "change")
                col.metric(kind_label(str(row.kind)), fmt_int(int(row.count)), delta=delta)
            period_col = Column("period_start", t("analytics.col.period"), "date")
            measure_col = Column("measure_text", t("analytics.col.measure"))
            count_col = Column("count", t("analytics.col.count"), "int")
            trend_columns = [
                period_col,
                Column("kind_text", t("analytics.col.kind")),
                measure_col,
                count_col,
                Column("previous", t("analytics.col.previous"), "int"),
                Column("change", t("analytics.col.change"), "change"),
                Column("change_share", t("analytics.col.change_pct"), "change_pct"),
            ]
            measure_order = [t(f"analytics.trends.measure.{m}") for m in analytics.TREND_MEASURES]
            grain_text = t(f"analytics.trends.grain_{grain}").lower()
            for kind_value in trend["kind"].unique():
                part = trend[trend["kind"] == kind_value]
                draw(
                    line_chart(
                        part,
                        x=period_col,
                        y=count_col,
                        color=measure_col,
                        tips=trend_columns,
                        color_order=measure_order,
                    ).properties(
                        title=t(
                            "analytics.trends.title", grain=grain_text, kind=kind_label(kind_value)
                        )
                    )
                )
            show_figure(
                key="an_trends",
                title=t("analytics.trends.table_title"),
                chart=None,
                data=trend,
                columns=trend_columns,
                filename=f"xu-huong-{grain}-{stamp}",
                table_height=360,
            )

# -------------------------------------------------------------- satisfaction

with tabs[2]:
    if tabs[2].open:
        with session_scope() as session:
            total = analytics.satisfaction_total(session, as_of=now, filt=filt)
            by_unit = analytics.satisfaction_by_unit(session, as_of=now, filt=filt)
            by_category = analytics.satisfaction_by_category(
                session, as_of=now, filt=filt, lang=lang
            )
            review = analytics.substandard_answers(session, as_of=now, filt=filt)
        m1, m2, m3 = st.columns(3)
        m1.metric(t("analytics.satisfaction.rated"), fmt_int(total.rated))
        share = total.satisfied_share
        m2.metric(
            t("analytics.satisfaction.satisfied"),
            fmt_int(total.satisfied),
            delta=fmt_pct(share),
            delta_color="off",
            delta_arrow="off",
        )
        m3.metric(
            t("analytics.satisfaction.unsatisfied"),
            fmt_int(total.unsatisfied),
            delta=fmt_pct(None if share is None else 1 - share),
            delta_color="off",
            delta_arrow="off",
        )
        sat_columns = [
            Column("name", t("analytics.col.unit")),
            Column("rated", t("analytics.col.rated"), "int"),
            Column("satisfied", t("analytics.col.satisfied"), "int"),
            Column("unsatisfied", t("analytics.col.unsatisfied"), "int"),
            Column("satisfied_share", t("analytics.col.satisfied_share"), "pct"),
            Column("unsatisfied_share", t("analytics.col.unsatisfied_share"), "pct"),
        ]
        share_col = Column("unsatisfied_share", t("analytics.col.unsatisfied_share"), "pct")
        top_units = by_unit.head(CHART_UNITS)
        show_figure(
            key="an_sat_unit",
            title=t("analytics.satisfaction.by_unit"),
            caption=t("analytics.satisfaction.by_caption"),
            chart=None
            if by_unit.empty
            else bar_chart(
                top_units,
                category=sat_columns[0],
                value=share_col,
                tips=sat_columns,
                order=list(top_units["name"]),
            ),
            data=by_unit,
            columns=sat_columns,
            filename=f"hai-long-don-vi-{stamp}",
            table_height=300,
        )
        cat_columns = [Column("name", t("analytics.col.category")), *sat_columns[1:]]
        show_figure(
            key="an_sat_category",
            title=t("analytics.satisfaction.by_category"),
            chart=None
            if by_category.empty
            else bar_chart(
                by_category,
                category=cat_columns[0],
                value=share_col,
                tips=cat_columns,
                order=list(by_category["name"]),
            ),
            data=by_category,
            columns=cat_columns,
            filename=f"hai-long-linh-vuc-{stamp}",
        )

        st.subheader(t("analytics.satisfaction.review_title", n=fmt_int(len(review))))
        st.caption(t("analytics.satisfaction.review_caption"))
        counts = analytics.problem_counts(review)
        for col, (problem, n) in zip(st.columns(len(counts)), counts.items(), strict=True):
            col.metric(t(f"analytics.satisfaction.problem.{problem.value}"), fmt_int(n))
        if not review:
            st.info(t("analytics.satisfaction.review_empty"))
        else:
            items = pd.DataFrame(
                {
                    "code": [i.code for i in review],
                    "title": [i.title for i in review],
                    "unit": [i.unit_name or t("analytics.no_unit") for i in review],
                    "category": [
                        top_categories.get(i.category_code, i.category_code) for i in review
                    ],
                    "published_at": [
                        None
                        if i.published_at is None
                        else i.published_at.astimezone(HANOI_TZ).date()
                        for i in review
                    ],
                    "rated_at": [
                        None if i.rated_at is None else i.rated_at.astimezone(HANOI_TZ).date()
                        for i in review
                    ],
                    "problems": [
                        "; ".join(
                            t(f"analytics.satisfaction.problem.{p.value}") for p in i.problems
                        )
                        for i in review
                    ],
                    "answer": [i.answer or "" for i in review],
                }
            )
            review_columns = [
                Column("code", t("analytics.col.code")),
                Column("title", t("analytics.col.title")),
                Column("unit", t("analytics.col.unit")),
                Column("category", t("analytics.col.category")),
                Column("published_at", t("analytics.col.published_at"), "date"),
                Column("rated_at", t("analytics.col.rated_at"), "date"),
                Column("problems", t("analytics.col.problems")),
                Column("answer", t("analytics.col.answer")),
            ]
            show_figure(
                key="an_review",
                title=t("analytics.col.problems"),
                chart=None,
                data=items,
                columns=review_columns,
                filename=f"ra-soat-chua-hai-long-{stamp}",
                table_height=360,
            )

# ---------------------------------------------------------------- bottlenecks

with tabs[3]:
    if tabs[3].open:
        with session_scope() as session:
            cells = analytics.bottlenecks(
                session, date_from=date_from, date_to=date_to, as_of=now, filt=filt
            )
        cells = cells.assign(
            unit=cells["unit_name"].astype("object").fillna(t("analytics.no_unit")),
            step_text=cells["step"].map(lambda s: t(f"analytics.bottlenecks.step.{s}")),
        )
        unit_col = Column("unit", t("analytics.col.unit"))
        step_col = Column("step_text", t("analytics.col.step"))
        p90_col = Column("p90_hours", t("analytics.col.p90_hours"), "float")
        bn_columns = [
            unit_col,
            step_col,
            Column("count", t("analytics.col.stays"), "int"),
            Column("median_hours", t("analytics.col.median_hours"), "float"),
            p90_col,
            Column("open_count", t("analytics.col.open_count"), "int"),
        ]
        measured = cells[cells["count"] > 0]
        worst_units = list(dict.fromkeys(measured["unit"]))[:CHART_UNITS]
        chart_cells = measured[measured["unit"].isin(worst_units)]
        step_order = [t(f"analytics.bottlenecks.step.{s.value}") for s in Step]
        show_figure(
            key="an_bottlenecks",
            title=t("analytics.bottlenecks.title"),
            caption=t("analytics.bottlenecks.caption", now=fmt_datetime(now))
            + " "
            + t("analytics.bottlenecks.chart_caption", n=fmt_int(len(worst_units))),
            chart=None
            if chart_cells.empty
            else heatmap_chart(
                chart_cells,
                x=step_col,
                y=unit_col,
                value=p90_col,
                x_order=step_order,
                y_order=worst_units,
                tips=bn_columns,
            ),
            data=cells,
            columns=bn_columns,
            filename=f"diem-nghen-{stamp}",
            table_height=360,
        )
