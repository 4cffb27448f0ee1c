"""gridgis.idsets.isin: the same answer as Python sets, whatever container holds the ids."""

import numpy as np
import pandas as pd
import pytest

from gridgis.idsets import isin

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
