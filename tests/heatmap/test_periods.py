"""Local calendar indexes and the splitting of time ranges into whole days, months and years."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from gridgis.heatmap import periods

TZ = "Asia/Shanghai"
OFFSET = 8 * 3600


def day(text: str) -> int:
    return int((pd.Timestamp(text) - pd.Timestamp("1970-01-01")).days)


def test_indexes_of_known_dates():
    assert periods.week_of_day(day("2026-03-30")) == periods.week_of_day(day("2026-04-05"))  # Monday … Sunday
    assert periods.week_of_day(day("2026-03-29")) == periods.week_of_day(day("2026-03-30")) - 1
    assert periods.day_of_week(periods.week_of_day(day("2026-04-02"))) == day("2026-03-30")
    assert periods.month_of_day(day("2026-03-31")) == 2026 * 12 + 2
    assert periods.day_of_month(2026 * 12 + 3) == day("2026-04-01")
    assert list(periods.bucket_starts([2026 * 12 + 2], "month", TZ)) == [pd.Timestamp("2026-03-01", tz=TZ)]
    ts = int(pd.Timestamp("2026-03-31 23:30", tz=TZ).timestamp())
    assert periods.local_days_of_epochs([ts], TZ)[0] == day("2026-03-31")
    assert (ts + OFFSET) // periods.DAY_S == day("2026-03-31")


def test_fixed_offset_sees_daylight_saving():
    jan, jul = (int(pd.Timestamp(t, tz="UTC").timestamp()) for t in ("2026-01-10", "2026-07-10"))
    assert periods.fixed_offset(TZ, jan, jul) == OFFSET
    assert periods.fixed_offset("Europe/Berlin", jan, jul) is None
    assert periods.fixed_offset("Europe/Berlin", jan, jan + 30 * periods.DAY_S) == 3600


def seconds(piece: periods.Piece) -> tuple[int, int]:
    """A piece as UTC seconds [start, end)."""
    if piece.level == "raw":
        return piece.lo, piece.hi
    if piece.level == "D":
        lo, hi = piece.lo, piece.hi
    elif piece.level == "M":
        lo, hi = periods.day_of_month(piece.lo), periods.day_of_month(piece.hi)
    else:
        lo, hi = periods.day_of_month(piece.lo * 12), periods.day_of_month(piece.hi * 12)
    return int(lo) * periods.DAY_S - OFFSET, int(hi) * periods.DAY_S - OFFSET


START = int(pd.Timestamp("2024-06-01", tz=TZ).timestamp())
SPAN = 3 * 366 * periods.DAY_S


@settings(max_examples=300, deadline=None)
@given(st.integers(0, SPAN), st.integers(1, SPAN), st.sampled_from([("D",), ("D", "M"), ("D", "M", "Y")]),
       st.booleans())
def test_signed_pieces_add_up_to_exactly_the_range(a, length, levels, cut_months):
    lo, hi = START + a, START + a + length
    plan = periods.plan_range(lo, hi, OFFSET, levels, cut_months=cut_months)
    # Coverage as a step function: +1/-1 at each piece's ends; it must be 1 on [lo, hi) and 0 elsewhere.
    edges = {lo: 0, hi: 0}
    for sign, p in plan:
        a0, a1 = seconds(p)
        assert a0 < a1
        if p.level == "raw":
            assert (a0 + OFFSET) // periods.DAY_S == (a1 - 1 + OFFSET) // periods.DAY_S  # inside one day
        if p.level == "D" and cut_months:
            assert periods.month_of_day(p.lo) == periods.month_of_day(p.hi - 1)  # one month label
        assert {"raw", "D", "M", "Y"} >= {p.level} and (p.level == "raw" or p.level in levels)
        edges[a0] = edges.get(a0, 0) + sign
        edges[a1] = edges.get(a1, 0) - sign
    points = sorted(edges)
    level = np.cumsum([edges[p] for p in points])
    for p, cover in zip(points, level, strict=True):
        assert cover == (1 if lo <= p < hi else 0), (p, cover)
