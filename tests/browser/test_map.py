"""The map page ("Bản đồ") in a real browser, on the session's demo city (reports up to
08/08/2024, so the period is set to cover them): deck.gl draws the districts on its
canvas, with the legend, the Vietnamese labels and the hotspot table; choosing a
district opens the side panel with its reports, and from there the filtered case
list; a real mouse click on a district of the canvas opens the same side panel.
Screenshots: `tests/browser/screenshots/map_*.png`.
"""

from __future__ import annotations

import io
import re
import time
from collections import Counter
from datetime import UTC, datetime

import pytest
from PIL import Image
from playwright.sync_api import Locator, Page, expect

from ihanoi_core.db import get_engine, session_scope
from ihanoi_core.models import ReportCreate
from ihanoi_core.services import create_report
from ihanoi_core.vocab import Kind
from tests.browser.conftest import login, no_exception, open_nav, settle, shot, vi, wait_for_app

pytestmark = pytest.mark.browser

ACCOUNT = "phantich1"  # the tour logs in with it too; nobody logs it out
PERIOD = ("01/01/2024", "08/08/2024")  # the demo city's whole life


@pytest.fixture(scope="module")
def hotspot(console_env: dict[str, str]) -> str:
    """Three on-site reports at one door, written three ways (the random demo city
    repeats no place): the hotspot the page must rank first."""
    engine = get_engine(console_env["DATABASE_URL"])
    written = ("Số 5, phố Hàng Đồng", "số 5 phố hàng đồng", "Số 5 Phố Hàng Đồng")
    with session_scope(engine) as session:
        for k, address in enumerate(written):
            when = datetime(2024, 8, 5 + k, 2, 0, tzinfo=UTC)
            create_report(
                session,
                data=ReportCreate(
                    kind=Kind.ONSITE.value,
                    category_code="rac_thai",
                    title="Rác đổ trước cửa nhà số 5",
                    description="Rác thải sinh hoạt đổ bừa bãi trước cửa nhiều ngày.",
                    address=address,
                    lat=21.02850 + k * 0.00003,
                    lon=105.85220,
                    submitted_at=when,
                ),
                now=when,
            )
    return written[2]


def main(page: Page) -> Locator:
    return page.locator('[data-testid="stMain"]')


def set_date(page: Page, label: str, value: str) -> None:
    """Type a dd/mm/yyyy date into a date field: its day, month and year are segments
    (spin buttons) that move on by themselves as the digits are typed."""
    settle(page)
    field = main(page).locator('[data-testid="stDateInput"]').filter(has_text=label)
    field.locator('[data-type="day"]').click()
    page.keyboard.type(value.replace("/", ""))
    page.keyboard.press("Escape")  # the calendar may have opened: close it
    main(page).get_by_role("heading", name=vi("page.map"), exact=True).click()  # blur: send
    day, month, year = value.split("/")
    for part, text in (("day", day), ("month", month), ("year", year)):
        expect(field.locator(f'[data-type="{part}"]')).to_have_text(text)
    wait_for_app(page)


def choose(page: Page, label: str, option: str | re.Pattern[str], type_: str = "") -> None:
    settle(page)
    box = main(page).get_by_role("combobox", name=label, exact=True)
    box.click()
    if type_:
        box.fill(type_)
    page.get_by_role("option", name=option).first.click()
    wait_for_app(page)


def open_map(page: Page, console: str) -> None:
    login(page, console, ACCOUNT)
    open_nav(page, vi("page.map"))
    expect(main(page).get_by_role("heading", name=vi("page.map"), exact=True)).to_be_visible()
    set_date(page, vi("map.period_from"), PERIOD[0])
    set_date(page, vi("map.period_to"), PERIOD[1])
    settle(page)
    no_exception(page)


def deck_canvas(page: Page) -> Locator:
    return main(page).locator('[data-testid="stDeckGlJsonChart"] canvas').first


