"""Parse number and coordinate columns as people and old systems write them (１０４．０６, 104°3′56″).

Accepted, vectorized: numbers; numeric text with surrounding spaces; full-width digits, points and
minus signs; a trailing ° or 度; degrees-minutes-seconds (104°3'56.2"); a decimal comma when it cannot
be a thousands separator ("104,06" but not "104,065"); thousands separators in groups of three when a
decimal point or a second group settles it ("1,234.5", "1,234,567"). Anything else present is "bad".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_DMS = (
    r"^(?P<sign>[+-]?)(?P<deg>\d+(?:\.\d+)?)\s*[°度]\s*"
    r"(?:(?P<min>\d+(?:\.\d+)?)\s*['′’分]\s*)?"
    r"(?:(?P<sec>\d+(?:\.\d+)?)\s*(?:[\"″”秒]|''|′′)\s*)?$"  # NFKC turns ″ into ′′
)
_DECIMAL_COMMA = r"^[+-]?\d+,(?:\d{1,2}|\d{4,})$"
_THOUSANDS = r"^[+-]?\d{1,3}(?:,\d{3})+\.\d+$|^[+-]?\d{1,3}(?:,\d{3}){2,}$"


def present_mask(values: pd.Series) -> np.ndarray:
    """True where a value is given: not NA and, for text, not blank."""
    present = values.notna().to_numpy(dtype=bool, na_value=False, copy=True)
    if values.dtype == object:
        present &= ~values.map(lambda v: isinstance(v, str) and not v.strip()).to_numpy(dtype=bool)
    elif pd.api.types.is_string_dtype(values.dtype):
        present &= ~(values.str.strip() == "").to_numpy(dtype=bool, na_value=False)
    return present


def parse_numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(float64 values with NaN where missing or bad, bool mask of values present but not a number)."""
    values = pd.Series(values)
    present = present_mask(values)
    if pd.api.types.is_bool_dtype(values.dtype):
        return np.full(len(values), np.nan), present
    if pd.api.types.is_numeric_dtype(values.dtype):
        out = values.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
    else:
        out = np.full(len(values), np.nan)
        kinds = value_kinds(values) if values.dtype == object else None
        if kinds is not None:
            is_num = present & (kinds == "num")
            out[is_num] = values[is_num].astype(np.float64).to_numpy()
            is_text = present & (kinds == "str")
        else:
            is_text = present
        if is_text.any():
            out[is_text] = _parse_text(values[is_text].astype("str"))
    out[~np.isfinite(out)] = np.nan
    return out, present & np.isnan(out)


def value_kinds(values: pd.Series) -> np.ndarray:
    """Per-element kind of an object column: "num", "str" or "other" (bool, dates, …)."""
    inferred = pd.api.types.infer_dtype(values, skipna=True)
    if inferred == "string":
        return np.full(len(values), "str", dtype=object)
    if inferred in ("integer", "floating", "mixed-integer-float", "decimal"):
        return np.full(len(values), "num", dtype=object)
    # Mixed XLSX column: classify each cell (only reached for such columns, never for CSV text).
    return values.map(
        lambda v: "str" if isinstance(v, str)
        else "num" if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
        else "other"
    ).to_numpy(dtype=object)


def arrow_text(text: pd.Series):
    """The Arrow string array behind a text Series (pandas' ``str`` dtype is Arrow-backed)."""
    import pyarrow as pa

    return pa.array(text, type=pa.large_string(), from_pandas=True)


def text_series(arr, index: pd.Index) -> pd.Series:
    """Back from Arrow to a ``str`` Series on ``index``."""
    return pd.Series(arr.to_pandas().array, index=index, dtype="str")


def normalize_text(text: pd.Series) -> pd.Series:
    """Strip, and fold full-width characters (１０４．０６, －) to ASCII; in Arrow kernels, not per row."""
    import pyarrow.compute as pc

    arr = pc.utf8_trim_whitespace(arrow_text(text))
    if not pc.all(pc.fill_null(pc.string_is_ascii(arr), True)).as_py():
        arr = pc.utf8_normalize(arr, form="NFKC")
        arr = pc.replace_substring(arr, "−", "-")
        arr = pc.utf8_trim_whitespace(arr)
    return text_series(arr, text.index)


def _parse_text(text: pd.Series) -> np.ndarray:
    text = normalize_text(text)
    out = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
    todo = np.isnan(out)
    if not todo.any():
        return out
    rest = text[todo]
    fixed = rest.where(~rest.str.fullmatch(_THOUSANDS), rest.str.replace(",", "", regex=False))
    fixed = fixed.where(~rest.str.fullmatch(_DECIMAL_COMMA), rest.str.replace(",", ".", regex=False))
    parsed = pd.to_numeric(fixed, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    dms = rest.str.extract(_DMS)
    if dms["deg"].notna().any():
        parts = dms[["deg", "min", "sec"]].apply(pd.to_numeric, errors="coerce").fillna(
            {"min": 0.0, "sec": 0.0})
        dms_value = parts["deg"] + parts["min"] / 60 + parts["sec"] / 3600
        # Minutes and seconds must stay below 60, else it is not a DMS value but a typo.
        ok = (parts["min"] < 60) & (parts["sec"] < 60)
        dms_value = dms_value.where(ok)
        dms_value = dms_value.where(dms["sign"] != "-", -dms_value)
        parsed = np.where(np.isnan(parsed), dms_value.to_numpy(dtype=np.float64, na_value=np.nan), parsed)
    out[todo] = parsed
    return out
