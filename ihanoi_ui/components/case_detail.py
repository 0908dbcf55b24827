"""The detail panel of one report: facts, deadline, photos, map, history, buttons.

Shared by "Phản ánh" and "Việc của tôi". One read (`cases.case_detail`) gives
everything, including the actions the viewer may take now; the buttons shown are
exactly those, and each opens its dialog (`action_dialogs`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import pydeck as pdk
import streamlit as st

from ihanoi_core.attachments import image_decodes
from ihanoi_core.cases import AttachmentInfo, CaseDetail, TimelineEntry, case_detail
from ihanoi_core.errors import IHanoiError
from ihanoi_core.vocab import Action, Status
from ihanoi_ui import state_keys
from ihanoi_ui.auth import SessionUser
from ihanoi_ui.components.action_dialogs import action_button, console_now, error_text
from ihanoi_ui.i18n import current_lang, fmt_datetime, fmt_float, label, t
from ihanoi_ui.resources import session_scope

__all__ = ["console_now", "render_case_detail", "show_flash"]

MAP_ZOOM: Final = 15
PIN_COLOR: Final = [200, 30, 0, 230]


def show_flash() -> None:
    """The confirmation left by the previous run (a saved action), shown once."""
    message = st.session_state.pop(state_keys.FLASH, None)
    if message:
        st.success(message)


def location_deck(lat: float, lon: float) -> pdk.Deck:
    """A pin on a map without a base layer: `map_provider=None` needs no internet
    (the default basemap is an external tile service the city network may block).

    `map_style` must be left at pydeck's default: it then serialises as pydeck's
    "no style" sentinel, which Streamlit's frontend honours. An explicit
    `map_style=None` drops the key, and the frontend fills in its Carto basemap.
    """
    return pdk.Deck(
        layers=[
            pdk.Layer(
                "ScatterplotLayer",
                data=[{"lat": lat, "lon": lon}],
                get_position="[lon, lat]",
                get_radius=25,
                radius_min_pixels=7,
                get_fill_color=PIN_COLOR,
                stroked=True,
                get_line_color=[255, 255, 255],
                line_width_min_pixels=2,
            )
        ],
        initial_view_state=pdk.ViewState(latitude=lat, longitude=lon, zoom=MAP_ZOOM),
        map_provider=None,
    )


def _facts(d: CaseDetail, lang: str) -> None:
    place = ", ".join(p for p in (d.ward_name, d.district_name) if p) or "—"
    lines = [
        (t("cases.detail.kind"), label("kind", d.kind.value)),
        (t("cases.detail.category"), d.category_name_en if lang == "en" else d.category_name_vi),
        (t("cases.detail.unit"), d.unit_name or "—"),
        (t("cases.detail.assignee"), d.assignee_name or "—"),
        (t("cases.detail.place"), place),
        (t("cases.detail.address"), d.address or "—"),
        (t("cases.detail.submitted"), fmt_datetime(d.submitted_at)),
        (t("cases.detail.due"), fmt_datetime(d.due_at)),
    ]
    if d.finished_at is not None:
        lines.append((t("cases.detail.finished"), fmt_datetime(d.finished_at)))
    st.markdown("\n".join(f"- **{name}:** {value}" for name, value in lines))
    if d.routing_flag is not None and d.status is Status.RECEIVED:  # why it was not routed
        st.caption(t("cases.detail.routing_flag", flag=label("routing_flag", d.routing_flag.value)))
    if d.bounce_count:
        st.caption(t("cases.detail.bounces", n=d.bounce_count))


def _deadline(d: CaseDetail, lang: str) -> None:
    if d.finished_at is not None:
        return
    if d.due_at is None:
        st.caption(t("cases.detail.no_deadline"))
        return
    hours = fmt_float(d.time_left_hours, 1, lang)
    if d.is_overdue:
        st.error(t("cases.detail.overdue", due=fmt_datetime(d.due_at)))
    elif d.is_due_soon:
        st.warning(t("cases.detail.due_soon", hours=hours))
    else:
        st.info(t("cases.detail.time_left", hours=hours))
    if d.deadline_is_placeholder:
        st.caption(t("cases.detail.placeholder"))


def _attachments(files: list[AttachmentInfo]) -> None:
    st.markdown(f"**{t('cases.detail.photos')}**")
    if not files:
        st.caption(t("cases.detail.no_photos"))
        return
    for att in files:
        caption = t(
            "cases.detail.photo_caption",
            kind=t(f"cases.detail.attachment_kind.{att.kind.value}"),
            name=att.filename,
            when=fmt_datetime(att.uploaded_at),
        )
        if att.is_image and att.data is not None and image_decodes(att.data):
            st.image(att.data, caption=caption)
        elif att.data is not None:  # documents, and any picture stored before checks
            st.download_button(
                t("cases.detail.download", name=att.filename),
                data=att.data,
                file_name=att.filename,
                mime=att.content_type,
                key=f"case_file_{att.id}",
                on_click="ignore",
            )


def _map(d: CaseDetail) -> None:
    st.markdown(f"**{t('cases.detail.map')}**")
    if d.lat is None or d.lon is None:
        st.caption(t("cases.detail.no_location"))
        return
    st.pydeck_chart(location_deck(d.lat, d.lon), height=220, key="case_map")
    st.caption(t("cases.detail.coordinates", lat=f"{d.lat:.5f}", lon=f"{d.lon:.5f}"))


def _event(e: TimelineEntry, lang: str) -> None:
    actor = e.actor_name or t("cases.detail.system_actor")
    st.markdown(
        t(
            "cases.detail.event",
            at=fmt_datetime(e.at),
            action=label("action", e.action.value),
            actor=f"{actor} ({label('role', e.actor_role.value)})",
        )
    )
    details = [
        t(
            "cases.detail.event_status",
            from_status=label("status", e.from_status.value if e.from_status else None),
            to_status=label("status", e.to_status.value),
        )
    ]
    if e.from_unit_name != e.to_unit_name:
        details.append(
            t(
                "cases.detail.event_unit",
                from_unit=e.from_unit_name or "—",
                to_unit=e.to_unit_name or "—",
            )
        )
    if e.assignee_name and e.action is Action.ASSIGN:
        priority = label("priority", e.priority.value if e.priority else None)
        details.append(t("cases.detail.event_assignee", name=e.assignee_name, priority=priority))
    template = e.template_title_en if lang == "en" else e.template_title_vi
    if template:
        details.append(t("cases.detail.event_template", title=template))
    if e.reason:
        details.append(t("cases.detail.event_reason", text=e.reason))
    if e.result_text:
        details.append(t("cases.detail.event_result", text=e.result_text))
    if e.rating is not None:
        details.append(t("cases.detail.event_rating", rating=label("rating", e.rating.value)))
    if e.attachment_ids:
        details.append(t("cases.detail.event_files", n=len(e.attachment_ids)))
    st.caption("  \n".join(details))


def render_case_detail(report_id: int, user: SessionUser, now: datetime) -> CaseDetail | None:
    """Draw the report's panel for `user`; returns what was shown (None on an error)."""
    lang = current_lang()
    try:
        with session_scope() as session:
            d = case_detail(session, report_id, user.actor(), now, with_attachment_data=True)
    except IHanoiError as exc:
        st.error(error_text(exc))
        return None
    st.subheader(t("cases.detail.heading", code=d.code, title=d.title))
    status, bucket = label("status", d.status.value), label("bucket", d.bucket.value)
    # "Đã xử lý · Đã xử lý" says nothing twice: show the city's bucket only when it differs
    key = "cases.detail.status_line" if status != bucket else "cases.detail.status_line_short"
    st.markdown(t(key, status=status, bucket=bucket, priority=label("priority", d.priority.value)))
    _deadline(d, lang)
    left, right = st.columns([3, 2])
    with left:
        _facts(d, lang)
        st.markdown(f"**{t('cases.detail.description')}**")
        st.text(d.description or "—")
        if d.result_text:
            st.markdown(f"**{t('cases.detail.result')}**")
            st.text(d.result_text)
    with right:
        _attachments(d.attachments)
        _map(d)

    st.markdown(f"#### {t('cases.detail.actions')}")
    if d.allowed_actions:
        columns = st.columns(len(d.allowed_actions))
        for column, action in zip(columns, d.allowed_actions, strict=True):
            with column:
                action_button(action, d.id, d.version)
    else:
        st.caption(t("cases.detail.no_actions"))

    st.markdown(f"#### {t('cases.detail.timeline')}")
    for entry in reversed(d.timeline):  # newest first: what happened last matters most
        with st.container(border=True):
            _event(entry, lang)
    return d
