"""Báo cáo giao ban: the leaders' weekly review for one ISO week on one screen (the
cumulative buckets the city announces and the week's intake, each with its change on
last week, overdue by unit, best and worst units, satisfaction, categories,
bottlenecks), exported as XLSX or PDF with a frozen copy kept of every export, and
earlier copies to download again or compare with the figures now."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from ihanoi_core import db
from ihanoi_core.letters import pdf_font_available
from ihanoi_core.weekly import (
    MIN_RECEIVED_FOR_RANKING,
    Change,
    IsoWeek,
    WeekFigures,
    WeeklyReport,
    build_weekly_report,
    default_week,
    parse_week,
    week_choices,
)
from ihanoi_core.weekly_export import (
    MIME_TYPES,
    ExportedFile,
    ExportFormat,
    SnapshotComparison,
    SnapshotInfo,
    compare_snapshot,
    export_weekly,
    list_snapshots,
    load_snapshot,
)
from ihanoi_ui.auth import require_role
from ihanoi_ui.i18n import current_lang, fmt_date, fmt_datetime, fmt_float, fmt_int, fmt_pct, t
from ihanoi_ui.navigation import page_roles
from ihanoi_ui.resources import session_scope

user = require_role(*page_roles("weekly"))

WEEK_KEY = "weekly_week"
EXPORTED_KEY = "weekly_exported"  # (week key, ExportedFile) of the last export
SNAPSHOT_KEY = "weekly_snapshot"
COMPARE_KEY = "weekly_compared"  # snapshot id whose comparison is shown
KINDS = ("onsite", "procedure", "total")
MEASURES = ("total", "processed", "refused", "processing", "pending", "overdue_open")
MEASURES += ("resolved_late",)
REPORT_TTL_S = 300  # a week's figures are read as of its end: they rarely move

lang = current_lang()
now = db.utcnow()
st.title(t("page.weekly"))

with session_scope() as session:
    weeks = week_choices(session, now=now)
    default = default_week(session, now=now)
keys = [w.key for w in weeks]
if st.session_state.get(WEEK_KEY) not in keys:
    st.session_state[WEEK_KEY] = default.key if default.key in keys else keys[0]


def week_label(key: str) -> str:
    week = parse_week(key)
    text = "weekly.week_label" if now >= week.end else "weekly.week_running"
    return t(
        text,
        week=week.week,
        year=week.year,
        monday=fmt_date(week.monday),
        sunday=fmt_date(week.sunday),
    )


week_key: str = st.selectbox(t("weekly.pick_week"), keys, format_func=week_label, key=WEEK_KEY)
week: IsoWeek = parse_week(week_key)


@st.cache_data(ttl=REPORT_TTL_S, show_spinner=False, max_entries=16)
def weekly_report(week_key: str) -> WeeklyReport:
    """Assembled once per week and kept a few minutes: every click reruns the page,
    and on 100,000 reports the bottleneck table alone takes seconds. An export
    freezes exactly the figures on the screen."""
    with session_scope() as session:
        return build_weekly_report(session, parse_week(week_key), now=db.utcnow())


with st.spinner(t("weekly.loading")):
    report: WeeklyReport = weekly_report(week.key)

st.caption(
    t(
        "weekly.caption",
        monday=fmt_date(week.monday),
        sunday=fmt_date(week.sunday),
        as_of=fmt_datetime(report.as_of),
        previous=report.previous.week.key,
    )
)
if not report.complete:
    st.warning(t("weekly.provisional"))


def signed(n: int | float | None, pct: bool = False, minus: str = "−") -> str:
    """+5 / −1 / 0 (also for what rounds to zero); st.metric needs an ASCII minus to
    point its arrow down."""
    if n is None:
        return "—"
    text = fmt_pct(abs(n)) if pct else fmt_int(abs(n))
    if not any(ch in "123456789" for ch in text):
        return text
    return ("+" if n > 0 else minus) + text


def metric_delta(n: int | float | None, pct: bool = False) -> str | None:
    """No arrow for no change."""
    text = signed(n, pct=pct, minus="-")
    return text if text[:1] in ("+", "-") else None


def show_buckets(figures: WeekFigures, changes: dict[str, dict[str, Change]], key: str) -> None:
    """Six headline metrics with their change on last week, and the table by kind."""
    for column, name in zip(st.columns(6), MEASURES[:6], strict=True):
        change = changes["total"][name]
        column.metric(
            t(f"weekly.metric.{name}"),
            fmt_int(change.current),
            delta=metric_delta(change.delta),
            delta_color="inverse" if name in ("pending", "overdue_open") else "normal",
        )
    rows_by_kind: dict[str, Any] = {k.value: c for k, c in figures.by_kind.items()}
    rows_by_kind["total"] = figures.total
    st.dataframe(
        pd.DataFrame(
            [
                {
                    t("weekly.col.kind"): t(f"weekly.kind.{kind}"),
                    **{
                        t(f"weekly.measure.{m}"): fmt_int(getattr(rows_by_kind[kind], m))
                        for m in MEASURES
                    },
                }
                for kind in KINDS
            ]
        ),
        hide_index=True,
        width="stretch",
        key=f"weekly_table_{key}",
    )


def show_changes(changes: dict[str, dict[str, Change]], key: str) -> None:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    t("weekly.col.kind"): t(f"weekly.kind.{kind}"),
                    t("weekly.col.measure"): t(f"weekly.measure.{m}"),
                    t("weekly.col.this_week"): fmt_int(c.current),
                    t("weekly.col.last_week"): fmt_int(c.previous),
                    t("weekly.col.change"): signed(c.delta),
                    t("weekly.col.change_pct"): signed(c.share, pct=True),
                }
                for kind in KINDS
                for m in MEASURES
                for c in [changes[kind][m]]
            ]
        ),
        hide_index=True,
        width="stretch",
        height=300,
        key=f"weekly_changes_{key}",
    )


# ------------------------------------------------------------------ 1-2. cumulative

st.subheader(t("weekly.section.cumulative", sunday=fmt_date(week.sunday)))
st.caption(t("weekly.cumulative_scope"))
cumulative_changes = report.cumulative_changes()
show_buckets(report.cumulative, cumulative_changes, "cumulative")
st.subheader(t("weekly.section.cumulative_change", previous=report.previous.week.key))
show_changes(cumulative_changes, "cumulative")

# ------------------------------------------------------------------ 3-4. the week's intake

st.subheader(t("weekly.section.summary"))
if report.total.total == 0:
    st.info(t("weekly.empty"))
changes = report.changes()
show_buckets(report.current, changes, "week")
st.subheader(t("weekly.section.change", previous=report.previous.week.key))
show_changes(changes, "week")

# ------------------------------------------------------------------ 5. overdue

st.subheader(t("weekly.section.overdue"))
st.caption(t("weekly.units_scope"))
if not report.overdue_units:
    st.info(t("weekly.overdue_none"))
else:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    t("weekly.col.no"): fmt_int(i + 1),
                    t("weekly.col.unit"): u.formal_name,
                    t("weekly.col.received"): fmt_int(u.received),
                    t("weekly.col.overdue_open"): fmt_int(u.overdue_open),
                    t("weekly.col.resolved_late"): fmt_int(u.resolved_late),
                    t("weekly.col.overdue_rate"): fmt_pct(u.overdue_rate),
                    t("weekly.col.median_hours"): fmt_float(u.median_handling_hours),
                }
                for i, u in enumerate(report.overdue_units)
            ]
        ),
        hide_index=True,
        width="stretch",
    )

# ------------------------------------------------------------------ 6. ranking

st.subheader(t("weekly.section.ranking"))
if not report.best and not report.worst:
    st.info(t("weekly.ranking_none", min=MIN_RECEIVED_FOR_RANKING))
else:
    for column, title, ranked in zip(
        st.columns(2),
        (t("weekly.best"), t("weekly.worst")),
        (report.best, report.worst),
        strict=True,
    ):
        column.markdown(f"**{title}**")
        if not ranked:
            column.caption(t("weekly.ranking_empty"))
            continue
        column.dataframe(
            pd.DataFrame(
                [
                    {
                        t("weekly.col.rank"): fmt_int(r.rank),
                        t("weekly.col.unit"): r.unit.formal_name,
                        t("weekly.col.received"): fmt_int(r.unit.received),
                        t("weekly.col.on_time_share"): fmt_pct(r.on_time_share),
                        t("weekly.col.overdue_open"): fmt_int(r.unit.overdue_open),
                    }
                    for r in ranked
                ]
            ),
            hide_index=True,
            width="stretch",
        )
st.caption(t("weekly.ranking_rule", min=MIN_RECEIVED_FOR_RANKING))

# ------------------------------------------------------------------ 7. satisfaction

st.subheader(t("weekly.section.satisfaction"))
for column, scope, now_s, before_s in zip(
    st.columns(2),
    ("cumulative", "week"),
    (report.cumulative.satisfaction, report.satisfaction),
    (report.cumulative_previous.satisfaction, report.previous.satisfaction),
    strict=True,
):
    share_delta = (
        now_s.satisfied_share - before_s.satisfied_share
        if now_s.satisfied_share is not None and before_s.satisfied_share is not None
        else None
    )
    column.metric(
        t(f"weekly.metric.satisfied_share_{scope}"),
        fmt_pct(now_s.satisfied_share),
        delta=metric_delta(share_delta, pct=True),
    )
    column.markdown(
        t(
            "weekly.satisfaction_line",
            rated=fmt_int(now_s.rated),
            satisfied=fmt_int(now_s.satisfied),
            unsatisfied=fmt_int(now_s.unsatisfied),
        )
    )

# ------------------------------------------------------------------ 8. categories

st.subheader(t("weekly.section.categories"))
st.dataframe(
    pd.DataFrame(
        [
            {
                t("weekly.col.category"): c.name_vi,
                t("weekly.col.count"): fmt_int(c.count),
                t("weekly.col.share"): fmt_pct(c.share),
            }
            for c in report.categories
        ],
        columns=[t("weekly.col.category"), t("weekly.col.count"), t("weekly.col.share")],
    ),
    hide_index=True,
    width="stretch",
)

# ------------------------------------------------------------------ 9. bottlenecks

st.subheader(t("weekly.section.bottlenecks"))
if not report.bottlenecks:
    st.info(t("weekly.bottleneck_none"))
else:
    formal = {u.unit_id: u.formal_name for u in report.units}
    st.dataframe(
        pd.DataFrame(
            [
                {
                    t("weekly.col.unit"): formal.get(b.unit_id or -1)
                    or b.unit_name
                    or t("weekly.no_unit"),
                    t("weekly.col.step"): t(f"weekly.step.{b.step}"),
                    t("weekly.col.stays"): fmt_int(b.count),
                    t("weekly.col.median"): fmt_float(b.median_hours if b.count else None),
                    t("weekly.col.p90"): fmt_float(b.p90_hours if b.count else None),
                    t("weekly.col.waiting_now"): fmt_int(b.open_count),
                }
                for b in report.bottlenecks
            ]
        ),
        hide_index=True,
        width="stretch",
        height=320,
    )
    st.caption(t("weekly.bottleneck_note"))

# ------------------------------------------------------------------ export

st.subheader(t("weekly.section.export"))
st.caption(t("weekly.export_intro"))


def export(fmt: ExportFormat) -> None:
    """Render the file and keep its frozen copy, in one transaction."""
    with session_scope() as session:
        exported = export_weekly(
            session,
            report=report,
            fmt=fmt,
            lang=lang,
            created_by=user.user_id,
            now=db.utcnow(),
        )
    st.session_state[EXPORTED_KEY] = (week.key, exported)
    st.session_state.pop(COMPARE_KEY, None)


font_ok = pdf_font_available()
xlsx_col, pdf_col = st.columns(2)
if xlsx_col.button(t("weekly.make_xlsx"), key="weekly_make_xlsx", icon=":material/table:"):
    export("xlsx")
if pdf_col.button(
    t("weekly.make_pdf"),
    key="weekly_make_pdf",
    icon=":material/picture_as_pdf:",
    disabled=not font_ok,
    help=None if font_ok else t("weekly.no_font"),
):
    export("pdf")

last = st.session_state.get(EXPORTED_KEY)
if last is not None and last[0] == week.key:
    made: ExportedFile = last[1]
    st.success(t("weekly.made", fmt=made.fmt.upper(), at=fmt_datetime(db.utcnow())))
    st.download_button(
        t("weekly.download", filename=made.filename),
        data=made.content,
        file_name=made.filename,
        mime=made.mime,
        on_click="ignore",
        icon=":material/download:",
        key="weekly_download_made",
    )

# ------------------------------------------------------------------ frozen copies

st.subheader(t("weekly.section.snapshots"))
with session_scope() as session:
    snapshots = list_snapshots(session, period_key=week.key)
if not snapshots:
    st.info(t("weekly.no_snapshots"))
else:
    by_id: dict[int, SnapshotInfo] = {s.id: s for s in snapshots}

    def snapshot_label(snapshot_id: int) -> str:
        s = by_id[snapshot_id]
        who = s.created_by_name or t("weekly.unknown_user")
        return t("weekly.snapshot_label", at=fmt_datetime(s.created_at), fmt=s.fmt.upper(), who=who)

    st.dataframe(
        pd.DataFrame(
            [
                {
                    t("weekly.col.created_at"): fmt_datetime(s.created_at),
                    t("weekly.col.format"): s.fmt.upper(),
                    t("weekly.col.created_by"): s.created_by_name or t("weekly.unknown_user"),
                    t("weekly.col.filename"): s.filename,
                }
                for s in snapshots
            ]
        ),
        hide_index=True,
        width="stretch",
    )
    if st.session_state.get(SNAPSHOT_KEY) not in by_id:
        st.session_state[SNAPSHOT_KEY] = snapshots[0].id
    chosen: int = st.selectbox(
        t("weekly.pick_snapshot"), list(by_id), format_func=snapshot_label, key=SNAPSHOT_KEY
    )
    info = by_id[chosen]

    def snapshot_bytes() -> bytes:
        """Read only when the button is clicked."""
        with session_scope() as session:
            return bytes(load_snapshot(session, chosen).content)

    download_col, compare_col = st.columns(2)
    download_col.download_button(
        t("weekly.download_snapshot"),
        data=snapshot_bytes,
        file_name=info.filename,
        mime=MIME_TYPES.get(info.fmt, "application/octet-stream"),
        on_click="ignore",
        icon=":material/download:",
        key="weekly_download_snapshot",
    )
    if compare_col.button(t("weekly.compare"), key="weekly_compare", icon=":material/compare:"):
        st.session_state[COMPARE_KEY] = chosen

    if st.session_state.get(COMPARE_KEY) == chosen:
        with session_scope() as session:
            comparison: SnapshotComparison = compare_snapshot(session, chosen, now=now)
        st.caption(
            t(
                "weekly.compare_caption",
                then=fmt_datetime(info.created_at),
                now=fmt_datetime(now),
            )
        )
        changed = comparison.changed
        if not changed:
            st.success(t("weekly.compare_same"))
        else:
            st.warning(t("weekly.compare_changed", n=fmt_int(len(changed))))
            st.dataframe(
                pd.DataFrame(
                    [
                        {
                            t("weekly.col.section"): t(f"weekly.compare_section.{c.section}"),
                            t("weekly.col.item"): (
                                t(f"weekly.kind.{c.item}")
                                if c.section in ("by_kind", "cumulative")
                                else c.name
                            ),
                            t("weekly.col.measure"): t(f"weekly.measure.{c.measure}"),
                            t("weekly.col.then"): fmt_int(c.then),
                            t("weekly.col.now"): fmt_int(c.now),
                            t("weekly.col.change"): signed(c.delta),
                        }
                        for c in changed
                    ]
                ),
                hide_index=True,
                width="stretch",
            )
