"""AppTest of "Nhập/xuất dữ liệu" (pages/8_nhap_xuat.py) for the dispatcher and the admin.

The file uploaded is a small Vietnamese-header CSV from another city office with three
rows: two good (one carries a <script> tag in its description), one whose Open311 status
is "pending" (only open/closed exist): the dry run must count 3 records, 2 importable,
1 bad on line 4 (the header is line 1) with a Vietnamese reason; nothing is written
until the dispatcher accepts the good rows only.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from ihanoi_core.models import Report, ReportEvent
from ihanoi_core.vocab import Status
from tests.factories import Cast, report_in

PAGE = "pages/8_nhap_xuat.py"
Open = Callable[..., AppTest]
NOT_ALLOWED = "Bạn không có quyền xem trang này."
SCRIPT = "<script>alert('x')</script> Rác tồn đọng nhiều ngày"
CSV = (
    "Mã phản ánh,Trạng thái Open311,Lĩnh vực,Mô tả,Thời gian gửi,Địa chỉ\r\n"
    f'HN-1,open,Rác thải,"{SCRIPT}",08/08/2024 09:00,Hàng Bồ\r\n'
    "HN-2,closed,Rác thải,Đã dọn,08/08/2024 09:10,Hàng Đồng\r\n"
    "HN-3,pending,Rác thải,Rác,08/08/2024 09:30,Hàng Mã\r\n"
).encode()


@pytest.fixture(autouse=True)
def upload_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The page keeps the uploaded file on disk while it is chosen: here, in tmp_path."""
    folder = tmp_path / "uploads"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def upload(at: AppTest, name: str = "phan-anh-quan.csv", data: bytes = CSV) -> AppTest:
    at.file_uploader(key="interchange_upload").set_value((name, data, "text/csv"))
    return ok(at.run())


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def reports(session: Session) -> list[Report]:
    session.commit()  # end the test's read transaction: see what the page wrote
    return list(session.exec(select(Report).order_by(Report.id)))


def no_html(at: AppTest) -> None:
    """Nothing on the page is rendered as HTML (a file's text must stay text)."""
    assert not [m.value for m in at.markdown if m.proto.allow_html]


# ------------------------------------------------------------------ who sees it


@pytest.mark.parametrize("username", ["dieu_phoi", "quan_tri"])
def test_dispatcher_and_admin_see_both_tabs(open_page: Open, cast: Cast, username: str) -> None:
    at = ok(open_page(PAGE, as_user=username))
    assert at.title[0].value == "Nhập/xuất dữ liệu"
    assert [tab.label for tab in at.tabs] == ["Nhập dữ liệu", "Xuất dữ liệu"]
    assert at.file_uploader(key="interchange_upload").label == "Chọn tệp cần nhập"
    assert "Chọn một tệp để xem trước các dòng đầu tiên." in [i.value for i in at.info]


@pytest.mark.parametrize("username", ["lanh_dao", "phan_tich", "truong_dv", "can_bo"])
def test_other_roles_are_not_allowed(open_page: Open, cast: Cast, username: str) -> None:
    at = ok(open_page(PAGE, as_user=username))
    assert [e.value for e in at.error] == [NOT_ALLOWED]
    assert not at.file_uploader


def test_anonymous_sees_the_login_message_only(open_page: Open, cast: Cast) -> None:
    at = ok(open_page(PAGE))
    assert [i.value for i in at.info] == ["Vui lòng đăng nhập để tiếp tục."]
    assert not at.tabs


# ---------------------------------------------------------------------- import


def test_preview_shows_the_first_rows_and_a_script_as_text(open_page: Open, cast: Cast) -> None:
    at = upload(open_page(PAGE, as_user="dieu_phoi"))
    assert "Định dạng: CSV · Bảng mã: utf-8 · Dấu phân cách: ," in [c.value for c in at.caption]
    preview = at.dataframe[0].value
    assert len(preview) == 3
    assert list(preview.columns) == [
        "Mã phản ánh",
        "Trạng thái Open311",
        "Tên lĩnh vực",
        "Mô tả",
        "Thời gian gửi",
        "Địa chỉ",
    ]
    assert preview["Mô tả"].iloc[0] == SCRIPT  # a cell of text, never markup
    no_html(at)


