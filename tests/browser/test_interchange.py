"""Import/export in a real browser: upload a CSV with a bad row, see the errors, download
the error report, import the good rows only, then export CSV and read the download.

The uploaded file is another office's spreadsheet with Vietnamese headers: two good rows
(one with a <script> tag in its description, which must show as text) and one whose
Open311 status is "pending". Its ids are unique to this test, so the shared demo
database can be checked for exactly what the clicks wrote.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import login, no_exception, open_nav, query, settle, shot, vi

pytestmark = pytest.mark.browser

USER = "dieuphoi2"
SCRIPT = "<script>window.__pwned = 1</script> Rác tồn đọng ở ngõ"
CSV_TEXT = (
    "Mã phản ánh,Trạng thái Open311,Lĩnh vực,Mô tả,Thời gian gửi,Địa chỉ\r\n"
    f'BT-IMPORT-1,open,Rác thải,"{SCRIPT}",01/08/2024 09:00,Ngõ 307 Giảng Võ\r\n'
    "BT-IMPORT-2,closed,Rác thải,Đã thu gom,01/08/2024 09:10,Hàng Đồng\r\n"
    "BT-IMPORT-3,pending,Rác thải,Rác,01/08/2024 09:30,Hàng Mã\r\n"
)
REASON = (
    "Trạng thái Open311 không hợp lệ (chỉ open hoặc closed) — ánh xạ giá trị này sang"
    " open/closed trong mục statuses: của tệp ánh xạ (--mapping)"
)


def button(page: Page, key: str) -> None:
    settle(page)
    page.get_by_role("button", name=vi(key), exact=True).click()


def test_import_with_a_bad_row_then_export_csv(
    console: str, console_env: dict[str, str], page: Page, tmp_path: Path
) -> None:
    source = tmp_path / "phan-anh-ba-dinh.csv"
    source.write_bytes(CSV_TEXT.encode("utf-8"))
    login(page, console, USER)
    open_nav(page, vi("page.interchange"))
    main = page.locator('[data-testid="stMain"]')
    expect(main.get_by_role("heading", level=1, name=vi("page.interchange"))).to_be_visible()
    expect(main.get_by_text(vi("interchange.upload_hint"))).to_be_visible()
    no_exception(page)

    # upload: preview of the rows, the script tag as text
    settle(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(source))
    expect(main.get_by_text("Định dạng: CSV · Bảng mã: utf-8 · Dấu phân cách: ,")).to_be_visible()
    expect(main.get_by_text("Xem trước 3 dòng đầu tiên")).to_be_visible()
    assert page.evaluate("() => window.__pwned === undefined")
    shot(page, "interchange_preview")

    # dry run: counts and the bad row, in Vietnamese
    button(page, "interchange.dry_run")
    expect(main.get_by_text(vi("interchange.dry_title"))).to_be_visible()
    metrics = main.locator('[data-testid="stMetric"]')
    expect(metrics).to_have_count(4)
    expect(metrics.nth(1)).to_contain_text("2")
    expect(metrics.nth(3)).to_contain_text("1")
    expect(main.get_by_text(vi("interchange.import_needs_accept"))).to_be_visible()
    expect(page.get_by_role("button", name=vi("interchange.import"), exact=True)).to_be_disabled()
    no_exception(page)
    shot(page, "interchange_dry_run")

    # the error report, as a file
    settle(page)
    with page.expect_download() as download_info:
        page.get_by_role("button", name=vi("interchange.error_report")).click()
    report = download_info.value
    assert report.suggested_filename == "loi-nhap-phan-anh-ba-dinh.csv"
    rows = list(csv.reader(io.StringIO(Path(report.path()).read_bytes().decode("utf-8-sig"))))
    assert rows == [
        ["Dòng/bản ghi", "Trường", "Lý do", "Giá trị"],
        ["4", "Trạng thái Open311", REASON, "pending"],
    ]
    assert query(
        console_env, "SELECT count(*) FROM report WHERE source_ref LIKE 'BT-IMPORT-%'"
    ) == [(0,)]

    # accept the good rows only, import
    settle(page)
    page.get_by_text(vi("interchange.accept_partial")).click()
    expect(page.get_by_role("button", name=vi("interchange.import"), exact=True)).to_be_enabled()
    button(page, "interchange.import")
    success = "Đã nhập 2 phản ánh từ tệp phan-anh-ba-dinh.csv; 1 bản ghi lỗi không được nhập."
    expect(main.get_by_text(success)).to_be_visible()
    expect(main.get_by_text(vi("interchange.dry_title"))).to_have_count(0)  # not stale
    no_exception(page)
    shot(page, "interchange_imported")
    imported = query(
        console_env,
        "SELECT r.source_ref, r.status, e.action, e.source_file FROM report r "
        "JOIN report_event e ON e.report_id = r.id AND e.seq = 1 "
        "WHERE r.source_ref LIKE 'BT-IMPORT-%' ORDER BY r.source_ref",
    )
    assert imported == [
        ("BT-IMPORT-1", "received", "import", "phan-anh-ba-dinh.csv"),
        ("BT-IMPORT-2", "published", "import", "phan-anh-ba-dinh.csv"),
    ]
    assert query(
        console_env, "SELECT description FROM report WHERE source_ref = 'BT-IMPORT-1'"
    ) == [(SCRIPT,)]

    # export: every report, as CSV
    settle(page)
    page.get_by_role("tab", name=vi("interchange.tab_export")).click()
    (total,) = query(console_env, "SELECT count(*) FROM report")[0]
    count_text = vi("interchange.export_count").format(n=f"{total:,}".replace(",", "."))
    expect(main.get_by_text(count_text)).to_be_visible()
    page.mouse.move(5, 800)  # no tooltip left over from the last hover in the shot
    shot(page, "interchange_export")
    settle(page)
    csv_label = vi("interchange.download").format(format=vi("interchange.format.csv"))
    with page.expect_download() as download_info:
        page.get_by_role("button", name=csv_label).click()
    exported = Path(download_info.value.path()).read_bytes()
    assert exported.startswith(b"\xef\xbb\xbf")
    records = list(csv.DictReader(io.StringIO(exported.decode("utf-8-sig"))))
    assert len(records) == total
    mine = {
        r["service_request_id"]: r for r in records if r["service_request_id"].startswith("BT-")
    }
    assert sorted(mine) == ["BT-IMPORT-1", "BT-IMPORT-2"]
    assert mine["BT-IMPORT-1"]["description"] == SCRIPT
    no_exception(page)
