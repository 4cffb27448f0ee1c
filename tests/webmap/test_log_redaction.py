"""No reporter name or phone number reaches a log record: a real ingest, exports and API pulls at DEBUG.

The demo sample is ingested into a fresh database, exported through the CLI, and read through /api,
/api/export, /ogc and /open311 (and one Open311 submission carrying a phone number) while pytest's
``caplog`` records every log record at DEBUG; then every name and phone number stored is looked for in
every record (message, arguments and exception text).
"""

from __future__ import annotations

import logging
import re

import pytest
from click.testing import CliRunner

from gridgis import tokens
from gridgis.cli import main
from gridgis.config import load_settings
from gridgis.demo import build_demo
from gridgis.storage import open_store
from tests.conftest import SAMPLE
from webmap import create_app

pytestmark = pytest.mark.sqlite_only  # the web layer itself: once, on SQLite

PHONE = "13987654321"


def test_no_reporter_name_or_phone_reaches_any_log_record(tmp_path, caplog):
    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    settings = load_settings(SAMPLE / "gridgis.toml", env={}, database_url=url)
    cli = ["--config", str(SAMPLE / "gridgis.toml"), "--database-url", url, "-vv"]
    with caplog.at_level(logging.DEBUG):
        build_demo(settings, SAMPLE)  # the real ingest pipeline on every sample file
        for kind, suffix in (("requests", "gpkg"), ("requests", "csv"), ("cells", "geojson"), ("projects", "csv")):
            r = CliRunner().invoke(main, [*cli, "export", kind, "-o", str(tmp_path / f"{kind}.{suffix}")])
            assert r.exit_code == 0, r.output
        store = open_store(settings)
        secret, _ = tokens.create_token(store, "log-test", ["admin"])
        client = create_app(settings, store).test_client()
        h = {"Authorization": f"Bearer {secret}"}
        rid = store.requests_frame(["id"], limit=1)["id"].iloc[0]
        for url_ in ("/api/requests?limit=1000", f"/api/requests/{rid}", "/api/export/requests.csv",
                     "/api/export/cells.geojson?res=9", "/ogc/collections/requests/items?limit=1000",
                     "/ogc/collections/projects/items", "/open311/v2/requests.json?start_date=2025-11-01T00:00:00Z"
                     "&end_date=2026-01-20T00:00:00Z", "/api/export/requests.csv?bbox=nonsense"):
            assert client.get(url_, headers=h).status_code in (200, 400), url_
        r = client.post("/open311/v2/requests.json", headers=h, data={
            "service_code": "FAC", "lat": "30.6435", "long": "104.0526", "first_name": "小明", "last_name": "王",
            "phone": PHONE, "description": f"楼下路灯不亮，请回电 {PHONE}"})
        assert r.status_code == 200, r.text
        stored = store.requests_frame(["reporter_name", "reporter_phone"])
        store.close()
    names = {n.strip() for n in stored["reporter_name"].dropna() if len(n.strip()) >= 2}
    phones = {re.sub(r"\D", "", p) for p in stored["reporter_phone"].dropna()} - {""}
    assert len(names) > 100 and len(phones) > 100 and PHONE in phones
    assert len(caplog.records) > 20  # the pipeline, the exports and the app did log
    leaks = []
    for rec in caplog.records:
        text = rec.getMessage() + (rec.exc_text or "")
        digits = re.sub(r"\D", "", text)
        leaks += [(rec.name, n) for n in names if n in text] + [(rec.name, p) for p in phones if p in digits]
    assert leaks == []
