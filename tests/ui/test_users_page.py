"""The users page (pages/9_nguoi_dung.py): the admin lists, creates, deactivates,
reactivates, resets and moves accounts through dialogs; each action leaves an admin
log entry; other roles are stopped; broken rules come back as sentences."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

import pytest
from sqlmodel import Session, col, select
from streamlit.testing.v1 import AppTest

from ihanoi_core.models import AdminEvent, User
from ihanoi_core.services import check_password
from ihanoi_core.vocab import Role
from ihanoi_ui import navigation, state_keys
from tests.factories import Cast, make_user, unit_id

PAGE = "pages/9_nguoi_dung.py"
K = "ihanoi_users_"
TABLE = "ihanoi_users_table"
NEW_PASSWORD = "mat-khau-moi-2024"
CAST_USERNAMES = {
    "dieu_phoi",
    "lanh_dao",
    "phan_tich",
    "quan_tri",
    "truong_dv",
    "can_bo",
    "can_bo_2",
    "truong_khac",
    "can_bo_khac",
}


def db_user(session: Session, username: str) -> User | None:
    session.commit()  # end the read snapshot: see what the page wrote
    session.expire_all()
    return session.exec(select(User).where(User.username == username)).first()


def admin_events(session: Session, username: str) -> list[AdminEvent]:
    session.commit()  # end the read snapshot: see what the page wrote
    session.expire_all()
    return list(
        session.exec(
            select(AdminEvent)
            .where(AdminEvent.entity == "user", AdminEvent.entity_key == username)
            .order_by(col(AdminEvent.id))
        ).all()
    )


def table_usernames(at: AppTest) -> list[str]:
    frame = at.dataframe[0].value
    return list(frame[frame.columns[0]])


def select_row(at: AppTest, username: str) -> AppTest:
    position = table_usernames(at).index(username)
    at.session_state[TABLE] = {"selection": {"rows": [position], "columns": []}}
    return at.run()


def successes(at: AppTest) -> list[str]:
    return [s.value for s in at.success]


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def fill_create(
    at: AppTest,
    *,
    username: str = "can_bo_moi",
    role: Role = Role.OFFICER,
    unit: int | None = None,
    password: str = NEW_PASSWORD,
    confirm: str | None = None,
) -> AppTest:
    at.button(key=K + "open_create").click().run()
    at.text_input(key=K + "new_username").input(username)
    at.text_input(key=K + "new_full_name").input("Trần Thị Mới")
    at.selectbox(key=K + "new_role").set_value(role)
    at.selectbox(key=K + "new_unit").set_value(unit)
    at.text_input(key=K + "new_password").input(password)
    at.text_input(key=K + "new_password2").input(password if confirm is None else confirm)
    at.text_input(key=K + "new_reason").input("Cán bộ mới về đơn vị")
    return at.button(key=K + "create_submit").click().run()


def test_the_admin_sees_every_account_but_the_system(
    cast: Cast, open_page: Callable[..., AppTest]
) -> None:
    at = open_page(PAGE, as_user="quan_tri")
    assert not at.exception
    assert at.title[0].value == "Người dùng"
    assert set(table_usernames(at)) == CAST_USERNAMES
    at.text_input(key=K + "f_search").input("khac").run()
    assert set(table_usernames(at)) == {"truong_khac", "can_bo_khac"}


def test_the_admin_creates_an_account(
    cast: Cast, ui_session: Session, open_page: Callable[..., AppTest]
) -> None:
    at = open_page(PAGE, as_user="quan_tri")
    department = unit_id(ui_session, "SXD")
    fill_create(at, unit=department)
    assert not errors(at)
    assert successes(at) == ["Đã tạo tài khoản can_bo_moi."]
    created = db_user(ui_session, "can_bo_moi")
    assert created is not None and created.unit_id == department and created.role == "officer"
    assert check_password(NEW_PASSWORD, created.password_hash)
    (event,) = admin_events(ui_session, "can_bo_moi")
    admin = db_user(ui_session, "quan_tri")
    assert event.action == "create" and admin is not None and event.actor_id == admin.id
    assert event.reason == "Cán bộ mới về đơn vị"
    assert "can_bo_moi" in table_usernames(at)
    assert K + "create_submit" not in {b.key for b in at.button}  # the dialog closed


def test_mismatched_passwords_create_nothing(
    cast: Cast, ui_session: Session, open_page: Callable[..., AppTest]
) -> None:
    at = open_page(PAGE, as_user="quan_tri")
    fill_create(at, unit=unit_id(ui_session, "SXD"), confirm="mat-khau-khac-2024")
    assert errors(at) == ["Hai lần nhập mật khẩu không khớp."]
    assert db_user(ui_session, "can_bo_moi") is None


@pytest.mark.parametrize(
    ("role", "unit_code", "password", "expected"),
    [
        (Role.OFFICER, None, NEW_PASSWORD, "Vai trò Cán bộ xử lý phải thuộc một đơn vị xử lý"),
        (Role.DISPATCHER, "VP-UBND", NEW_PASSWORD, "là vai trò cấp Thành phố"),
        (Role.OFFICER, "SXD", "đường phố Hà Nội " * 4, "72 byte"),
        (Role.OFFICER, "SXD", "ngan", "ít nhất 8 ký tự"),
    ],
)
def test_forbidden_combinations_and_passwords_are_explained(
    cast: Cast,
    ui_session: Session,
    open_page: Callable[..., AppTest],
    role: Role,
    unit_code: str | None,
    password: str,
    expected: str,
) -> None:
    at = open_page(PAGE, as_user="quan_tri")
    unit = unit_id(ui_session, unit_code) if unit_code else None
    fill_create(at, role=role, unit=unit, password=password)
    assert not at.exception
    (message,) = errors(at)
    assert expected in message
    assert db_user(ui_session, "can_bo_moi") is None


def test_the_admin_deactivates_and_reactivates_an_account(
    cast: Cast, ui_session: Session, open_page: Callable[..., AppTest]
) -> None:
    at = open_page(PAGE, as_user="quan_tri")
    before = db_user(ui_session, "can_bo")
    assert before is not None
    version = before.session_version
    select_row(at, "can_bo")
    at.button(key=K + "open_deactivate").click().run()
    at.button(key=K + "deactivate_submit").click().run()  # no reason yet
    assert errors(at) == ["Vui lòng ghi lý do (ít nhất 5 ký tự)."]
    at.text_input(key=K + "deactivate_reason").input("Chuyển công tác")
    at.button(key=K + "deactivate_submit").click().run()
    assert successes(at) == [
        "Đã vô hiệu hóa tài khoản can_bo; mọi phiên đăng nhập của tài khoản đã kết thúc."
    ]
    after = db_user(ui_session, "can_bo")
    assert after is not None and not after.active and after.session_version == version + 1

    select_row(at, "can_bo")
    at.button(key=K + "open_reactivate").click().run()
    at.text_input(key=K + "reactivate_reason").input("Trở lại công tác")
    at.button(key=K + "reactivate_submit").click().run()
    again = db_user(ui_session, "can_bo")
    assert again is not None and again.active
    events = admin_events(ui_session, "can_bo")
    assert [e.action for e in events] == ["deactivate", "reactivate"]
    assert events[0].reason == "Chuyển công tác"


def test_the_admin_resets_a_password(
    cast: Cast, ui_session: Session, open_page: Callable[..., AppTest]
) -> None:
    at = open_page(PAGE, as_user="quan_tri")
    before = db_user(ui_session, "can_bo_2")
    assert before is not None
    version = before.session_version
    select_row(at, "can_bo_2")
    at.button(key=K + "open_reset_password").click().run()
    at.text_input(key=K + "reset_password").input(NEW_PASSWORD)
    at.text_input(key=K + "reset_password2").input(NEW_PASSWORD)
    at.text_input(key=K + "reset_reason").input("Quên mật khẩu")
    at.button(key=K + "reset_submit").click().run()
    assert successes(at) == [
        "Đã đặt lại mật khẩu cho can_bo_2; mọi phiên đăng nhập cũ đã kết thúc."
    ]
    after = db_user(ui_session, "can_bo_2")
    assert after is not None and check_password(NEW_PASSWORD, after.password_hash)
    assert after.session_version == version + 1
    (event,) = admin_events(ui_session, "can_bo_2")
    assert event.action == "reset_password" and NEW_PASSWORD not in (event.after or "")


def test_the_admin_moves_an_officer_to_another_unit_as_its_leader(
    cast: Cast, ui_session: Session, open_page: Callable[..., AppTest]
) -> None:
    at = open_page(PAGE, as_user="quan_tri")
    select_row(at, "can_bo")
    at.button(key=K + "open_change_role").click().run()
    at.selectbox(key=K + "change_role").set_value(Role.UNIT_LEADER)
    at.selectbox(key=K + "change_unit").set_value(unit_id(ui_session, "SGTVT"))
    at.text_input(key=K + "change_reason").input("Bổ nhiệm lãnh đạo")
    at.button(key=K + "change_submit").click().run()
    assert not errors(at), errors(at)
    moved = db_user(ui_session, "can_bo")
    assert moved is not None and moved.role == "unit_leader"
    assert moved.unit_id == unit_id(ui_session, "SGTVT")
    (event,) = admin_events(ui_session, "can_bo")
    assert json.loads(event.after or "{}")["unit"] == "SGTVT"


def test_a_city_role_with_a_unit_is_refused_in_the_change_dialog(
    cast: Cast, ui_session: Session, open_page: Callable[..., AppTest]
) -> None:
    at = open_page(PAGE, as_user="quan_tri")
    select_row(at, "can_bo")
    at.button(key=K + "open_change_role").click().run()
    at.selectbox(key=K + "change_role").set_value(Role.ANALYST)
    at.text_input(key=K + "change_reason").input("Điều động")
    at.button(key=K + "change_submit").click().run()
    (message,) = errors(at)
    assert "Phân tích" in message and "cấp Thành phố" in message
    unchanged = db_user(ui_session, "can_bo")
    assert unchanged is not None and unchanged.role == "officer"


def test_the_admin_cannot_deactivate_themselves(
    cast: Cast, open_page: Callable[..., AppTest]
) -> None:
    at = open_page(PAGE, as_user="quan_tri")
    select_row(at, "quan_tri")
    at.button(key=K + "open_deactivate").click().run()
    at.text_input(key=K + "deactivate_reason").input("Thử nghiệm")
    at.button(key=K + "deactivate_submit").click().run()
    assert "chính mình" in errors(at)[0]


@pytest.mark.parametrize(
    ("username", "role"),
    [
        ("can_bo", Role.OFFICER),
        ("dieu_phoi", Role.DISPATCHER),
        ("lanh_dao", Role.LEADER),
        ("phan_tich", Role.ANALYST),
        ("truong_dv", Role.UNIT_LEADER),
    ],
)
def test_other_roles_are_stopped_unless_the_page_is_theirs(
    cast: Cast, open_page: Callable[..., AppTest], username: str, role: Role
) -> None:
    at = open_page(PAGE, as_user=username)
    if role in navigation.page_roles("users"):  # unit leaders, if the lead opens it to them
        assert not errors(at) and set(table_usernames(at)) <= CAST_USERNAMES
    else:
        assert errors(at) == ["Bạn không có quyền xem trang này."]
        assert not at.dataframe


def test_an_anonymous_visitor_is_asked_to_log_in(open_page: Callable[..., AppTest]) -> None:
    at = open_page(PAGE)
    assert [i.value for i in at.info] == ["Vui lòng đăng nhập để tiếp tục."]
    assert not at.dataframe


def test_a_unit_leader_given_the_page_manages_their_own_officers_only(
    cast: Cast,
    ui_session: Session,
    now: datetime,
    open_page: Callable[..., AppTest],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """If the lead adds unit_leader to the page's roles, the page already scopes it."""
    specs = tuple(
        navigation.PageSpec(
            p.key, p.file, p.title_key, p.icon, p.section, p.roles | {Role.UNIT_LEADER}
        )
        if p.key == "users"
        else p
        for p in navigation.PAGES
    )
    monkeypatch.setattr(navigation, "PAGES", specs)
    # A department: valid on any date (the 2024 districts of the cast end in 2025).
    make_user(ui_session, now, "truong_sxd", Role.UNIT_LEADER, "SXD")
    make_user(ui_session, now, "can_bo_sxd", Role.OFFICER, "SXD")
    ui_session.commit()
    at = open_page(PAGE, as_user="truong_sxd")
    assert not at.exception
    assert set(table_usernames(at)) == {"truong_sxd", "can_bo_sxd"}
    assert "Sở Xây dựng" in at.info[0].value
    assert at.selectbox(key=K + "f_unit").options == ["Tất cả", "Sở Xây dựng"]
    at.button(key=K + "open_create").click().run()
    assert at.selectbox(key=K + "new_role").options == ["Cán bộ xử lý"]
    assert at.selectbox(key=K + "new_unit").options == ["Sở Xây dựng"]
    at.text_input(key=K + "new_username").input("can_bo_sxd_2")
    at.text_input(key=K + "new_password").input(NEW_PASSWORD)
    at.text_input(key=K + "new_password2").input(NEW_PASSWORD)
    at.button(key=K + "create_submit").click().run()
    created = db_user(ui_session, "can_bo_sxd_2")
    assert created is not None and created.unit_id == unit_id(ui_session, "SXD")
    select_row(at, "truong_sxd")
    assert K + "open_deactivate" not in {b.key for b in at.button}  # read only
    select_row(at, "can_bo_sxd")
    at.button(key=K + "open_deactivate").click().run()
    at.text_input(key=K + "deactivate_reason").input("Nghỉ việc")
    at.button(key=K + "deactivate_submit").click().run()
    gone = db_user(ui_session, "can_bo_sxd")
    assert gone is not None and not gone.active


def test_the_page_speaks_english(cast: Cast, open_page: Callable[..., AppTest]) -> None:
    at = open_page(PAGE, as_user="quan_tri", lang="en")
    assert at.title[0].value == "Users"
    fill_create(at, role=Role.ADMIN, unit=None, password="short")
    assert errors(at) == ["The password needs at least 8 characters."]
    assert state_keys.USER in at.session_state
