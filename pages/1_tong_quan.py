"""Tổng quan: today's intake, the city's four buckets, overdue and due soon, a live feed
of new reports that refreshes itself, and the dispatcher's three queues."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import streamlit as st

from ihanoi_core import db
from ihanoi_core.intake import (
    DEFAULT_FEED_SECONDS,
    FeedRow,
    QueuePage,
    feed_interval_seconds,
    live_feed,
    overview,
)
from ihanoi_core.queries import BucketCounts, total_counts
from ihanoi_core.vocab import Bucket, Kind
from ihanoi_ui import state_keys
from ihanoi_ui.auth import require_role
from ihanoi_ui.i18n import current_lang, fmt_date, fmt_datetime, fmt_int, label, t
from ihanoi_ui.navigation import page_roles, page_spec
from ihanoi_ui.resources import session_scope

user = require_role(*page_roles("overview"))

INTERVAL_KEY = "overview_feed_interval"
FEED_CHOICES = (DEFAULT_FEED_SECONDS, 15.0, 60.0, 0.0)  # 0: off
FEED_LIMIT = 15
FEED_WINDOW = timedelta(minutes=60)  # "new" = received in the last hour
QUEUE_LIMIT = 50
CASES_PAGE = page_spec("cases").file

lang = current_lang()
now = db.utcnow()
st.title(t("page.overview"))
st.caption(t("overview.caption", now=fmt_datetime(now)))

with session_scope() as session:
    view = overview(session, now=now, queue_limit=QUEUE_LIMIT)
summary, queues = view.summary, view.queues


# ------------------------------------------------------------------ figures

today_col, week_col, late_col = st.columns(3)
with today_col:
    st.subheader(t("overview.today"))
    for kind in Kind:
        st.metric(label("kind", kind), fmt_int(summary.today[kind].total))
with week_col:
    st.subheader(t("overview.week", start=fmt_date(summary.week_start)))
    for kind in Kind:
        st.metric(label("kind", kind), fmt_int(summary.week[kind].total))
with late_col:
    st.subheader(t("overview.to_chase"))
    st.metric(t("overview.overdue"), fmt_int(summary.overdue_open), help=t("overview.overdue_help"))
    st.metric(
        t("overview.due_soon"),
        fmt_int(summary.due_soon),
        help=t(
            "overview.due_soon_help",
            hours=fmt_int(summary.due_soon_hours),
            cutoff=fmt_datetime(summary.due_soon_cutoff),
        ),
    )


def bucket_frame(by_kind: dict[Kind, BucketCounts]) -> pd.DataFrame:
    """One line per kind and the total, in the city's labels."""
    lines = [(label("kind", k), c) for k, c in by_kind.items()]
    lines.append((t("overview.total_row"), total_counts(by_kind)))
    return pd.DataFrame(
        [
            {
                t("overview.col.kind"): name,
                t("overview.col.total"): fmt_int(c.total),
                **{label("bucket", b): fmt_int(getattr(c, b.value)) for b in Bucket},
                t("overview.col.overdue_open"): fmt_int(c.overdue_open),
                t("overview.col.resolved_late"): fmt_int(c.resolved_late),
            }
            for name, c in lines
        ]
    )


# ------------------------------------------------------------------ live feed


def feed_frame(rows: list[FeedRow]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                t("overview.col.received"): fmt_datetime(r.received_at),
                t("overview.col.code"): r.code,
                t("overview.col.title"): r.title,
                t("overview.col.category"): (
                    r.category_name_en if lang == "en" else r.category_name_vi
                ),
                t("overview.col.status"): label("status", r.status),
                t("overview.col.unit"): r.unit_name or "—",
            }
            for r in rows
        ]
    )


st.subheader(t("overview.feed.title"))
interval_choice = st.selectbox(
    t("overview.feed.interval"),
    FEED_CHOICES,
    format_func=lambda s: (
        t("overview.feed.every", seconds=fmt_int(s)) if s else t("overview.feed.timer_off")
    ),
    key=INTERVAL_KEY,
)


