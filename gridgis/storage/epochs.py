"""Times as the store keeps them: int64 UTC epoch seconds."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd


def now_ts() -> int:
    return int(time.time())


def to_epoch_seconds(values: pd.Series) -> np.ndarray:
    """tz-aware datetimes → int64 UTC epoch seconds."""
    return values.dt.tz_convert("UTC").dt.as_unit("s").astype("int64").to_numpy()


def from_epoch_seconds(values, tz: str = "UTC") -> pd.Series:
    return pd.to_datetime(pd.Series(values, dtype="int64"), unit="s", utc=True).dt.tz_convert(tz)
