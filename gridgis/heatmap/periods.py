"""Local calendar periods for demand counts: day/week/month indexes and splitting a time range into them.

Indexes are plain integers so that SQL can group by them: a *day* is the number of local days since
1970-01-01, a *week* starts on Monday (``(day + 3) // 7``, 1970-01-01 was a Thursday), a *month* is
``year * 12 + month - 1`` and a *year* is the calendar year — the same encoding as the ``demand_counts``
table (migration 0002). With a fixed UTC offset the local day of an instant is
``(epoch_seconds + offset) // 86400``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gridgis.errors import InvalidInputError

DAY_S = 86_400
QUARTER_HOUR_S = 900  # every UTC offset in use is a multiple of 15 minutes
BUCKETS = ("day", "week", "month")
_EPOCH_MONTH = 1970 * 12
WEEK_SHIFT = 3  # 1970-01-01 (day 0) was a Thursday: weeks start on Monday


EARLIEST = pd.Timestamp("2000-01-01", tz="UTC")  # no request is older; see check_filter_time


def check_filter_time(t: pd.Timestamp, name: str, raw: object) -> pd.Timestamp:
    """``t`` (tz-aware), when it lies between 2000-01-01 and a year from now; else InvalidInputError naming
    ``name``. Trends count every period between a filter's ends: year 123 (read from "１２３") or 9999
    made one web request run for minutes (Mann-Kendall over thousands of empty months)."""
    latest = pd.Timestamp.now(tz="UTC").normalize() + pd.DateOffset(years=1)
    if not EARLIEST <= t <= latest:
        raise InvalidInputError(
            f"参数 {name} 须在 {EARLIEST:%Y-%m-%d} 与 {latest:%Y-%m-%d} 之间 / {name} must be between "
            f"{EARLIEST:%Y-%m-%d} and {latest:%Y-%m-%d}, got {raw!r}", field=name)
    return t


def week_of_day(day):
    return (np.asarray(day, dtype=np.int64) + WEEK_SHIFT) // 7


def day_of_week(week):
    return np.asarray(week, dtype=np.int64) * 7 - WEEK_SHIFT


def month_of_day(day):
    months = np.asarray(day, dtype=np.int64).astype("datetime64[D]").astype("datetime64[M]")
    return months.astype(np.int64) + _EPOCH_MONTH


def day_of_month(month):
    m = (np.asarray(month, dtype=np.int64) - _EPOCH_MONTH).astype("datetime64[M]")
    return m.astype("datetime64[D]").astype(np.int64)


def bucket_of_day(day, bucket: str):
    """Bucket index (day, week or month index) of local day indexes."""
    if bucket == "day":
        return np.asarray(day, dtype=np.int64)
    if bucket == "week":
        return week_of_day(day)
    return month_of_day(day)


def bucket_start_day(index, bucket: str):
    """First local day of bucket indexes."""
    if bucket == "day":
        return np.asarray(index, dtype=np.int64)
    if bucket == "week":
        return day_of_week(index)
    return day_of_month(index)


def bucket_starts(index, bucket: str, tz: str) -> pd.DatetimeIndex:
    """Bucket indexes → tz-aware local start instants (local midnight)."""
    days = bucket_start_day(index, bucket)
    naive = pd.to_datetime(np.asarray(days, dtype=np.int64), unit="D")
    # A midnight that does not exist (DST jump at 00:00) moves forward, an ambiguous one is the first.
    return naive.tz_localize(tz, nonexistent="shift_forward", ambiguous=True)


def local_days_of_epochs(epoch_s, tz: str) -> np.ndarray:
    """UTC epoch seconds → local day indexes in ``tz`` (any zone, DST included)."""
    t = pd.to_datetime(np.asarray(epoch_s, dtype=np.int64), unit="s", utc=True).tz_convert(tz)
    wall = t.tz_localize(None).to_numpy().astype("datetime64[D]")
    return wall.astype(np.int64)


def epoch_of_local_day(day: int, tz: str) -> int:
    """UTC epoch seconds of the local midnight starting day index ``day``."""
    return int(bucket_starts([day], "day", tz)[0].timestamp())


def fixed_offset(tz: str, lo_s: int, hi_s: int) -> int | None:
    """The zone's UTC offset in seconds if it is the same throughout [lo_s, hi_s], else None."""
    step = 7 * DAY_S  # shorter than any daylight-saving period
    points = np.unique(np.append(np.arange(int(lo_s), int(hi_s), step, dtype=np.int64), [lo_s, hi_s]))
    utc = pd.to_datetime(points, unit="s", utc=True)
    offsets = (utc.tz_convert(tz).tz_localize(None) - utc.tz_localize(None)).total_seconds()
    values = np.unique(offsets.to_numpy())
    return int(values[0]) if values.size == 1 else None


@dataclass(frozen=True)
class Piece:
    """Part of a time range: ``raw`` [lo, hi) in UTC epoch seconds lying inside one local day, or
    whole ``D`` days / ``M`` months / ``Y`` years [lo, hi) as indexes (a ``D`` piece never crosses
    a month boundary)."""

    level: str
    lo: int
    hi: int


