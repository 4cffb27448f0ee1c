"""Number parsing for coordinates and counts: full-width digits, degrees, DMS, commas, text rejected."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridgis.ingest.numbers import parse_numbers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("104.0657", 104.0657),
        ("  30.6573 ", 30.6573),
        ("１０４．０６５７", 104.0657),
        ("－１２．５", -12.5),
        ("−12.5", -12.5),
        ("104.0657°", 104.0657),
        ("104.0657 度", 104.0657),
        ("104°3'56.52\"", 104 + 3 / 60 + 56.52 / 3600),
        ("30°39′26.28″", 30 + 39 / 60 + 26.28 / 3600),
        ("-104°3′", -(104 + 3 / 60)),
        ("104,06", 104.06),
        ("1,234.5", 1234.5),
        ("1,234,567", 1234567.0),
        ("+7", 7.0),
        ("1e3", 1000.0),
    ],
)
def test_accepted_spellings(text, expected):
    values, bad = parse_numbers(pd.Series([text], dtype="str"))
    assert values[0] == pytest.approx(expected, abs=1e-9), text
    assert not bad[0]


@pytest.mark.parametrize(
    "text", ["abc", "104,065", "N/A", "inf", "nan", "12 34", "104°75'", "0x10", "104.06E", "三十"]
)
def test_rejected_text(text):
    values, bad = parse_numbers(pd.Series(["1", text], dtype="str"))
    assert values[0] == 1.0 and np.isnan(values[1]) and bad.tolist() == [False, True], text


def test_missing_is_not_bad_and_result_is_float64():
    values, bad = parse_numbers(pd.Series([None, "", "   ", "3"], dtype="str"))
    assert values.dtype == np.float64
    assert np.isnan(values[:3]).all() and values[3] == 3.0
    assert not bad.any()


def test_numeric_and_object_columns():
    values, bad = parse_numbers(pd.Series([104.06, np.nan, np.inf]))
    assert values[0] == 104.06 and np.isnan(values[1:]).all() and bad.tolist() == [False, False, True]
    mixed = pd.Series([104, 30.5, "１０４", None, True, "x"], dtype=object)  # an XLSX column
    values, bad = parse_numbers(mixed)
    assert values[:3].tolist() == [104.0, 30.5, 104.0]
    assert bad.tolist() == [False, False, False, False, True, True]


def test_booleans_are_not_numbers():
    values, bad = parse_numbers(pd.Series([True, False]))
    assert np.isnan(values).all() and bad.all()


def test_index_is_ignored_and_length_kept():
    values, bad = parse_numbers(pd.Series(["1", "x"], index=[40, 41], dtype="str"))
    assert values.tolist()[0] == 1.0 and bad.tolist() == [False, True]
