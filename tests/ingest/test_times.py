"""Time parsing: every accepted spelling, Excel serials, datetime objects, time zones and bad values."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from gridgis.errors import ConfigError
from gridgis.ingest.times import UTC_DTYPE, parse_times

UTC = "UTC"
# 2020-01-06 12:09:38 in Chengdu (UTC+8, no DST) is 04:09:38 UTC.
T = pd.Timestamp("2020-01-06 04:09:38", tz=UTC)
T_MIN = pd.Timestamp("2020-01-06 04:09:00", tz=UTC)
T_HOUR = pd.Timestamp("2020-01-06 04:00:00", tz=UTC)
T_DAY = pd.Timestamp("2020-01-05 16:00:00", tz=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2020-01-06T12:09:38+08:00", T),
        ("2020-01-06T04:09:38Z", T),
        ("2020-01-06T06:09:38+0200", T),
        ("2020-01-06 12:09:38", T),
        ("2020-01-06T12:09:38", T),
        ("2020-01-06", T_DAY),
        ("2020/1/6 12:09:38", T),
        ("2020/1/6 12:09", T_MIN),
        ("2020-1-6 12:9", T_MIN),
        ("2020.1.6", T_DAY),
        ("2020年1月6日 12时", T_HOUR),
        ("2020年1月6日 12时9分", T_MIN),
        ("2020年1月6日12时9分38秒", T),
        ("2020年1月6日", T_DAY),
        ("２０２０年１月６日　１２：０９：３８", T),
        ("2020年1月6日 下午12:09", T_MIN),
        ("2020/1/6 上午 11:09", T_MIN - pd.Timedelta(hours=1)),
        ("01/06/2020 12:09:38 PM", T),
        ("01/06/2020 12:09:38 AM", T - pd.Timedelta(hours=12)),
        ("01/06/2020", T_DAY),
        ("20200106", T_DAY),
        ("20200106120938", T),
        ("43836.5", T_HOUR),
        ("  2020-01-06 12:09:38  ", T),
        ("2020-01-06 12:09:38.250", T + pd.Timedelta(milliseconds=250)),
    ],
)
def test_each_text_format(text, expected):
    out, bad = parse_times(pd.Series([text], dtype="str"))
    assert out.iloc[0] == expected, text
    assert not bad[0]


def test_result_is_utc_aligned_and_vectorized_over_mixed_formats():
    values = pd.Series(
        ["2020/1/6 12:09:38", None, "2020-01-06T12:09:38+08:00", "2020年1月6日 12时9分38秒", ""],
        dtype="str", index=[7, 8, 9, 10, 11],
    )
    out, bad = parse_times(values)
    assert str(out.dtype) == UTC_DTYPE and out.index.tolist() == [7, 8, 9, 10, 11]
    assert out[7] == out[9] == out[10] == T
    assert pd.isna(out[8]) and pd.isna(out[11])
    assert bad.dtype == bool and not bad.any()  # empty is not bad


@pytest.mark.parametrize(
    "text", ["明天", "2020-13-45", "2020-02-30", "12345", "9999-12-31", "abc 2020", "25:00"]
)
def test_bad_values_are_flagged(text):
    out, bad = parse_times(pd.Series(["2020-01-06", text], dtype="str"))
    assert out.iloc[0] == T_DAY
    assert pd.isna(out.iloc[1]) and bad.tolist() == [False, True]


def test_excel_serials_and_numbers():
    values = pd.Series([43836.5, 43836.50000000001, np.nan, 5.0, 20200106, 90000.0])
    out, bad = parse_times(values)
    assert out.iloc[0] == out.iloc[1] == T_HOUR
    assert out.iloc[4] == T_DAY
    assert bad.tolist() == [False, False, False, True, False, True]


def test_openpyxl_style_object_column():
    values = pd.Series(
        [dt.datetime(2020, 1, 6, 12, 9, 38), 43836.5, "2020/1/6", None, dt.time(12, 0), True,
         dt.datetime(2020, 1, 6, 4, 9, 38, tzinfo=dt.UTC), dt.date(2020, 1, 6), "   "],
        dtype=object,
    )
    out, bad = parse_times(values)
    assert out.tolist()[:3] == [T, T_HOUR, T_DAY]
    assert out.iloc[6] == T and out.iloc[7] == T_DAY
    assert bad.tolist() == [False, False, False, False, True, True, False, False, False]


def test_datetime_dtypes():
    naive = pd.Series(pd.to_datetime(["2020-01-06 12:09:38", None]))
    out, bad = parse_times(naive)
    assert out.iloc[0] == T and pd.isna(out.iloc[1]) and not bad.any()
    aware = pd.Series(pd.to_datetime(["2020-01-06 12:09:38"]).tz_localize("Asia/Shanghai"))
    assert parse_times(aware)[0].iloc[0] == T


def test_other_timezone_and_dst_gaps():
    values = pd.Series(["2021-03-14 02:30", "2021-11-07 01:30", "2021-06-01 12:00", "2021-06-01T12:00+08:00"])
    out, bad = parse_times(values, tz="America/New_York")
    # 02:30 does not exist and 01:30 happens twice that night: flagged, never guessed
    assert bad.tolist() == [True, True, False, False]
    assert out.iloc[2] == pd.Timestamp("2021-06-01 16:00", tz=UTC)
    assert out.iloc[3] == pd.Timestamp("2021-06-01 04:00", tz=UTC)  # aware: the zone does not matter


def test_china_1988_dst_is_handled_by_the_zone_database():
    # China observed DST 1986–1991; 1988-04-17 02:30 did not exist in Asia/Shanghai.
    out, bad = parse_times(pd.Series(["1988-04-17 02:30", "1988-07-01 12:00"]))
    assert bad.tolist() == [True, False]
    assert out.iloc[1] == pd.Timestamp("1988-07-01 03:00", tz=UTC)  # UTC+9 in summer 1988


def test_explicit_format_is_the_only_format():
    values = pd.Series(["06.01.2020 12:09", "2020-01-06 12:09:38", None])
    out, bad = parse_times(values, time_format="%d.%m.%Y %H:%M")
    assert out.iloc[0] == T_MIN
    assert bad.tolist() == [False, True, False]
    numbers, bad = parse_times(pd.Series([20200106, 43836.5]), time_format="%Y%m%d")
    assert numbers.iloc[0] == T_DAY and bad.tolist() == [False, True]
    aware, _ = parse_times(pd.Series(["2020-01-06 12:09 +0800"]), time_format="%Y-%m-%d %H:%M %z")
    assert aware.iloc[0] == T_MIN


def test_invalid_timezone():
    with pytest.raises(ConfigError) as err:
        parse_times(pd.Series(["2020-01-06"]), tz="Mars/Base")
    assert err.value.field == "timezone"


def test_empty_and_all_missing():
    out, bad = parse_times(pd.Series([], dtype="str"))
    assert len(out) == 0 and len(bad) == 0
    out, bad = parse_times(pd.Series([None, None], dtype=object))
    assert out.isna().all() and not bad.any()


def test_duplicate_index_labels_are_kept_apart():
    values = pd.Series(["2020-01-06 12:09:38", "2020年1月6日", "x"], index=[3, 3, 3], dtype="str")
    out, bad = parse_times(values)
    assert out.index.tolist() == [3, 3, 3]
    assert out.tolist()[:2] == [T, T_DAY] and pd.isna(out.iloc[2]) and bad.tolist() == [False, False, True]
