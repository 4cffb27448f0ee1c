"""PNG charts a person would rather look at than read: requests per category per month, top cells, a trend.

Drawn with matplotlib's object API on an Agg canvas (``Figure.savefig``): no display, no pyplot state.
Labels are Chinese and English when a CJK font is installed (``fc-list :lang=zh``; Debian:
fonts-noto-cjk or fonts-wqy-microhei), English only otherwise, so no glyph is ever missing.
"""

from __future__ import annotations

import functools
import logging
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from gridgis.errors import InvalidInputError

if TYPE_CHECKING:
    from gridgis.heatmap.projects import Candidates
    from gridgis.taxonomy import Taxonomy

log = logging.getLogger(__name__)

PREFERRED_CJK = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Micro Hei",
                 "WenQuanYi Zen Hei", "Microsoft YaHei", "SimHei", "PingFang SC", "Droid Sans Fallback")
_PROBE = "诉求类别网格趋势热点项目候选数量周月"
_BIN_COLOURS = {3: "#B2182B", 2: "#EF8A62", 1: "#FDDBC7", 0: "#BBBBBB", -1: "#D1E5F0", -2: "#67A9CF",
                -3: "#2166AC"}
DPI = 120


def _covers(path: str, text: str) -> bool:
    from matplotlib import ft2font

    try:
        font = ft2font.FT2Font(path)
    except (OSError, RuntimeError, ValueError):
        return False
    return all(font.get_char_index(ord(ch)) for ch in text)


def _find_cjk(fonts) -> str | None:
    files: dict[str, str] = {}
    for f in sorted(fonts, key=lambda f: (f.name, f.fname)):
        # "Last Resort" fonts map every character to a placeholder box: they cover nothing.
        if "last resort" not in f.name.lower():
            files.setdefault(f.name, f.fname)
    ordered = [n for n in PREFERRED_CJK if n in files] + [n for n in sorted(files) if n not in PREFERRED_CJK]
    return next((name for name in ordered if _covers(files[name], _PROBE)), None)


@functools.lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """Family name of an installed font with Chinese glyphs (preferred ones first), or None."""
    from matplotlib import font_manager

    fm = font_manager.fontManager
    name = _find_cjk(fm.ttflist)
    if name is None:
        # matplotlib caches its font list: fonts installed after the cache was built are not in it.
        known = {f.fname for f in fm.ttflist}
        for path in sorted(font_manager.findSystemFonts()):
            if path not in known and _covers(path, _PROBE):
                fm.addfont(path)
        name = _find_cjk(fm.ttflist)
    if name is None:
        log.info("charts: no CJK font found, labels in English only (install fonts-noto-cjk)")
    return name


@contextmanager
def _style(zh: bool | None):
    """(rc settings active, whether Chinese labels are possible)."""
    import matplotlib

    font = cjk_font() if zh is not False else None
    rc = {"font.size": 9, "axes.spines.top": False, "axes.spines.right": False, "savefig.dpi": DPI}
    if font:
        # DejaVu Sans second: glyphs the CJK font lacks (e.g. U+2212 minus) fall back to it.
        rc.update({"font.family": "sans-serif", "font.sans-serif": [font, "DejaVu Sans"]})
    with matplotlib.rc_context(rc):
        yield font is not None


def _label(zh: str, en: str, chinese: bool) -> str:
    return f"{zh} / {en}" if chinese else en


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def check_path(path: str | Path) -> Path:
    """A chart path: a .png in an existing folder."""
    p = Path(path)
    if p.suffix.lower() != ".png":
        raise InvalidInputError(f"图表须保存为 .png / charts are written as .png, got {p.name}", field="chart")
    if not p.parent.is_dir():
        raise InvalidInputError(f"图表目录不存在 / chart folder does not exist: {p.parent}", field="chart")
    return p


def _save(fig, path: str | Path) -> Path:
    p = check_path(path)
    fig.savefig(p, format="png")
    return p


