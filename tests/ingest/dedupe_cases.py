"""Synthetic requests and an O(n²) reference for the dedupe tests (tests/ingest/test_dedupe*.py)."""

from __future__ import annotations

import math
import re
import unicodedata

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from gridgis.ingest.dedupe import BOILERPLATE

EARTH_R = 6_371_008.8
M_PER_DEG_LAT = math.pi * EARTH_R / 180
# 玉林 / 桐梓林, Chengdu
LNG0, LAT0 = 104.0657, 30.6273

PLACES = ["锦城小区", "玉林北路", "桐梓林", "倪家桥", "神仙树", "芳草街", "肖家河", "棕北小区", "新南门"]
THINGS = {
    "FAC": ["路灯不亮", "井盖松动", "道路破损", "下水道堵塞", "停水", "积水严重"],
    "ENV": ["垃圾堆放无人清理", "有异味", "树木需要修剪", "化粪池冒水"],
    "ORDER": ["夜间施工噪音扰民", "占道经营", "烧烤油烟大", "广场舞噪音扰民"],
    "PARK": ["车辆乱停放", "共享单车堆积", "充电桩不够"],
    "PROP": ["电梯故障", "楼道漏水", "门禁坏了"],
    "SAFE": ["飞线充电", "消防通道被占", "电动车进楼"],
    "CARE": ["独居老人需要帮助", "老年食堂排队久"],
}
PREFIXES = np.array(["", "", "市民反映：", "居民来电称"])
SUFFIXES = np.array(["", "，请尽快处理", "，已经好几天了", "。", "！！"])


def offset(lng: float, lat: float, east_m: float, north_m: float) -> tuple[float, float]:
    return (lng + east_m / (M_PER_DEG_LAT * math.cos(math.radians(lat))), lat + north_m / M_PER_DEG_LAT)


def frame(rows: list[tuple]) -> pd.DataFrame:
    """rows: (id, category, local time 'YYYY-mm-dd HH:MM', lng, lat, text)."""
    df = pd.DataFrame(rows, columns=["id", "category", "created_at", "lng", "lat", "text"])
    df["created_at"] = (
        pd.to_datetime(df["created_at"], format="ISO8601")
        .dt.tz_localize("Asia/Shanghai")
        .dt.tz_convert("UTC")
    )
    df["lng"] = df["lng"].astype("float64")
    df["lat"] = df["lat"].astype("float64")
    return df


def make_requests(n: int, seed: int = 0, days: int = 60) -> pd.DataFrame:
    """Synthetic 12345 requests: issues reported 1–n times near one spot within days, Chengdu area.

    Half the issues sit around 40 dense community centres (σ 150 m) so buckets hold many
    candidates; times are whole minutes so identical timestamps occur; 2 % lack coordinates,
    1 % lack text.
    """
    rng = np.random.default_rng(seed)
    n_issues = int(n / 1.6) + 1
    per_issue = rng.geometric(0.6, n_issues)
    issue = np.repeat(np.arange(n_issues), per_issue)[:n]
    cats = np.array(list(THINGS))
    icat = rng.integers(0, len(cats), n_issues)
    centre_lng = rng.uniform(103.9, 104.2, 40)
    centre_lat = rng.uniform(30.5, 30.8, 40)
    dense = rng.random(n_issues) < 0.5
    c = rng.integers(0, 40, n_issues)
    sd = 150 / M_PER_DEG_LAT
    ilat = np.where(dense, centre_lat[c] + rng.normal(0, sd, n_issues), rng.uniform(30.5, 30.8, n_issues))
    ilng = np.where(dense, centre_lng[c] + rng.normal(0, sd, n_issues), rng.uniform(103.9, 104.2, n_issues))
    start = pd.Timestamp("2024-03-01", tz="UTC").value + rng.integers(0, days * 86400, n_issues) * 10**9
    ithing = [
        f"{PLACES[p]}{b}栋{THINGS[cats[k]][t % len(THINGS[cats[k]])]}"
        for p, b, k, t in zip(
            rng.integers(0, len(PLACES), n_issues),
            rng.integers(1, 9, n_issues),
            icat,
            rng.integers(0, 6, n_issues),
            strict=True,
        )
    ]
    jitter = 25 / M_PER_DEG_LAT
    lat = ilat[issue] + rng.normal(0, jitter, n)
    lng = ilng[issue] + rng.normal(0, jitter, n)
    t = start[issue] + (rng.exponential(1.5, n) * 86400).astype(np.int64) * 10**9
    t = t // (60 * 10**9) * (60 * 10**9)
    text = np.char.add(np.char.add(rng.choice(PREFIXES, n), np.array(ithing)[issue]), rng.choice(SUFFIXES, n))
    text = text.astype(object)
    no_xy = rng.random(n) < 0.02
    lat[no_xy] = np.nan
    lng[no_xy] = np.nan
    text[rng.random(n) < 0.01] = None
    return pd.DataFrame(
        {
            "id": pd.array([f"12345-{i:07d}" for i in rng.permutation(n)], dtype="str"),
            "category": pd.array(cats[icat[issue]], dtype="str"),
            "created_at": pd.to_datetime(t, utc=True),
            "lng": lng,
            "lat": lat,
            "text": pd.array(text, dtype="str"),
        }
    )


def brute_force(df: pd.DataFrame, radius_m=100.0, days=7.0, sim=60.0) -> pd.Series:
    """O(n²) reference: every pair checked directly, rows visited in (created_at, id) order."""
    n = len(df)
    t = df["created_at"].dt.as_unit("ns").astype("int64").to_numpy()
    lat = np.radians(df["lat"].to_numpy())
    lng = np.radians(df["lng"].to_numpy())
    ids = [str(x) for x in df["id"]]
    cat = df["category"].to_numpy(dtype=object)

    def norm(s):
        if s is None or s != s:
            return ""
        s = re.sub(BOILERPLATE, "", unicodedata.normalize("NFKC", s).lower())
        return re.sub(r"[\W_]+", "", s)

    texts = [norm(s) for s in df["text"].to_numpy(dtype=object)]
    score = process.cdist(texts, texts, scorer=fuzz.ratio, workers=-1)
    hav = (
        np.sin((lat[:, None] - lat[None, :]) / 2) ** 2
        + np.cos(lat[:, None]) * np.cos(lat[None, :]) * np.sin((lng[:, None] - lng[None, :]) / 2) ** 2
    )
    with np.errstate(invalid="ignore"):
        dist = 2 * EARTH_R * np.arcsin(np.sqrt(hav))
    match = (
        (cat[:, None] == cat[None, :])
        & (dist <= radius_m)  # NaN coordinates → False
        & (np.abs(t[:, None] - t[None, :]) <= round(days * 86400 * 10**9))
        & (score >= sim)
    )
    empty = np.array([s == "" for s in texts])
    match &= ~empty[:, None] & ~empty[None, :]
    order = sorted(range(n), key=lambda k: (t[k], ids[k]))
    root: dict[int, int] = {}
    seen: list[int] = []
    for k in order:
        preds = [j for j in seen if match[k, j]]
        root[k] = root[preds[0]] if preds else k
        seen.append(k)
    out = [None if root[k] == k else ids[root[k]] for k in range(n)]
    return pd.Series(out, index=df.index, dtype="str")


def links(s: pd.Series) -> list:
    """Result as a plain list with None for "not a duplicate"."""
    return [None if pd.isna(v) else v for v in s]


def assert_same(got: pd.Series, want: pd.Series) -> None:
    assert got.index.equals(want.index)
    pd.testing.assert_series_equal(got.fillna(""), want.fillna(""), check_names=False)