def split_range(lo_s: int, hi_s: int, offset_s: int, levels: tuple[str, ...], *,
                cut_months: bool = True) -> list[Piece]:
    """Cover [lo_s, hi_s) (UTC seconds) with the coarsest whole local periods in ``levels``.

    ``levels`` is ("D",), ("D", "M") or ("D", "M", "Y"). What is left at the ends (less than a day
    each) becomes ``raw`` pieces, each inside one local day. ``cut_months=False`` keeps runs of
    whole days in one ``D`` piece even across month starts (when no month label is needed).
    """
    if hi_s <= lo_s:
        return []
    lo, hi = lo_s + offset_s, hi_s + offset_s  # local wall-clock seconds
    d0, d1 = -(-lo // DAY_S), hi // DAY_S
    if d0 >= d1:
        # No whole day inside: at most one local midnight to split at.
        cut = [c for c in range(d0 * DAY_S, hi, DAY_S) if lo < c]
        edges = [lo, *cut, hi]
        return [Piece("raw", a - offset_s, b - offset_s) for a, b in zip(edges[:-1], edges[1:], strict=True)
                if b > a]
    pieces = []
    if lo < d0 * DAY_S:
        pieces.append(Piece("raw", lo_s, d0 * DAY_S - offset_s))
    days = _split_days(d0, d1, levels)
    if not cut_months:
        days = _merge_days(days)
    pieces += days
    if d1 * DAY_S < hi:
        pieces.append(Piece("raw", d1 * DAY_S - offset_s, hi_s))
    return pieces


def _split_days(d0: int, d1: int, levels: tuple[str, ...]) -> list[Piece]:
    m0 = int(month_of_day(d0))
    if int(day_of_month(m0)) < d0:
        m0 += 1  # first month starting inside [d0, d1)
    m1 = int(month_of_day(d1))  # months [m0, m1) lie wholly inside
    if "M" not in levels or m0 >= m1:
        return _days_by_month(d0, d1)
    return (_days_by_month(d0, int(day_of_month(m0))) + _split_months(m0, m1, levels)
            + _days_by_month(int(day_of_month(m1)), d1))


def _split_months(m0: int, m1: int, levels: tuple[str, ...]) -> list[Piece]:
    y0, y1 = -(-m0 // 12), m1 // 12
    if "Y" not in levels or y0 >= y1:
        return [Piece("M", m0, m1)] if m1 > m0 else []
    out = [Piece("M", m0, y0 * 12)] if y0 * 12 > m0 else []
    out.append(Piece("Y", y0, y1))
    if m1 > y1 * 12:
        out.append(Piece("M", y1 * 12, m1))
    return out


def _days_by_month(d0: int, d1: int) -> list[Piece]:
    """Whole days [d0, d1) cut at month starts, so every piece has one month label."""
    if d1 <= d0:
        return []
    starts = day_of_month(np.arange(int(month_of_day(d0)) + 1, int(month_of_day(d1 - 1)) + 1))
    edges = [d0, *[int(s) for s in starts], d1]
    return [Piece("D", a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def _merge_days(pieces: list[Piece]) -> list[Piece]:
    out: list[Piece] = []
    for p in pieces:
        if out and p.level == "D" and out[-1].level == "D" and out[-1].hi == p.lo:
            out[-1] = Piece("D", out[-1].lo, p.hi)
        else:
            out.append(p)
    return out


# Relative cost of reading one period of each level (rows per period grow with its length, less than
# proportionally because one row sums many requests) and of one day of raw requests (read through an
# index with a table lookup per row).
_COST = {"Y": 25.0, "M": 10.0, "D": 1.0}
_RAW_COST_PER_DAY = 10.0


def _cost(pieces: list[Piece]) -> float:
    return sum((p.hi - p.lo) * (_RAW_COST_PER_DAY / DAY_S if p.level == "raw" else _COST[p.level])
               for p in pieces)


def _month_floor(t: int, offset_s: int, unit: int) -> int:
    m = int(month_of_day((t + offset_s) // DAY_S))
    return int(day_of_month(m - m % unit)) * DAY_S - offset_s


def _month_ceil(t: int, offset_s: int, unit: int) -> int:
    m = int(month_of_day((t - 1 + offset_s) // DAY_S)) + 1
    return int(day_of_month(m + (-m) % unit)) * DAY_S - offset_s


def plan_range(lo_s: int, hi_s: int, offset_s: int, levels: tuple[str, ...], *,
               cut_months: bool = True) -> list[tuple[int, Piece]]:
    """Signed pieces whose sum is [lo_s, hi_s): the cheapest of adding inner pieces or taking the
    enclosing whole months/years and subtracting what lies outside (counts are additive), e.g. the
    365 days from 2025-01-15 are the year 2025 minus its first 14 days rather than 11 months + 17 days.
    """
    def inner(a: int, b: int) -> list[Piece]:
        return split_range(a, b, offset_s, levels, cut_months=cut_months)

    lows, highs = [lo_s], [hi_s]
    for unit, level in ((1, "M"), (12, "Y")):
        if level in levels:
            lows.append(_month_floor(lo_s, offset_s, unit))
            highs.append(_month_ceil(hi_s, offset_s, unit))
    best: tuple[float, list[tuple[int, Piece]]] | None = None
    for a in dict.fromkeys(lows):
        for b in dict.fromkeys(highs):
            plan = [(1, p) for p in inner(a, b)] + [(-1, p) for p in inner(a, lo_s) + inner(hi_s, b)]
            cost = _cost([p for _, p in plan])
            if best is None or cost < best[0] - 1e-9:
                best = (cost, plan)
    return best[1] if best else []
