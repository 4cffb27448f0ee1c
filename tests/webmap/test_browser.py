"""The real map page in Debian's Chromium (Playwright): loads offline, draws layers, panels, zones, escaping.

Skipped when /usr/bin/chromium is missing, unless GRIDGIS_REQUIRE_BROWSER=1 (CI), which makes that a
failure. Each failing test leaves a screenshot in test-artifacts/.
"""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path

import numpy as np
import pytest
import shapely

from gridgis import grid
from webmap import create_app

from .conftest import HOT, PASSWORD, XSS, XSS_AT

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
REQUIRE = os.environ.get("GRIDGIS_REQUIRE_BROWSER") == "1"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if REQUIRE:
            pytest.fail(f"GRIDGIS_REQUIRE_BROWSER=1 but {CHROMIUM} is missing: apt-get install chromium")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium); set GRIDGIS_REQUIRE_BROWSER=1 to fail")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if REQUIRE:
            raise
        pytest.skip("playwright is not installed (pip install 'gridgis[test]')")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM,
                              args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield b
        b.close()


@pytest.fixture
def server(web_settings, web_store):
    """The app on a free loopback port, served by werkzeug in a thread."""
    from werkzeug.serving import make_server

    srv = make_server("127.0.0.1", 0, create_app(web_settings, web_store), threaded=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    t.join(5)


class Watch:
    """Console errors, page errors, dialogs and every request the page makes."""

    def __init__(self, page, base: str) -> None:
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.outside: list[str] = []
        self.requests: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))

        def dialog(d):
            if d.type == "alert":
                self.dialogs.append(d.message)
            d.accept()

        page.on("dialog", dialog)

        def route(r):
            url = r.request.url
            self.requests.append(url)
            if url.startswith(base) or url.startswith("data:"):
                r.continue_()
            else:  # never let the page reach the network; the test then fails on `outside`
                self.outside.append(url)
                r.abort()

        page.route("**/*", route)


def login(pg, base: str, username: str = "sec") -> None:
    """Log in through the form, as a person would (the session cookie then stays with the context)."""
    pg.goto(base + "/login?next=/overview")  # lands off the map: the test's own goto then loads it afresh
    pg.fill("#username", username)
    pg.fill("#password", PASSWORD)
    pg.click("#login-submit")
    pg.wait_for_url(base + "/overview")


def csrf(pg) -> dict:
    """The CSRF header of the page's session, for state-changing calls made outside the page's own script."""
    return {"X-CSRFToken": pg.request.get(pg.base + "/api/me").json()["me"]["csrf_token"]}


