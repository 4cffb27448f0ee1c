"""Row checks: collect RowProblem(line, field, value, reason) per rejected row; never raise for one bad row."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridgis.models import RowProblem

# Reasons: stable bilingual texts (the report groups by them; a clerk reads them in --rejects files).
EMPTY_TEXT = "诉求内容为空 / empty request text"
MISSING_TIME = "缺少时间 / missing time"
BAD_TIME = "时间无法解析 / unparsable time"
BAD_NUMBER = "坐标不是数字 / coordinate is not a number"
HALF_COORD = "经度和纬度须同时提供 / longitude and latitude must both be given"
BAD_CRS_COORD = "坐标无法转换到 WGS84 / coordinate cannot be converted to WGS84"
SWAPPED = "经纬度疑似颠倒 / latitude and longitude look swapped"
OUTSIDE = "不在服务范围内 / outside the service area"
NO_LOCATION = "缺少坐标和地址 / no coordinates and no address"
NO_GAZETTEER = "未配置地名库，无法按地址定位 / no gazetteer configured (set gazetteer_file) to locate addresses"
UNMATCHED = "地址无法匹配地名库 / address not found in the gazetteer"
AMBIGUOUS = (
    "地址有歧义（多处同名），请写明社区或门牌 / ambiguous address: several places match, "
    "add the community or door number"
)
NON_POINT = "几何不是点 / geometry is not a point"
DUPLICATE_ID = "文件内编号重复 / duplicate id within the file"
FUTURE_TIME = "时间晚于当前 / time is in the future"

# What exports write for "no value"; such cells count as empty (a "NaN" coordinate falls back to the address).
NULL_TOKENS = frozenset({"null", "none", "nan", "n/a", "na", "#n/a", "nil", "-", "--", "/", "无", "空"})


def blank_null_tokens(frame: pd.DataFrame) -> pd.DataFrame:
    """Set placeholder values such as NULL, NaN, N/A or "-" to missing, column by column."""
    out = frame.copy()
    for name in out.columns:
        if _holds_no_text(out[name].dtype):
            continue  # a number, boolean or datetime column has no placeholder text to blank
        s = out[name].astype("string").str.strip().str.lower()
        mask = s.isin(NULL_TOKENS).to_numpy(dtype=bool)
        if mask.any():
            out[name] = out[name].mask(mask)
    return out


def _holds_no_text(dtype) -> bool:
    return (
        pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
        or pd.api.types.is_datetime64_any_dtype(dtype)
    ) and not pd.api.types.is_object_dtype(dtype)


class RowChecks:
    """Accumulates problems for the rows of one chunk; ``bad`` marks rows to reject."""

    def __init__(self, lines: np.ndarray, raw: pd.DataFrame) -> None:
        self.lines = np.asarray(lines, dtype=np.int64)
        self.raw = raw
        self.bad = np.zeros(len(self.lines), dtype=bool)
        self._found: list[tuple[np.ndarray, str, np.ndarray, str]] = []

    def add(self, mask, field: str, values, reason: str) -> None:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        idx = np.flatnonzero(mask)
        vals = np.asarray(pd.Series(values).astype(object).to_numpy())[idx] if values is not None else None
        self._found.append((idx, field, vals, reason))
        self.bad |= mask

    def problems(self) -> list[RowProblem]:
        out: list[RowProblem] = []
        raw_rows: dict[int, dict] = {}
        bad_idx = np.flatnonzero(self.bad)
        if bad_idx.size:
            sub = self.raw.iloc[bad_idx]
            for i, rec in zip(bad_idx.tolist(), sub.to_dict("records"), strict=True):
                raw_rows[i] = {str(k): _plain(v) for k, v in rec.items() if not _missing(v)}
        for idx, field, vals, reason in self._found:
            for j, i in enumerate(idx.tolist()):
                v = "" if vals is None or _missing(vals[j]) else str(vals[j])
                out.append(RowProblem(int(self.lines[i]), field, v, reason, raw_rows.get(i)))
        out.sort(key=lambda p: p.line)
        return out


def _missing(v) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _plain(v):
    if isinstance(v, (np.generic,)):
        return v.item()
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    return v


def blank(values: pd.Series) -> np.ndarray:
    """True where a value is missing or only whitespace."""
    s = values.astype("string").str.strip()
    return (s.isna() | (s == "")).to_numpy(dtype=bool)
