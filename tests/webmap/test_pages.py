"""The map page shell: built by a pure function, constant size, no data, only our own assets, zh/en."""

from __future__ import annotations

import re

import pytest

from gridgis.errors import ConfigError
from gridgis.storage import init_db
from webmap import create_app
from webmap.mapshell import build_map, render_map

from .conftest import fresh_client, make_settings

pytestmark = pytest.mark.sqlite_only  # the web layer itself: once, on SQLite

ASSET = re.compile(r'(?:src|href)="([^"]+)"')


def test_map_page_is_a_small_shell_with_only_local_assets(client):
    r = client.get("/")
    assert r.status_code == 200
    assert r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    assert len(r.data) < 100_000
    assert "FeatureCollection" not in html and "t:600" not in html  # no data inside the page
    assets = ASSET.findall(html)
    assert any(a.endswith("leaflet.js") for a in assets) and any("h3-js" in a for a in assets)
    for a in assets:
        assert a.startswith(("/static/", "?lang=", "/overview", "data:")), a
    assert not re.search(r"https?://(?!www\.w3\.org)", re.sub(r"<!--.*?-->", "", html)), "no external URL"
    for a in assets:
        if a.startswith("/static/"):
            with client.get(a) as asset:
                assert asset.status_code == 200 and len(asset.data) > 100, a


def test_page_size_does_not_grow_with_the_data(client, tmp_path):
    empty = fresh_client(make_settings(tmp_path / "empty.sqlite3"))  # the same user, on an empty database
    full, blank = len(client.get("/").data), len(empty.get("/").data)
    assert abs(full - blank) < 300


def test_chinese_by_default_and_english_on_request(client):
    zh = client.get("/").get_data(as_text=True)
    en = client.get("/?lang=en").get_data(as_text=True)
    assert "社区诉求热力图" in zh and 'href="?lang=en"' in zh and '"lang": "zh"' in zh
    assert "Residents&#39; demand map" in en or "Residents' demand map" in en
    assert '"lang": "en"' in en and "诉求类型" not in en
    assert client.get("/?lang=fr").get_data(as_text=True).count('"lang": "zh"') == 1


def test_build_map_is_pure_and_names_its_layers_for_the_script(web_settings):
    m = build_map(web_settings, lang="en", bounds=(104.03, 30.61, 104.09, 30.66),
                  request_types=[{"label": "投诉", "name_en": "Complaint"}],
                  statuses=[{"code": "new", "zh": "受理", "en": "New"}])
    html = m.get_root().render()
    names = re.search(r'"layers": \{([^}]*)\}', html).group(1)
    for key in ("demand", "hotspots", "grids", "zones", "points", "projects"):
        var = re.search(rf'"{key}": "([a-z_0-9]+)"', names).group(1)
        assert f"var {var} = " in html, key
    assert '"label": "Complaint"' in html and '"crs": "wgs84"' in html
    assert "L.Control.Draw" in html and "tile.openstreetmap" not in html  # blank base map: no tiles


@pytest.mark.parametrize(("name", "crs", "needle"), [
    ("amap", "gcj02", "autonavi.com"),
    ("osm", "wgs84", "tile.openstreetmap.org"),
    ("tianditu_img", "wgs84", "T=img_w"),
])
def test_base_maps_from_settings(tmp_path, name, crs, needle):
    s = make_settings(tmp_path / "x.sqlite3", base_map=name, tianditu_key="k123")
    html = render_map(s)
    assert f'"crs": "{crs}"' in html and needle in html
    if name == "tianditu_img":
        assert "T=cia_w" in html and "tk=k123" in html


def test_misconfigured_base_maps_fail_at_start(tmp_path):
    s = make_settings(tmp_path / "x.sqlite3", base_map="tianditu_vec")
    with pytest.raises(ConfigError) as err:
        create_app(s, init_db(s))
    assert err.value.field == "tianditu_key"
    with pytest.raises(ConfigError) as err:
        render_map(make_settings(tmp_path / "y.sqlite3", base_map="google"))
    assert err.value.field == "base_map"


def test_overview_moved_to_its_own_page(client):
    r = client.get("/overview")
    assert r.status_code == 200 and "社区诉求数据概览" in r.get_data(as_text=True)


def test_vendored_assets_keep_their_licences(app):
    from pathlib import Path

    vendor = Path(app.static_folder) / "vendor"
    for lib in ("leaflet", "leaflet-draw", "leaflet.markercluster", "h3-js"):
        assert (vendor / lib / "LICENSE").is_file(), lib
    assert "Apache License" in (vendor / "h3-js" / "LICENSE").read_text()


def test_vendored_files_match_the_hashes_in_their_readme(app):
    import hashlib
    from pathlib import Path

    vendor = Path(app.static_folder) / "vendor"
    listed = re.findall(r"^([0-9a-f]{64})  (\S+)$", (vendor / "README.md").read_text(), flags=re.M)
    assert len(listed) == 8
    for digest, name in listed:
        assert hashlib.sha256((vendor / name).read_bytes()).hexdigest() == digest, name