def test_the_copy_on_disk_goes_away_with_the_upload(
    open_page: Open, cast: Cast, upload_folder: Path
) -> None:
    at = upload(open_page(PAGE, as_user="dieu_phoi"))
    (held,) = list(upload_folder.iterdir())
    assert [p.name for p in held.iterdir()] == ["phan-anh-quan.csv"]
    at.file_uploader(key="interchange_upload").clear()
    at = ok(at.run())
    assert list(upload_folder.iterdir()) == []
    assert "Chọn một tệp để xem trước các dòng đầu tiên." in [i.value for i in at.info]


def test_dry_run_counts_and_lists_bad_rows_in_vietnamese(
    open_page: Open, cast: Cast, ui_session: Session
) -> None:
    at = upload(open_page(PAGE, as_user="dieu_phoi"))
    at = ok(at.button(key="interchange_dry_run_button").click().run())
    assert metrics(at) == {
        "Số bản ghi trong tệp": "3",
        "Sẽ nhập được": "2",
        "Đã có sẵn (bỏ qua)": "0",
        "Bản ghi lỗi": "1",
    }
    errors = at.dataframe[1].value
    assert list(errors.columns) == ["Dòng/bản ghi", "Trường", "Lý do", "Giá trị"]
    assert errors.values.tolist() == [
        [
            4,
            "Trạng thái Open311",
            "Trạng thái Open311 không hợp lệ (chỉ open hoặc closed) — ánh xạ giá trị này sang"
            " open/closed trong mục statuses: của tệp ánh xạ (--mapping)",
            "pending",
        ]
    ]
    assert [b.label for b in at.get("download_button")] == ["Tải báo cáo lỗi (CSV)"]
    # nothing written yet, and the import waits for "the good rows only"
    assert reports(ui_session) == []
    assert at.button(key="interchange_import_button").disabled
    no_html(at)


def test_accepting_the_good_rows_imports_them_with_their_history(
    open_page: Open, cast: Cast, ui_session: Session
) -> None:
    at = upload(open_page(PAGE, as_user="dieu_phoi"))
    at = ok(at.button(key="interchange_dry_run_button").click().run())
    at = ok(at.checkbox(key="interchange_accept_partial").check().run())
    assert not at.button(key="interchange_import_button").disabled
    at = ok(at.button(key="interchange_import_button").click().run())
    assert [s.value for s in at.success] == [
        "Đã nhập 2 phản ánh từ tệp phan-anh-quan.csv; 1 bản ghi lỗi không được nhập."
    ]
    assert metrics(at)["Đã nhập"] == "2"
    imported = reports(ui_session)
    assert sorted(r.source_ref or "" for r in imported) == ["HN-1", "HN-2"]
    assert {r.status for r in imported} == {Status.RECEIVED.value, Status.PUBLISHED.value}
    first = ui_session.exec(
        select(ReportEvent).where(ReportEvent.report_id == imported[0].id, ReportEvent.seq == 1)
    ).one()
    assert (first.action, first.source_file, first.actor_id) == (
        "import",
        "phan-anh-quan.csv",
        cast.dispatcher.user_id,
    )
    # the same file again: everything is already there
    at = ok(at.button(key="interchange_dry_run_button").click().run())
    assert metrics(at)["Đã có sẵn (bỏ qua)"] == "2"
    assert "Không có phản ánh mới nào để nhập." in [i.value for i in at.info]


def test_a_file_with_a_bad_row_writes_nothing_without_consent(
    open_page: Open, cast: Cast, ui_session: Session
) -> None:
    at = upload(open_page(PAGE, as_user="quan_tri"))
    at = ok(at.button(key="interchange_dry_run_button").click().run())
    assert at.button(key="interchange_import_button").disabled
    assert 'Tệp có dòng lỗi — chọn "Chỉ nhập các dòng hợp lệ" để nhập phần còn lại.' in [
        c.value for c in at.caption
    ]
    assert reports(ui_session) == []


