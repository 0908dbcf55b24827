"""Browser tests: the real console (`streamlit run Home.py`) in a headless Chromium.

One SQLite demo city and one Streamlit server for the whole session (a fresh server
only where a test is about what a fresh server serves); a new browser context, so
fresh cookies, for every test. Playwright cannot download a browser here: Debian's
Chromium is used. Screenshots go to `tests/browser/screenshots/` (git-ignored).

The accounts are the demo city's (`seed-demo` prints them), all with one known
password; each test uses its own accounts, because logging out ends every session
of an account and a wrong password counts towards its lockout.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("playwright.sync_api")

from playwright.sync_api import (
    Browser,
    BrowserContext,
    Locator,
    Page,
    Playwright,
    WebSocket,
    expect,
    sync_playwright,
)

from ihanoi_core.vocab import Role
from ihanoi_ui.i18n import catalog
from ihanoi_ui.navigation import PageSpec

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Streamlit reruns the whole script on every click: be generous, but wait for text.
TIMEOUT_MS = 30_000
SERVER_START_S = 60.0

DEMO_REPORTS = 400
DEMO_SEED = 3
DEMO_AS_OF = "2024-08-08"
PASSWORD = "Trình-duyệt-thử-2024"  # non-ASCII on purpose: the form must pass it intact

# One account per role for the tour of the pages; the other tests take their own.
TOUR_ACCOUNTS: dict[Role, str] = {
    Role.DISPATCHER: "dieuphoi1",
    Role.LEADER: "lanhdao1",
    Role.ANALYST: "phantich1",
    Role.UNIT_LEADER: "ld.sgtvt",
    Role.OFFICER: "cb1.sgtvt",
    Role.ADMIN: "quantri",
}

expect.set_options(timeout=TIMEOUT_MS)


# ------------------------------------------------------------------ the server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_tail(self, chars: int = 6000) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""


def _python() -> str:
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def run_cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [_python(), "-m", "ihanoi_core", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"`python -m ihanoi_core {' '.join(args)}` failed ({done.returncode}):\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done.stdout


def _wait_healthy(server: Server, deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"streamlit exited ({server.process.returncode}):\n{server.log_tail()}"
            )
        try:
            with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"streamlit not healthy after {deadline_s:.0f} s:\n{server.log_tail()}")


def launch_server(env: dict[str, str], log: Path) -> Server:
    """Start `streamlit run Home.py` on a free local port (not waiting for it)."""
    port = free_port()
    with log.open("wb") as fh:
        process = subprocess.Popen(
            [
                _python(),
                "-m",
                "streamlit",
                "run",
                "Home.py",
                "--server.headless",
                "true",
                "--server.address",
                "127.0.0.1",
                "--server.port",
                str(port),
                "--browser.gatherUsageStats",
                "false",
                "--server.fileWatcherType",
                "none",
                "--server.runOnSave",
                "false",
                "--secrets.files",
                env["IHANOI_TEST_SECRETS"],
            ],
            cwd=ROOT,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    return Server(f"http://127.0.0.1:{port}", process, log)


def start_servers(env: dict[str, str], logs: list[Path]) -> list[Server]:
    """Start several servers at once and wait until each answers `/_stcore/health`."""
    servers = [launch_server(env, log) for log in logs]
    try:
        for server in servers:
            _wait_healthy(server, SERVER_START_S)
    except BaseException:
        stop_servers(servers)
        raise
    return servers


def start_server(env: dict[str, str], log: Path) -> Server:
    return start_servers(env, [log])[0]


def stop_servers(servers: list[Server]) -> None:
    """Terminate, wait, kill if need be (all at once: shutting down takes a moment)."""
    running = [s for s in servers if s.process.poll() is None]
    for server in running:
        server.process.terminate()
    deadline = time.monotonic() + 10
    for server in running:
        try:
            server.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=10)


def stop_server(server: Server) -> None:
    stop_servers([server])


@pytest.fixture(scope="session")
def console_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A demo city in a throwaway SQLite file and the environment the console runs in."""
    if not (ROOT / "Home.py").exists():
        pytest.fail("Home.py does not exist (yet): nothing to start")
    work = tmp_path_factory.mktemp("browser")
    cookie_key = secrets.token_urlsafe(48)  # 48 random bytes, 64 characters
    secrets_file = work / "secrets.toml"
    secrets_file.write_text(f'[auth]\ncookie_key = "{cookie_key}"\n', encoding="utf-8")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{work / 'ihanoi.db'}",
        "IHANOI_COOKIE_KEY": cookie_key,
        "IHANOI_DEMO_PASSWORD": PASSWORD,
        "IHANOI_TEST_SECRETS": str(secrets_file),
        "PYTHONUNBUFFERED": "1",
        "HOME": str(work),  # no ~/.streamlit of whoever runs the tests
    }
    env.pop("STREAMLIT_SERVER_PORT", None)
    run_cli(env, "init-db")
    run_cli(
        env,
        "seed-demo",
        "--reports",
        str(DEMO_REPORTS),
        "--seed",
        str(DEMO_SEED),
        "--as-of",
        DEMO_AS_OF,
    )
    return env


