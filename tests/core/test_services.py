"""Creating reports (validation, routing, search text) and users (passwords, units).

Routing by location is the router's job (tested with the boundaries); here a stub
router stands in for it, so these tests pin down what `create_report` does with
its answer: the category's own unit first, procedure reports and reports without
a usable location left with the city dispatcher, flagged.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from ihanoi_core.config import HANOI_TZ
from ihanoi_core.errors import ValidationError
from ihanoi_core.models import Category, Report, ReportCreate, ReportEvent, Unit, User, UserCreate
from ihanoi_core.services import (
    check_password,
    create_report,
    create_user,
    hash_password,
    validate_password,
)
from ihanoi_core.text import fold
from tests.factories import unit_id


@dataclass
class Route:
    unit_code: str | None
    district_code: str | None = None
    ward_code: str | None = None
    layout: str = "2024"
    reason: str | None = None


@dataclass
class StubRouter:
    """Answers every point with one route and remembers what it was asked."""

    answer: Route
    calls: list[tuple[float | None, float | None, object]] = field(default_factory=list)

    def route(self, lat: float | None, lon: float | None, on: object) -> Route:
        self.calls.append((lat, lon, on))
        return self.answer


IN_HOAN_KIEM = Route(unit_code="002", district_code="002", ward_code="00037")
HANG_DONG = (21.0365, 105.8474)  # Hàng Đồng, Hoàn Kiếm


def new_report(**overrides: Any) -> ReportCreate:
    data: dict[str, Any] = {
        "kind": "onsite",
        "category_code": "rac_thai",
        "title": "Đổ rác trước khách sạn phố Hàng Đồng",
        "description": "Rác đổ nhiều lần trong tuần",
        "address": "Hàng Đồng, Hoàn Kiếm",
        "lat": HANG_DONG[0],
        "lon": HANG_DONG[1],
        "submitted_at": datetime(2024, 8, 8, 2, 30, tzinfo=UTC),
    }
    data.update(overrides)
    return ReportCreate(**data)


def counts(engine: sa.Engine) -> tuple[int, int]:
    with Session(engine) as s:
        return (
            s.exec(select(func.count()).select_from(Report)).one(),
            s.exec(select(func.count()).select_from(ReportEvent)).one(),
        )


def events_of(session: Session, report_id: int) -> list[ReportEvent]:
    return list(
        session.exec(
            select(ReportEvent)
            .where(ReportEvent.report_id == report_id)
            .order_by(col(ReportEvent.seq))
        ).all()
    )


def hn(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=HANOI_TZ)


# ------------------------------------------------------------ report validation


@pytest.mark.parametrize(
    ("overrides", "field_name"),
    [
        pytest.param({"category_code": "khong_co"}, "category", id="unknown_category"),
        pytest.param({"kind": "procedure"}, "category", id="onsite_category_procedure_kind"),
        pytest.param(
            {"kind": "onsite", "category_code": "tthc_ho_tich"}, "category", id="kind_mismatch"
        ),
        pytest.param({"kind": "hotline"}, "kind", id="unknown_kind"),
        pytest.param({"lon": None}, "location", id="lat_without_lon"),
        pytest.param({"lat": None}, "location", id="lon_without_lat"),
        pytest.param({"lat": 91.0}, "location", id="lat_out_of_range"),
        pytest.param({"lat": -90.5}, "location", id="lat_below_range"),
        pytest.param({"lon": 181.0}, "location", id="lon_out_of_range"),
        pytest.param({"lat": float("nan")}, "location", id="lat_nan"),
        pytest.param(
            {"submitted_at": datetime(2024, 8, 8, 9, 30)}, "submitted_at", id="naive_submitted_at"
        ),
        pytest.param({"title": ""}, "title", id="empty_title"),
        pytest.param({"title": "   \t "}, "title", id="blank_title"),
    ],
)
def test_invalid_report_is_refused_and_nothing_written(
    session: Session,
    engine: sa.Engine,
    now: datetime,
    overrides: dict[str, Any],
    field_name: str,
) -> None:
    before = counts(engine)
    router = StubRouter(IN_HOAN_KIEM)
    with pytest.raises(ValidationError) as info:
        create_report(session, data=new_report(**overrides), now=now, router=router)
    assert info.value.field == field_name
    assert router.calls == []  # refused before any routing
    session.commit()
    assert counts(engine) == before


def test_a_retired_category_takes_no_new_reports(
    session: Session, engine: sa.Engine, now: datetime
) -> None:
    """An admin retired the category in the console: new reports can't be filed under it."""
    category = session.exec(select(Category).where(Category.code == "rac_thai")).one()
    category.active = False
    session.add(category)
    session.commit()
    before = counts(engine)
    with pytest.raises(ValidationError) as info:
        create_report(
            session,
            data=new_report(category_code="rac_thai"),
            now=now,
            router=StubRouter(IN_HOAN_KIEM),
        )
    assert info.value.field == "category"
    session.rollback()
    assert counts(engine) == before


