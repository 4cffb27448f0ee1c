"""Load and validate the offline gazetteer: named places (门牌 … 街道) with WGS84 points, from CSV or GeoJSON.

CSV in UTF-8/GBK or GeoJSON points, any CRS; every bad row is reported at once with its line, and the
gazetteer can be restricted to the deployment's city/district.
"""

from __future__ import annotations

import io
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gridgis.crs import parse_crs, to_wgs84
from gridgis.errors import InvalidInputError, NotFoundError, UnsupportedFormatError
from gridgis.ingest.address import admin_core, normalize_addresses

log = logging.getLogger(__name__)

LEVELS = ("door", "building", "estate", "community", "street")
_LEVEL_ALIASES = {
    **{level: level for level in LEVELS},
    "门牌": "door", "门牌号": "door", "楼栋": "building", "栋": "building", "小区": "estate",
    "社区": "community", "街道": "street", "镇": "street", "乡镇": "street",
}
PART_COLUMNS = ("province", "city", "district", "subdistrict", "community", "road", "number", "estate",
                "building")
_MAX_PROBLEMS = 20


@dataclass
class Gazetteer:
    """Named places with WGS84 points: one row per door plate, building, 小区, 社区 or 街道.

    ``entries`` columns: name, norm_name, aliases ("|"-separated), level, lng, lat, households (Int64),
    the address parts (province … building) and line (source line or feature number).
    ``province``/``city``/``district`` are the deployment's names, dropped from address prefixes.
    """

    entries: pd.DataFrame
    province: str | None = None
    city: str | None = None
    district: str | None = None

    @classmethod
    def load(
        cls, path: str | Path, *, crs: str = "wgs84", city: str | None = None, district: str | None = None
    ) -> Gazetteer:
        """Read a CSV (UTF-8 or GBK) or GeoJSON gazetteer, convert it to WGS84 and restrict it."""
        path = Path(path)
        if not path.is_file():
            raise NotFoundError(f"找不到地名库文件 / gazetteer file not found: {path}",
                                field="gazetteer_file")
        suffix = path.suffix.lower()
        if suffix in (".csv", ".txt"):
            frame, problems = _read_csv(path), []
        elif suffix in (".geojson", ".json"):
            frame, problems = _read_geojson(path)
        else:
            raise UnsupportedFormatError(
                f"地名库须为 CSV 或 GeoJSON：{path.name} / "
                f"gazetteer must be .csv or .geojson, got {suffix!r}",
                field="gazetteer_file",
            )
        return cls.from_frame(frame, crs=crs, city=city, district=district, problems=problems)

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        crs: str = "wgs84",
        city: str | None = None,
        district: str | None = None,
        problems: list[tuple[int, str, str, str]] | None = None,
    ) -> Gazetteer:
        """Validate rows (all problems listed at once), convert coordinates, restrict to city/district."""
        frame = frame.rename(columns=lambda c: str(c).strip().lower()).rename(columns={"lon": "lng"})
        if frame.empty:
            raise InvalidInputError("地名库没有任何条目 / the gazetteer has no rows", field="gazetteer_file")
        missing = [c for c in ("name", "level", "lng", "lat") if c not in frame.columns]
        if missing:
            raise InvalidInputError(
                f"地名库缺少列 {', '.join(missing)} / gazetteer lacks column(s) {', '.join(missing)}; "
                f"found: {', '.join(map(str, frame.columns))}",
                field=missing[0],
            )
        lines = frame["line"] if "line" in frame.columns else pd.Series(frame.index + 2, index=frame.index)
        out = pd.DataFrame(index=frame.index)
        for col in ("name", "aliases", "level", *PART_COLUMNS):
            values = frame[col] if col in frame.columns else pd.Series(pd.NA, index=frame.index)
            text = values.astype("str").str.strip()
            out[col] = text.mask(text == "")
        out["level"] = out["level"].str.lower().map(_LEVEL_ALIASES)
        x = pd.to_numeric(frame["lng"], errors="coerce").to_numpy(dtype=float)
        y = pd.to_numeric(frame["lat"], errors="coerce").to_numpy(dtype=float)
        hh = pd.to_numeric(frame.get("households", pd.Series(np.nan, index=frame.index)), errors="coerce")
        src = parse_crs(crs)
        lng, lat = to_wgs84(x, y, src)
        out_of_range = np.isfinite(x) & np.isfinite(y) & ~((np.abs(lng) <= 180) & (np.abs(lat) <= 90))

        found = list(problems or [])
        checks = [
            (out["name"].isna(), "name", frame.get("name"), "名称为空 / name is empty"),
            (out["level"].isna(), "level", frame.get("level"),
             f"级别须为 {'/'.join(LEVELS)}（门牌/楼栋/小区/社区/街道）/ "
             f"level must be one of {', '.join(LEVELS)}"),
            (~np.isfinite(x), "lng", frame.get("lng"), "经度缺失或不是数字 / lng is missing or not a number"),
            (~np.isfinite(y), "lat", frame.get("lat"), "纬度缺失或不是数字 / lat is missing or not a number"),
            (out_of_range, "lng", frame.get("lng"),
             f"坐标超出范围，坐标系是否为 {src.name}？/ "
             f"coordinates out of range: is the CRS really {src.name}?"),
        ]
        if "households" in frame.columns:
            raw_hh = frame["households"].astype("str").str.strip().fillna("")
            bad_hh = (raw_hh != "") & (hh.isna() | (hh % 1 != 0) | (hh < 0))
            checks.append((bad_hh, "households", frame["households"],
                           "户数须为非负整数 / households must be a whole number"))
        for mask, field, values, reason in checks:
            mask = np.asarray(mask, dtype=bool)
            for line, value in zip(lines[mask], (values[mask] if values is not None else [""] * mask.sum()),
                                   strict=True):
                found.append((int(line), field, "" if pd.isna(value) else str(value), reason))
        if found:
            _raise_problems(found)

        out["lng"], out["lat"] = lng, lat
        out["households"] = hh.astype("Int64")
        out["line"] = np.asarray(lines, dtype=np.int64)
        for col, wanted in (("city", city), ("district", district)):
            if wanted:
                core = admin_core(out[col])
                out = out[core.isna() | (core == admin_core(pd.Series([wanted])).iloc[0])]
                if out.empty:
                    raise InvalidInputError(
                        f"地名库中没有属于 {wanted} 的条目 / the gazetteer has no entries in {wanted} "
                        f"(column {col})",
                        field=col,
                    )
        province = _single(out["province"])
        city = city or _single(out["city"])
        district = district or _single(out["district"])
        out["norm_name"] = normalize_addresses(out["name"], province=province, city=city, district=district)
        # The same place listed twice (same name, level, point within ~10 m) is one place, not an ambiguity.
        dup = pd.DataFrame({"n": out["norm_name"], "l": out["level"], "x": out["lng"].round(4),
                            "y": out["lat"].round(4)}).duplicated()
        if dup.any():
            log.info("gazetteer: dropped %d duplicate rows (same name, level and point)", int(dup.sum()))
        out = out[~dup.to_numpy()].reset_index(drop=True)
        cols = ["name", "norm_name", "aliases", "level", "lng", "lat", "households", *PART_COLUMNS, "line"]
        return cls(out[cols], province=province, city=city, district=district)

    def __len__(self) -> int:
        return len(self.entries)