def test_a_clean_file_imports_without_the_checkbox(
    open_page: Open, cast: Cast, ui_session: Session
) -> None:
    clean = b"\n".join(CSV.splitlines()[:3]) + b"\n"
    at = upload(open_page(PAGE, as_user="dieu_phoi"), data=clean)
    at = ok(at.button(key="interchange_dry_run_button").click().run())
    assert not at.checkbox
    at = ok(at.button(key="interchange_import_button").click().run())
    assert [s.value for s in at.success] == ["Đã nhập 2 phản ánh từ tệp phan-anh-quan.csv."]
    assert len(reports(ui_session)) == 2


def test_a_file_that_is_not_data_is_refused_in_one_sentence(
    open_page: Open, cast: Cast, ui_session: Session
) -> None:
    at = upload(
        open_page(PAGE, as_user="dieu_phoi"), name="anh.csv", data=b"\x89PNG\r\n\x1a\n\x00\x00"
    )
    assert len(at.error) == 1
    assert at.error[0].value.startswith("Không nhập được tệp này — không có gì được ghi. Lý do: ")
    assert reports(ui_session) == []


def test_in_english_the_errors_are_english(open_page: Open, cast: Cast) -> None:
    at = upload(open_page(PAGE, as_user="dieu_phoi", lang="en"))
    at = ok(at.button(key="interchange_dry_run_button").click().run())
    errors = at.dataframe[1].value
    assert list(errors.columns) == ["Row/record", "Field", "Reason", "Value"]
    assert errors.values.tolist() == [
        [
            4,
            "status",
            "Invalid Open311 status (open or closed only) — map this value to open/closed"
            " in the statuses: section of the mapping file (--mapping)",
            "pending",
        ]
    ]


# ---------------------------------------------------------------------- export


def export_texts(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown] + [i.value for i in at.info]


def test_export_counts_the_filtered_reports_and_offers_each_format(
    open_page: Open, cast: Cast, ui_session: Session, now: Any
) -> None:
    report_in(ui_session, cast, Status.PUBLISHED, now)
    report_in(ui_session, cast, Status.WAITING, now)
    report_in(ui_session, cast, Status.RECEIVED, now, kind="procedure", category_code="tthc_khac")
    ui_session.commit()
    at = ok(open_page(PAGE, as_user="dieu_phoi"))
    assert "3 phản ánh khớp bộ lọc." in export_texts(at)
    assert [b.label for b in at.get("download_button")] == [
        "Tải Open311 JSON",
        "Tải Open311 XML",
        "Tải CSV",
        "Tải Excel (.xlsx)",
    ]
    at = ok(at.selectbox(key="interchange_x_kind").set_value("onsite").run())
    assert "2 phản ánh khớp bộ lọc." in export_texts(at)
    at = ok(at.selectbox(key="interchange_x_bucket").set_value("processed").run())
    assert "1 phản ánh khớp bộ lọc." in export_texts(at)
    at = ok(at.selectbox(key="interchange_x_bucket").set_value("refused").run())
    assert "Không có phản ánh nào khớp bộ lọc." in export_texts(at)
    assert not at.get("download_button")


def test_export_refuses_a_reversed_period(open_page: Open, cast: Cast) -> None:
    from datetime import date

    at = ok(open_page(PAGE, as_user="dieu_phoi"))
    at.date_input(key="interchange_x_from").set_value(date(2024, 8, 9))
    at = ok(at.date_input(key="interchange_x_to").set_value(date(2024, 8, 1)).run())
    assert "Ngày bắt đầu phải trước hoặc bằng ngày kết thúc." in [e.value for e in at.error]


def test_a_mapping_file_maps_a_foreign_status_word(
    open_page: Open, cast: Cast, ui_session: Session
) -> None:
    """Another city's server says "pending": with the mapping's statuses: section it is an
    open report, and the dry run is clean."""
    at = upload(open_page(PAGE, as_user="dieu_phoi"))
    at.file_uploader(key="interchange_mapping_upload").set_value(
        ("mapping.yaml", b"services: {}\nstatuses:\n  pending: open\n", "application/yaml")
    )
    at = ok(at.run())
    at = ok(at.button(key="interchange_dry_run_button").click().run())
    assert metrics(at)["Bản ghi lỗi"] == "0"
    assert metrics(at)["Sẽ nhập được"] == "3"
    assert reports(ui_session) == []  # a dry run writes nothing