# ------------------------------------------------------------------ routing


def test_report_at_a_point_routes_to_its_district(session: Session, now: datetime) -> None:
    router = StubRouter(IN_HOAN_KIEM)
    report = create_report(session, data=new_report(), now=now, router=router)
    assert report.id is not None
    assert router.calls == [(HANG_DONG[0], HANG_DONG[1], date(2024, 8, 8))]
    district = unit_id(session, "002")
    ward = session.exec(select(Unit).where(Unit.code == "00037", Unit.kind == "ward")).one()
    assert report.status == "waiting"
    assert report.current_unit_id == district
    assert (report.district_id, report.ward_id) == (district, ward.id)
    assert report.routing_flag is None
    assert report.version == 2
    assert report.arrived_at == now
    assert report.receipt_due_at == hn(2024, 8, 9, 10)  # Thu 10:00 + 8 working hours
    assert report.due_at == hn(2024, 8, 15, 10)  # normal on-site: 40 working hours
    events = events_of(session, report.id)
    assert [(e.seq, e.action, e.actor_role, e.from_status, e.to_status) for e in events] == [
        (1, "receive", "system", None, "received"),
        (2, "route", "system", "received", "waiting"),
    ]
    assert events[1].from_unit_id == unit_id(session, "VP-UBND")
    assert events[1].to_unit_id == district


def test_router_is_asked_about_the_day_in_hanoi(session: Session, now: datetime) -> None:
    """Which map applies depends on the Hanoi date: 30/06 18:00 UTC is 1 July in Hanoi."""
    router = StubRouter(Route(unit_code="00070", layout="2025"))
    submitted = datetime(2025, 6, 30, 18, 0, tzinfo=UTC)
    report = create_report(
        session, data=new_report(submitted_at=submitted), now=submitted, router=router
    )
    assert router.calls[0][2] == date(2025, 7, 1)
    commune = session.exec(select(Unit).where(Unit.code == "00070", Unit.kind == "commune")).one()
    assert commune.name == "Hoàn Kiếm"
    assert report.current_unit_id == commune.id  # not the 2024 ward with the same code
    assert report.ward_id == commune.id
    assert report.district_id is None


def test_point_outside_hanoi_stays_with_the_dispatcher(session: Session, now: datetime) -> None:
    router = StubRouter(Route(unit_code=None, reason="outside"))
    report = create_report(session, data=new_report(lat=10.77, lon=106.70), now=now, router=router)
    assert report.status == "received"
    assert report.current_unit_id == unit_id(session, "VP-UBND")
    assert report.routing_flag == "outside_hanoi"
    assert report.version == 1


def test_report_without_location_is_flagged_no_location(session: Session, now: datetime) -> None:
    router = StubRouter(IN_HOAN_KIEM)
    report = create_report(session, data=new_report(lat=None, lon=None), now=now, router=router)
    assert report.id is not None
    assert router.calls == []
    assert report.status == "received"
    assert report.current_unit_id == unit_id(session, "VP-UBND")
    assert report.routing_flag == "no_location"
    assert report.due_at is None
    assert [e.action for e in events_of(session, report.id)] == ["receive"]


@pytest.mark.parametrize("located", [True, False], ids=["located", "no_location"])
def test_procedure_report_stays_with_the_dispatcher_flagged_city_level(
    session: Session, now: datetime, located: bool
) -> None:
    where = {} if located else {"lat": None, "lon": None}
    report = create_report(
        session,
        data=new_report(kind="procedure", category_code="tthc_ho_tich", **where),
        now=now,
        router=StubRouter(IN_HOAN_KIEM),
    )
    assert report.id is not None
    assert report.status == "received"
    assert report.current_unit_id == unit_id(session, "VP-UBND")
    assert report.routing_flag == "city_level"
    assert [e.action for e in events_of(session, report.id)] == ["receive"]


@pytest.mark.parametrize("located", [True, False], ids=["located", "no_location"])
def test_power_outage_routes_to_the_power_company(
    session: Session, now: datetime, located: bool
) -> None:
    where = {} if located else {"lat": None, "lon": None}
    report = create_report(
        session,
        data=new_report(category_code="mat_dien", title="Mất điện cả khu phố", **where),
        now=now,
        router=StubRouter(IN_HOAN_KIEM),
    )
    assert report.id is not None
    evn = session.exec(select(Unit).where(Unit.code == "EVNHN")).one()
    assert evn.kind == "department"
    assert report.status == "waiting"
    assert report.current_unit_id == evn.id
    assert report.routing_flag is None
    assert report.district_id == (unit_id(session, "002") if located else None)
    route = events_of(session, report.id)[-1]
    assert (route.action, route.to_unit_id) == ("route", evn.id)


