"""The reference-data page in a real browser: the administrator opens "Danh mục", sees a
bad deadline rule refused with its line, saves a good one through review and
confirmation, and finds the change in the history tab."""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import (
    login,
    no_exception,
    open_nav,
    query,
    shot,
    vi,
    wait_for_app,
)

pytestmark = pytest.mark.browser

# A rule no other browser test meets: complex procedure reports on civil status.
GOOD_RULE = "  - {kind: procedure, category: tthc_ho_tich, priority: complex, hours: 120}\n"
BAD_RULE = "  - {kind: procedure, category: tthc_ho_tich, priority: hight, hours: 120}\n"
REASON = "Thử nghiệm trên trình duyệt: quy định mới cho hộ tịch"


def main(page: Page) -> Locator:
    return page.locator('[data-testid="stMain"]')


def visible_tab(page: Page) -> Locator:
    return main(page).get_by_role("tabpanel").locator("visible=true")


def open_tab(page: Page, key: str) -> Locator:
    main(page).get_by_role("tab", name=vi(f"reference.tab.{key}")).click()
    wait_for_app(page)
    return visible_tab(page)


def review(page: Page, tab: Locator, text: str) -> None:
    area = tab.get_by_role("textbox", name=vi("reference.field.content"), exact=True)
    area.fill(text)
    area.press("Tab")  # a text area sends its value when it loses focus
    wait_for_app(page)
    reason = tab.get_by_role("textbox", name=vi("reference.field.reason"), exact=True)
    reason.fill(REASON)
    reason.press("Tab")
    wait_for_app(page)
    tab.get_by_role("button", name=vi("reference.review"), exact=True).click()


def test_the_admin_saves_a_deadline_rule_and_finds_it_in_the_history(
    console: str, console_env: dict[str, str], page: Page
) -> None:
    login(page, console, "quantri")
    open_nav(page, vi("page.reference"))
    expect(main(page).get_by_role("heading", name=vi("page.reference"))).to_be_visible()
    wait_for_app(page)
    no_exception(page)
    shot(page, "admin__reference_units")

    tab = open_tab(page, "deadlines")
    area = tab.get_by_role("textbox", name=vi("reference.field.content"), exact=True)
    expect(area).to_be_visible()
    file_text = area.input_value()
    assert file_text.startswith("# Deadline rules for iHanoi reports.")
    before = query(console_env, "SELECT count(*) FROM reference_document")

    review(page, tab, file_text + BAD_RULE)
    line = len(file_text.splitlines()) + 1
    error = tab.locator('[data-testid="stAlertContentError"]')
    expect(error).to_contain_text(f"Dòng {line} — rules[")
    expect(error).to_contain_text("unknown priority 'hight'")
    assert (
        tab.get_by_role("textbox", name=vi("reference.field.content"), exact=True).input_value()
        == file_text + BAD_RULE
    )
    shot(page, "admin__reference_deadlines_refused")
    assert query(console_env, "SELECT count(*) FROM reference_document") == before

    review(page, tab, file_text + GOOD_RULE)
    expect(tab.get_by_text(vi("reference.confirm.title"), exact=True)).to_be_visible()
    expect(tab.locator('[data-testid="stCode"]')).to_contain_text(GOOD_RULE.strip())
    shot(page, "admin__reference_deadlines_review")
    tab.get_by_role("button", name=vi("common.confirm"), exact=True).click()
    done = vi("reference.done.deadlines").format(version=1)
    expect(main(page).get_by_text(done)).to_be_visible()
    wait_for_app(page)
    no_exception(page)
    # Still on the rules tab, which now shows the stored version.
    selected = main(page).get_by_role("tab", name=vi("reference.tab.deadlines"))
    expect(selected).to_have_attribute("aria-selected", "true")
    expect(visible_tab(page).get_by_text("Phiên bản 1, quantri lưu lúc")).to_be_visible()
    shot(page, "admin__reference_deadlines_saved")
    assert query(console_env, "SELECT version, content FROM reference_document") == [
        (1, file_text + GOOD_RULE)
    ]
    (event,) = query(
        console_env,
        "SELECT e.entity, e.action, e.reason, u.username FROM admin_event e"
        " JOIN app_user u ON u.id = e.actor_id WHERE e.entity = 'reference_document'",
    )
    assert event == ("reference_document", "update", REASON, "quantri")

    history = open_tab(page, "history")
    expect(history.locator('[data-testid="stDataFrame"]')).to_be_visible()
    wait_for_app(page)
    no_exception(page)
    shot(page, "admin__reference_history")


def test_the_admin_edits_a_unit_chosen_in_the_table(
    console: str, console_env: dict[str, str], page: Page
) -> None:
    login(page, console, "quantri")
    open_nav(page, vi("page.reference"))
    tab = open_tab(page, "units")
    search = tab.get_by_role("textbox", name=vi("reference.filter.search"), exact=True)
    search.fill("SKHDT")
    search.press("Enter")
    expect(tab.get_by_text(vi("reference.count").format(n=1))).to_be_visible()
    wait_for_app(page)
    table = tab.locator('[data-testid="stDataFrame"]')
    box = table.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 18, box["y"] + 52)  # the first row's selection box
    form = tab.locator('[data-testid="stForm"]').first
    name_en = form.get_by_role("textbox", name=vi("reference.field.name_en"), exact=True)
    expect(name_en).to_be_visible()
    old = query(console_env, "SELECT name_en FROM unit WHERE code = 'SKHDT'")[0][0]
    name_en.fill("Hanoi Department of Finance")
    form.get_by_role("textbox", name=vi("reference.field.reason"), exact=True).fill(REASON)
    form.get_by_role("button", name=vi("reference.review"), exact=True).click()
    expect(tab.get_by_text(vi("reference.confirm.title"), exact=True)).to_be_visible()
    wait_for_app(page)
    shot(page, "admin__reference_unit_review")
    tab.get_by_role("button", name=vi("common.confirm"), exact=True).click()
    expect(main(page).get_by_text(vi("reference.done.unit").format(code="SKHDT"))).to_be_visible()
    wait_for_app(page)
    no_exception(page)
    assert query(console_env, "SELECT name_en FROM unit WHERE code = 'SKHDT'") == [
        ("Hanoi Department of Finance",)
    ]
    (event,) = query(
        console_env,
        "SELECT before, after FROM admin_event WHERE entity = 'unit' AND action = 'update'"
        " AND entity_key LIKE '%SKHDT%'",
    )
    assert f'"name_en": "{old}"' in event[0]
    assert '"name_en": "Hanoi Department of Finance"' in event[1]
