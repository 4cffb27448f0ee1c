"""Tests for gridgis.ingest.dedupe: duplicate / repeated-complaint detection."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz import fuzz

from gridgis.errors import InvalidInputError
from gridgis.ingest import dedupe
from gridgis.ingest.dedupe import find_duplicates, same_issue_counts
from tests.ingest.dedupe_cases import (
    LAT0,
    LNG0,
    M_PER_DEG_LAT,
    assert_same,
    brute_force,
    frame,
    links,
    make_requests,
    offset,
)

A = (LNG0, LAT0)


@pytest.fixture
def lamp() -> pd.DataFrame:
    """The same lamp reported three times within two days and 30 m."""
    p1 = offset(*A, 12, -8)
    p2 = offset(*A, -15, 20)
    return frame(
        [
            ("12345-001", "FAC", "2024-05-01 08:10", *A, "玉林北路3栋门口路灯不亮"),
            ("12345-002", "FAC", "2024-05-02 19:30", *p1, "市民反映：玉林北路3栋门口路灯不亮，请尽快处理"),
            ("wx-7", "FAC", "2024-05-03 07:45", *p2, "玉林北路3栋门口的路灯还是不亮！"),
        ]
    )


def test_same_lamp_three_times_links_two_to_the_first(lamp):
    got = find_duplicates(lamp)
    assert got.name == "duplicate_of"
    assert got.isna().tolist() == [True, False, False]
    assert got.iloc[1:].tolist() == ["12345-001", "12345-001"]


def test_result_is_aligned_to_the_index_of_new(lamp):
    lamp.index = [40, 10, 30]
    got = find_duplicates(lamp)
    assert got.index.tolist() == [40, 10, 30]
    assert got.loc[10] == "12345-001" and pd.isna(got.loc[40])


def test_chain_collapses_to_root():
    # C resembles B, B resembles A, but C is too unlike A to match it directly: C still points to A.
    a, b, c = "路灯不亮", "路灯不亮请尽快维修", "请尽快维修路灯"
    assert fuzz.ratio(a, c) < 60 <= min(fuzz.ratio(a, b), fuzz.ratio(b, c))
    df = frame(
        [
            ("c", "FAC", "2024-05-03 08:00", *A, c),
            ("a", "FAC", "2024-05-01 08:00", *A, a),
            ("b", "FAC", "2024-05-02 08:00", *A, b),
        ]
    )
    assert links(find_duplicates(df)) == ["a", None, "a"]


@pytest.mark.parametrize(
    ("category", "when", "east_m", "text"),
    [
        ("ENV", "2024-05-02 08:00", 10, "玉林北路3栋门口路灯不亮"),  # other category
        ("FAC", "2024-05-09 08:11", 10, "玉林北路3栋门口路灯不亮"),  # 8 days later
        ("FAC", "2024-05-02 08:00", 150, "玉林北路3栋门口路灯不亮"),  # 150 m away
        ("FAC", "2024-05-02 08:00", 10, "芳草街消防栓漏水严重"),  # other text
        ("FAC", "2024-05-02 08:00", 10, ""),  # no text
        ("FAC", "2024-05-02 08:00", 10, None),  # no text
    ],
)
def test_not_a_duplicate(category, when, east_m, text):
    df = frame(
        [
            ("first", "FAC", "2024-05-01 08:10", *A, "玉林北路3栋门口路灯不亮"),
            ("second", category, when, *offset(*A, east_m, 0), text),
        ]
    )
    assert find_duplicates(df).isna().all()


def test_limits_are_inclusive_and_follow_the_parameters():
    df = frame(
        [
            ("first", "FAC", "2024-05-01 08:10", *A, "玉林北路3栋门口路灯不亮"),
            ("second", "FAC", "2024-05-08 08:10", *offset(*A, 0, 95), "玉林北路3栋门口路灯不亮"),
        ]
    )
    assert links(find_duplicates(df)) == [None, "first"]  # exactly 7 days, 95 m
    assert find_duplicates(df, days=6.99).isna().all()
    assert find_duplicates(df, radius_m=90).isna().all()
    assert links(find_duplicates(df, radius_m=200, days=10)) == [None, "first"]
    far = df.assign(lat=[LAT0, LAT0 + 150 / M_PER_DEG_LAT])
    assert links(find_duplicates(far, radius_m=200)) == [None, "first"]


def test_text_similarity_threshold():
    a, b = "玉林北路3栋路灯不亮", "玉林北路3栋门口路灯坏了好几天"
    score = fuzz.ratio(a, b)
    df = frame([("1", "FAC", "2024-05-01 08:10", *A, a), ("2", "FAC", "2024-05-01 09:10", *A, b)])
    assert links(find_duplicates(df, text_similarity=score - 1)) == [None, "1"]
    assert find_duplicates(df, text_similarity=score + 1).isna().all()


def test_text_is_normalised_before_scoring():
    df = frame(
        [
            ("1", "FAC", "2024-05-01 08:10", *A, "ＡＢＣ小区３栋，路灯不亮！"),
            ("2", "FAC", "2024-05-01 09:10", *A, "abc小区3栋 路灯不亮"),
        ]
    )
    assert links(find_duplicates(df, text_similarity=100)) == [None, "1"]


def test_nan_coordinates_are_never_duplicates():
    df = frame(
        [
            ("1", "FAC", "2024-05-01 08:10", *A, "玉林北路3栋门口路灯不亮"),
            ("2", "FAC", "2024-05-01 09:10", np.nan, np.nan, "玉林北路3栋门口路灯不亮"),
            ("3", "FAC", "2024-05-01 10:10", LNG0, np.nan, "玉林北路3栋门口路灯不亮"),
            ("4", "FAC", "2024-05-01 11:10", *A, "玉林北路3栋门口路灯不亮"),
        ]
    )
    assert links(find_duplicates(df)) == [None, None, None, "1"]


def test_only_earlier_requests_are_roots_and_ties_break_by_id():
    same = "2024-05-01 08:10"
    df = frame(
        [
            ("b", "FAC", same, *A, "玉林北路3栋门口路灯不亮"),
            ("a", "FAC", same, *A, "玉林北路3栋门口路灯不亮"),
            ("c", "FAC", same, *A, "玉林北路3栋门口路灯不亮"),
            ("z", "FAC", "2024-05-01 08:09", *offset(*A, 0, 40), "玉林北路3栋门口路灯不亮"),
        ]
    )
    # z is earliest, but 40 m north; a/b/c tie in time → a first; all within 100 m of z.
    assert links(find_duplicates(df)) == ["z", "z", "z", None]
    assert links(find_duplicates(df.assign(lat=[LAT0, LAT0, LAT0, LAT0 + 0.002]))) == ["a", None, "a", None]


def test_matches_existing_and_follows_its_root(lamp):
    # Stored: A (outside the queried window, so absent) ← B; the new report matches B → points to A.
    existing = lamp.iloc[[1]].assign(duplicate_of=["12345-001"])
    before = existing.copy()
    new = lamp.iloc[[2]]
    assert links(find_duplicates(new, existing)) == ["12345-001"]
    pd.testing.assert_frame_equal(existing, before)  # existing never modified
    # Both stored, A a root; the new row matches both: the earliest is the root.
    existing = lamp.iloc[[0, 1]].assign(duplicate_of=[None, "12345-001"])
    assert links(find_duplicates(new, existing)) == ["12345-001"]
    # Stored root without a duplicate_of column at all.
    assert links(find_duplicates(lamp.iloc[[1, 2]], lamp.iloc[[0]])) == ["12345-001", "12345-001"]


def test_existing_later_rows_are_not_roots(lamp):
    # A late-arriving older report does not become a duplicate of a stored later one.
    assert find_duplicates(lamp.iloc[[0]], lamp.iloc[[1, 2]]).isna().all()


def test_new_version_of_a_stored_row_replaces_it(lamp):
    existing = lamp.assign(duplicate_of=[None, "12345-001", "12345-001"])
    got = find_duplicates(lamp.iloc[[1, 2]], existing)
    assert got.tolist() == ["12345-001", "12345-001"]
    assert links(find_duplicates(lamp, existing)) == [None, "12345-001", "12345-001"]


def test_existing_rows_with_missing_coordinates_are_ignored(lamp):
    existing = lamp.iloc[[0]].assign(lat=np.nan)
    assert find_duplicates(lamp.iloc[[1]], existing).isna().all()


def test_deterministic_under_shuffled_input():
    df = make_requests(3000, seed=7, days=10)
    df.loc[df.index[:400], "created_at"] = df["created_at"].iloc[400:800].to_numpy()  # many ties
    want = find_duplicates(df)
    assert want.notna().sum() > 300
    for seed in range(3):
        perm = np.random.default_rng(seed).permutation(len(df))
        shuffled = df.iloc[perm]
        got = find_duplicates(shuffled)
        assert got.index.equals(shuffled.index)
        assert_same(got.loc[want.index], want)
        # splitting the batch into stored + new (by time) gives the same links
    cut = df["created_at"].quantile(0.5)
    old, new = df[df["created_at"] < cut], df[df["created_at"] >= cut]
    stored = old.assign(duplicate_of=find_duplicates(old))
    assert_same(find_duplicates(new, stored), want.loc[new.index])


def test_200k_batch_and_brute_force_reference():
    df = make_requests(200_000, seed=1)
    t0 = time.perf_counter()
    got = find_duplicates(df)
    elapsed = time.perf_counter() - t0
    n_dup = int(got.notna().sum())
    print(f"\nfind_duplicates: 200,000 rows in {elapsed:.2f} s, {n_dup} duplicates")
    assert 30_000 < n_dup < 120_000
    assert set(got.dropna()) <= set(df["id"])
    roots = got.dropna().unique()
    assert got[got.index.isin(df.index[df["id"].isin(roots)])].isna().all()  # roots are not duplicates

    # Subset: the 1,950 requests nearest a dense centre plus 50 random ones (incl. missing data).
    centre = df.loc[got.notna() & df["lat"].notna()].iloc[0]
    d2 = (df["lat"] - centre["lat"]) ** 2 + ((df["lng"] - centre["lng"]) * 0.86) ** 2
    rng = np.random.default_rng(3)
    idx = d2.nsmallest(1950).index.union(df.index[rng.choice(len(df), 50, replace=False)])
    sub = df.loc[idx].copy()
    sub.loc[sub.index[::7], "created_at"] = sub["created_at"].iloc[1::7].to_numpy()[: len(sub.index[::7])]
    want = brute_force(sub)
    assert want.notna().sum() > 200
    assert_same(find_duplicates(sub), want)
    # Same subset as stored (earlier half, already linked) + new (later half).
    cut = sub["created_at"].median()
    old, new = sub[sub["created_at"] < cut], sub[sub["created_at"] >= cut]
    assert_same(find_duplicates(new, old.assign(duplicate_of=want.loc[old.index])), want.loc[new.index])


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 60),
    radius_m=st.sampled_from([30.0, 100.0, 250.0]),
    days=st.sampled_from([0.0, 1.0, 7.0]),
    sim=st.sampled_from([0.0, 60.0, 85.0]),
)
def test_matches_brute_force_on_small_random_batches(seed, n, radius_m, days, sim):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "id": pd.array([f"r{i}" for i in rng.permutation(n)], dtype="str"),
            "category": pd.array(rng.choice(["FAC", "ENV"], n), dtype="str"),
            "created_at": pd.to_datetime(
                pd.Timestamp("2024-05-01", tz="UTC").value + rng.integers(0, 10, n) * 86400 * 10**9 // 2,
                utc=True,
            ),
            "lng": LNG0 + rng.uniform(0, 600, n) / 96_000,
            "lat": np.where(rng.random(n) < 0.1, np.nan, LAT0 + rng.uniform(0, 600, n) / M_PER_DEG_LAT),
            "text": pd.array(
                rng.choice(["路灯不亮", "路灯不亮了", "井盖松动", "路灯坏", ""], n), dtype="str"
            ),
        }
    )
    assert_same(
        find_duplicates(df, radius_m=radius_m, days=days, text_similarity=sim),
        brute_force(df, radius_m, days, sim),
    )


def test_small_memory_chunks_give_the_same_result(monkeypatch):
    df = make_requests(20_000, seed=5, days=20)
    want = find_duplicates(df)
    assert want.notna().sum() > 5000
    monkeypatch.setattr(dedupe, "_QUERY_CHUNK", 1000)
    monkeypatch.setattr(dedupe, "_MAX_PAIRS_PER_CHUNK", 5000)
    assert_same(find_duplicates(df), want)
    monkeypatch.setattr(dedupe, "_KEY_LIMIT", 1 << 40)  # time units of ~ 1 ms instead of ns
    assert_same(find_duplicates(df), want)


@pytest.mark.parametrize("key_limit", [1 << 62, 1 << 40])
def test_microseconds_and_a_tiny_radius(monkeypatch, key_limit):
    # With 1 << 40 the 34-year span needs time units of ~ 7 ms: the window edges and ties inside
    # one unit must still be decided exactly.
    monkeypatch.setattr(dedupe, "_KEY_LIMIT", key_limit)
    df = frame(
        [
            ("old", "FAC", "1990-01-01 08:00", *A, "路灯不亮"),
            ("a", "FAC", "2024-05-01 08:00", *A, "路灯不亮"),
            ("b", "FAC", "2024-05-01 08:00:00.000001", *offset(*A, 0.5, 0), "路灯不亮"),
            ("c", "FAC", "2024-05-08 08:00:00.000001", *offset(*A, 0, 0.5), "路灯不亮"),
            ("e", "FAC", "2024-05-08 08:00:00.000002", *offset(*A, 0, 0.6), "路灯不亮"),
            ("d", "FAC", "2024-05-08 08:00:00.000002", *offset(*A, 0, 0.5), "路灯不亮"),
            ("far", "FAC", "2024-05-01 09:00", 104.19, 30.79, "路灯不亮"),
            ("p", "ENV", "2024-05-01 08:00", *A, "垃圾堆放"),
            ("q", "ENV", "2024-05-08 08:00:00.000001", *A, "垃圾堆放"),  # 1 µs too late
        ]
    )
    # b: 1 µs after a; c: exactly 7 days after b (7 days + 1 µs after a); d, e: 1 µs after c.
    assert links(find_duplicates(df, radius_m=1.0)) == [None, None, "a", "a", "a", "a", None, None, None]
    # Same-time reports only: e ties with d and comes after it by id.
    assert links(find_duplicates(df, radius_m=1.0, days=0)) == [None] * 4 + ["d"] + [None] * 4
    for days in (0.0, 7.0, 30 * 365.0):
        assert_same(find_duplicates(df, radius_m=1.0, days=days), brute_force(df, 1.0, days))


def test_existing_cycle_is_reported():
    existing = frame(
        [
            ("x", "FAC", "2024-05-01 08:10", *A, "路灯不亮"),
            ("y", "FAC", "2024-05-01 09:10", *A, "路灯不亮"),
        ]
    ).assign(duplicate_of=["y", "x"])
    new = frame([("n", "FAC", "2024-05-01 10:10", *A, "路灯不亮")])
    with pytest.raises(InvalidInputError) as err:
        find_duplicates(new, existing)
    assert err.value.field == "duplicate_of"


def test_empty_inputs(lamp):
    assert find_duplicates(lamp.iloc[:0]).empty
    assert find_duplicates(lamp.iloc[:0], lamp).empty
    assert links(find_duplicates(lamp, lamp.iloc[:0])) == [None, "12345-001", "12345-001"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"radius_m": 0}, "radius_m"),
        ({"radius_m": float("nan")}, "radius_m"),
        ({"days": -1}, "days"),
        ({"text_similarity": 101}, "text_similarity"),
        ({"text_similarity": "high"}, "text_similarity"),
    ],
)
def test_bad_parameters(lamp, kwargs, field):
    with pytest.raises(InvalidInputError) as err:
        find_duplicates(lamp, **kwargs)
    assert err.value.field == field
    assert field in str(err.value)


def test_bad_frames(lamp):
    with pytest.raises(InvalidInputError) as err:
        find_duplicates(lamp.drop(columns="text"))
    assert err.value.field == "text"
    with pytest.raises(InvalidInputError) as err:
        find_duplicates(lamp.assign(created_at=lamp["created_at"].dt.tz_localize(None)))
    assert err.value.field == "created_at" and "时区" in str(err.value)
    with pytest.raises(InvalidInputError) as err:
        find_duplicates(lamp.assign(id=["a", "b", "a"]))
    assert err.value.field == "id" and "'a'" in str(err.value)
    with pytest.raises(InvalidInputError) as err:
        find_duplicates(lamp, lamp.drop(columns="lat"))
    assert err.value.field == "lat"


def test_same_issue_counts(lamp):
    dup = find_duplicates(lamp)
    counts = same_issue_counts(dup, lamp["id"])
    assert counts.tolist() == [3, 3, 3]
    other = frame([("x", "ENV", "2024-05-01 08:10", *A, "垃圾堆放")])
    both = pd.concat([lamp, other], ignore_index=True)
    assert same_issue_counts(find_duplicates(both), both["id"]).tolist() == [3, 3, 3, 1]


def test_hotline_boilerplate_does_not_make_unrelated_tickets_similar():
    t0 = pd.Timestamp("2026-05-01 09:00", tz="UTC")
    df = pd.DataFrame({
        "id": ["a", "b"], "category": ["ORDER", "ORDER"], "created_at": [t0, t0 + pd.Timedelta(hours=5)],
        "lng": [104.06, 104.0601], "lat": [30.63, 30.6301],
        "text": ["市民来电反映：芳华街夜市摊位占道经营，人都走不过去。市民诉求：请尽快答复。",
                 "市民来电反映：芳华街夜市烧烤油烟太重，窗户都不敢开。市民诉求：请尽快答复。"],
    })
    assert find_duplicates(df).isna().all()


def test_repeated_texts_are_normalised_once_each_with_the_same_result():
    import pyarrow as pa

    from gridgis.ingest.dedupe import _normalise, _normalise_each

    call = "市民来电反映：３栋 路灯不亮！"
    texts = pa.chunked_array([[call, None, "ＡＢＣ噪音", call] * 50, ["请尽快处理 楼道堆物", "ＡＢＣ噪音"]])
    once = _normalise(texts)  # 4 distinct texts in 202: the dictionary path
    assert once.to_pylist() == _normalise_each(texts.fill_null("")).to_pylist()
    assert once.to_pylist()[:3] == ["3栋路灯不亮", "", "abc噪音"]
    unique = pa.chunked_array([[f"第{i}号 路灯" for i in range(10)]])
    assert _normalise(unique).to_pylist() == [f"第{i}号路灯" for i in range(10)]
