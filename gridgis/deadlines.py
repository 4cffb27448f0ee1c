"""Overdue flags: how long a request may stay in each open status (settings, per-category file), vectorised.

A request's clock starts when it entered its current status: ``status_changed_at`` when the app changed
it, else ``created_at`` (an imported status has no time of its own). Deadlines are calendar hours; a
status without a deadline (verified, invalid, duplicate, or one set to 0) is never overdue.

Per-category file (``deadline_file``), hours per status, overriding the ``deadline_hours_*`` settings::

    [SAFE]          # 安全隐患: faster
    new = 2
    assigned = 4
    in_progress = 48
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from gridgis.config import Settings
from gridgis.errors import ConfigError
from gridgis.storage import Store
from gridgis.storage.schema import requests as req_t

DEADLINE_STATUSES = ("new", "assigned", "in_progress", "resolved")
"""Statuses that can be overdue (the rest are closed)."""
_EPOCH = pd.Timestamp(0, tz="UTC")


@dataclass(frozen=True)
class Deadlines:
    """Hours per status (``hours``) and per category × status (``by_category``); 0 means no deadline."""

    hours: Mapping[str, float]
    by_category: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    tz: str = "UTC"

    @classmethod
    def from_settings(cls, settings: Settings) -> Deadlines:
        hours = {s: float(getattr(settings, f"deadline_hours_{s}")) for s in DEADLINE_STATUSES}
        by_cat = read_deadline_file(settings.deadline_file) if settings.deadline_file else {}
        return cls(hours=hours, by_category=by_cat, tz=settings.timezone)

    def hours_for(self, statuses: pd.Series, categories: pd.Series | None = None) -> np.ndarray:
        """Deadline in hours per row (NaN: none), by the row's status and, when overridden, its category.

        Both columns are factorised and the hours looked up in a small (category × status) table, so the
        cost per row is two integer codes and one fancy index, not a string operation."""
        st_codes, st_values = pd.factorize(statuses)
        default = np.array([self.hours.get(s, np.nan) for s in st_values] + [np.nan], dtype=float)
        if not self.by_category or categories is None:
            table, cat_codes = default[None, :], np.zeros(len(st_codes), dtype=np.intp)
        else:
            cat_codes, cat_values = pd.factorize(categories)
            table = np.tile(default, (len(cat_values) + 1, 1))  # last row: rows without a category
            for i, c in enumerate(cat_values):
                for j, s in enumerate(st_values):
                    if s in self.by_category.get(c, {}):
                        table[i, j] = self.by_category[c][s]
        out = table[cat_codes, st_codes]  # code -1 (missing) picks the last row / column: the defaults / NaN
        out[~(out > 0)] = np.nan
        return out


def read_deadline_file(path: str | Path) -> dict[str, dict[str, float]]:
    """Per-category deadlines from a TOML file: ``{category: {status: hours}}`` (validated)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"找不到时限文件 / deadline_file not found: {p}", field="deadline_file")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"时限文件无法解析 / cannot parse deadline_file {p}: {exc}", field="deadline_file") from exc
    out: dict[str, dict[str, float]] = {}
    for cat, per in data.items():
        if not isinstance(per, dict):
            raise ConfigError(f"时限文件中 {cat} 须为表 [{cat}] / deadline_file: {cat} must be a table [{cat}] of "
                              "status = hours", field="deadline_file")
        for status, hours in per.items():
            if status not in DEADLINE_STATUSES:
                raise ConfigError(
                    f"时限文件 [{cat}] 中的状态 {status!r} 无时限可设，可用：{', '.join(DEADLINE_STATUSES)} / "
                    f"deadline_file [{cat}]: {status!r} takes no deadline; use {', '.join(DEADLINE_STATUSES)}",
                    field="deadline_file")
            if isinstance(hours, bool) or not isinstance(hours, int | float) or not hours >= 0:
                raise ConfigError(f"时限文件 [{cat}] {status} 须为 ≥ 0 的小时数 / deadline_file [{cat}] {status} "
                                  f"must be hours ≥ 0, got {hours!r}", field="deadline_file")
        out[str(cat)] = {s: float(h) for s, h in per.items()}
    return out


def _seconds(values: pd.Series) -> np.ndarray:
    """Epoch seconds (float, NaN for missing) from epoch numbers or (tz-aware) datetimes."""
    if pd.api.types.is_datetime64_any_dtype(values):
        ts = values if values.dt.tz is not None else values.dt.tz_localize("UTC")
        return ((ts - _EPOCH) / pd.Timedelta(seconds=1)).to_numpy(dtype=float)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)


def _now_seconds(now) -> float:
    if now is None:
        return pd.Timestamp.now(tz="UTC").timestamp()
    if isinstance(now, int | float | np.integer | np.floating):
        return float(now)
    t = pd.Timestamp(now)
    return (t if t.tzinfo is not None else t.tz_localize("UTC")).timestamp()


def overdue_flags(frame: pd.DataFrame, now=None, deadlines: Settings | Deadlines | None = None) -> pd.DataFrame:
    """``due_at`` (tz-aware in the deployment's zone, NaT without a deadline) and ``overdue`` per row.

    ``frame`` needs ``status`` and ``created_at`` (epoch seconds or datetimes), and may have
    ``status_changed_at`` and ``category``. ``now``: epoch seconds, a datetime, or None for now.
    """
    if deadlines is None:
        deadlines = Settings()
    dl = deadlines if isinstance(deadlines, Deadlines) else Deadlines.from_settings(deadlines)
    hours = dl.hours_for(frame["status"], frame["category"] if "category" in frame.columns else None)
    start = _seconds(frame["created_at"])
    if "status_changed_at" in frame.columns:
        changed = _seconds(frame["status_changed_at"])
        start = np.where(np.isnan(changed), start, changed)
    due = start + hours * 3600.0
    overdue = np.nan_to_num(due, nan=np.inf) < _now_seconds(now)
    due_at = pd.to_datetime(pd.Series(due, index=frame.index), unit="s", utc=True).dt.tz_convert(dl.tz)
    return pd.DataFrame({"due_at": due_at, "overdue": overdue}, index=frame.index)


def overdue_requests(store: Store, settings: Settings, *, grids=None, now=None) -> pd.DataFrame:
    """The overdue requests (optionally of some grids), most overdue first: id, grid_code, category, status,
    created_at, status_changed_at, due_at, overdue_hours. No texts or contact data."""
    dl = Deadlines.from_settings(settings)
    open_ = [s for s in DEADLINE_STATUSES if dl.hours.get(s, 0) > 0 or any(s in per for per in dl.by_category.values())]
    where = req_t.c.status.in_(open_)
    if grids:
        where = where & req_t.c.grid_code.in_(list(grids))
    cols = ["id", "grid_code", "category", "status", "created_at", "status_changed_at"]
    df = store.requests_frame(cols, where=where)
    flags = overdue_flags(df, now, dl)
    out = df[flags["overdue"].to_numpy(dtype=bool)].copy()
    out["due_at"] = flags["due_at"][flags["overdue"]]
    now_s = _now_seconds(now)
    out["overdue_hours"] = np.round((now_s - _seconds(out["due_at"])) / 3600.0, 1)
    out["created_at"] = out["created_at"].dt.tz_convert(dl.tz)
    out["status_changed_at"] = pd.to_datetime(pd.to_numeric(out["status_changed_at"]), unit="s",
                                              utc=True).dt.tz_convert(dl.tz)
    return out.sort_values(["due_at", "id"]).reset_index(drop=True)