@pytest.fixture(scope="session")
def console(console_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of the console served for the whole session."""
    server = start_server(console_env, tmp_path_factory.mktemp("server") / "streamlit.log")
    yield server.url
    stop_server(server)
    print(f"\n[browser tests] streamlit log tail:\n{server.log_tail(2000)}")


@pytest.fixture(scope="module")
def fresh_consoles(
    request: pytest.FixtureRequest,
    console_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, str]]:
    """Servers no browser has talked to yet (same database), one per name in the
    module's `FRESH_SERVERS`, started together; each test takes its own by name."""
    names: tuple[str, ...] = request.module.FRESH_SERVERS
    work = tmp_path_factory.mktemp("fresh")
    servers = start_servers(console_env, [work / f"{name}.log" for name in names])
    yield {name: server.url for name, server in zip(names, servers, strict=True)}
    stop_servers(servers)


# ----------------------------------------------------------------- the browser


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found (apt-get install chromium)")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    b = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield b
    b.close()


# Records when Streamlit's script-run state last changed, for `settle`.
_RUN_STATE_PROBE = """
(() => {
  window.__ihanoiLastRunChange = performance.now();
  let last = null;
  const watch = () => {
    const app = document.querySelector('[data-testid="stApp"]');
    const state = app && app.getAttribute('data-test-script-state');
    if (state !== last) { last = state; window.__ihanoiLastRunChange = performance.now(); }
  };
  new MutationObserver(watch).observe(document, {
    attributes: true, childList: true, subtree: true,
    attributeFilter: ['data-test-script-state'],
  });
})();
"""


def new_context(browser: Browser) -> BrowserContext:
    ctx = browser.new_context(
        viewport={"width": 1440, "height": 900}, locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh"
    )
    ctx.set_default_timeout(TIMEOUT_MS)
    ctx.add_init_script(_RUN_STATE_PROBE)
    return ctx


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = new_context(browser)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


# ----------------------------------------------------------------- helpers


def vi(key: str) -> str:
    return catalog("vi").get(key, key)


def en(key: str) -> str:
    return catalog("en").get(key, key)


def login_labels(lang: str = "vi") -> tuple[str, str, str]:
    """The login form's username and password labels and its button."""
    strings = catalog(lang)
    return strings["auth.username"], strings["auth.password"], strings["auth.submit"]


def wait_for_app(page: Page) -> None:
    """Until Streamlit has finished its current run, is connected, and every element
    has loaded (tables, inputs and maps are lazy: a grey skeleton at first).

    Only a settle step: right after a click the run may not have started yet, so
    callers then wait for the specific text the click should produce.
    """
    page.wait_for_function(
        """() => {
            const app = document.querySelector('[data-testid="stApp"]');
            return !!app
                && app.getAttribute('data-test-script-state') === 'notRunning'
                && app.getAttribute('data-test-connection-state') === 'CONNECTED'
                && !document.querySelector(
                    '[data-testid="stSkeleton"], [data-testid="stSkeletonElement"], '
                    + '[data-testid="stAppSkeleton"]');
        }""",
        timeout=TIMEOUT_MS,
    )


QUIET_MS = 600


def settle(page: Page, quiet_ms: int = QUIET_MS) -> None:
    """`wait_for_app`, then until no script run has started for `quiet_ms`.

    Where a custom component is on the page (the login library's cookie manager, on
    anonymous runs and on the run that writes the cookie), it reports its value after
    its iframe loads and that triggers one or two more runs, a few hundred ms apart;
    a click landing as such a run starts can be dropped by Streamlit. So before a
    click that matters, wait until the app has been idle for a moment.
    """
    wait_for_app(page)
    page.wait_for_function(
        """(quiet) => {
            const app = document.querySelector('[data-testid="stApp"]');
            return !!app
                && app.getAttribute('data-test-script-state') === 'notRunning'
                && performance.now() - (window.__ihanoiLastRunChange || 0) >= quiet;
        }""",
        arg=quiet_ms,
        timeout=TIMEOUT_MS,
        polling=100,
    )


def login(page: Page, base_url: str, username: str, password: str = PASSWORD) -> None:
    """Fill the login form and wait for the sidebar navigation of the logged-in user."""
    username_label, password_label, submit = login_labels()
    page.goto(base_url + "/")
    expect(page.get_by_label(username_label, exact=True)).to_be_visible()
    settle(page)
    page.get_by_label(username_label, exact=True).fill(username)
    page.get_by_label(password_label, exact=True).fill(password)
    page.get_by_role("button", name=submit, exact=True).click()
    expect(page.locator('[data-testid="stSidebarNav"]')).to_be_visible()
    settle(page)


SESSION_COOKIE = "ihanoi_session"  # auth.DEFAULT_COOKIE_NAME (the tests set no other)


def wait_for_session_cookie(page: Page) -> None:
    """The re-login cookie is written by a component on the run after login."""
    page.wait_for_function(
        f"document.cookie.split('; ').some(c => c.startsWith('{SESSION_COOKIE}='))"
    )


def nav_links(page: Page) -> Locator:
    return page.locator('[data-testid="stSidebarNav"] [data-testid="stSidebarNavLink"]')


def nav_titles(page: Page) -> list[str]:
    """Titles of the pages in the sidebar navigation, in order (a link's text also
    holds its Material icon's ligature name, so read the title's own element)."""
    return [
        link.locator('[data-testid="stMarkdownContainer"]').inner_text().strip()
        for link in nav_links(page).all()
    ]


def nav_link(page: Page, title: str) -> Locator:
    # The icon is aria-hidden: the link's accessible name is its title.
    return page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=title, exact=True)


