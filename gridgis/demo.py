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


# One account per role, so `make demo` shows what each role sees: user name → (role, display name).
DEMO_USERS: dict[str, tuple[str, str]] = {
    "admin": ("admin", "系统管理员"),
    "secretary": ("secretary", "社区书记"),
    "gridworker": ("grid_worker", "网格员"),
    "viewer": ("viewer", "查看者"),
}


def ensure_demo_users(settings: Settings, *, reset: bool = False) -> list[dict]:
    """Create the :data:`DEMO_USERS` that do not exist yet (the grid worker serves the first stored grid).

    Existing demo users keep their passwords unless ``reset``. Returns one dict per user — username,
    role, grids, display_name and ``password`` (the new one, or None when it was kept) — for the CLI to
    print: passwords exist only as hashes in the database.
    """
    from gridgis import accounts
    from gridgis.storage import open_store

    store = open_store(settings)
    try:
        codes = sorted(store.grids_frame()["grid_code"].astype(str))
        out = []
        for name, (role, display) in DEMO_USERS.items():
            if role == "grid_worker" and not codes:
                continue  # a grid worker needs a grid: none is stored
            grids = codes[:1] if role == "grid_worker" else None
            row = store.user_by_name(name)
            password = None
            if row is None:
                row, password = accounts.create_user(store, name, role, grids=grids, display_name=display,
                                                     created_by="demo")
            elif reset:
                accounts.enable_user(store, name)
                row, password = accounts.reset_password(store, name)
            out.append({"username": name, "role": row["role"], "grids": row["grids"],
                        "display_name": row["display_name"], "password": password})
        return out
    finally:
        store.close()