@pytest.fixture
def page(browser, server, request):
    """A page logged in as the secretary (who may use every part of the map)."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    pg = ctx.new_page()
    pg.set_default_timeout(10_000)
    pg.watch = Watch(pg, server)
    pg.base = server
    login(pg, server)
    yield pg
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    ctx.close()


def ready(pg, min_hexes: int = 1) -> None:
    pg.wait_for_function(
        "(n) => { const s = document.getElementById('gg-status');"
        " return s && s.dataset.ready === '1' && s.dataset.loading === '0' && Number(s.dataset.hexes) >= n; }",
        arg=min_hexes)


PIXEL = "([lat, lng]) => { const p = GridGIS.map().latLngToContainerPoint([lat, lng]); return [p.x, p.y]; }"


def view(lat: float, lng: float, zoom: int, extra: str = "") -> str:
    return f"/#v={zoom}/{lat}/{lng}{extra}"


def test_page_loads_offline_without_errors_and_draws_the_hex_layer(page):
    page.goto(page.base + "/")
    ready(page)
    counts = page.evaluate("GridGIS.counts()")
    assert counts["hexes"] > 10 and counts["grids"] == 2
    # hexagons are real SVG paths on the map
    assert page.locator(".leaflet-gg-demand-pane path.leaflet-interactive").count() == counts["hexes"]
    assert page.watch.outside == [] and page.watch.errors == []
    assert all(u.startswith(page.base) for u in page.watch.requests)
    assert page.locator("#gg-legend h4").inner_text().startswith("诉求数")


def test_filter_change_changes_the_layer_and_the_url_keeps_it(page):
    page.goto(page.base + view(HOT[1], HOT[0], 15))
    ready(page)
    before = page.evaluate("GridGIS.counts().hexes")
    page.locator("#gg-cats-none").click()
    page.locator("#gg-cats input[value=SAFE]").check()
    page.wait_for_function("(n) => GridGIS.counts().hexes > 0 && GridGIS.counts().hexes < n", arg=before)
    assert "c=SAFE" in page.url
    fewer = page.evaluate("GridGIS.counts().hexes")
    # the link reproduces the view
    page.goto(page.url)
    page.reload()
    ready(page)
    assert page.evaluate("GridGIS.counts().hexes") == fewer
    assert page.locator("#gg-cats input[value=PARK]").is_checked() is False
    assert page.watch.errors == []


def test_clicking_a_cell_opens_its_panel_with_escaped_text(page):
    lng, lat = XSS_AT
    page.goto(page.base + view(lat, lng, 16))
    ready(page)
    cell = format(int(grid.latlng_to_cells([lat], [lng], 10)[0]), "x")
    point = page.evaluate(PIXEL, [lat, lng])
    box = page.locator("#map, .folium-map").first.bounding_box()
    page.mouse.click(box["x"] + point[0], box["y"] + point[1])
    panel = page.locator("#gg-panel")
    panel.wait_for(state="visible")
    page.wait_for_selector(f"#gg-panel .gg-req >> text={XSS[:10]}")
    assert cell in panel.locator("h3").inner_text()
    assert panel.locator("table").inner_text().count("安全隐患") == 1
    assert page.locator("#gg-panel img").count() == 0 and page.watch.dialogs == []
    shown = panel.inner_text()
    assert "张*" in shown and "张三丰" not in shown and "13812345678" not in shown
    assert panel.locator("svg.gg-spark polyline").count() == 1
    assert f"cell={cell}" in page.url
    assert page.watch.errors == []


def test_drawing_a_zone_with_the_mouse_saves_it_and_a_reload_shows_it(page):
    page.goto(page.base + view(30.635, 104.06, 15))
    ready(page)
    box = page.locator(".folium-map").first.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.locator(".leaflet-draw-draw-polygon").click()
    pts = [(cx - 120, cy - 80), (cx + 120, cy - 80), (cx + 120, cy + 80), (cx - 120, cy + 80)]
    for x, y in pts:
        page.mouse.move(x, y)
        page.mouse.click(x, y)
        page.wait_for_timeout(120)
    page.mouse.click(*pts[0])  # clicking the first vertex closes the polygon
    form = page.locator("#gg-zone-form")
    form.wait_for(state="visible")
    form.locator("input[name=name]").fill("晚高峰停车整治")
    form.locator("select[name=category]").select_option("PARK")
    form.locator("select[name=priority]").select_option("5")
    form.locator("button[type=submit]").click()
    page.wait_for_function("GridGIS.counts().zones === 1")
    page.wait_for_selector("#gg-panel h3 >> text=晚高峰停车整治")
    zones = json.loads(page.evaluate("fetch('/api/zones').then(r => r.text())"))
    (feat,) = zones["features"]
    assert feat["properties"]["priority"] == 5 and feat["properties"]["category"] == "PARK"
    xs = [p[0] for p in feat["geometry"]["coordinates"][0]]
    assert 104.05 < min(xs) < 104.06 < max(xs) < 104.07
    page.reload()
    ready(page)
    page.wait_for_function("GridGIS.counts().zones === 1")
    assert page.watch.errors == []


def test_english_switch_and_a_phone_sized_screen(browser, server):
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    pg = ctx.new_page()
    watch = Watch(pg, server)
    try:
        login(pg, server)
        pg.goto(server + "/?lang=en")
        ready(pg)
        assert pg.locator(".gg-bar").inner_text().startswith("Filters")
        assert pg.evaluate("document.documentElement.scrollWidth") <= 390
        assert not pg.locator("#gg-filters").is_visible()
        pg.locator("#gg-filter-toggle").click()
        assert pg.locator("#gg-filters").is_visible()
        fb = pg.locator("#gg-filters").bounding_box()
        assert fb["x"] >= 0 and fb["x"] + fb["width"] <= 390
        assert re.search(r"\?lang=zh#", pg.locator("#gg-lang").get_attribute("href"))
        assert watch.errors == [] and watch.outside == []
    finally:
        ctx.close()


def test_gcj02_in_the_browser_matches_the_python_golden_vectors(page):
    from gridgis.crs import gcj02_to_wgs84, wgs84_to_gcj02

    page.goto(page.base + "/")
    pts = [(104.0657, 30.6573), (120.1551, 30.2741), (103.95, 30.55), (2.35, 48.85)]
    js = page.evaluate(
        "pts => pts.map(p => { const g = GridGISCRS.wgs84ToGcj02(p[0], p[1]);"
        " return [g, GridGISCRS.gcj02ToWgs84(g[0], g[1])]; })",
        pts)
    for (lng, lat), (fwd, back) in zip(pts, js, strict=True):
        g = wgs84_to_gcj02(lng, lat)
        assert fwd == pytest.approx([float(g[0]), float(g[1])], abs=1e-9)
        w = gcj02_to_wgs84(*g)
        assert back == pytest.approx([float(w[0]), float(w[1])], abs=1e-9)
        assert back == pytest.approx([lng, lat], abs=5e-8)  # < 5 mm
    assert js[0][0] == pytest.approx([104.06820730, 30.65487818], abs=5e-8)  # DOMAIN.md golden vector


def test_hot_spot_metric_and_layer(page):
    page.goto(page.base + view(HOT[1], HOT[0], 15, "&m=gi&l=demand,hotspots,grids,zones"))
    ready(page)
    assert page.locator("#gg-metric").input_value() == "gi"
    page.wait_for_selector("#gg-legend >> text=热点 99% 置信")
    fills = page.evaluate("GridGIS.layer('demand').getLayers().map(l => l.options.fillColor)")
    assert "#d62f27" in fills  # at least one 99 % hot spot drawn
    page.wait_for_function("GridGIS.counts().hotspots > 0")
    page.locator("#gg-metric").select_option("trend")
    page.wait_for_selector("#gg-legend h4 >> text=时空趋势")
    assert "m=trend" in page.url
    assert page.watch.errors == []


def test_zone_panel_shows_stats_and_deletes_the_zone(page):
    box = {"type": "Polygon", "coordinates": [[[104.055, 30.63], [104.065, 30.63], [104.065, 30.64],
                                               [104.055, 30.64], [104.055, 30.63]]]}
    made = page.request.post(page.base + "/api/zones", data={"name": "东区<b>整治</b>", "priority": 2,
                                                            "geometry": box}, headers=csrf(page))
    assert made.status == 201
    page.goto(page.base + view(30.635, 104.06, 15))
    ready(page)
    page.wait_for_function("GridGIS.counts().zones === 1")
    # click the zone's western edge
    x, y = page.evaluate(PIXEL, [30.635, 104.055])
    mb = page.locator(".folium-map").first.bounding_box()
    page.mouse.click(mb["x"] + x, mb["y"] + y)
    panel = page.locator("#gg-panel")
    page.wait_for_selector("#gg-panel h3 >> text=东区<b>整治</b>")  # shown as text, not markup
    page.wait_for_selector("#gg-panel table")
    assert panel.locator("b").count() == 0
    assert "户数" in panel.inner_text() and "zone=1" in page.url
    panel.locator("button >> text=删除").click()  # the confirm dialog is accepted by Watch
    page.wait_for_function("GridGIS.counts().zones === 0")
    assert page.request.get(page.base + "/api/zones/1").status == 404
    assert page.watch.errors == []


def test_request_points_at_high_zoom_show_their_text_safely(page):
    lng, lat = XSS_AT
    page.goto(page.base + view(lat, lng, 19))
    ready(page)
    page.wait_for_function("GridGIS.counts().points > 0")
    x, y = page.evaluate(PIXEL, [lat, lng])
    mb = page.locator(".folium-map").first.bounding_box()
    page.mouse.click(mb["x"] + x, mb["y"] + y)
    popup = page.locator(".leaflet-popup-content")
    page.wait_for_selector(f".leaflet-popup-content >> text={XSS[:12]}")
    assert popup.locator("img").count() == 0 and page.watch.dialogs == []
    assert "13812345678" in popup.inner_text()  # one request's detail: staff see whom to call back
    assert page.watch.errors == []


PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360000002"
    "0000050001e2264a0a0000000049454e44ae426082")


def test_amap_base_map_shifts_drawing_to_gcj02_and_saves_wgs84(browser, web_settings, web_store):
    """On a GCJ-02 base map hexagons are drawn shifted and a drawn zone is saved back in WGS84."""
    from werkzeug.serving import make_server

    from gridgis.crs import gcj02_to_wgs84, wgs84_to_gcj02

    app = create_app(web_settings.with_overrides(base_map="amap"), web_store)
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{srv.server_port}"
    ctx = browser.new_context(viewport={"width": 1000, "height": 700})
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    tiles: list[str] = []

    def route(r):
        url = r.request.url
        if url.startswith(base):
            r.continue_()
        else:  # AMap tiles: answered locally, never fetched
            tiles.append(url)
            r.fulfill(status=200, content_type="image/png", body=PNG_1X1)

    pg.route("**/*", route)
    try:
        login(pg, base)
        pg.goto(base + view(HOT[1], HOT[0], 16))
        ready(pg)
        assert tiles and all("autonavi.com" in t for t in tiles)
        first = pg.evaluate("() => { const l = GridGIS.layer('demand').getLayers()[0];"
                            " return [l.ggCell, l.getLatLngs()[0][0].lat, l.getLatLngs()[0][0].lng]; }")
        cell = int(first[0], 16)
        ring = shapely.get_coordinates(grid.cells_to_polygons(np.array([cell], dtype=np.uint64))[0])
        g_lng, g_lat = wgs84_to_gcj02(ring[:, 0], ring[:, 1])
        d = np.hypot(g_lng - first[2], g_lat - first[1])
        assert d.min() < 1e-9  # a vertex of the hexagon, shifted WGS84 → GCJ-02
        # draw a rectangle with the mouse and compare the saved WGS84 with the display corners
        mb = pg.locator(".folium-map").first.bounding_box()
        cx, cy = mb["x"] + mb["width"] / 2, mb["y"] + mb["height"] / 2
        pg.locator(".leaflet-draw-draw-rectangle").click()
        pg.mouse.move(cx - 100, cy - 60)
        pg.mouse.down()
        pg.mouse.move(cx, cy, steps=5)
        pg.mouse.move(cx + 100, cy + 60, steps=5)
        pg.mouse.up()
        corner = pg.evaluate(f"() => {{ const l = GridGIS.map().containerPointToLatLng([{cx - mb['x'] - 100}, "
                             f"{cy - mb['y'] - 60}]); return [l.lng, l.lat]; }}")
        form = pg.locator("#gg-zone-form")
        form.wait_for(state="visible")
        form.locator("input[name=name]").fill("高德底图区域")
        form.locator("button[type=submit]").click()
        pg.wait_for_function("GridGIS.counts().zones === 1")
        saved = json.loads(pg.evaluate("fetch('/api/zones').then(r => r.text())"))["features"][0]
        pts = np.array(saved["geometry"]["coordinates"][0])
        w_lng, w_lat = gcj02_to_wgs84(corner[0], corner[1])
        # the corner, shifted back to WGS84 (to a fraction of a screen pixel, ~2 m at zoom 16) …
        assert np.hypot(pts[:, 0] - w_lng, pts[:, 1] - w_lat).min() < 1e-5
        # … and not saved in GCJ-02, which is ~300 m away here
        assert np.hypot(pts[:, 0] - corner[0], pts[:, 1] - corner[1]).min() > 1e-3
        assert errors == []
    finally:
        ctx.close()
        srv.shutdown()


SQUARE = [[104.055, 30.63], [104.065, 30.63], [104.065, 30.64], [104.055, 30.64], [104.055, 30.63]]
SMALL = [[104.07, 30.645], [104.075, 30.645], [104.075, 30.648], [104.07, 30.648], [104.07, 30.645]]


@pytest.mark.parametrize("geometry", [
    {"type": "Polygon", "coordinates": [SQUARE]},
    {"type": "MultiPolygon", "coordinates": [[SQUARE], [SMALL]]},
], ids=["polygon", "multipolygon"])
def test_editing_a_zone_outline_with_the_draw_toolbar_saves_a_new_version(page, geometry):
    made = page.request.post(page.base + "/api/zones", data={"name": "可编辑", "geometry": geometry},
                             headers=csrf(page))
    assert made.status == 201
    page.goto(page.base + view(30.635, 104.06, 15))
    ready(page)
    page.wait_for_function("GridGIS.counts().zones === 1")
    page.locator(".leaflet-draw-edit-edit").click()
    handle = page.locator(".leaflet-editing-icon").first
    handle.wait_for(state="visible")
    hb = handle.bounding_box()
    x, y = hb["x"] + hb["width"] / 2, hb["y"] + hb["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 30, y - 30, steps=6)
    page.mouse.up()
    # Wait for the PATCH itself: a wait_for_function whose expression is a fetch() promise passes at once
    # (a pending promise is truthy), so the test used to read the zone before the save had happened.
    with page.expect_response(lambda r: r.request.method == "PATCH" and r.url.endswith("/api/zones/1")) as saved:
        page.locator(".leaflet-draw-actions a >> text=保存").first.click()
    assert saved.value.ok
    z = page.request.get(page.base + "/api/zones/1").json()
    assert z["properties"]["version"] == 2
    assert z["geometry"]["type"] == geometry["type"] and z["properties"]["name"] == "可编辑"
    if geometry["type"] == "MultiPolygon":  # the part not edited is kept as it was
        assert len(z["geometry"]["coordinates"]) == 2
        assert sorted(map(tuple, z["geometry"]["coordinates"][1][0])) == sorted(map(tuple, SMALL))
    coords = z["geometry"]["coordinates"]
    moved = coords[0][0] if geometry["type"] == "MultiPolygon" else coords[0]
    assert sorted(map(tuple, moved)) != sorted(map(tuple, SQUARE))
    hist = page.request.get(page.base + "/api/zones/1/history").json()["history"]
    assert [h["action"] for h in hist] == ["create", "update"]
    assert page.watch.errors == []


def test_project_candidates_layer_list_and_making_a_priority_zone_that_survives_a_reload(page, web_store):
    from .test_projects_api import add_rows, cluster_rows

    # a candidate whose texts carry markup: it must reach the panel as text
    markup = "<img src=x onerror=alert(1)>"
    add_rows(web_store, cluster_rows((104.0750, 30.6280), "ORDER", [f"{markup} 夜间施工噪音 {i}" for i in range(40)],
                                     [("", "")] * 40, "x"))
    fc = page.request.get(page.base + "/api/projects").json()
    feats = fc["features"]
    n = len(feats)
    top = feats[0]["properties"]
    assert n > 3 and top["category"] == "PARK"
    colors = {c["code"]: c["color"] for c in page.request.get(page.base + "/api/categories").json()["categories"]}

    page.goto(page.base + view(HOT[1], HOT[0], 14))
    ready(page)
    page.locator("#gg-projects-btn").click()
    page.wait_for_function("(n) => Number(document.getElementById('gg-status').dataset.projects) === n", arg=n)
    # one outlined polygon per candidate, in its category's colour, with its rank
    assert page.locator(".leaflet-gg-projects-pane path.leaflet-interactive").count() == n
    strokes = page.evaluate("GridGIS.layer('projects').getLayers().filter(l => l.ggProject)"
                            ".map(l => [l.ggProject, l.options.color])")
    assert sorted(s[0] for s in strokes) == sorted(f["id"] for f in feats)
    assert all(color == colors[pid.split("-")[0]] for pid, color in strokes)
    assert page.locator(".gg-rank-badge").count() == n
    # the ranked list with score parts
    items = page.locator("#gg-panel .gg-proj-item")
    assert items.count() == n
    assert [int(t) for t in items.locator(".gg-rank-n").all_inner_texts()] == list(range(1, n + 1))
    assert "停车与交通" in items.first.inner_text() and "规模" in items.first.inner_text()
    assert "projects" in page.url  # the layer is on in the link

    # markup in a candidate's texts is shown as text
    planted = next(f["properties"] for f in feats if f["properties"]["category"] == "ORDER"
                   and any(markup in t for t in f["properties"]["texts"]))
    page.locator(f"#gg-panel .gg-proj-item[data-id='{planted['id']}']").click()
    page.wait_for_selector(f"#gg-panel h3 >> text=#{planted['rank']} 秩序与扰民")
    assert markup in page.locator("#gg-panel .gg-text").first.inner_text()
    assert page.locator("#gg-panel img").count() == 0 and page.watch.dialogs == []

    # back to the list, open the best candidate, make it a priority zone
    page.locator("#gg-panel button >> text=返回列表").click()
    page.locator("#gg-panel .gg-proj-item").first.click()
    page.wait_for_selector("#gg-panel h3 >> text=#1 停车与交通")
    assert page.locator("#gg-panel .gg-text").count() == len(top["texts"])
    page.locator("#gg-make-zone").click()
    page.wait_for_function("GridGIS.counts().zones === 1")
    page.wait_for_selector(f"#gg-panel h3 >> text={top['zone']['name']}")  # the new zone's panel
    (zone,) = page.request.get(page.base + "/api/zones").json()["features"]
    p = zone["properties"]
    assert (p["name"], p["category"], p["priority"], p["notes"]) == (
        top["zone"]["name"], "PARK", 5, top["zone"]["notes"])
    assert p["name"].startswith("1. 停车与交通")
    a, b = shapely.geometry.shape(zone["geometry"]), shapely.geometry.shape(feats[0]["geometry"])
    assert a.symmetric_difference(b).area < 1e-4 * b.area
    assert page.locator(".leaflet-gg-zones-pane path").count() == 1  # drawn in the zones layer

    page.reload()
    ready(page)
    page.wait_for_function("GridGIS.counts().zones === 1")
    page.wait_for_function("(n) => Number(document.getElementById('gg-status').dataset.projects) === n", arg=n)
    assert page.watch.errors == [] and page.watch.outside == []


def test_export_this_view_downloads_the_filtered_cells_on_screen(page, web_settings):
    page.goto(page.base + view(HOT[1], HOT[0], 15))
    ready(page)
    page.locator("#gg-cats-none").click()
    page.locator("#gg-cats input[value=PARK]").check()
    page.wait_for_function("() => GridGIS.counts().hexes > 0 && location.hash.includes('c=PARK')")
    ready(page)
    drawn = page.evaluate("""async () => {
        const ctx = GridGIS.context('demand');
        const r = await fetch('/api/cells?' + ctx.params({ res: ctx.res, bbox: ctx.bbox }));
        const hexes = [];
        GridGIS.layer('demand').eachLayer(function (l) { if (l.ggCell) hexes.push(l.ggCell); });
        return { cells: (await r.json()).cells, hexes: hexes };
    }""")
    with page.expect_download() as dl:
        page.locator("#gg-export-go").click()
    body = json.loads(Path(dl.value.path()).read_text(encoding="utf-8"))
    k = web_settings.export_min_count_k
    want = {c["h3"]: c["n"] for c in drawn["cells"] if c["n"] >= k}
    got = {f["properties"]["cell_id"]: f["properties"]["requests"] for f in body["features"]}
    assert got == want and len(got) > 0 and set(got) <= set(drawn["hexes"])
    assert "category=PARK" in dl.value.url and "/api/export/cells.geojson" in dl.value.url
    # the same view's requests as CSV: only PARK, and no contact details
    page.locator("#gg-export-what").select_option("requests")
    page.locator("#gg-export-format").select_option("csv")
    with page.expect_download() as dl:
        page.locator("#gg-export-go").click()
    text = Path(dl.value.path()).read_text(encoding="utf-8-sig")
    lines = text.strip().splitlines()
    header = lines[0].split(",")
    assert len(lines) > 1 and "reporter_name" not in header
    cats = {line.split(",")[header.index("category")] for line in lines[1:]}
    assert cats == {"PARK"}
    assert "张三丰" not in text and "13812345678" not in text
    assert page.watch.errors == []
