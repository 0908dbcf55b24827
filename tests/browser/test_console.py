"""The console in a real browser: login per role, navigation, language, logout and
its cookie, one case from receipt to publication by clicking, and every page's URL
opened logged out on a fresh server.

Every wait is for a specific text or element (Streamlit reruns the script on each
click); screenshots of each page per role land in `tests/browser/screenshots/`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from ihanoi_core.vocab import Role
from ihanoi_ui.navigation import PAGES, PageSpec, pages_for
from tests.browser.conftest import (
    PASSWORD,
    SESSION_COOKIE,
    TOUR_ACCOUNTS,
    WireTap,
    en,
    login,
    login_labels,
    nav_link,
    nav_links,
    nav_titles,
    new_context,
    no_exception,
    open_nav,
    page_url,
    query,
    run_cli,
    shot,
    url_path,
    vi,
    wait_for_app,
    wait_for_session_cookie,
)

pytestmark = pytest.mark.browser

# Each page's direct URL is also opened by one logged-in role (through the re-login
# cookie): it proves the URLs the logged-out test opens are the pages' real URLs.
DIRECT_URL_BY: dict[str, Role] = {
    "overview": Role.DISPATCHER,
    "my_queue": Role.OFFICER,
    "cases": Role.LEADER,
    "units": Role.ANALYST,
    "users": Role.ADMIN,
    "map": Role.LEADER,
    "analytics": Role.ANALYST,
    "weekly": Role.DISPATCHER,
    "interchange": Role.DISPATCHER,
    "reference": Role.ADMIN,
}

# Widgets that carry report data; none may appear for someone logged out.
DATA_ELEMENTS = (
    '[data-testid="stDataFrame"], [data-testid="stTable"], [data-testid="stMetric"], '
    '[data-testid="stVegaLiteChart"], [data-testid="stDeckGlJsonChart"], '
    '[data-testid="stPlotlyChart"], [data-testid="stArrowVegaLiteChart"]'
)


# ---------------------------------------------------------------- helpers


def main(page: Page) -> Locator:
    return page.locator('[data-testid="stMain"]')


def sidebar(page: Page) -> Locator:
    return page.locator('[data-testid="stSidebar"]')


def heading(page: Page, title: str) -> Locator:
    return main(page).get_by_role("heading", level=1, name=title, exact=True)


def template_regex(template: str, **parts: str) -> re.Pattern[str]:
    """A regex matching an i18n template: `{name}` becomes the group `(parts[name])`,
    or `(.+?)`; plain groups, because Playwright runs the pattern in JavaScript."""
    pieces = re.split(r"\{(\w+)\}", template)
    out = [
        re.escape(piece) if i % 2 == 0 else f"({parts.get(piece, '.+?')})"
        for i, piece in enumerate(pieces)
    ]
    return re.compile("^" + "".join(out) + "$")


def template_value(template: str, text: str, name: str) -> str:
    """The text standing for `{name}` in `text`, an instance of `template`."""
    names = re.findall(r"\{(\w+)\}", template)
    match = template_regex(template).fullmatch(text.strip())
    assert match is not None, (template, text)
    return match.group(names.index(name) + 1)


def expect_page(page: Page, title: str) -> None:
    """The page titled `title` is shown, fully loaded, without an exception box."""
    expect(heading(page, title)).to_be_visible()
    wait_for_app(page)
    no_exception(page)


def choose(
    page: Page,
    label: str,
    option: str | re.Pattern[str],
    *,
    type_: str | None = None,
    scope: Page | Locator | None = None,
) -> None:
    """Pick `option` in the select box labelled `label` (typing `type_` to filter a long
    list first: the option list is virtualised). Waits for the current run to end
    first: until then the box on screen may be the previous run's, with its options."""
    wait_for_app(page)
    box = (scope or page).get_by_role("combobox", name=label, exact=True)
    box.click()
    if type_:
        box.fill(type_)
    page.get_by_role("option", name=option).first.click()