def map_colours(page: Page) -> Counter[tuple[int, int, int]]:
    """How many pixels of each colour the map shows (a screenshot of its canvas:
    WebGL's own buffer reads back empty), to 16 levels per channel."""
    png = deck_canvas(page).screenshot()
    with Image.open(io.BytesIO(png)) as image:
        rgb = image.convert("RGB")
        data = rgb.tobytes()
    return Counter(
        (data[i] // 16 * 16, data[i + 1] // 16 * 16, data[i + 2] // 16 * 16)
        for i in range(0, len(data), 3)
    )


def coloured_share(colours: Counter[tuple[int, int, int]]) -> float:
    """The share of the map in colour (the palette), not grey: a chart that drew
    nothing is one grey; the backdrop, outlines and the empty map are greys too."""
    total = sum(colours.values())
    coloured = sum(n for (r, g, b), n in colours.items() if max(r, g, b) - min(r, g, b) >= 48)
    return coloured / total if total else 0.0


def drawn(colours: Counter[tuple[int, int, int]], share: float = 0.15) -> bool:
    return coloured_share(colours) >= share


def wait_for_drawing(page: Page, share: float = 0.15) -> Counter[tuple[int, int, int]]:
    """The map's colours once at least `share` of it is in colour (or after 20 s)."""
    wait_for_app(page)
    expect(deck_canvas(page)).to_be_visible()
    deadline = time.monotonic() + 20
    while True:
        colours = map_colours(page)
        if drawn(colours, share) or time.monotonic() > deadline:
            return colours
        page.wait_for_timeout(250)


def test_the_city_map_draws_with_legend_and_hotspots(
    page: Page, console: str, hotspot: str
) -> None:
    open_map(page, console)
    m = main(page)
    colours = wait_for_drawing(page)
    assert drawn(colours), colours.most_common(8)
    legend = vi("map.legend").format(measure=vi("map.measures.reports"))
    expect(m.get_by_text(legend, exact=True)).to_be_visible()
    expect(m.get_by_text(vi("map.layout_district"), exact=True)).to_be_visible()
    expect(m.get_by_text(vi("map.basemap_note"), exact=True)).to_be_visible()
    expect(m.get_by_text(vi("map.panel_hint"), exact=True)).to_be_visible()
    expect(m.get_by_role("heading", name=vi("map.hotspots.title"), exact=True)).to_be_visible()
    summary = re.compile(r"^[\d.]+ phản ánh; [\d.]+ có địa bàn trên bản đồ\.$")
    expect(m.get_by_text(summary)).to_be_visible()
    shot(page, "map_city_districts")
    expect(m.get_by_text(vi("map.hotspots.none"), exact=True)).to_have_count(0)
    # the busiest areas and the hotspots; the picker lists ranked places
    tables = m.locator('[data-testid="stDataFrame"]')
    expect(tables).to_have_count(2)
    first = re.compile(rf"^1\. {re.escape(hotspot)} \({vi('map.hotspots.cell')}, 3\)$")
    choose(page, vi("map.hotspots.pick"), first, type_="1.")
    expect(tables).to_have_count(3)  # and the chosen hotspot's reports
    no_exception(page)
    shot(page, "map_hotspot_reports")

    m.get_by_text(vi("map.views.density"), exact=True).click()
    # 1 km cells on the whole city: small squares over uncoloured district outlines
    density = wait_for_drawing(page, share=0.005)
    assert drawn(density, 0.005) and not drawn(density), density.most_common(5)
    expect(m.get_by_text(vi("map.legend_cells"), exact=True)).to_be_visible()
    no_exception(page)
    shot(page, "map_city_density")


def test_choosing_a_district_opens_its_reports(page: Page, console: str) -> None:
    open_map(page, console)
    m = main(page)
    assert drawn(wait_for_drawing(page))
    choose(page, vi("map.area"), "Hoàn Kiếm", type_="Hoàn")
    panel = re.compile(r"^Hoàn Kiếm: ([\d.]+) phản ánh$")
    heading = m.get_by_role("heading", name=panel)
    expect(heading).to_be_visible()
    found = panel.match(heading.inner_text().strip())
    assert found is not None
    total = found.group(1)
    assert drawn(wait_for_drawing(page))
    no_exception(page)
    shot(page, "map_district_panel")
    m.get_by_role("button", name=vi("map.open_list"), exact=True).click()
    expect(m.get_by_role("heading", name=vi("page.cases"), exact=True)).to_be_visible()
    # the list shows the same reports the map counted for the district
    count = vi("cases.count").format(total=total, page=1, pages=1)
    expect(m.get_by_text(count, exact=True)).to_be_visible()
    wait_for_app(page)
    no_exception(page)
    shot(page, "map_district_opened_in_cases")


def test_a_click_on_a_district_opens_its_reports_beside_the_map(page: Page, console: str) -> None:
    """deck.gl picks the district under the pointer and Streamlit reruns with it: the
    side panel names that district and how many reports it holds."""
    open_map(page, console)
    wait_for_drawing(page)
    panel = main(page).get_by_role("heading", name=re.compile(r"^.+: \d+ phản ánh$"))
    expect(panel).to_have_count(0)
    box = deck_canvas(page).bounding_box()
    assert box is not None
    # a point well inside the drawn city (the whole-city view is centred on it)
    x, y = box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.45
    page.mouse.move(x, y)
    page.wait_for_timeout(300)  # deck.gl picks on hover first, like a person's pointer
    page.mouse.down()
    page.mouse.up()
    expect(panel).to_have_count(1, timeout=15_000)
    wait_for_app(page)
    no_exception(page)
    shot(page, "map_clicked_district")
