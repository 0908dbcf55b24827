"""The analytics page in a real browser, on the session's demo city: every tab draws its
charts (Vega renders them: Vietnamese axis titles, numbers as 1.654), its tables and
its download buttons, with no exception. Screenshots:
`tests/browser/screenshots/analytics_<tab>.png`.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import login, no_exception, open_nav, shot, vi

pytestmark = pytest.mark.browser

ACCOUNT = "dieuphoi3"  # used by no other browser test (logging out ends its sessions)
TABS = (
    ("heatmap", 3),  # heatmap, categories, districts
    ("trends", 2),  # one chart per kind
    ("satisfaction", 2),  # by unit, by category
    ("bottlenecks", 1),
)


def main(page: Page) -> object:
    return page.locator('[data-testid="stMain"]')


def test_every_tab_draws_charts_tables_and_downloads(page: Page, console: str) -> None:
    login(page, console, ACCOUNT)
    open_nav(page, vi("page.analytics"))
    expect(page.get_by_role("heading", name=vi("page.analytics"))).to_be_visible()
    for tab, charts in TABS:
        page.get_by_role("tab", name=vi(f"analytics.tab.{tab}")).click()
        panel = page.locator('[data-testid="stMain"]')
        expect(panel.locator('[data-testid="stVegaLiteChart"]')).to_have_count(charts)
        # Vega has drawn the marks (an SVG or canvas inside every chart)
        expect(
            panel.locator(
                '[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg'
            ).first
        ).to_be_visible()
        expect(panel.locator('[data-testid="stDataFrame"]').first).to_be_visible()
        expect(panel.get_by_role("button", name=vi("charts.download_xlsx")).first).to_be_visible()
        no_exception(page)
        shot(page, f"analytics_{tab}")
    # The review list of the satisfaction tab names the city's failure patterns.
    page.get_by_role("tab", name=vi("analytics.tab.satisfaction")).click()
    expect(page.get_by_text(vi("analytics.satisfaction.problem.no_evidence")).first).to_be_visible()