def _no_data(ax, chinese: bool) -> None:
    ax.text(0.5, 0.5, _label("没有数据", "no data", chinese), ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def category_months(frame: pd.DataFrame, path: str | Path, taxonomy: Taxonomy | None = None, *,
                    title: str | None = None, zh: bool | None = None) -> Path:
    """Stacked bars of requests per category per month in taxonomy colours and order.

    ``frame`` has ``bucket`` (month start), ``category`` and ``requests`` — e.g. ``aggregate(…,
    bucket="month")``; other keys (cells) are summed. ``zh=False`` forces English labels.
    """
    for col in ("bucket", "category", "requests"):
        if col not in frame.columns:
            raise InvalidInputError(f"表中缺少列 {col} / the table lacks column {col!r}", field="frame")
    cats = taxonomy.categories if taxonomy is not None else ()
    meta = {c.code: (c.name_zh, c.name_en, c.color) for c in cats}
    wide = frame.pivot_table(index="bucket", columns="category", values="requests", aggfunc="sum", fill_value=0)
    order = [c.code for c in cats if c.code in wide.columns] + sorted(set(wide.columns) - set(meta))
    wide = wide.reindex(columns=order).sort_index()
    with _style(zh) as chinese:
        fig = _figure(9, 4.5)
        ax = fig.add_subplot()
        if wide.empty:
            _no_data(ax, chinese)
        else:
            x = np.arange(len(wide))
            bottom = np.zeros(len(wide))
            for code in order:
                zh_name, en_name, colour = meta.get(code, (code, code, "#999999"))
                v = wide[code].to_numpy(float)
                ax.bar(x, v, bottom=bottom, color=colour, width=0.8,
                       label=f"{code} {zh_name}" if chinese else f"{code} {en_name}")
                bottom += v
            ax.set_xticks(x, [pd.Timestamp(b).strftime("%Y-%m") for b in wide.index], rotation=45, ha="right")
            ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        ax.set_ylabel(_label("诉求数", "requests", chinese))
        ax.set_title(title or _label("各类诉求逐月数量", "Requests per category per month", chinese))
        return _save(fig, path)


def top_cells(frame: pd.DataFrame, path: str | Path, *, n: int = 15, value: str = "requests",
              title: str | None = None, zh: bool | None = None) -> Path:
    """Horizontal bars of the ``n`` cells with the most ``value`` (largest on top); coloured by Gi* ``bin``
    when the table has one. Rows of one cell (categories, buckets) are summed."""
    if value not in frame.columns or not ({"cell_id", "cell"} & set(frame.columns)):
        raise InvalidInputError(f"表中须有 cell_id 与 {value} 列 / the table needs cell_id and {value!r} columns",
                                field="frame")
    if not isinstance(n, int) or n < 1:
        raise InvalidInputError(f"n 须为正整数 / n must be a positive integer, got {n!r}", field="n")
    key = "cell_id" if "cell_id" in frame.columns else "cell"
    agg = {value: "sum", **({"bin": "first"} if "bin" in frame.columns else {})}
    top = frame.groupby(key, as_index=False).agg(agg)
    top = top.sort_values([value, key], ascending=[False, True], kind="stable").head(n).iloc[::-1]
    with _style(zh) as chinese:
        fig = _figure(7, 0.8 + 0.3 * max(len(top), 3))
        ax = fig.add_subplot()
        if top.empty:
            _no_data(ax, chinese)
        else:
            colours = ([_BIN_COLOURS.get(int(b), "#BBBBBB") for b in top["bin"]] if "bin" in top.columns
                       else "#0072B2")
            y = np.arange(len(top))
            ax.barh(y, top[value].to_numpy(float), color=colours)
            ax.set_yticks(y, top[key].astype(str).tolist(), family="monospace")
        ax.set_xlabel(_label("诉求数", value, chinese) if value == "requests" else value)
        ax.set_title(title or _label(f"诉求最多的 {len(top)} 个网格单元", f"Top {len(top)} cells", chinese))
        return _save(fig, path)


def candidate_trend(candidates: Candidates, path: str | Path, candidate_id: str | None = None, *,
                    bucket: str = "week", zh: bool | None = None) -> Path:
    """Weekly (or monthly) requests of one candidate (default: rank 1) with a 4-step moving mean."""
    from matplotlib import dates as mdates

    table = candidates.table
    if not len(table):
        raise InvalidInputError("没有项目候选可画 / there is no candidate to chart", field="candidate_id")
    cid = candidate_id or str(table["candidate_id"].iloc[0])
    s = candidates.series(cid, bucket=bucket)
    row = table[table["candidate_id"] == cid].iloc[0]
    with _style(zh) as chinese:
        fig = _figure(9, 3.8)
        ax = fig.add_subplot()
        x = s.index.tz_localize(None)
        ax.plot(x, s.to_numpy(), color="#999999", linewidth=1, marker=".", label=_label(
            "每周" if bucket == "week" else "每期", "per " + bucket, chinese))
        ax.plot(x, s.rolling(4, min_periods=1).mean().to_numpy(), color="#D55E00", linewidth=2,
                label=_label("4期移动平均", "4-step moving mean", chinese))
        ax.set_ylim(bottom=0)
        ax.set_ylabel(_label("诉求数", "requests", chinese))
        ax.legend(frameon=False, loc="upper left")
        head = f"#{row['rank']} {row['category']} "
        ax.set_title(head + (f"{row['category_zh']} · {row['trend_zh']} · {row['keywords']}" if chinese
                             else f"{row['category_en']} · {row['trend_en']} · {cid}"))
        locator = mdates.AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        return _save(fig, path)
