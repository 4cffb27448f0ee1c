"""Row checks: placeholder values count as empty in text columns; number columns are left as they are."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridgis.ingest.validate import blank_null_tokens


def test_placeholders_are_blanked_in_text_columns_and_numbers_are_untouched():
    frame = pd.DataFrame({
        "text": pd.Series([" NULL ", "n/a", "路灯不亮", "无", None], dtype="str"),
        "mixed": pd.Series(["-", 104.06, "nan", 1, "ok"], dtype=object),
        "lng": np.array([104.06, np.nan, 0.0, -1.5, np.inf]),
        "n": pd.Series([1, None, 3, 4, 5], dtype="Int64"),
        "t": pd.to_datetime(["2026-01-01", None, "2026-01-03", "2026-01-04", "2026-01-05"]),
    })
    out = blank_null_tokens(frame)
    assert out["text"].isna().tolist() == [True, True, False, True, True]
    assert out["mixed"].isna().tolist() == [True, False, True, False, False]
    pd.testing.assert_series_equal(out["lng"], frame["lng"])
    pd.testing.assert_series_equal(out["n"], frame["n"])
    pd.testing.assert_series_equal(out["t"], frame["t"])
    assert frame["text"].iloc[0] == " NULL "  # the input frame is not modified
