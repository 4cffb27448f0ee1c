"""The demo build: the real pipeline on the sample community stores what the sample promises."""

from __future__ import annotations

import shutil

import pytest

from gridgis.config import load_settings
from gridgis.demo import build_demo, read_manifest
from gridgis.errors import ConfigError
from tests.conftest import SAMPLE


def test_demo_loads_all_inputs_with_their_problems_reported(demo_reports, seeded_store):
    by_source = {r.source: r for r in demo_reports}
    assert set(by_source) == {"12345", "wechat", "patrol", "12345-checks"}
    total = sum(r.stored for r in demo_reports)
    assert total == seeded_store.count_requests()
    assert 5_700 < total < 6_000
    # the XLSX is GCJ-02 and every point lands in the community once converted
    assert by_source["12345"].rejected_count == 0
    # WeChat messages carry only addresses: located by the gazetteer, some ambiguous or unmatched
    wx = by_source["wechat"]
    assert wx.geocoded_by_level.get("source", 0) == 0
    assert sum(wx.geocoded_by_level.values()) == wx.stored
    assert 20 <= wx.rejected_count <= 120
    # every deliberately bad row is rejected with a reason, the good ones are stored
    checks = by_source["12345-checks"]
    assert checks.rejected_count >= 15 and checks.stored >= 5
    summary = seeded_store.summary()
    assert set(summary["by_category"]) >= {"SAFE", "FAC", "PROP", "PARK", "ENV", "ORDER", "CARE"}
    assert summary["grids"] == 8
    assert 0.03 < summary["duplicates"] / total < 0.35


def test_requests_are_assigned_to_grids(seeded_store):
    df = seeded_store.requests_frame(["grid_code", "geocode_level"])
    inside = df["grid_code"].notna().mean()
    assert inside > 0.97


def test_demo_is_idempotent(demo_settings, demo_reports, tmp_path):
    db = tmp_path / "copy.sqlite3"
    shutil.copy(demo_settings.database_url.removeprefix("sqlite:///"), db)
    settings = demo_settings.with_overrides(database_url=f"sqlite:///{db}")
    again = build_demo(settings, SAMPLE)
    assert sum(r.stored for r in again) == 0
    assert sum(r.updated for r in again) == 0


def test_manifest_errors_name_the_problem(tmp_path):
    with pytest.raises(ConfigError, match="manifest"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.toml").write_text('[[input]]\nfile = "missing.csv"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="missing.csv"):
        read_manifest(tmp_path)


def test_sample_settings_resolve_paths_against_the_file():
    s = load_settings(SAMPLE / "gridgis.toml", env={})
    assert s.gazetteer_file.endswith("sample_data/gazetteer.csv")
    assert s.database_url.endswith("var/demo.sqlite3")


def test_demo_users_one_per_role_created_once(demo_settings, demo_reports, tmp_path):
    from gridgis.accounts import authenticate
    from gridgis.demo import ensure_demo_users
    from gridgis.storage import open_store

    db = tmp_path / "users.sqlite3"
    shutil.copy(demo_settings.database_url.removeprefix("sqlite:///"), db)
    settings = demo_settings.with_overrides(database_url=f"sqlite:///{db}")
    first = ensure_demo_users(settings)
    assert {u["role"] for u in first} == {"admin", "secretary", "grid_worker", "viewer"}
    assert all(u["password"] for u in first)
    worker = next(u for u in first if u["role"] == "grid_worker")
    store = open_store(settings)
    assert worker["grids"] in set(store.grids_frame()["grid_code"])
    assert authenticate(store, worker["username"], worker["password"])["role"] == "grid_worker"
    again = ensure_demo_users(settings)  # existing demo users keep their passwords
    assert [u["username"] for u in again] == [u["username"] for u in first]
    assert all(u["password"] is None for u in again)
    reset = ensure_demo_users(settings, reset=True)
    assert all(u["password"] and u["password"] != f["password"] for u, f in zip(reset, first, strict=True))
    store.close()
