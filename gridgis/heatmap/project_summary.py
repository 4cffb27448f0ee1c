"""Human-readable summary of project candidates: the headline, a ranked table and one block per candidate."""

from __future__ import annotations

import math

import pandas as pd

HEADERS = {
    "rank": "排名/rank", "candidate_id": "编号/id", "category": "类别/category", "score": "得分/score",
    "pts_volume": "规模/volume",
    "pts_significance": "显著/signif.", "pts_growth": "增长/growth", "pts_severity": "严重/severity",
    "requests": "诉求/requests", "issues": "问题/issues", "households": "户数/households", "cells": "网格/cells",
    "trend_zh": "趋势/trend", "keywords": "关键词/keywords",
}


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """The ranked candidates with zh/en headers, for printing."""
    cols = [c for c in HEADERS if c in table.columns]
    out = pd.DataFrame(table[cols]).copy()
    if "households" in out:
        out["households"] = [("–" if pd.isna(v) else f"{v:,.0f}") for v in out["households"]]
    return out.rename(columns=HEADERS)


def to_text(frame: pd.DataFrame) -> str:
    """A DataFrame as aligned text; Chinese characters count as two columns wide."""
    with pd.option_context("display.unicode.east_asian_width", True, "display.width", 200,
                           "display.max_columns", 50, "display.max_colwidth", 40):
        return frame.to_string(index=False, float_format=lambda v: f"{v:.2f}")


def _growth(row) -> str:
    if math.isnan(row["growth_ratio"]):
        return "新出现 / new" if row["later"] > 0 else "–"
    return f"×{row['growth_ratio']:.2f}（后半段 later {row['later']} / 前半段 earlier {row['earlier']}）"


def headline(summary: dict) -> str:
    n, c, k = summary["requests"], summary["categories"], summary["candidates"]
    return (f"{n:,} 条诉求 → {c} 类 → {k} 个项目候选 / "
            f"{n:,} requests → {c} categories → {k} project candidates")


def summary_text(table: pd.DataFrame, summary: dict, detail: bool = True) -> str:
    """Headline, settings line, table and (``detail``) one block per candidate, zh then en."""
    lines = [headline(summary)]
    w = summary["weights"]
    lines.append(
        f"H3 {summary['res']} 级 / res {summary['res']} · Gi* k={summary['k']} · FDR · bin ≥ {summary['min_bin']} · "
        f"gap={summary['gap']} · min_cells={summary['min_cells']} · 趋势 trend: {summary['trend_bucket']} · "
        "权重 weights: " + ", ".join(f"{p} {v:g}" for p, v in w.items()))
    for cat, reason in summary.get("not_tested", {}).items():
        lines.append(f"  {cat}: {reason}")
    if summary.get("unplaced_requests"):
        lines.append(f"  定位过粗未计入 / placed too coarsely, not counted: {summary['unplaced_requests']}")
    if not len(table):
        lines.append("没有项目候选 / no project candidates")
        return "\n".join(lines)
    lines += ["", to_text(display_table(table))]
    if not detail:
        return "\n".join(lines)
    for _, r in table.iterrows():
        hh = "–" if pd.isna(r["households"]) else f"{r['households']:,.0f}"
        lines += [
            "",
            f"#{r['rank']} {r['candidate_id']}  {r['category_zh']} / {r['category_en']}  "
            f"得分 score {r['score']:.2f}",
            f"  得分构成 score = 规模 volume {r['pts_volume']:.2f} + 显著性 significance {r['pts_significance']:.2f}"
            f" + 增长 growth {r['pts_growth']:.2f} + 严重度 severity {r['pts_severity']:.2f}",
            f"  诉求 requests {r['requests']} · 问题 issues {r['issues']} · 户数 households {hh} · "
            f"{r['cells']} 个网格单元 cells · {r['area_ha']:.2f} ha · 最大 z {r['z_max']:.2f}",
            f"  趋势 trend: {r['trend_zh']} / {r['trend_en']} · 增长 growth {_growth(r)}",
            f"  网格 grids: {r['grid_names'] or '–'} ({r['grids'] or '–'})",
            f"  关键词 keywords: {r['keywords'] or '–'}",
            f"  位置 location: {r['lng']:.6f}, {r['lat']:.6f}",
        ]
        for j in (1, 2, 3):
            if r[f"text_{j}"]:
                lines.append(f"  代表诉求 text {j}: {r[f'text_{j}']}")
    return "\n".join(lines)