def open_nav(page: Page, title: str) -> None:
    nav_link(page, title).click()


def no_exception(page: Page) -> None:
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)


def shot(page: Page, name: str) -> Path:
    """A PNG of the whole page in `tests/browser/screenshots/<name>.png`.

    Streamlit scrolls its main area, not the document, so Playwright's `full_page`
    would stop at the window: the window is made as tall as the content for the shot.
    """
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    viewport = page.viewport_size or {"width": 1440, "height": 900}
    height = page.evaluate(
        """() => Math.max(...[...document.querySelectorAll(
            '[data-testid="stMain"], [data-testid="stMainBlockContainer"], '
            + '[data-testid="stSidebarContent"]')].map(e => e.scrollHeight), 0)"""
    )
    tall = min(max(viewport["height"], int(height) + 40), 8000)
    if tall > viewport["height"]:
        page.set_viewport_size({"width": viewport["width"], "height": tall})
        wait_for_app(page)
    try:
        page.screenshot(path=str(path), full_page=True)
    finally:
        if tall > viewport["height"]:
            page.set_viewport_size(viewport)
    return path


def url_path(spec: PageSpec) -> str:
    """The URL path Streamlit gives `st.Page(spec.file)`: the file name without its
    number prefix ("pages/1_tong_quan.py" → "tong_quan")."""
    from streamlit.source_util import page_icon_and_name

    _, name = page_icon_and_name(Path(spec.file))
    return name


def page_url(base_url: str, spec: PageSpec) -> str:
    return f"{base_url}/{url_path(spec)}"


REPORT_CODE = re.compile(rb"PA-\d{6}-[0-9A-Z]{5}")  # services.new_report_code


class WireTap:
    """Everything the server sent this page over Streamlit's websocket.

    A table is drawn on a canvas (its cells are not in the DOM) and a chart's data may
    never be drawn as text at all, so "no report data shown" is checked where the data
    would have to pass: no report code in any message the browser received.
    """

    def __init__(self, page: Page) -> None:
        self.frames: list[bytes] = []
        page.on("websocket", self._attach)

    def _attach(self, ws: WebSocket) -> None:
        ws.on("framereceived", self._record)

    def _record(self, payload: str | bytes) -> None:
        self.frames.append(payload.encode() if isinstance(payload, str) else payload)

    def wait_for_code(self, page: Page, code: str, timeout_ms: int = TIMEOUT_MS) -> None:
        """Until a message carrying `code` has arrived (polling lets Playwright deliver
        the websocket events it holds)."""
        deadline = time.monotonic() + timeout_ms / 1000
        while code not in self.report_codes():
            if time.monotonic() > deadline:
                raise AssertionError(f"{code} never reached the browser")
            page.wait_for_timeout(100)

    def report_codes(self) -> set[str]:
        found: set[str] = set()
        for frame in self.frames:
            found.update(m.decode() for m in REPORT_CODE.findall(frame))
        return found


def sqlite_path(env: dict[str, str]) -> str:
    return env["DATABASE_URL"].removeprefix("sqlite:///")


def query(env: dict[str, str], sql: str, *params: object) -> list[tuple[Any, ...]]:
    """Read the console's database directly (only to choose test data and to check
    what the clicks wrote)."""
    with sqlite3.connect(sqlite_path(env)) as conn:
        return list(conn.execute(sql, params))