# -------------------------------------------------------------- search text


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Hoàn Kiếm", "hoan kiem"),
        ("Đống Đa", "dong da"),
        ("đường Láng", "duong lang"),
        ("  HÀNG   ĐỒNG \n", "hang dong"),
        ("Ngõ 307 Giảng Võ", "ngo 307 giang vo"),
        (unicodedata.normalize("NFD", "Hoàn Kiếm"), "hoan kiem"),  # typed on a Mac
    ],
)
def test_fold_drops_vietnamese_diacritics(text: str, folded: str) -> None:
    assert fold(text) == folded


def test_search_text_finds_the_report_without_diacritics(session: Session, now: datetime) -> None:
    report = create_report(
        session,
        data=new_report(title="Lấn chiếm vỉa hè", address="Ngõ 307 Giảng Võ, Đống Đa"),
        now=now,
        router=StubRouter(IN_HOAN_KIEM),
        code="PA-240808-ABCDE",
    )
    assert "lan chiem via he" in report.search_text
    assert "dong da" in report.search_text
    assert "pa-240808-abcde" in report.search_text
    session.commit()
    found = session.exec(
        select(Report.code).where(col(Report.search_text).contains(fold("giảng võ")))
    ).all()
    assert found == ["PA-240808-ABCDE"]


# ------------------------------------------------------------------ passwords

VIETNAMESE_30 = "ệ" * 30  # 30 letters, 90 bytes in UTF-8
PHRASE = "Mật khẩu đẹp của tôi ở phố Hàng Đồng, quận Hoàn Kiếm"  # 52 letters, 75 bytes


def test_long_vietnamese_password_is_refused_not_truncated() -> None:
    assert len(VIETNAMESE_30) == 30 and len(VIETNAMESE_30.encode("utf-8")) == 90
    assert len(PHRASE) < 72 < len(PHRASE.encode("utf-8"))
    for password in (VIETNAMESE_30, PHRASE, "a" * 73, "ệ" * 24 + "a"):
        with pytest.raises(ValidationError) as info:
            validate_password(password)
        assert info.value.field == "password"
        with pytest.raises(ValidationError):
            hash_password(password)


