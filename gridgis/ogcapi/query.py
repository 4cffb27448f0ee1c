"""Query parameters of the OGC API: parsed, checked against what a resource declares, unknown ones refused.

Every failure is an :class:`~gridgis.errors.InvalidInputError` whose ``field`` is the parameter, so
the web adapter answers 400 naming it (Part 1, /req/core/query-param-invalid and -unknown).
Times: ``datetime`` is an RFC 3339 instant or a closed/half-open interval (``a/b``, ``../b``, ``a/..``);
a date alone means that whole local day, a time without offset is local time. Internally a time
filter is ``[lo, hi)`` in UTC epoch seconds (requests are stored to the second).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from gridgis.errors import InvalidInputError
from gridgis.heatmap.periods import check_filter_time
from gridgis.ogcapi.crs import CRS84, bbox_to_crs84, check_crs

DEFAULT_LIMIT = 10
MAX_OFFSET = 10**9
MAX_LIMIT = 10_000
FORMATS = ("json", "html")
ITEM_FORMATS = ("json", "geojson", "html")
_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})(?:[Tt ](\d{2}:\d{2}:\d{2}(?:\.\d+)?)([Zz]|[+-]\d{2}:\d{2})?)?$")


@dataclass(frozen=True)
class ItemQuery:
    """One items (or item) request, checked. ``bbox`` is CRS84; ``time`` is [lo, hi) epoch seconds."""

    limit: int = DEFAULT_LIMIT
    offset: int = 0
    bbox: tuple[float, float, float, float] | None = None
    crs: str = CRS84
    time: tuple[int | None, int | None] | None = None
    filters: tuple[tuple[str, object], ...] = ()
    f: str | None = None
    after: tuple[int, str] | None = None  # keyset position (created_at, id) from a next link

    def key(self) -> tuple:
        """What selects the features (not the page, CRS or format): a cache key for counts."""
        return self.bbox, self.time, self.filters


def _one(args: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = args.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise InvalidInputError(f"参数 {name} 只能出现一次 / parameter {name} may be given only once", field=name)
    return str(values[0])


def check_known(args: Mapping[str, Sequence[str]], allowed: Sequence[str]) -> None:
    """Refuse any parameter the resource does not declare in the API definition."""
    for name in args:
        if name not in allowed:
            raise InvalidInputError(
                f"未知参数 {name}，此处可用：{', '.join(allowed)} / unknown parameter {name}; this resource "
                f"accepts {', '.join(allowed)}",
                field=name,
            )


def check_format(args: Mapping[str, Sequence[str]], formats: Sequence[str] = FORMATS) -> str | None:
    """The ``f`` parameter (None when absent: the adapter negotiates by Accept header)."""
    f = _one(args, "f")
    if f is None:
        return None
    f = f.strip().lower()
    if f not in formats:
        raise InvalidInputError(f"参数 f 须为 {', '.join(formats)} / f must be one of {', '.join(formats)}, "
                                f"got {f!r}", field="f")
    return f


def _int(raw: str, name: str, minimum: int, maximum: int | None = None) -> int:
    try:
        v = int(raw.strip())
    except ValueError as exc:
        raise InvalidInputError(f"参数 {name} 须为整数 / {name} must be an integer, got {raw!r}", field=name) from exc
    if v < minimum:
        raise InvalidInputError(f"参数 {name} 须不小于 {minimum} / {name} must be ≥ {minimum}, got {v}", field=name)
    if maximum is not None and v > maximum:
        raise InvalidInputError(f"参数 {name} 须不大于 {maximum} / {name} must be ≤ {maximum}, got {v}", field=name)
    return v


def parse_bbox(raw: str, crs: str) -> tuple[float, float, float, float]:
    """``bbox`` (4 or 6 numbers in ``crs``'s axis order) → CRS84 (lng, lat) box."""
    try:
        values = tuple(float(v) for v in raw.split(","))
    except ValueError as exc:
        raise InvalidInputError(
            f"参数 bbox 须为 4 或 6 个逗号分隔的数 / bbox must be 4 or 6 comma-separated numbers, got {raw!r}",
            field="bbox") from exc
    if len(values) not in (4, 6) or not all(math.isfinite(v) for v in values):
        raise InvalidInputError(
            f"参数 bbox 须为 4 或 6 个有限的数 / bbox must be 4 or 6 finite numbers, got {raw!r}", field="bbox")
    if crs == CRS84:
        x0, y0, x1, y1 = bbox_to_crs84(values, crs)
        if not (-180 <= x0 <= 180 and -180 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
            raise InvalidInputError(
                "参数 bbox 须为 最小经度,最小纬度,最大经度,最大纬度（度）/ bbox must be min_lng,min_lat,max_lng,"
                f"max_lat in degrees (−180…180, −90…90, min_lat ≤ max_lat), got {raw!r}",
                field="bbox")
        return x0, y0, x1, y1
    return bbox_to_crs84(values, crs)


def _instant(raw: str, tz: str, end: bool) -> pd.Timestamp:
    """One RFC 3339 value; a date alone is its local day's start (or, as an interval's end, the next day's)."""
    m = _RFC3339.match(raw.strip())
    try:
        if m is None:
            raise ValueError(raw)
        t = pd.Timestamp(raw.strip())
    except ValueError as exc:
        raise InvalidInputError(
            f"参数 datetime 须为 RFC 3339 时间或区间，如 2026-03-01T08:00:00+08:00 或 2026-03-01/2026-03-31 / "
            f"datetime must be an RFC 3339 date-time or interval such as 2026-03-01T08:00:00Z or "
            f"2026-03-01/2026-03-31, got {raw!r}",
            field="datetime") from exc
    t = check_filter_time(t.tz_localize(tz) if t.tzinfo is None else t, "datetime", raw)
    if m.group(2) is None and end:
        t = t + pd.Timedelta(days=1)
    return t


def parse_datetime(raw: str, tz: str) -> tuple[int | None, int | None]:
    """``datetime`` → [lo, hi) epoch seconds (None = open)."""
    parts = raw.split("/")
    if len(parts) > 2 or raw.strip() in ("", ".."):
        raise InvalidInputError(f"参数 datetime 无效 / invalid datetime {raw!r}: give an instant or start/end",
                                field="datetime")
    if len(parts) == 1:
        t = _instant(parts[0], tz, end=False)
        if _RFC3339.match(parts[0].strip()).group(2) is None:  # a date: the whole day
            return int(t.timestamp()), int(_instant(parts[0], tz, end=True).timestamp())
        return math.ceil(t.timestamp()), math.floor(t.timestamp()) + 1
    a, b = (p.strip() for p in parts)
    lo = None if a in ("", "..") else _instant(a, tz, end=False)
    hi = None if b in ("", "..") else _instant(b, tz, end=True)
    if lo is None and hi is None:
        raise InvalidInputError("参数 datetime 的区间两端不能都开放 / datetime: an interval needs at least one end",
                                field="datetime")
    if lo is not None and hi is not None and lo > hi:
        raise InvalidInputError(f"参数 datetime 的开始晚于结束 / datetime: the start is after the end in {raw!r}",
                                field="datetime")
    hi_s = None
    if hi is not None:  # an instant end is inclusive; a date end already points at the next day
        hi_s = int(hi.timestamp()) if _RFC3339.match(b).group(2) is None else math.floor(hi.timestamp()) + 1
    return (None if lo is None else math.ceil(lo.timestamp())), hi_s


def _typed(raw: str, name: str, kind: str):
    try:
        if kind == "integer":
            return int(raw)
        if kind == "number":
            return float(raw)
    except ValueError as exc:
        raise InvalidInputError(f"参数 {name} 须为{'整数' if kind == 'integer' else '数'} / {name} must be "
                                f"{'an integer' if kind == 'integer' else 'a number'}, got {raw!r}",
                                field=name) from exc
    return raw


def item_parameters(queryables: Mapping[str, str], temporal: bool, cursor: bool = False) -> tuple[str, ...]:
    """Every parameter an items request of such a collection accepts (for checks and the OpenAPI)."""
    return ("f", "limit", "offset", "bbox", "bbox-crs", "crs", *(("datetime",) if temporal else ()),
            *(("after",) if cursor else ()), *queryables)


def parse_after(raw: str) -> tuple[int, str]:
    """``after`` = ``<created_at epoch seconds>:<id>`` of the last feature of the previous page."""
    epoch, sep, fid = raw.partition(":")
    try:
        if not sep or not fid:
            raise ValueError(raw)
        return int(epoch), fid
    except ValueError as exc:
        raise InvalidInputError(f"参数 after 无效（请原样使用 next 链接中的值）/ invalid after {raw!r}: use the "
                                "value the next link carries", field="after") from exc


def parse_items(args: Mapping[str, Sequence[str]], queryables: Mapping[str, str], temporal: bool,
                tz: str, cursor: bool = False) -> ItemQuery:
    """Parameters of ``/collections/{id}/items``; ``queryables`` maps filterable property → JSON type;
    ``cursor``: the collection pages by keyset too (``after``)."""
    check_known(args, item_parameters(queryables, temporal, cursor))
    f = check_format(args, ITEM_FORMATS)
    raw_limit, raw_offset = _one(args, "limit"), _one(args, "offset")
    limit = DEFAULT_LIMIT if raw_limit is None else min(_int(raw_limit, "limit", 1), MAX_LIMIT)
    # past 2**63 the database driver overflows (a 500); no collection has a billion features
    offset = 0 if raw_offset is None else _int(raw_offset, "offset", 0, MAX_OFFSET)
    crs = check_crs(_one(args, "crs"), "crs")
    bbox_crs = check_crs(_one(args, "bbox-crs"), "bbox-crs")
    raw_bbox = _one(args, "bbox")
    bbox = None if raw_bbox is None else parse_bbox(raw_bbox, bbox_crs)
    raw_time = _one(args, "datetime")
    time = None if raw_time is None else parse_datetime(raw_time, tz)
    filters = tuple((name, _typed(v, name, kind)) for name, kind in queryables.items()
                    if (v := _one(args, name)) is not None)
    raw_after = _one(args, "after")
    after = None if raw_after is None else parse_after(raw_after)
    return ItemQuery(limit=limit, offset=offset, bbox=bbox, crs=crs, time=time, filters=filters, f=f, after=after)


def parse_item(args: Mapping[str, Sequence[str]]) -> ItemQuery:
    """Parameters of ``/collections/{id}/items/{featureId}``: only ``f`` and ``crs``."""
    check_known(args, ("f", "crs"))
    return ItemQuery(crs=check_crs(_one(args, "crs"), "crs"), f=check_format(args, ITEM_FORMATS))
