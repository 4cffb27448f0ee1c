"""Parse request times as exports write them into timezone-aware UTC timestamps, vectorized.

Each known format is tried on the values still unparsed (never row by row): ISO 8601 with or without
offset, 2020/1/6 12:09[:38], 2020年1月6日 12时[9分[38秒]], 2020.1.6, 上午/下午, US 01/06/2020 12:09:38 PM,
compact 20200106[120938], Excel serial days (20000–80000) and datetime objects from openpyxl.
Naive times are local in ``tz``; a local time that does not exist or is ambiguous there (a DST
switch) is reported bad rather than guessed.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from gridgis.errors import ConfigError, InvalidInputError
from gridgis.ingest.numbers import (
    arrow_text,
    normalize_text,
    parse_numbers,
    present_mask,
    text_series,
    value_kinds,
)

__all__ = ["EXCEL_SERIAL_RANGE", "UTC_DTYPE", "check_timezone", "parse_numbers", "parse_times"]

UTC_DTYPE = "datetime64[ns, UTC]"
EXCEL_SERIAL_RANGE = (20_000.0, 80_000.0)  # 1954-10-03 … 2119-01-10: plausible request dates only
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")  # day 0 of Excel's 1900 system (after its leap-year bug)

_PROBE = 256  # values a format is tried on before it is run over a whole column
# Applied after normalisation (date parts joined by "-", Chinese units replaced, 上午/下午 -> AM/PM).
_NAIVE_FORMATS = (
    "ISO8601",
    "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H", "%Y-%m-%d",
    "%Y-%m-%d %p %I:%M:%S", "%Y-%m-%d %p %I:%M", "%Y-%m-%d %p %I",
    "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y",
    "%Y%m%d%H%M%S", "%Y%m%d %H:%M:%S", "%Y%m%d",
)
_DATE_PART = r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?\s*"
_OFFSET = r"\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$"


def check_timezone(tz: str) -> str:
    """``tz`` if it is an IANA zone name, else a ConfigError naming the setting."""
    try:
        ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"时区 {tz!r} 无效，应为 IANA 名称如 Asia/Shanghai / invalid timezone {tz!r}; use an IANA name "
            "such as Asia/Shanghai",
            field="timezone",
        ) from None
    return str(tz)


def parse_times(
    values: pd.Series, tz: str = "Asia/Shanghai", time_format: str | None = None
) -> tuple[pd.Series, np.ndarray]:
    """(``datetime64[ns, UTC]`` Series aligned with ``values``, bool mask of values present but unparsable).

    Empty/NA values give NaT and are not bad: whether a time is required is the caller's decision.
    ``time_format`` (strftime syntax, e.g. ``"%d.%m.%Y %H:%M"``) replaces the built-in formats for text
    and numbers; datetime values are taken as they are.
    """
    check_timezone(tz)
    values = pd.Series(values)
    index = values.index
    # Work on positions: the parts below are written back by label, which must be unique.
    values = values.reset_index(drop=True)
    out = pd.Series(pd.NaT, index=values.index, dtype=UTC_DTYPE)
    present = present_mask(values)
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(values.dtype):
        _fill(out, _from_datetimes(values[present], tz))
    elif pd.api.types.is_bool_dtype(values.dtype):
        pass
    elif pd.api.types.is_numeric_dtype(values.dtype):
        _fill(out, _from_numbers(values[present], tz, time_format))
    elif values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) != "string":
        kinds = _object_kinds(values)
        parsers = {
            "dt": lambda sub: _from_objects(sub, tz),
            "num": lambda sub: _from_numbers(sub, tz, time_format),
            "str": lambda sub: _from_text(sub.astype("str"), tz, time_format),
        }
        for kind, parse in parsers.items():
            sel = present & (kinds == kind)
            if sel.any():
                _fill(out, parse(values[sel]))
    elif present.any():
        _fill(out, _from_text(values[present].astype("str"), tz, time_format))
    bad = present & out.isna().to_numpy(dtype=bool)
    out.index = index
    return out, bad


_NS_MIN = pd.Timestamp("1678-01-01", tz="UTC")
_NS_MAX = pd.Timestamp("2261-12-31", tz="UTC")


def _fill(out: pd.Series, parts: list[pd.Series]) -> None:
    """Write parsed UTC times into ``out``; times outside the nanosecond range (year 9999) stay NaT."""
    for parsed in parts:
        parsed = parsed.dropna()
        parsed = parsed[(parsed >= _NS_MIN) & (parsed <= _NS_MAX)]
        if len(parsed):
            out.loc[parsed.index] = parsed.astype(UTC_DTYPE)


def _localize(naive: pd.Series, tz: str) -> pd.Series:
    """Naive local times -> UTC; nonexistent/ambiguous local times (DST switches) become NaT (bad)."""
    if not len(naive):
        return pd.Series([], index=naive.index, dtype=UTC_DTYPE)
    local = naive.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    return local.dt.tz_convert("UTC")


def _from_datetimes(sub: pd.Series, tz: str) -> list[pd.Series]:
    if isinstance(sub.dtype, pd.DatetimeTZDtype):
        return [sub.dt.tz_convert("UTC")]
    return [_localize(sub, tz)]


def _object_kinds(values: pd.Series) -> np.ndarray:
    inferred = pd.api.types.infer_dtype(values, skipna=True)
    if inferred in ("datetime", "datetime64", "date"):
        return np.full(len(values), "dt", dtype=object)
    kinds = value_kinds(values)
    if inferred in ("integer", "floating", "mixed-integer-float", "decimal"):
        return kinds
    # "other" cells: datetime/date/Timestamp objects are times, anything else (time-only, bool) is bad.
    is_dt = values.map(lambda v: isinstance(v, (dt.date, np.datetime64))).to_numpy(dtype=bool)
    return np.where(is_dt & (kinds == "other"), "dt", kinds)


def _from_objects(sub: pd.Series, tz: str) -> list[pd.Series]:
    """datetime/date/Timestamp objects (openpyxl gives naive ones); aware ones are converted."""
    aware = sub.map(lambda v: getattr(v, "tzinfo", None) is not None).to_numpy(dtype=bool)
    parts = []
    if (~aware).any():
        naive = pd.Series(pd.to_datetime(list(sub[~aware])), index=sub.index[~aware])
        parts.append(_localize(naive, tz))
    if aware.any():
        parts.append(pd.Series(pd.to_datetime(list(sub[aware]), utc=True), index=sub.index[aware]))
    return parts


def _from_numbers(sub: pd.Series, tz: str, time_format: str | None = None) -> list[pd.Series]:
    """Excel serial days in the plausible range; 8/14-digit integers read as 20200106[120938]."""
    nums = pd.to_numeric(sub, errors="coerce").astype(np.float64)
    integral = np.isfinite(nums) & (nums == np.floor(nums))
    if time_format:
        # With an explicit format a number cell is its digits, e.g. 20200106 for "%Y%m%d".
        return _from_text(nums[integral].astype(np.int64).astype("str"), tz, time_format)
    compact = integral & (((nums >= 1e7) & (nums < 1e8)) | ((nums >= 1e13) & (nums < 1e14)))
    serial = (nums >= EXCEL_SERIAL_RANGE[0]) & (nums <= EXCEL_SERIAL_RANGE[1])
    parts = _from_text(nums[compact].astype(np.int64).astype("str"), tz)
    if serial.any():
        # Excel keeps milliseconds; round away float noise such as 43836.50000000001.
        naive = (_EXCEL_EPOCH + pd.to_timedelta(nums[serial], unit="D")).dt.round("ms")
        parts.append(_localize(naive, tz))
    return parts


def _from_text(text: pd.Series, tz: str, time_format: str | None = None) -> list[pd.Series]:
    """Parts (each a UTC Series on a subset of ``text``'s index) for the values that parsed."""
    import pyarrow.compute as pc

    if text.empty:
        return []
    text = normalize_text(text)
    if time_format:
        aware = "%z" in time_format or "%Z" in time_format
        try:
            parsed = pd.to_datetime(text, format=time_format, errors="coerce", utc=aware)
        except ValueError as exc:
            raise InvalidInputError(
                f"时间格式 {time_format!r} 无效：{exc} / invalid time format {time_format!r}: {exc}",
                field="time_format",
            ) from exc
        return [parsed if aware else _localize(parsed, tz)]
    arr = arrow_text(text)
    aware = pc.fill_null(pc.match_substring_regex(arr, _OFFSET), False).to_numpy(zero_copy_only=False)
    parts = []
    if aware.any():
        parts.append(pd.to_datetime(text[aware], format="ISO8601", errors="coerce", utc=True))
    todo = _try_formats(text[~aware], ("ISO8601",), tz, parts)  # the common spelling, untouched
    if not todo.empty:
        todo = _try_formats(_normalize(todo), _NAIVE_FORMATS, tz, parts)
    if not todo.empty:
        # Excel serials that reached a CSV as text ("43836.5").
        nums, _ = parse_numbers(todo)
        in_range = (nums >= EXCEL_SERIAL_RANGE[0]) & (nums <= EXCEL_SERIAL_RANGE[1])
        if in_range.any():
            parts += _from_numbers(pd.Series(nums[in_range], index=todo.index[in_range]), tz)
    return parts


def _try_formats(todo: pd.Series, formats: tuple[str, ...], tz: str, parts: list[pd.Series]) -> pd.Series:
    """Parse what each format can, in order, on the still-unparsed values; returns the rest.

    A format that parses nothing of the first values is deferred to the leftovers, so a column in
    one non-ISO format costs one failed pass over a probe, not one per format over the whole column.
    """
    deferred = []
    for probing, fmts in ((True, formats), (False, deferred)):
        for fmt in fmts:
            if todo.empty:
                return todo
            if probing and len(todo) > _PROBE:
                if pd.to_datetime(todo.iloc[:_PROBE], format=fmt, errors="coerce").isna().all():
                    deferred.append(fmt)
                    continue
            parsed = pd.to_datetime(todo, format=fmt, errors="coerce")
            ok = parsed.notna().to_numpy(dtype=bool)
            if ok.any():
                parts.append(_localize(parsed[ok], tz))
                todo = todo[~ok]
    return todo


def _normalize(text: pd.Series) -> pd.Series:
    """One spelling for the many: 2020年1月6日 / 2020/1/6 / 2020.1.6 -> 2020-1-6, 12时9分 -> 12:9."""
    import pyarrow.compute as pc

    arr = pc.replace_substring_regex(arrow_text(text), _DATE_PART, r"\1-\2-\3 ")
    rules = [(r"\s+", " "), (r"\sT", "T"), (r"[\s:]+$", "")]
    if not pc.all(pc.fill_null(pc.string_is_ascii(arr), True)).as_py():
        rules[:0] = [("上午", " AM "), ("下午", " PM "), (r"\s*[时點点]\s*", ":"), (r"\s*分\s*", ":"),
                     (r"\s*秒", "")]
    for pattern, repl in rules:
        arr = pc.replace_substring_regex(arr, pattern, repl)
    return text_series(pc.utf8_trim_whitespace(arr), text.index)
