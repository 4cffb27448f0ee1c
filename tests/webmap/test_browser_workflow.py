"""The request panel in Debian's Chromium: a grid worker logs in, marks a request's status from the cell's request
list, the row updates in place (overdue mark gone) and its history shows the change.

Same browser, server and page fixtures as test_browser.py (skipped without /usr/bin/chromium unless
GRIDGIS_REQUIRE_BROWSER=1).
"""

from __future__ import annotations

import pytest

from gridgis import grid

from .conftest import GRID_A, PASSWORD
from .test_browser import browser, page, server  # noqa: F401, F811 (fixtures)

pytestmark = pytest.mark.browser


def _login(pg, username: str) -> None:
    pg.goto(pg.base + "/login")
    pg.fill("#username", username)
    pg.fill("#password", PASSWORD)
    pg.click("#login-submit")
    pg.wait_for_url(pg.base + "/")


def test_grid_worker_changes_a_status_from_the_panel_and_the_history_shows_it(page, web_store):  # noqa: F811
    df = web_store.requests_frame(["id", "grid_code", "status", "lng", "lat"])
    req = df[(df["grid_code"] == GRID_A[0]) & (df["status"] == "new")].iloc[0]
    cell = format(int(grid.latlng_to_cells([req["lat"]], [req["lng"]], 10)[0]), "x")
    _login(page, "gw")  # the grid worker of GRID_A (tests/webmap/conftest.py)
    # a new URL (?lang), not only a new hash, so the page loads again and opens the cell from the hash
    page.goto(page.base + f"/?lang=zh#v=17/{req['lat']}/{req['lng']}&cell={cell}")
    item = page.locator(f'#gg-panel .gg-req[data-id="{req["id"]}"]')
    item.wait_for()
    assert "gg-overdue" in item.get_attribute("class")  # months past the 24 h deadline of 受理
    assert "超期" in item.inner_text()
    item.locator(".gg-wf-toggle").click()
    select = item.locator("select[name=status]")
    select.wait_for()
    options = select.locator("option").all_inner_texts()
    assert options == ["派单", "无效", "重复"]  # only the allowed next statuses, in Chinese
    select.select_option("assigned")
    item.locator("textarea[name=note]").fill("已派给物业维修")
    item.locator("button[type=submit]").click()
    fresh = page.locator(f'#gg-panel .gg-req[data-id="{req["id"]}"][data-status="assigned"]')
    fresh.wait_for()
    history = fresh.locator(".gg-history li")
    history.first.wait_for()
    text = history.first.inner_text()
    assert "gw" in text and "受理 → 派单" in text and "已派给物业维修" in text
    assert "gg-overdue" not in fresh.get_attribute("class")
    assert "状态已更新" in fresh.inner_text() and "13812345678" not in fresh.inner_text()  # masked like the list
    assert fresh.locator("select[name=status] option").all_inner_texts() == ["处置中", "受理", "无效", "重复"]
    stored = web_store.request_events_frame(req["id"])
    assert stored[["actor", "from_status", "to_status"]].values.tolist() == [["gw", "new", "assigned"]]
    assert page.watch.errors == [] and page.watch.outside == []