def expect_login_form(page: Page) -> None:
    username, password, submit = login_labels()
    expect(page.get_by_label(username, exact=True)).to_be_visible()
    expect(page.get_by_label(password, exact=True)).to_be_visible()
    expect(page.get_by_role("button", name=submit, exact=True)).to_be_visible()


def expect_logged_out(page: Page) -> None:
    expect_login_form(page)
    wait_for_app(page)
    expect(nav_links(page)).to_have_count(0)
    expect(sidebar(page).get_by_role("button", name=vi("common.logout"))).to_have_count(0)


@pytest.fixture
def contexts(browser: Browser) -> Iterator[list[BrowserContext]]:
    """Extra browser contexts a test opens (closed at the end, even on failure)."""
    opened: list[BrowserContext] = []
    yield opened
    for ctx in opened:
        ctx.close()


def fresh_page(browser: Browser, contexts: list[BrowserContext]) -> Page:
    ctx = new_context(browser)
    contexts.append(ctx)
    return ctx.new_page()


def logged_in(
    browser: Browser, contexts: list[BrowserContext], base_url: str, username: str
) -> Page:
    page = fresh_page(browser, contexts)
    login(page, base_url, username)
    return page


# ------------------------------------------------------------ roles and pages


@pytest.mark.parametrize("role", list(TOUR_ACCOUNTS), ids=lambda r: r.value)
def test_each_role_sees_exactly_its_pages(console: str, page: Page, role: Role) -> None:
    specs = pages_for(role)
    titles = [vi(spec.title_key) for spec in specs]
    wire = WireTap(page)
    login(page, console, TOUR_ACCOUNTS[role])

    expect(nav_links(page)).to_have_count(len(specs))
    assert nav_titles(page) == titles
    expect(sidebar(page)).to_contain_text(f"— {vi(f'role.{role.value}')}")

    for spec, title in zip(specs, titles, strict=True):
        open_nav(page, title)
        expect_page(page, title)
        expect(nav_link(page, title)).to_have_attribute("aria-current", "page")
        shot(page, f"{role.value}__{spec.key}")
        if spec.key == "cases":
            # The detector the logged-out test relies on does see report data.
            expect(main(page).locator('[data-testid="stDataFrame"]')).to_be_visible()
            assert wire.report_codes(), "the case list sent no report code to the browser"

    wait_for_session_cookie(page)
    for spec in specs:
        if DIRECT_URL_BY[spec.key] is role:
            page.goto(page_url(console, spec))  # a new session: logged in from the cookie
            expect_page(page, vi(spec.title_key))
            expect(nav_link(page, vi(spec.title_key))).to_have_attribute("aria-current", "page")
            expect(nav_links(page)).to_have_count(len(specs))
            # The role's first page is its default: Streamlit shows it at "/".
            wanted = console + "/" if spec is specs[0] else page_url(console, spec)
            assert page.url == wanted, page.url


def test_pages_of_other_roles_are_not_reachable_by_url(console: str, page: Page) -> None:
    """An officer typing the administrator's or the overview's URL gets neither."""
    login(page, console, "cb2.sgtvt")
    mine = {spec.key for spec in pages_for(Role.OFFICER)}
    for spec in PAGES:
        if spec.key in mine:
            continue
        page.goto(page_url(console, spec))
        expect(nav_links(page)).to_have_count(len(mine))
        wait_for_app(page)
        expect(heading(page, vi(spec.title_key))).to_have_count(0)
        no_exception(page)


# ------------------------------------------------------------------ language


def test_language_switch_to_english_and_back(console: str, page: Page) -> None:
    role = Role.LEADER
    specs = pages_for(role)
    login(page, console, "lanhdao2")
    first = specs[0]
    expect_page(page, vi(first.title_key))

    choose(page, vi("common.language"), "English", scope=sidebar(page))
    expect_page(page, en(first.title_key))
    expect(nav_links(page)).to_have_count(len(specs))
    assert nav_titles(page) == [en(spec.title_key) for spec in specs]
    expect(sidebar(page).get_by_role("button", name=en("common.logout"))).to_be_visible()
    for spec in specs:
        open_nav(page, en(spec.title_key))
        expect_page(page, en(spec.title_key))
        shot(page, f"en__{role.value}__{spec.key}")

    choose(page, en("common.language"), vi("auth.language_name.vi"), scope=sidebar(page))
    last = specs[-1]
    expect_page(page, vi(last.title_key))
    assert nav_titles(page) == [vi(spec.title_key) for spec in specs]
    expect(sidebar(page).get_by_role("button", name=vi("common.logout"))).to_be_visible()


