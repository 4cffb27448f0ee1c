"""Query-parameter parsing for the API: each failure names the parameter and the allowed values."""

from __future__ import annotations

import pandas as pd
from flask import request

from gridgis.errors import InvalidInputError
from gridgis.heatmap.periods import check_filter_time


def get_int(name: str, default: int, lo: int, hi: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        v = int(raw)
    except ValueError as exc:
        raise InvalidInputError(f"参数 {name} 须为整数 / {name} must be an integer, got {raw!r}", field=name) from exc
    if not lo <= v <= hi:
        raise InvalidInputError(f"参数 {name} 须在 {lo}–{hi} / {name} must be within {lo}–{hi}, got {v}", field=name)
    return v


def get_time(name: str, tz: str) -> pd.Timestamp | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    try:
        t = pd.Timestamp(raw)
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(
            f"参数 {name} 须为 ISO 8601 日期 / {name} must be an ISO 8601 date or time, got {raw!r}", field=name
        ) from exc
    if t is pd.NaT:
        raise InvalidInputError(f"参数 {name} 无效 / invalid {name}: {raw!r}", field=name)
    return check_filter_time(t.tz_localize(tz) if t.tzinfo is None else t, name, raw)


def get_list(name: str) -> list[str]:
    vals: list[str] = []
    for raw in request.args.getlist(name):
        vals.extend(v.strip() for v in raw.split(",") if v.strip())
    return vals


def get_bbox(name: str = "bbox") -> tuple[float, float, float, float] | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    try:
        parts = [float(v) for v in raw.split(",")]
    except ValueError as exc:
        raise InvalidInputError(
            f"参数 {name} 须为 min_lng,min_lat,max_lng,max_lat / {name} must be min_lng,min_lat,max_lng,max_lat",
            field=name,
        ) from exc
    if len(parts) != 4:
        raise InvalidInputError(f"参数 {name} 需要 4 个数 / {name} needs 4 numbers", field=name)
    x0, y0, x1, y1 = parts
    if not (-180 <= x0 < x1 <= 180 and -90 <= y0 < y1 <= 90):
        raise InvalidInputError(
            f"参数 {name} 范围无效 / {name} must satisfy -180<=min_lng<max_lng<=180, -90<=min_lat<max_lat<=90",
            field=name,
        )
    return x0, y0, x1, y1
