"""The weekly review in a real browser: a leader opens it, exports the PDF (a frozen copy
is kept), downloads it, and compares the copy with the figures now.

The demo city runs to Thu 8 Aug 2024; the leader picks week 31 (29/07–04/08), its last
complete week (the page opens on the last complete week before the newest event, which
other browser tests move to today); by 8 Aug some of that week's reports had moved on, so the copy's
figures differ from the figures now. The cumulative block comes first and the units'
tables show the overdue backlog (the demo city has overdue reports by then).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import login, no_exception, open_nav, query, shot, vi, wait_for_app

pytestmark = pytest.mark.browser

ACCOUNT = "lanhdao1"  # logs in only (logging out would end other tests' sessions)


def test_leader_exports_the_weekly_pdf_and_compares_the_copy(
    console: str, console_env: dict[str, str], page: Page, tmp_path: Path
) -> None:
    login(page, console, ACCOUNT)
    open_nav(page, vi("page.weekly"))
    expect(page.get_by_role("heading", name=vi("page.weekly"))).to_be_visible()
    expect(page.get_by_text(vi("weekly.section.bottlenecks"))).to_be_visible()
    picker = page.get_by_role("combobox", name=vi("weekly.pick_week"), exact=True)
    picker.click()
    picker.fill("31/2024")
    page.get_by_role("option", name="Tuần 31/2024 (29/07/2024 – 04/08/2024)").click()
    wait_for_app(page)
    expect(page.get_by_text("Tuần 29/07/2024 – 04/08/2024")).to_be_visible()
    cumulative = page.get_by_role(
        "heading", name="1. Lũy kế đến hết tuần (phản ánh gửi đến hết 04/08/2024)"
    )
    expect(cumulative).to_be_visible()
    intake = page.get_by_role("heading", name=vi("weekly.section.summary"))
    cumulative_box, intake_box = cumulative.bounding_box(), intake.bounding_box()
    assert cumulative_box and intake_box and cumulative_box["y"] < intake_box["y"]
    expect(page.get_by_text(vi("weekly.units_scope"))).to_be_visible()
    expect(page.get_by_text(vi("weekly.overdue_none"))).to_have_count(0)  # a backlog to chase
    wait_for_app(page)
    no_exception(page)
    shot(page, "weekly__leader")

    before = query(
        console_env, "SELECT count(*) FROM report_snapshot WHERE period_key = ?", "2024-W31"
    )
    page.get_by_role("button", name=vi("weekly.make_pdf")).click()
    expect(page.get_by_text("Đã lưu bản PDF lúc")).to_be_visible()
    after = query(
        console_env, "SELECT count(*) FROM report_snapshot WHERE period_key = ?", "2024-W31"
    )
    assert after[0][0] == before[0][0] + 1

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Tải bao-cao-giao-ban-2024-W31.pdf").click()
    download = download_info.value
    assert download.suggested_filename == "bao-cao-giao-ban-2024-W31.pdf"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert saved.read_bytes()[:4] == b"%PDF"
    text = subprocess.run(
        ["pdftotext", str(saved), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "BÁO CÁO GIAO BAN TUẦN 31/2024" in text
    assert "Tuần từ ngày 29/07/2024 đến ngày 04/08/2024" in text
    assert text.index("Lũy kế đến hết tuần") < text.index("Phản ánh gửi trong tuần")

    page.get_by_role("button", name=vi("weekly.compare")).click()
    expect(page.get_by_text("số liệu đã thay đổi kể từ khi lưu bản này")).to_be_visible()
    wait_for_app(page)
    no_exception(page)
    shot(page, "weekly__leader_exported")
