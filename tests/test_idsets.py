"""gridgis.idsets: isin and positions answer as Python sets and lists do, whatever container holds the ids."""

import numpy as np
import pandas as pd
import pytest

from gridgis.idsets import isin, positions

IDS = [f"12345:GD{i}" for i in range(2_000)] + ["api:网格-1", "", "patrol:x y"]
SOME = IDS[::7] + ["12345:GD999999", "api:网格-2"]


def _containers(values):
    return [list(values), np.array(values, dtype=object), pd.Series(values, dtype="str"),
            pd.Series(values, dtype=object), pd.Index(values)]


@pytest.mark.parametrize("values_kind", range(5))
@pytest.mark.parametrize("of_kind", range(5))
def test_isin_matches_a_python_set(values_kind, of_kind):
    values, of = _containers(IDS)[values_kind], _containers(SOME)[of_kind]
    expected = np.array([v in set(SOME) for v in IDS])
    got = isin(values, of)
    assert got.dtype == bool and got.shape == (len(IDS),)
    assert (got == expected).all()


def test_missing_values_and_empty_sides():
    assert isin(["a", None, "b"], pd.Series(["b", None])).tolist() == [False, True, True]
    assert isin(["a", None], ["a"]).tolist() == [True, False]
    assert isin(["a"], []).tolist() == [False]
    assert isin([], ["a"]).tolist() == []


@pytest.mark.parametrize("values_kind", range(5))
@pytest.mark.parametrize("of_kind", range(5))
def test_positions_match_list_index(values_kind, of_kind):
    values, of = _containers(IDS)[values_kind], _containers(SOME)[of_kind]
    expected = np.array([SOME.index(v) if v in SOME else -1 for v in IDS])
    got = positions(values, of)
    assert got.dtype == np.int64 and (got == expected).all()
    assert positions([], SOME).shape == (0,) and positions(["a"], []).tolist() == [-1]