# --------------------------------------------------------------- login, logout


def test_wrong_password_shows_an_error(console: str, page: Page) -> None:
    username, password, submit = login_labels()
    page.goto(console + "/")
    expect_login_form(page)
    wait_for_app(page)
    shot(page, "login")
    for who in ("dieuphoi3", "khong_co_ai"):  # a known and an unknown name: same answer
        page.get_by_label(username, exact=True).fill(who)
        page.get_by_label(password, exact=True).fill(PASSWORD + "x")
        page.get_by_role("button", name=submit, exact=True).click()
        error = (
            main(page)
            .locator('[data-testid="stAlert"]')
            .filter(has_text=vi("auth.bad_credentials"))
        )
        expect(error).to_be_visible()
        expect_logged_out(page)
        page.reload()
        expect_login_form(page)
        wait_for_app(page)
    page.get_by_label(username, exact=True).fill("dieuphoi3")
    page.get_by_label(password, exact=True).fill(PASSWORD + "x")
    page.get_by_role("button", name=submit, exact=True).click()
    expect(main(page).get_by_text(vi("auth.bad_credentials"))).to_be_visible()
    shot(page, "login_wrong_password")


def test_logout_shows_the_form_and_the_old_cookie_no_longer_logs_in(
    console: str, browser: Browser, contexts: list[BrowserContext]
) -> None:
    page = logged_in(browser, contexts, console, "phantich2")
    wait_for_session_cookie(page)
    cookies = page.context.cookies()
    assert any(c["name"] == SESSION_COOKIE for c in cookies), cookies

    # Control: before logout, the cookie alone does log in (so the check below means
    # something).
    other = fresh_page(browser, contexts)
    other.context.add_cookies(cookies)  # type: ignore[arg-type]
    other.goto(console + "/")
    expect(nav_links(other)).to_have_count(len(pages_for(Role.ANALYST)))
    other.context.close()
    contexts.remove(other.context)

    sidebar(page).get_by_role("button", name=vi("common.logout")).click()
    expect_logged_out(page)
    expect(main(page).get_by_text(vi("auth.logged_out"))).to_be_visible()
    shot(page, "logged_out")
    page.reload()
    expect_logged_out(page)

    replay = fresh_page(browser, contexts)
    replay.context.add_cookies(cookies)  # type: ignore[arg-type]
    wire = WireTap(replay)
    replay.goto(console + "/")
    expect_logged_out(replay)
    expect(main(replay).get_by_text(vi("auth.session_ended.revoked"))).to_be_visible()
    for spec in pages_for(Role.ANALYST):
        replay.goto(page_url(console, spec))
        expect_logged_out(replay)
    assert not wire.report_codes()
    shot(replay, "old_cookie_after_logout")


# ---------------------------------------------------------- one case, clicked


def _status(page: Page, status: str) -> None:
    """The detail panel's status line ("**Chờ phân công** · Chờ xử lý · Bình thường")."""
    line = main(page).locator("p").filter(has_text=re.compile(rf"^{re.escape(status)} · "))
    expect(line).to_be_visible()


def _open_case(page: Page, picker_label: str, code: str) -> None:
    choose(page, picker_label, re.compile(rf"^{re.escape(code)} — "), type_=code)
    expect(
        main(page).get_by_role("heading", name=re.compile(rf"^{re.escape(code)} — "))
    ).to_be_visible()
    wait_for_app(page)


