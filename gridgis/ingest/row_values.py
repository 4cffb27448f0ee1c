"""Column values of prepared request rows, built whole-array: row hashes as hex ids, Arrow strings as pandas
columns, per-distinct-value work, cleaned optional strings."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa

HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def hash_rows(frame: pd.DataFrame) -> pa.Array:
    """A stable 64-bit hash per row as 16 hex chars (pandas' fixed-key SipHash of each value)."""
    h = pd.util.hash_pandas_object(frame, index=False, hash_key="gridgis-requests").to_numpy()
    return hex16(h)


def hex16(values: np.ndarray) -> pa.Array:
    """uint64 values as zero-padded lower-case hex (``"%016x"``), as an Arrow string array built in numpy."""
    big = np.ascontiguousarray(values, dtype=">u8").view(np.uint8).reshape(-1, 8)
    digits = np.empty((len(big), 16), dtype=np.uint8)
    digits[:, 0::2] = HEX_DIGITS[big >> 4]
    digits[:, 1::2] = HEX_DIGITS[big & 15]
    offsets = np.arange(0, 16 * len(big) + 1, 16, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), len(big), [None, pa.py_buffer(offsets), pa.py_buffer(digits)])


def as_str(values: pa.Array | pa.ChunkedArray) -> pd.Series:
    """An Arrow string array as a pandas ``str`` column (no Python object per value)."""
    return pd.Series(values.to_pandas()).astype("str")


def per_distinct(values: pd.Series, func: Callable[[pd.Series], object]) -> tuple[np.ndarray, object]:
    """(codes, func(distinct values)): a row-wise ``func`` run once per distinct value (NA included)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    return codes, func(pd.Series(uniques, dtype=values.dtype))


def str_or_none(values: pd.Series) -> np.ndarray:
    s = values.astype("string").str.strip()
    s = s.mask(s == "")
    return s.astype(object).where(s.notna(), None).to_numpy()