@pytest.mark.parametrize("password", ["", "1234567", "ệệệệệệệ"])
def test_short_password_is_refused(password: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate_password(password)
    assert info.value.field == "password"


def test_password_check() -> None:
    exactly_72 = "ệ" * 24  # 72 bytes: the most bcrypt reads
    for password in ("12345678", exactly_72):
        digest = hash_password(password)
        assert digest.startswith("$2")
        assert password not in digest
        assert check_password(password, digest) is True
        assert check_password(password + "x", digest) is False
        assert check_password(password[:-1], digest) is False
    digest = hash_password(exactly_72)
    # bcrypt reads 72 bytes: a longer password must not log in as its prefix
    assert check_password(exactly_72 + "hacker", digest) is False
    assert check_password("anything", "!") is False  # the system user cannot log in
    assert check_password("anything", "") is False


@pytest.mark.parametrize(
    "stored",
    ["$2", "$2b$bad", "$2b$12$" + "x" * 53],
    ids=["prefix_only", "bad_salt", "right_length_bad_salt"],
)
def test_password_check_against_a_damaged_hash_says_no(stored: str) -> None:
    """A damaged stored hash refuses the login; it must not crash the login page."""
    assert check_password("mat-khau-thu-nghiem", stored) is False


# ---------------------------------------------------------------------- users


def new_user(**overrides: Any) -> UserCreate:
    data: dict[str, Any] = {
        "username": "can_bo_moi",
        "full_name": "Nguyễn Văn A",
        "role": "officer",
        "unit_code": "002",
        "password": "mat-khau-tam-thoi",
    }
    data.update(overrides)
    return UserCreate(**data)


def user_count(engine: sa.Engine) -> int:
    with Session(engine) as s:
        return s.exec(select(func.count()).select_from(User)).one()


@pytest.mark.parametrize(
    ("overrides", "field_name"),
    [
        pytest.param({"role": "officer", "unit_code": None}, "unit", id="officer_without_unit"),
        pytest.param({"role": "unit_leader", "unit_code": ""}, "unit", id="leader_without_unit"),
        pytest.param({"unit_code": "XYZ"}, "unit", id="unknown_unit"),
        pytest.param({"role": "system", "unit_code": None}, "role", id="system_role"),
        pytest.param({"role": "superuser"}, "role", id="unknown_role"),
        pytest.param({"username": "can bo"}, "username", id="username_with_space"),
        pytest.param({"username": "cán_bộ"}, "username", id="username_with_diacritics"),
        pytest.param({"username": ""}, "username", id="empty_username"),
        pytest.param({"password": VIETNAMESE_30}, "password", id="password_over_72_bytes"),
        pytest.param({"password": "short"}, "password", id="password_too_short"),
    ],
)
def test_invalid_user_is_refused_and_nothing_written(
    session: Session, engine: sa.Engine, now: datetime, overrides: dict[str, Any], field_name: str
) -> None:
    before = user_count(engine)
    with pytest.raises(ValidationError) as info:
        create_user(session, data=new_user(**overrides), now=now)
    assert info.value.field == field_name
    session.commit()
    assert user_count(engine) == before


def test_duplicate_username_is_refused(session: Session, engine: sa.Engine, now: datetime) -> None:
    create_user(session, data=new_user(), now=now)
    session.commit()
    before = user_count(engine)
    # the login form lower-cases what is typed: "Can_Bo_Moi" would be the same login
    for username in ("can_bo_moi", "  can_bo_moi  ", "Can_Bo_Moi"):
        with pytest.raises(ValidationError) as info:
            create_user(session, data=new_user(username=username, unit_code="001"), now=now)
        assert info.value.field == "username"
    session.commit()
    assert user_count(engine) == before


def test_created_officer_belongs_to_the_unit_and_can_log_in(
    session: Session, engine: sa.Engine, now: datetime
) -> None:
    user = create_user(session, data=new_user(full_name="  Trần Thị B "), now=now)
    session.commit()
    with Session(engine) as s:
        stored = s.exec(select(User).where(User.username == "can_bo_moi")).one()
        assert stored.id == user.id
        assert stored.role == "officer"
        assert stored.unit_id == unit_id(s, "002")
        assert stored.full_name == "Trần Thị B"
        assert stored.active is True
        assert stored.created_at == now
        assert check_password("mat-khau-tam-thoi", stored.password_hash)
        assert not check_password("mat-khau-khac", stored.password_hash)


def test_city_roles_need_no_unit(session: Session, now: datetime) -> None:
    for role in ("dispatcher", "leader", "analyst", "admin"):
        user = create_user(
            session,
            data=new_user(username=f"u_{role}", role=role, unit_code=None),
            now=now,
            password_hash="$2b$12$" + "x" * 53,
        )
        assert user.unit_id is None and user.role == role


def test_commune_officer_is_attached_to_the_commune_not_the_old_ward(
    session: Session, now: datetime
) -> None:
    """2025 commune codes reuse 2024 ward codes (00070: ward Hàng Trống / phường Hoàn Kiếm).

    Reports of the 2025 map are routed to the commune, so an officer created with
    that code must belong to the commune, or they can never act on its reports.
    """
    user = create_user(
        session, data=new_user(unit_code="00070"), now=now, password_hash="$2b$12$" + "x" * 53
    )
    unit = session.get(Unit, user.unit_id)
    assert unit is not None
    assert (unit.kind, unit.name) == ("commune", "Hoàn Kiếm")


def test_unit_role_at_a_ward_that_handles_nothing_is_refused(
    session: Session, engine: sa.Engine, now: datetime
) -> None:
    """2024 wards are geography only (reports go to their district): no officer there."""
    before = user_count(engine)
    with pytest.raises(ValidationError) as info:
        create_user(session, data=new_user(unit_code="00037"), now=now)  # ward Phúc Tân only
    assert info.value.field == "unit"
    session.commit()
    assert user_count(engine) == before


def test_naive_now_is_never_stored(session: Session, engine: sa.Engine) -> None:
    """The clock is the caller's: a naive `now` fails instead of shifting by 7 hours."""
    before = counts(engine)
    with pytest.raises(sa.exc.StatementError):
        create_report(
            session,
            data=new_report(lat=None, lon=None),
            now=datetime(2024, 8, 8, 10, 0),
            router=StubRouter(IN_HOAN_KIEM),
        )
    session.rollback()
    assert counts(engine) == before


@pytest.mark.parametrize("password", [" mat-khau-dai", "mat-khau-dai ", "\tmat-khau-dai"])
def test_password_with_edge_spaces_is_refused(password: str) -> None:
    # the login form strips what is typed, so such a password could never log in
    with pytest.raises(ValidationError) as info:
        validate_password(password)
    assert info.value.field == "password"