def _act(page: Page, action: str, code: str, fill: Callable[[Locator], None] | None = None) -> None:
    """Click the action's button, fill its dialog, save, and see the confirmation."""
    label = vi(f"action.{action}")
    wait_for_app(page)
    main(page).get_by_role("button", name=label, exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_text(code)).to_be_visible()
    wait_for_app(page)
    if fill is not None:
        fill(dialog)
    shot(page, f"lifecycle_dialog_{action}")
    dialog.get_by_role("button", name=vi("dialog.save"), exact=True).click()
    expect(dialog).to_be_hidden()
    expect(
        main(page).get_by_text(vi("dialog.saved").format(action=label, code=code))
    ).to_be_visible()
    wait_for_app(page)
    no_exception(page)


def test_one_case_from_receipt_to_publication(
    console: str, console_env: dict[str, str], browser: Browser, contexts: list[BrowserContext]
) -> None:
    (code,) = query(
        console_env,
        "SELECT code FROM report WHERE status = 'received' ORDER BY code LIMIT 1",
    )[0]
    (officer,) = query(console_env, "SELECT full_name FROM app_user WHERE username = 'cb1.sxd'")[0]
    unit = vi("unit_kind.department")

    # 1. The city dispatcher finds the new report and sends it to the Construction dept.
    page = logged_in(browser, contexts, console, "dieuphoi2")
    open_nav(page, vi("page.cases"))
    expect_page(page, vi("page.cases"))
    main(page).get_by_label(vi("cases.f_search"), exact=True).fill(code)
    main(page).get_by_label(vi("cases.f_search"), exact=True).press("Enter")
    one_row = vi("cases.count").format(total=1, page=1, pages=1)
    expect(main(page).get_by_text(one_row, exact=True)).to_be_visible()
    _open_case(page, vi("cases.pick"), code)
    _status(page, vi("status.received"))
    shot(page, "lifecycle_1_received")

    def to_unit(dialog: Locator) -> None:
        choose(page, vi("dialog.unit"), f"Sở Xây dựng · {unit}", type_="Sở Xây dựng", scope=dialog)

    _act(page, "dispatch", code, to_unit)
    _status(page, vi("status.waiting"))
    shot(page, "lifecycle_2_dispatched")

    # 2. The unit leader gives it to an officer.
    page = logged_in(browser, contexts, console, "ld.sxd")
    expect_page(page, vi("page.my_queue"))
    _open_case(page, vi("queue.pick"), code)
    _status(page, vi("status.waiting"))

    def to_officer(dialog: Locator) -> None:
        choose(
            page,
            vi("dialog.officer"),
            re.compile(rf"^{re.escape(officer)} — "),
            type_=officer,
            scope=dialog,
        )

    _act(page, "assign", code, to_officer)
    _status(page, vi("status.assigned"))
    shot(page, "lifecycle_3_assigned")

    # 3. The officer drafts the answer.
    page = logged_in(browser, contexts, console, "cb1.sxd")
    expect_page(page, vi("page.my_queue"))
    _open_case(page, vi("queue.pick"), code)
    _status(page, vi("status.assigned"))
    answer = "Đơn vị đã kiểm tra, làm việc với bộ phận một cửa và hướng dẫn công dân nộp hồ sơ."

    def write(dialog: Locator) -> None:
        box = dialog.get_by_label(vi("dialog.result"), exact=True)
        box.fill(answer)
        box.press("Control+Enter")  # a text area sends its value on Ctrl+Enter or blur
        wait_for_app(page)

    _act(page, "draft", code, write)
    _status(page, vi("status.drafted"))
    expect(main(page).get_by_text(answer).first).to_be_visible()
    shot(page, "lifecycle_4_drafted")

    # 4. The unit leader approves it, then publishes it.
    page = logged_in(browser, contexts, console, "ld.sxd")
    _open_case(page, vi("queue.pick"), code)
    _status(page, vi("status.drafted"))
    _act(page, "approve", code)
    _status(page, vi("status.approved"))
    shot(page, "lifecycle_5_approved")

    def make_public(dialog: Locator) -> None:
        switch = dialog.get_by_role("switch", name=vi("dialog.public"))
        # The input is visually hidden under its label: click the label's text.
        dialog.get_by_test_id("stCheckbox").get_by_text(vi("dialog.public"), exact=True).click()
        expect(switch).to_be_checked()
        wait_for_app(page)

    _act(page, "publish", code, make_public)
    _status(page, vi("status.published"))
    shot(page, "lifecycle_6_published")

    rows = query(
        console_env,
        "SELECT r.status, r.is_public, u.username FROM report r "
        "JOIN app_user u ON u.id = r.assignee_id WHERE r.code = ?",
        code,
    )
    assert rows == [("published", 1, "cb1.sxd")]
    actions = [
        a
        for (a,) in query(
            console_env,
            "SELECT e.action FROM report_event e JOIN report r ON r.id = e.report_id "
            "WHERE r.code = ? ORDER BY e.id",
            code,
        )
    ]
    assert actions[-5:] == ["dispatch", "assign", "draft", "approve", "publish"]