def _single(values: pd.Series) -> str | None:
    """The one value a column holds (a deployment's city), or None when blank or mixed."""
    uniq = values.dropna().unique()
    return str(uniq[0]) if len(uniq) == 1 else None


def _raise_problems(found: list[tuple[int, str, str, str]]) -> None:
    found.sort()
    shown = "; ".join(f"第{line}行 {field}={value!r}: {reason}" for line, field, value, reason in
                      found[:_MAX_PROBLEMS])
    more = f" …（另有 {len(found) - _MAX_PROBLEMS} 处 / {len(found) - _MAX_PROBLEMS} more)" \
        if len(found) > _MAX_PROBLEMS else ""
    line, field = found[0][0], found[0][1]
    raise InvalidInputError(
        f"地名库有 {len(found)} 处错误，请修正后重新加载 / gazetteer has {len(found)} problem(s), "
        f"fix them and reload: {shown}{more}",
        field=field,
        line=line,
    )


def _read_csv(path: Path) -> pd.DataFrame:
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):  # GB18030 is a superset of GBK
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise UnsupportedFormatError(
            f"地名库编码无法识别（应为 UTF-8 或 GBK）/ gazetteer {path.name} is neither UTF-8 nor GBK",
            field="gazetteer_file",
        )
    frame = pd.read_csv(io.StringIO(text), dtype="str", keep_default_na=False)
    frame["line"] = np.arange(len(frame)) + 2  # line 1 is the header
    return frame


def _read_geojson(path: Path) -> tuple[pd.DataFrame, list[tuple[int, str, str, str]]]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
        features = doc["features"]
    except (ValueError, KeyError, TypeError) as exc:
        raise UnsupportedFormatError(
            f"地名库不是有效的 GeoJSON FeatureCollection / "
            f"{path.name} is not a GeoJSON FeatureCollection: {exc}",
            field="gazetteer_file",
        ) from exc
    records, problems = [], []
    for number, feature in enumerate(features, start=1):
        props = dict(feature.get("properties") or {})
        geom = feature.get("geometry") or {}
        coords = geom.get("coordinates") or []
        if geom.get("type") == "Point" and len(coords) >= 2:
            props["lng"], props["lat"] = coords[0], coords[1]
        else:
            problems.append((number, "geometry", str(geom.get("type")),
                             "几何须为点 / geometry must be a Point"))
            props["lng"], props["lat"] = 0.0, 0.0  # reported above; keeps the other checks meaningful
        props["line"] = number
        records.append(props)
    frame = pd.DataFrame.from_records(records)
    for col in frame.columns.difference(["lng", "lat", "line"]):
        frame[col] = frame[col].map(_text).astype("str")
    return frame, problems


def _text(value) -> str:
    """A GeoJSON property as text; null (None, or NaN once pandas has seen it) is blank."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)
