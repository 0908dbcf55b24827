"""A small city for the case pages' AppTests, and a clock the pages read.

Reports are made at T0 (Thu 8 Aug 2024 10:00 Hanoi, the conftest's FIXED_NOW) and step
one hour apart; the pages' clock starts at NOW (same day 15:00). Units: 002 = Hoàn
Kiếm (the cast's unit), 001 = Ba Đình.

    key status     unit    notes
    A   received   office  no location
    B   waiting    002     title names "Hoàn Kiếm" (the diacritic-free search finds it)
    D   assigned   002     created 25/07: OVERDUE; officer can_bo
    U   assigned   002     urgent, due 16:00 today; officer can_bo
    E   drafted    002
    F   published  002
    G   waiting    001
    I   refused    002
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select
from streamlit.testing.v1 import AppTest

from ihanoi_core.config import HANOI_TZ
from ihanoi_core.models import Report, ReportEvent
from ihanoi_core.vocab import Action, Priority, Status
from tests.factories import Cast, make_report, report_in, step

CASES = "pages/3_phan_anh.py"
QUEUE = "pages/2_viec_cua_toi.py"


def hanoi(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, month, day, hour, minute, tzinfo=HANOI_TZ)


T0 = hanoi(8, 8, 10)
W2 = hanoi(7, 25, 10)
NOW = hanoi(8, 8, 15)


@dataclass(frozen=True)
class StubRoute:
    unit_code: str | None
    district_code: str | None
    ward_code: str | None = None
    layout: str = "2024"
    reason: str | None = None


@dataclass(frozen=True)
class StubRouter:
    """Routes every point to one 2024 district (point-in-polygon is tested elsewhere)."""

    district: str

    def route(self, lat: float | None, lon: float | None, on: object) -> StubRoute:
        return StubRoute(self.district, self.district)


@dataclass
class Clock:
    """What `ihanoi_core.db.utcnow` returns to the pages while a test runs."""

    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now

    def tick(self, minutes: int = 5) -> datetime:
        self.now = self.now + timedelta(minutes=minutes)
        return self.now


@dataclass
class City:
    cast: Cast
    r: dict[str, Report] = field(default_factory=dict)

    def id(self, key: str) -> int:
        report_id = self.r[key].id
        assert report_id is not None
        return report_id

    def code(self, key: str) -> str:
        return self.r[key].code


def build_city(session: Session, cast: Cast) -> City:
    city = City(cast)
    r = city.r
    r["A"] = make_report(session, T0)
    r["B"] = report_in(
        session,
        cast,
        Status.WAITING,
        T0,
        title="Lấn chiếm vỉa hè phố Hàng Đồng, quận Hoàn Kiếm",
        category_code="lan_chiem_via_he",
    )
    r["D"] = report_in(session, cast, Status.ASSIGNED, W2, submitted_at=W2)
    r["U"] = report_in(session, cast, Status.ASSIGNED, T0, priority=Priority.URGENT)
    r["E"] = report_in(session, cast, Status.DRAFTED, T0)
    r["F"] = report_in(session, cast, Status.PUBLISHED, T0)
    g = make_report(session, T0, title="Xây dựng trái phép", category_code="xay_dung_trai_phep")
    r["G"] = step(
        session,
        g,
        Action.DISPATCH,
        cast.dispatcher,
        T0 + timedelta(hours=1),
        to_unit_id=cast.other_unit_id,
    )
    r["I"] = report_in(session, cast, Status.REFUSED, T0)
    session.commit()
    return city


def fresh(session: Session, report_id: int) -> Report:
    """The report as the database holds it now (the pages wrote through other sessions)."""
    session.commit()  # end the read snapshot: see what the page wrote
    session.expire_all()
    report = session.get(Report, report_id)
    assert report is not None
    return report


def history(session: Session, report_id: int) -> list[tuple[str, str | None, str]]:
    """(action, actor username, to_status) of every event, in order."""
    from ihanoi_core.models import User

    session.commit()  # end the read snapshot: see what the page wrote
    session.expire_all()
    rows = session.exec(
        select(ReportEvent.action, User.username, ReportEvent.to_status)
        .join(User, col(User.id) == col(ReportEvent.actor_id), isouter=True)
        .where(ReportEvent.report_id == report_id)
        .order_by(col(ReportEvent.seq))
    ).all()
    return [(a, u, s) for a, u, s in rows]


# ---------------------------------------------------------------- AppTest helpers


def texts(at: AppTest) -> str:
    """Every piece of text the page shows, joined (for "is this sentence shown")."""
    parts: list[str] = []
    for kind in (
        "title",
        "subheader",
        "markdown",
        "caption",
        "info",
        "success",
        "warning",
        "error",
    ):
        parts.extend(str(e.value) for e in getattr(at, kind))
    return "\n".join(parts)


def table(at: AppTest, key: str) -> Any:
    """The DataFrame a keyed `st.dataframe` shows."""
    for frame in at.dataframe:
        if frame.key == key:
            return frame.value
    raise AssertionError(f"no table {key!r}; tables: {[f.key for f in at.dataframe]}")


def action_buttons(at: AppTest) -> list[str]:
    """The workflow actions offered on the detail panel, by their button keys."""
    prefix = "case_action_"
    return [b.key[len(prefix) :] for b in at.button if b.key and b.key.startswith(prefix)]


def select_rows(at: AppTest, key: str, positions: list[int]) -> AppTest:
    """Select table rows the documented way (the selection state of a keyed table)."""
    at.session_state[key] = {"selection": {"rows": positions, "columns": [], "cells": []}}
    return at.run()


def row_of(at: AppTest, key: str, code: str) -> int:
    codes = list(table(at, key).iloc[:, 0])
    return codes.index(code)
