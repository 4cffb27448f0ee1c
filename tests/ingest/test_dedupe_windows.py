"""gridgis.ingest.dedupe on batches bigger than a window: linked window by window in time order, with the
same result as in one piece."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from gridgis.ingest import dedupe
from gridgis.ingest.dedupe import find_duplicates
from tests.ingest.dedupe_cases import LAT0, LNG0, M_PER_DEG_LAT, assert_same, brute_force, make_requests


def test_a_batch_bigger_than_a_window_is_linked_window_by_window_with_the_same_result(monkeypatch):
    df = make_requests(20_000, seed=8, days=20)
    df.loc[df.index[::97], "created_at"] = pd.NaT  # no time: never a duplicate, nor a root
    df["created_at"] = df["created_at"].dt.tz_convert("Asia/Shanghai")
    cut = df["created_at"].quantile(0.3)
    old, new = df[df["created_at"] < cut], df[~(df["created_at"] < cut)]
    old = old.assign(created_at=old["created_at"].dt.tz_convert("UTC"), duplicate_of=find_duplicates(old))
    want_all, want_new = find_duplicates(df), find_duplicates(new, old)
    assert want_all.notna().sum() > 5000 and want_new.notna().sum() > 3000
    calls = []
    monkeypatch.setattr(dedupe, "_WINDOW_ROWS", 700)  # ~30 windows; equal minutes straddle many cut points
    monkeypatch.setattr(dedupe, "_find", lambda *a, _f=dedupe._find, **k: calls.append(len(a[0])) or _f(*a, **k))
    assert_same(find_duplicates(df), want_all)
    assert len(calls) > 20 and max(calls) < 800
    assert_same(find_duplicates(new, old), want_new)  # stored rows (with their links) join each window


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 60), window=st.integers(1, 7),
       days=st.sampled_from([0.0, 1.0, 7.0]))
def test_time_windows_match_brute_force_on_small_random_batches(seed, n, window, days):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "id": pd.array([f"r{i}" for i in rng.permutation(n)], dtype="str"),
        "category": pd.array(rng.choice(["FAC", "ENV"], n), dtype="str"),
        "created_at": pd.to_datetime(
            pd.Timestamp("2024-05-01", tz="UTC").value + rng.integers(0, 10, n) * 86400 * 10**9 // 2, utc=True),
        "lng": LNG0 + rng.uniform(0, 300, n) / 96_000,
        "lat": LAT0 + rng.uniform(0, 300, n) / M_PER_DEG_LAT,
        "text": pd.array(rng.choice(["路灯不亮", "路灯不亮了", "井盖松动"], n), dtype="str"),
    })
    original = dedupe._WINDOW_ROWS
    dedupe._WINDOW_ROWS = window
    try:
        got = find_duplicates(df, days=days)
    finally:
        dedupe._WINDOW_ROWS = original
    assert_same(got, brute_force(df, days=days))
