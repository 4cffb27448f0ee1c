"""Build the demo database from a sample folder: schema, categories, grids, then each input of manifest.toml."""

from __future__ import annotations

import tomllib
from pathlib import Path

from gridgis.config import Settings
from gridgis.errors import ConfigError
from gridgis.models import IngestReport


def read_manifest(folder: Path) -> list[dict]:
    """``[[input]]`` tables of ``manifest.toml``: file, and optional source, crs, sheet, encoding, map."""
    path = folder / "manifest.toml"
    if not path.is_file():
        raise ConfigError(f"找不到演示清单 / demo manifest not found: {path}", field="data")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"演示清单无法解析 / cannot parse {path}: {exc}", field="data") from exc
    inputs = data.get("input", [])
    for i, item in enumerate(inputs, start=1):
        if "file" not in item:
            raise ConfigError(f"{path}: [[input]] #{i} 缺少 file / has no 'file'", field="data")
        if not (folder / item["file"]).is_file():
            raise ConfigError(f"{path}: 找不到 / file not found: {item['file']}", field="data")
    return inputs


def sync_categories(store, settings: Settings) -> None:
    """Copy the configured taxonomy into the ``categories`` table (codes, names, colours, order)."""
    from gridgis.taxonomy import Taxonomy

    tax = Taxonomy.load(settings.taxonomy_file)
    store.sync_categories([
        {"code": c.code, "name_zh": c.name_zh, "name_en": c.name_en, "color": c.color,
         "severity": float(c.severity), "position": i}
        for i, c in enumerate(tax.categories)
    ])


def build_demo(settings: Settings, folder: str | Path) -> list[IngestReport]:
    """Create (or bring up to date) the demo database; safe to run again: nothing is stored twice."""
    from gridgis.grids import read_grids
    from gridgis.ingest.pipeline import IngestContext, IngestOptions, ingest_file
    from gridgis.storage import init_db

    folder = Path(folder)
    inputs = read_manifest(folder)
    store = init_db(settings)
    sync_categories(store, settings)
    if settings.grids_file:
        store.replace_grids(read_grids(settings.grids_file))
    if settings.gazetteer_file:  # households per cell: the "per 100 households" rates
        from gridgis.heatmap.households import load_households_from_gazetteer

        load_households_from_gazetteer(store, settings.gazetteer_file, settings.gazetteer_crs)
    ctx = IngestContext.build(settings, store)
    reports = []
    for item in inputs:
        opts = IngestOptions(source=item.get("source"), crs=item.get("crs"), mapping=item.get("map", {}),
                             sheet=item.get("sheet"), encoding=item.get("encoding"),
                             time_format=item.get("time_format"))
        reports.append(ingest_file(folder / item["file"], settings, store, opts, ctx=ctx))
    store.close()
    return reports
