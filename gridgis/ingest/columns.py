"""Map source headers (中文/English aliases or an explicit mapping) onto the canonical request fields.

Headers match case-, width- and space-insensitively (``" 工单编号 "``, ``"Ticket_ID"``, ``"经度（WGS84）"``).
Columns that map to no field are not lost: :func:`apply_columns` keeps their non-empty values per row
as a JSON object ("extra attributes"), e.g. 工单来源, 承办单位, 办结时间.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import tomllib
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

from gridgis.errors import InvalidInputError, UnsupportedFormatError

log = logging.getLogger(__name__)

CANONICAL_FIELDS = ("source_id", "text", "address", "lng", "lat", "created_at", "source_category",
                    "request_type", "reporter_name", "reporter_phone", "status", "grid_code")

#: Value of an explicit mapping that keeps a header out of every field (it stays an extra attribute).
IGNORE = "-"

# Order inside each tuple is priority: when a file has two matching headers (受理时间 and 时间), the
# earlier alias wins and the other column stays an extra attribute. Deliberately absent:
# 序号 (a row counter, not a stable id), 办结/派单/回访时间 (not the creation time), X/Y (in Chinese
# surveying X is northing: map projected columns explicitly), 一级/二级分类 (pick the level explicitly).
ALIASES: dict[str, tuple[str, ...]] = {
    "source_id": ("工单编号", "工单号", "诉求编号", "案件编号", "案卷编号", "事件编号", "受理编号",
                  "工单流水号", "流水号", "编号", "service_request_id", "request_id", "ticket_id", "case_id",
                  "id"),
    "text": ("诉求内容", "反映内容", "来电内容", "工单内容", "诉求描述", "问题描述", "事件描述", "情况描述",
             "反映问题", "描述", "内容", "description", "text", "content"),
    "address": ("事发地址", "详细地址", "发生地址", "事件地址", "问题地址", "反映地址", "事发地点",
                "发生地点", "事件地点", "地址", "地点", "位置", "address", "address_string", "location"),
    "lng": ("经度", "lng", "lon", "long", "longitude"),
    "lat": ("纬度", "lat", "latitude"),
    "created_at": ("受理时间", "来电时间", "创建时间", "上报时间", "登记时间", "反映时间", "提交时间",
                   "发生时间", "时间", "requested_datetime", "created_at", "reported_at", "open_dt", "created",
                   "datetime", "time"),
    "source_category": ("诉求类别", "诉求分类", "问题分类", "问题类型", "事件类型", "事件分类", "事项分类",
                        "案件类型", "类别", "分类", "service_name", "category"),
    "request_type": ("诉求类型", "诉求性质", "来电类型", "工单类型", "request_type", "type"),
    "reporter_name": ("联系人", "联系人姓名", "来电人", "来电人姓名", "反映人", "诉求人", "市民姓名", "姓名",
                      "上报人", "contact", "reporter", "name"),
    "reporter_phone": ("联系电话", "来电号码", "来电人电话", "联系方式", "手机号码", "手机号", "手机", "电话",
                       "phone", "mobile", "tel", "telephone"),
    "status": ("办理状态", "处理状态", "工单状态", "办结状态", "状态", "status"),
    "grid_code": ("网格编码", "网格编号", "网格代码", "所属网格", "网格", "grid_code", "grid_id", "grid"),
}

_STRIP = re.compile(r"[\s_\-*#:：]+")
_BRACKETED = re.compile(r"[(（\[【].*?[)）\]】]")


def _norm(header: str) -> str:
    """Comparison key: NFKC (full-width to half-width), case-folded, without spaces/_/-/*/colons."""
    return _STRIP.sub("", unicodedata.normalize("NFKC", str(header)).casefold())


_ALIAS_INDEX: dict[str, tuple[str, int]] = {
    _norm(alias): (field, rank) for field, aliases in ALIASES.items() for rank, alias in enumerate(aliases)
}


def _lookup(header: str) -> tuple[str, int] | None:
    key = _norm(header)
    hit = _ALIAS_INDEX.get(key)
    if hit is None:
        # "经度(WGS84)", "受理时间【必填】": try again without the bracketed note.
        bare = _norm(_BRACKETED.sub("", str(header)))
        hit = _ALIAS_INDEX.get(bare) if bare else None
    return hit


def _check_field(name: str, where: str) -> str:
    canon = str(name).strip().lower()
    if canon != IGNORE and canon not in CANONICAL_FIELDS:
        raise InvalidInputError(
            f"{where}：未知字段 {name!r}；可用字段：{', '.join(CANONICAL_FIELDS)}，或 {IGNORE} 表示不映射 / "
            f"{where}: unknown field {name!r}; allowed: {', '.join(CANONICAL_FIELDS)} or {IGNORE!r} to skip",
            field="map",
        )
    return canon


def parse_map_options(items: list[str]) -> dict[str, str]:
    """``["工单号=source_id", "备注=-"]`` (from ``--map``) -> ``{"工单号": "source_id", "备注": "-"}``."""
    out: dict[str, str] = {}
    for item in items:
        text = unicodedata.normalize("NFKC", str(item))
        header, sep, canon = text.rpartition("=")
        header = header.strip()
        if not sep or not header or not canon.strip():
            raise InvalidInputError(
                f"--map 参数 {item!r} 格式不对，应为 源列名=字段名，如 工单号=source_id / "
                f"bad --map item {item!r}; expected SOURCE_HEADER=FIELD, e.g. 工单号=source_id",
                field="map",
            )
        out[header] = _check_field(canon, f"--map {item}")
    return out


def load_mapping_file(path: str | os.PathLike) -> dict[str, str]:
    """Read a "source header -> canonical field" mapping from TOML, JSON or a two-column CSV.

    TOML/JSON: a table of ``"源列名" = "field"``, at top level or under ``[columns]``/``[mapping]``.
    CSV: rows ``源列名,field``; a first row whose second cell is not a field name is taken as a header.
    """
    p = Path(path)
    if not p.is_file():
        raise InvalidInputError(f"找不到列映射文件 {p} / mapping file not found: {p}", field="map_file")
    suffix = p.suffix.lower()
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("gb18030")  # a mapping saved by Excel/Notepad on a Chinese Windows
        except UnicodeDecodeError as exc:
            raise UnsupportedFormatError(
                f"列映射文件 {p} 不是 UTF-8 或 GB18030 编码 / mapping file {p} is neither UTF-8 nor GB18030",
                field="map_file",
            ) from exc
    try:
        if suffix == ".toml":
            data = tomllib.loads(text)
        elif suffix == ".json":
            data = json.loads(text)
        elif suffix in (".csv", ".txt"):
            data = _mapping_rows(text)
        else:
            raise UnsupportedFormatError(
                f"列映射文件 {p} 应为 .toml、.json 或 .csv / mapping file {p} must be .toml, .json or .csv",
                field="map_file",
            )
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(
            f"列映射文件 {p} 格式错误：{exc} / cannot parse mapping file {p}: {exc}", field="map_file"
        ) from exc
    if isinstance(data, dict):
        for key in ("columns", "mapping"):
            if isinstance(data.get(key), dict):
                data = data[key]
                break
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise InvalidInputError(
            f"列映射文件 {p} 应为“源列名 = 字段名”的表 / mapping file {p} must map source headers to "
            "field names (strings)",
            field="map_file",
        )
    return {str(k).strip(): _check_field(v, f"{p}") for k, v in data.items()}


def _mapping_rows(text: str) -> dict[str, str]:
    rows = [r for r in csv.reader(text.splitlines()) if len(r) >= 2 and r[0].strip()]
    if rows and rows[0][1].strip().lower() not in (*CANONICAL_FIELDS, IGNORE):
        rows = rows[1:]  # a header row such as "源列名,字段"
    return {r[0].strip(): r[1].strip() for r in rows}


def resolve_columns(headers: list[str], explicit: dict[str, str] | None = None) -> dict[str, str]:
    """Source header -> canonical field for every header that maps; explicit entries win over aliases.

    Raises :class:`InvalidInputError` for an explicit unknown field, an explicit header missing from the
    file, or two explicit headers for one field. Two alias matches for one field keep the better alias
    and log a warning; the other column stays an extra attribute.
    """
    headers = [str(h) for h in headers]
    mapping: dict[str, str] = {}
    skipped: set[str] = set()
    claimed: dict[str, str] = {}
    for source, target in (explicit or {}).items():
        canon = _check_field(target, f"列映射 {source}={target}")
        header = _find_header(source, headers)
        if canon == IGNORE:
            skipped.add(header)
            continue
        if canon in claimed:
            raise InvalidInputError(
                f"列映射把 {claimed[canon]!r} 和 {header!r} 都指定为 {canon}，只能选一个 / "
                f"explicit mapping assigns both {claimed[canon]!r} and {header!r} to {canon}; keep one",
                field="map",
            )
        mapping[header] = canon
        claimed[canon] = header
    candidates: dict[str, list[tuple[int, int, str]]] = {}
    for position, header in enumerate(headers):
        if header in mapping or header in skipped:
            continue
        hit = _lookup(header)
        if hit is not None:
            candidates.setdefault(hit[0], []).append((hit[1], position, header))
    for canon, found in candidates.items():
        found.sort()
        losers = [h for _, _, h in found]
        if canon not in claimed:
            mapping[found[0][2]] = canon
            losers = losers[1:]
        if losers:
            log.warning(
                "列 %s 也可作为 %s，已使用 %r，这些列保留为附加属性 / columns %s also match %s; using %r, "
                "the others stay extra attributes", losers, canon, claimed.get(canon, found[0][2]), losers,
                canon, claimed.get(canon, found[0][2]),
            )
    return mapping


def _find_header(source: str, headers: list[str]) -> str:
    if source in headers:
        return source
    matches = [h for h in headers if _norm(h) == _norm(source)]
    if matches:
        return matches[0]
    raise InvalidInputError(
        f"列映射中的列 {source!r} 不在文件中；文件的列：{', '.join(headers)} / "
        f"mapped column {source!r} is not in the file; its columns are: {', '.join(headers)}",
        field="map",
    )


def apply_columns(frame: pd.DataFrame, mapping: dict[str, str]) -> tuple[pd.DataFrame, pd.Series]:
    """(frame with exactly CANONICAL_FIELDS, Series of JSON objects of each row's unmapped non-empty values).

    Values are not converted here (parsing belongs to the validators). Missing fields are all-NA
    strings. The extras are JSON text (``"{}"`` when a row has none), built column-wise in Arrow.
    """
    unknown = [h for h in mapping if h not in frame.columns]
    if unknown:
        raise InvalidInputError(f"映射的列不在数据中：{unknown} / mapped columns not in the data: {unknown}",
                                field="map")
    by_field = {canon: header for header, canon in mapping.items() if canon != IGNORE}
    out = pd.DataFrame(
        {f: frame[by_field[f]] if f in by_field else _all_na(frame.index) for f in CANONICAL_FIELDS},
        index=frame.index,
    )
    extra_cols = [c for c in frame.columns if c not in mapping or mapping[c] == IGNORE]
    return out, _extras_json(frame, extra_cols)


def _all_na(index: pd.Index) -> pd.Series:
    import pyarrow as pa

    out = pa.nulls(len(index), pa.string()).to_pandas()  # str dtype, all NA, without a per-row build
    out.index = index
    return out


def _extras_json(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    import pyarrow.compute as pc

    n = len(frame)
    if not columns or n == 0:
        return pd.Series(["{}"] * n, index=frame.index, dtype="str")
    parts = []
    for name in columns:
        value = _json_values(frame[name])
        key = json.dumps(str(name), ensure_ascii=False)
        # ',"key":value' per present cell, "" per absent one; joined and wrapped below.
        part = pc.binary_join_element_wise(f",{key}:", value, "")
        parts.append(pc.fill_null(part, ""))
    body = pc.binary_join_element_wise(*parts, "") if len(parts) > 1 else parts[0]
    body = pc.utf8_slice_codeunits(body, 1)  # drop the leading comma
    joined = pc.binary_join_element_wise("{", body, "}", "")
    out = joined.to_pandas().astype("str")
    out.index = frame.index
    return out


def _json_values(values: pd.Series):
    """Arrow string array of JSON literals for one column; null where the cell is missing or blank."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pd.api.types.is_bool_dtype(values.dtype):
        return pa.array(values.map({True: "true", False: "false"}), type=pa.string(), from_pandas=True)
    if pd.api.types.is_numeric_dtype(values.dtype):
        nums = values.to_numpy(dtype=np.float64, na_value=np.nan)
        text = values.astype("str").where(np.isfinite(nums))
        return pa.array(text, type=pa.string(), from_pandas=True)
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(values.dtype):
        return _quote(pa.array(values.dt.strftime("%Y-%m-%dT%H:%M:%S%z"), type=pa.string(), from_pandas=True))
    if values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) != "string":
        # XLSX object columns (numbers, datetimes and text mixed): let pandas' JSON writer type each cell.
        # Split on "\n" only: JSON escapes it inside strings, but not U+2028 that splitlines() splits on.
        lines = values.to_frame("v").to_json(orient="records", lines=True, force_ascii=False,
                                             date_format="iso").rstrip("\n").split("\n")
        lit = pd.Series(lines, dtype="str").str.slice(5, -1)  # strip '{"v":' and '}'
        blank = (lit == "null") | lit.str.fullmatch(r'"\s*"')
        return pa.array(lit.where(~blank), type=pa.string(), from_pandas=True)
    text = pa.array(values.astype("str"), type=pa.string(), from_pandas=True)
    text = pc.if_else(pc.equal(pc.utf8_trim_whitespace(text), ""), pa.scalar(None, pa.string()), text)
    return _quote(text)


def _quote(text):
    """JSON string literals of an Arrow string array (escapes quote, backslash and control characters)."""
    import pyarrow.compute as pc

    text = pc.replace_substring(text, "\\", "\\\\")
    text = pc.replace_substring(text, '"', '\\"')
    for char, esc in (("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")):
        text = pc.replace_substring(text, char, esc)
    if pc.any(pc.match_substring_regex(text, "[\\x00-\\x1f]")).as_py():
        for code in range(0x20):
            text = pc.replace_substring(text, chr(code), f"\\u{code:04x}")
    return pc.binary_join_element_wise('"', text, '"', "")