# ------------------------------------------------- the overview refreshes itself


def test_overview_shows_a_new_report_without_a_click(
    console: str, console_env: dict[str, str], page: Page
) -> None:
    """The overview's feed is an `st.fragment(run_every=...)`: AppTest does not fire its
    timer (stack-notes.md), so the refresh is checked here."""
    wire = WireTap(page)
    login(page, console, "dieuphoi1")
    expect_page(page, vi("page.overview"))
    template = vi("overview.feed.updated")
    caption = main(page).get_by_text(template_regex(template, n=r"\d+"))
    expect(caption).to_be_visible()
    before = int(template_value(template, caption.inner_text(), "n"))

    out = run_cli(console_env, "simulate-intake", "--per-minute", "600", "--minutes", "0.001")
    codes = re.findall(r"^(PA-\d{6}-[0-9A-Z]+)\s", out, flags=re.MULTILINE)
    assert len(codes) == 1, out

    expect(main(page).get_by_text(template_regex(template, n=str(before + 1)))).to_be_visible()
    wire.wait_for_code(page, codes[0])  # the table is a canvas: its new row, on the wire
    no_exception(page)
    shot(page, "dispatcher__overview_after_intake")


# --------------------------------------------- every page's URL, logged out


FRESH_SERVERS = ("root", *(spec.key for spec in PAGES))


@pytest.mark.parametrize("spec", [None, *PAGES], ids=lambda s: "root" if s is None else url_path(s))
def test_page_url_on_a_fresh_server_logged_out_shows_no_report_data(
    fresh_consoles: dict[str, str], page: Page, spec: PageSpec | None
) -> None:
    """Style rule: Streamlit serves a page file by its URL even before `Home.py` ran,
    so every page guards itself. The very first request of a fresh server is the page's
    own URL, from a browser without cookies."""
    fresh_console = fresh_consoles["root" if spec is None else spec.key]
    assert not page.context.cookies()
    wire = WireTap(page)
    url = fresh_console + "/" if spec is None else page_url(fresh_console, spec)
    page.goto(url)
    please_login = main(page).get_by_text(vi("common.please_login"))
    username, _, _ = login_labels()
    expect(page.get_by_label(username, exact=True).or_(please_login).first).to_be_visible()
    wait_for_app(page)
    no_exception(page)
    shot(page, f"logged_out__{'root' if spec is None else spec.key}")

    text = page.locator("body").inner_text()
    assert "PA-" not in text
    expect(page.locator(DATA_ELEMENTS)).to_have_count(0)
    if spec is not None:
        expect(heading(page, vi(spec.title_key))).to_have_count(0)
    assert not wire.report_codes(), sorted(wire.report_codes())[:5]

    if please_login.count():
        # Stopped by the page's own guard: its link leads to the login form.
        main(page).get_by_role("link", name=vi("page.login")).click()
        expect_login_form(page)
        wait_for_app(page)
        assert "PA-" not in page.locator("body").inner_text()
        assert not wire.report_codes()
