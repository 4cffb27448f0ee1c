"""Settings: one frozen dataclass, resolved as defaults < TOML file < GRIDGIS_* env < explicit overrides."""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from gridgis.errors import ConfigError

PACKAGE_DATA = Path(__file__).resolve().parent / "data"
DEFAULT_TAXONOMY = PACKAGE_DATA / "taxonomy.toml"


def _h(text: str) -> dict:
    return {"help": text}


@dataclass(frozen=True)
class Settings:
    """Everything a deployment configures. Each field's metadata["help"] documents it (README lists all)."""

    database_url: str = field(
        default="sqlite:///var/gridgis.sqlite3",
        metadata=_h("SQLAlchemy URL of the store; sqlite:///PATH (default) or postgresql+psycopg://…"),
    )
    timezone: str = field(
        default="Asia/Shanghai", metadata=_h("IANA zone in which naive source times are read")
    )
    service_area_bbox: tuple[float, float, float, float] | None = field(
        default=None,
        metadata=_h("[min_lng, min_lat, max_lng, max_lat] in WGS84; points outside are rejected"),
    )
    service_area_file: str | None = field(
        default=None,
        metadata=_h("polygon file (GeoJSON/GPKG/SHP) of the service area; wins over service_area_bbox"),
    )
    h3_resolution: int = field(default=10, metadata=_h("fine H3 resolution stored per request (7–11)"))
    h3_coarse_resolutions: tuple[int, ...] = field(
        default=(7, 8, 9), metadata=_h("coarser H3 levels stored as parents of the fine cell")
    )
    taxonomy_file: str = field(
        default=str(DEFAULT_TAXONOMY),
        metadata=_h("TOML file of demand categories, keywords, precedence and source mappings"),
    )
    gazetteer_file: str | None = field(
        default=None,
        metadata=_h("CSV/GeoJSON gazetteer of door plates, buildings and 小区 for offline geocoding"),
    )
    gazetteer_crs: str = field(default="wgs84", metadata=_h("CRS of the gazetteer's coordinates"))
    geocode_city: str | None = field(
        default=None, metadata=_h("city that addresses are restricted to, e.g. 成都市")
    )
    geocode_district: str | None = field(
        default=None, metadata=_h("district that addresses are restricted to, e.g. 武侯区")
    )
    geocode_fuzzy_threshold: float = field(
        default=80.0, metadata=_h("minimum rapidfuzz score (0–100) for a fuzzy gazetteer match")
    )
    classifier_model_file: str | None = field(
        default=None, metadata=_h("trained text classifier (joblib) from `gridgis classify train`")
    )
    classifier_threshold: float = field(
        default=0.6, metadata=_h("minimum probability for the trained classifier's label to be used")
    )
    duplicate_radius_m: float = field(
        default=100.0, metadata=_h("requests of one category within this distance may be duplicates")
    )
    duplicate_days: float = field(
        default=7.0, metadata=_h("… and within this many days of each other")
    )
    duplicate_text_similarity: float = field(
        default=60.0, metadata=_h("… and with texts at least this similar (rapidfuzz 0–100)")
    )
    batch_size: int = field(default=50_000, metadata=_h("rows per ingest transaction"))
    grids_file: str | None = field(
        default=None, metadata=_h("grid polygons loaded by `gridgis demo` / `grids import`")
    )
    base_map: str = field(
        default="osm", metadata=_h("base layer: osm, tianditu_vec, tianditu_img, amap, blank")
    )
    tianditu_key: str | None = field(default=None, metadata=_h("Tianditu `tk` key for its WMTS layers"))
    host: str = field(default="127.0.0.1", metadata=_h("address `gridgis serve` listens on"))
    port: int = field(default=8000, metadata=_h("port `gridgis serve` listens on"))
    secret_key: str | None = field(
        default=None,
        metadata=_h("Flask session secret; when unset a random one is generated once and kept in the database "
                    "(shared by every server process)"),
    )
    session_hours: float = field(
        default=12.0, metadata=_h("hours a login session lasts; after that the user logs in again")
    )
    session_cookie_secure: str = field(
        default="auto",
        metadata=_h("Secure flag of the session cookie: auto (on HTTPS requests), always, never"),
    )
    trust_proxy: bool = field(
        default=False,
        metadata=_h("behind a reverse proxy: trust its X-Forwarded-For/-Proto/-Host/-Prefix headers (one hop)"),
    )
    public_aggregates: bool = field(
        default=False,
        metadata=_h("anonymous visitors may see the map and aggregates (no request rows), e.g. for an intranet "
                    "wall screen"),
    )
    project_weight_volume: float = field(
        default=0.35,
        metadata=_h("weight in project scores of a candidate's requests (share of the largest candidate's)"),
    )
    project_weight_significance: float = field(
        default=0.20,
        metadata=_h("weight in project scores of the hot spot's Gi* z (share of the strongest candidate's)"),
    )
    project_weight_growth: float = field(
        default=0.15,
        metadata=_h("weight in project scores of growth (later vs earlier half of the period; ×2 = full)"),
    )
    project_weight_severity: float = field(
        default=0.30,
        metadata=_h("weight in project scores of the category's taxonomy `severity` (SAFE highest)"),
    )
    export_snap_points: bool = field(
        default=True,
        metadata=_h("request points leave the store (exports, OGC API) at their fine H3 cell's centre, "
                    "not the exact spot; false keeps exact points"),
    )
    export_min_count_k: int = field(
        default=5,
        metadata=_h("aggregate exports and OGC collections leave out cells with fewer requests than this "
                    "(k-anonymity; 1 keeps every cell)"),
    )
    deadline_hours_new: float = field(
        default=24.0, metadata=_h("hours a new request (受理) may wait to be assigned (派单) before it is overdue; "
                                  "0: no deadline")
    )
    deadline_hours_assigned: float = field(
        default=24.0, metadata=_h("hours an assigned request may wait to be taken up (处置中); 0: no deadline")
    )
    deadline_hours_in_progress: float = field(
        default=120.0, metadata=_h("hours a request in progress may take to be resolved (已办结); 0: no deadline")
    )
    deadline_hours_resolved: float = field(
        default=72.0, metadata=_h("hours a resolved request may wait for the follow-up call (已回访); 0: no deadline")
    )
    deadline_file: str | None = field(
        default=None,
        metadata=_h("TOML of per-category deadlines in hours overriding deadline_hours_*, e.g. [SAFE] new = 2"),
    )

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with some fields replaced (values are coerced and validated)."""
        clean = {k: v for k, v in overrides.items() if v is not None}
        merged = {**dataclasses.asdict(self), **clean}
        return _build(merged, origin="override")

    @property
    def sqlite_path(self) -> Path | None:
        if self.database_url.startswith("sqlite:///"):
            return Path(self.database_url.removeprefix("sqlite:///"))
        return None


FIELD_NAMES = tuple(f.name for f in fields(Settings))


def _coerce(name: str, value: Any, origin: str) -> Any:
    f = Settings.__dataclass_fields__[name]
    typ = str(f.type)
    where = f"{origin}: {name}"
    try:
        if value is None:
            return None
        if "tuple" in typ:
            if isinstance(value, str):
                value = json.loads(value) if value.strip().startswith("[") else value.split(",")
            items = [float(v) for v in value] if "float" in typ else [int(v) for v in value]
            return tuple(items)
        if typ.startswith("bool"):
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                raise ValueError("expected true or false")
            return text in ("1", "true", "yes", "on")
        if typ.startswith("int"):
            return int(value)
        if typ.startswith("float"):
            return float(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"设置 {name} 的值无效：{value!r} / invalid value for setting {name} ({where}): {exc}",
            field=name,
        ) from exc


def _validate(s: Settings) -> None:
    if s.service_area_bbox is not None:
        if len(s.service_area_bbox) != 4:
            raise ConfigError("service_area_bbox 需要 4 个数 / needs 4 numbers", field="service_area_bbox")
        x0, y0, x1, y1 = s.service_area_bbox
        if not (-180 <= x0 < x1 <= 180 and -90 <= y0 < y1 <= 90):
            raise ConfigError(
                "service_area_bbox 应为 [min_lng, min_lat, max_lng, max_lat] / must be "
                f"[min_lng, min_lat, max_lng, max_lat] in degrees, got {list(s.service_area_bbox)}",
                field="service_area_bbox",
            )
    if not 7 <= s.h3_resolution <= 12:
        raise ConfigError("h3_resolution 应在 7–12 / must be 7–12", field="h3_resolution")
    for r in s.h3_coarse_resolutions:
        if not 0 <= r < s.h3_resolution:
            raise ConfigError(
                f"h3_coarse_resolutions 须小于 h3_resolution / each must be below h3_resolution, got {r}",
                field="h3_coarse_resolutions",
            )
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(s.timezone)
    except Exception as exc:  # ZoneInfoNotFoundError, ValueError
        raise ConfigError(f"未知时区 / unknown timezone {s.timezone!r}", field="timezone") from exc
    if s.batch_size < 1:
        raise ConfigError("batch_size 须为正数 / must be positive", field="batch_size")
    if s.export_min_count_k < 1:
        raise ConfigError("export_min_count_k 须为正整数 / must be a positive integer", field="export_min_count_k")
    if not s.session_hours > 0:
        raise ConfigError("session_hours 须为正数 / must be positive", field="session_hours")
    if s.session_cookie_secure not in ("auto", "always", "never"):
        raise ConfigError(f"session_cookie_secure 须为 auto、always 或 never / must be auto, always or never, got "
                          f"{s.session_cookie_secure!r}", field="session_cookie_secure")
    for name in ("deadline_hours_new", "deadline_hours_assigned", "deadline_hours_in_progress",
                 "deadline_hours_resolved"):
        if not getattr(s, name) >= 0:
            raise ConfigError(f"{name} 须 ≥ 0（0 表示不设时限）/ must be ≥ 0 (0: no deadline)", field=name)


def _build(values: dict, origin: str) -> Settings:
    unknown = set(values) - set(FIELD_NAMES)
    if unknown:
        raise ConfigError(
            f"未知设置 / unknown setting(s) in {origin}: {', '.join(sorted(unknown))}; "
            f"known: {', '.join(FIELD_NAMES)}",
            field=sorted(unknown)[0],
        )
    coerced = {k: _coerce(k, v, origin) for k, v in values.items()}
    s = Settings(**coerced)
    _validate(s)
    return s


def load_settings(
    config_file: str | os.PathLike | None = None,
    env: dict[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Resolve settings: defaults < TOML (``config_file`` or $GRIDGIS_CONFIG) < GRIDGIS_* env < overrides.

    Relative paths inside a TOML file are resolved against the file's folder.
    """
    env = dict(os.environ if env is None else env)
    values: dict[str, Any] = {}
    path = config_file or env.get("GRIDGIS_CONFIG")
    if path:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"找不到配置文件 / config file not found: {p}", field="config")
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"配置文件无法解析 / cannot parse config file {p}: {exc}", field="config") from exc
        data = data.get("gridgis", data)
        for key in ("taxonomy_file", "gazetteer_file", "service_area_file", "classifier_model_file",
                    "grids_file", "deadline_file"):
            if isinstance(data.get(key), str) and not Path(data[key]).is_absolute():
                data[key] = str((p.parent / data[key]).resolve())
        db = data.get("database_url")
        if isinstance(db, str) and db.startswith("sqlite:///") and not db.startswith("sqlite:////"):
            rel = db.removeprefix("sqlite:///")
            if rel and rel != ":memory:":
                data["database_url"] = "sqlite:///" + str((p.parent / rel).resolve())
        values.update(data)
        _build(values, origin=str(p))  # report unknown keys against the file
    for name in FIELD_NAMES:
        key = "GRIDGIS_" + name.upper()
        if key in env and env[key] != "":
            values[name] = env[key]
    values.update({k: v for k, v in overrides.items() if v is not None})
    return _build(values, origin="settings")