@st.fragment(run_every=feed_interval_seconds(interval_choice))
def feed_panel() -> None:
    """Re-runs alone on its timer: one small query, the rest of the page stays put."""
    tick = db.utcnow()
    with session_scope() as session:
        feed = live_feed(session, now=tick, since=tick - FEED_WINDOW, limit=FEED_LIMIT)
    st.caption(
        t(
            "overview.feed.updated",
            time=fmt_datetime(tick),
            n=fmt_int(feed.new_count),
            minutes=fmt_int(FEED_WINDOW.total_seconds() / 60),
            today=fmt_int(feed.today_total),
        )
    )
    if feed.rows:
        st.dataframe(feed_frame(feed.rows), hide_index=True, width="stretch")
    else:
        st.info(t("overview.feed.empty"))


feed_panel()

st.subheader(t("overview.buckets"), help=t("overview.buckets_help"))
st.dataframe(bucket_frame(summary.all_time), hide_index=True, width="stretch")


# ------------------------------------------------------------------ queues


def queue_frame(page: QueuePage, columns: tuple[str, ...]) -> pd.DataFrame:
    cells = {
        "code": lambda r: r.code,
        "title": lambda r: r.title,
        "category": lambda r: r.category_name_en if lang == "en" else r.category_name_vi,
        "flag": lambda r: label("routing_flag", r.routing_flag),
        "received": lambda r: fmt_datetime(r.received_at),
        "refused_by": lambda r: r.refused_by_unit_name or "—",
        "reason": lambda r: r.reason or "—",
        "waiting_since": lambda r: fmt_datetime(r.waiting_since),
        "due": lambda r: fmt_datetime(r.due_at),
        "overdue": lambda r: t("overview.overdue") if r.is_overdue else "",
        "status": lambda r: label("status", r.status),
        "unit": lambda r: r.unit_name or "—",
        "bounces": lambda r: fmt_int(r.bounce_count),
        "refusing_units": lambda r: " → ".join(r.refusing_units),
    }
    return pd.DataFrame(
        [{t(f"overview.col.{c}"): cells[c](row) for c in columns} for row in page.rows]
    )


def queue_tab(name: str, page: QueuePage, columns: tuple[str, ...]) -> None:
    """The queue's table and a way to open one of its reports in the cases page."""
    st.caption(t(f"overview.queues.{name}_help"))
    if not page.rows:
        st.info(t("overview.queues.empty"))
        return
    st.dataframe(queue_frame(page, columns), hide_index=True, width="stretch")
    if page.total > len(page.rows):
        st.caption(
            t("overview.queues.shown", shown=fmt_int(len(page.rows)), total=fmt_int(page.total))
        )
    titles = {r.id: f"{r.code} — {r.title}" for r in page.rows}
    chosen = st.selectbox(
        t("overview.queues.pick"),
        list(titles),
        index=None,
        format_func=lambda report_id: titles.get(report_id, str(report_id)),
        placeholder=t("overview.queues.pick_placeholder"),
        key=f"overview_pick_{name}",
    )
    if st.button(t("overview.queues.open"), key=f"overview_open_{name}", disabled=chosen is None):
        st.session_state[state_keys.SELECTED_REPORT] = chosen
        st.switch_page(CASES_PAGE)


st.subheader(t("overview.queues.title"))
unrouted_tab, returned_tab, bounced_tab = st.tabs(
    [
        t("overview.queues.unrouted", n=fmt_int(queues.unrouted.total)),
        t("overview.queues.returned", n=fmt_int(queues.returned.total)),
        t("overview.queues.bounced", n=fmt_int(queues.bounced.total)),
    ]
)
with unrouted_tab:
    queue_tab("unrouted", queues.unrouted, ("code", "title", "category", "flag", "received"))
with returned_tab:
    queue_tab(
        "returned",
        queues.returned,
        ("code", "title", "refused_by", "reason", "waiting_since", "due", "overdue"),
    )
with bounced_tab:
    queue_tab(
        "bounced",
        queues.bounced,
        ("code", "title", "status", "unit", "bounces", "refusing_units"),
    )
