"""Logging in and out in Debian's Chromium: the form, who is shown, what a viewer does not get, logout.

Same browser and server fixtures as test_browser.py (skipped without /usr/bin/chromium unless
GRIDGIS_REQUIRE_BROWSER=1).
"""

from __future__ import annotations

import pytest

from .conftest import PASSWORD
from .test_browser import Watch, browser, ready, server  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser


@pytest.fixture
def anon_page(browser, server):  # noqa: F811
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                              locale="zh-CN")
    pg = ctx.new_page()
    pg.set_default_timeout(10_000)
    pg.watch = Watch(pg, server)
    pg.base = server
    yield pg
    ctx.close()


def test_a_viewer_logs_in_on_a_phone_sees_aggregates_only_and_logs_out(anon_page):
    pg, base = anon_page, anon_page.base
    pg.goto(base + "/?lang=en")
    assert pg.url.startswith(base + "/login?next=")  # sent to the form, and back afterwards
    assert pg.evaluate("document.documentElement.scrollWidth") <= 390
    pg.fill("#username", "viewer")
    pg.fill("#password", "wrong-password-9")
    pg.click("#login-submit")
    assert "wrong user name or password" in pg.locator("#login-error").inner_text()
    pg.fill("#password", PASSWORD)
    pg.click("#login-submit")
    pg.wait_for_url(base + "/?lang=en")
    ready(pg)
    assert pg.locator("#gg-user").inner_text() == "测试viewer · Viewer"
    assert not pg.locator(".leaflet-draw").is_visible()  # no zone drawing for a viewer
    assert pg.evaluate("GridGIS.map().hasLayer(GridGIS.layer('points'))") is False
    pg.locator("#gg-logout").click()
    pg.wait_for_url(base + "/login")
    assert pg.request.get(base + "/api/me").json()["me"]["kind"] == "anonymous"
    # the one console entry is the browser noting the refused login (401), nothing from our scripts
    assert [e for e in pg.watch.errors if "status of 401" not in e] == [] and pg.watch.outside == []


def test_a_secretary_gets_the_drawing_tools(anon_page):
    pg, base = anon_page, anon_page.base
    pg.goto(base + "/login")
    pg.fill("#username", "sec")
    pg.fill("#password", PASSWORD)
    pg.click("#login-submit")
    pg.wait_for_url(base + "/")
    ready(pg)
    assert pg.locator(".leaflet-draw").is_visible()
    assert pg.locator("#gg-logout").is_visible()
