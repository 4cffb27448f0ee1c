"""Open311 GeoReport v2 as plain documents: discovery, services, definitions, requests, tokens, and submission.

No web framework here (``webmap/open311.py`` is the thin Flask adapter): each function returns the
JSON form of the spec's document (lists and dicts) or raises a gridgis error; :func:`to_xml` writes the
same document with the spec's XML element names. Services are the taxonomy's categories
(service_code = category code). A submission is one row through the real ingest pipeline
(:func:`gridgis.ingest.pipeline.ingest_frame`): the same checks, geocoding, classification, stable id
and duplicate links as a file import, in one transaction, all or nothing.

Privacy (PIPL): GET documents are built from :func:`gridgis.privacy.public_requests`, the policy every
export shares: no reporter name, phone or extra columns; phone and ID-card numbers and the reporter's
own name masked in descriptions; texts of sensitive categories (CARE) replaced by the category name;
addresses cut after the building. E-mail, device_id and account_id of a submission are not stored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from xml.etree import ElementTree as ET

import numpy as np
import pandas as pd
from sqlalchemy import and_

from gridgis.config import Settings
from gridgis.errors import InvalidInputError, NotFoundError
from gridgis.export.prepare import iso_times
from gridgis.grids import GridIndex
from gridgis.ingest.pipeline import IngestContext, IngestOptions, ingest_frame
from gridgis.privacy import public_requests
from gridgis.storage import Store
from gridgis.storage.schema import requests as req_t
from gridgis.taxonomy import Taxonomy, normalize_literal
from gridgis.workflow import STATUSES

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-11-26T00:00:00+08:00"  # date of the last change to this interface
FORMATS = {"json": "application/json", "xml": "text/xml"}
SOURCE = "open311"
MAX_RESULTS = 1000  # the spec lets a server cap a list; the newest come first
MAX_SPAN = pd.Timedelta(days=90)  # the spec's longest start_date–end_date window (and the default one)
MAX_DESCRIPTION = 4000  # the spec's limit for description
REQUEST_TYPE = "request_type"
COORDINATE_SYSTEMS = ("wgs84", "gcj02", "bd09", "cgcs2000")  # extension: AMap/Baidu pickers send GCJ-02/BD-09
# Our row fields → the Open311 parameter the client sent them as, so errors name what the client can fix.
PARAMETERS = {"text": "description", "lng": "long", "lat": "lat", "address": "address_string",
              "geometry": "lat", "created_at": "requested_datetime", "source_id": "service_request_id",
              "request_type": f"attribute[{REQUEST_TYPE}]", "crs": "crs"}
# XML element names of list items, by the name of the list (the spec's documents).
XML_ITEMS = {"services": "service", "service_requests": "request", "errors": "error", "endpoints": "endpoint",
             "formats": "format", "attributes": "attribute", "values": "value"}
_OPEN = [c for c, (_zh, _en, is_open) in STATUSES.items() if is_open]
_CLOSED = [c for c, (_zh, _en, is_open) in STATUSES.items() if not is_open]
_REQUEST_COLUMNS = ["id", "created_at", "updated_at", "text", "address", "category", "request_type", "status",
                    "lng", "lat", "grid_code", "duplicate_of", "reporter_name", "extra"]


def check_format(fmt: str) -> str:
    """``json`` or ``xml`` (the URL suffix); anything else is an InvalidInputError naming ``format``."""
    f = str(fmt or "").strip().lower()
    if f not in FORMATS:
        raise InvalidInputError(f"不支持的格式 {fmt!r}，请用 .json 或 .xml / unsupported format {fmt!r}: use .json "
                                "or .xml", field="format")
    return f


def error_document(status: int, description: str) -> list[dict]:
    """The spec's error body: ``[{"code": 400, "description": "…"}]``."""
    return [{"code": int(status), "description": description}]


# -- discovery and services -------------------------------------------------------------------------------

def discovery(base_url: str) -> dict:
    """The discovery document; ``base_url`` is this endpoint's absolute URL (…/open311/v2)."""
    return {
        "changeset": CHANGESET,
        "contact": "请联系本系统的运维单位 / contact the operator of this gridgis deployment",
        "key_service": "API 密钥由管理员发放：gridgis tokens create NAME --scope open311_submit / API keys are "
                       "issued by the operator with `gridgis tokens create NAME --scope open311_submit`",
        "endpoints": [{"specification": SPECIFICATION, "url": base_url.rstrip("/"), "changeset": CHANGESET,
                       "type": "production", "formats": list(FORMATS.values())}],
    }


def services(taxonomy: Taxonomy) -> list[dict]:
    """One service per demand category, in the taxonomy's order."""
    return [{
        "service_code": c.code,
        "service_name": c.name_zh,
        "description": f"{c.name_zh} / {c.name_en}",
        "metadata": True,  # every service has a definition (the request type attribute)
        "type": "realtime",  # stored at once: the POST answers with the service_request_id
        "keywords": ", ".join(c.keywords[:12]),
        "group": c.name_en,
    } for c in taxonomy.categories]


def service_code(taxonomy: Taxonomy, raw: str | None) -> str:
    """The category code a client named (any case): 400 when missing, 404 when unknown, as the spec says."""
    code = (raw or "").strip()
    if not code:
        raise InvalidInputError("缺少 service_code / service_code was not provided", field="service_code")
    known = {c.code.upper(): c.code for c in taxonomy.categories}
    if code.upper() not in known:
        listed = ", ".join(known.values())
        raise NotFoundError(f"service_code {code!r} 不存在，可选：{listed} / service_code {code!r} not found; known: "
                            f"{listed}", field="service_code")
    return known[code.upper()]


def service_definition(taxonomy: Taxonomy, code: str) -> dict:
    """The service definition: its attributes (the request type, a single-value list)."""
    code = service_code(taxonomy, code)
    return {"service_code": code, "attributes": [{
        "variable": True,
        "code": REQUEST_TYPE,
        "datatype": "singlevaluelist",
        "required": False,
        "datatype_description": "诉求类型，可不填 / the kind of request; optional",
        "order": 1,
        "description": "诉求类型 / request type",
        "values": [{"key": t.label, "name": f"{t.label} / {t.name_en}"} for t in taxonomy.request_types],
    }]}


# -- submission -------------------------------------------------------------------------------------------

def with_service_codes(taxonomy: Taxonomy) -> Taxonomy:
    """The taxonomy with each category's code also a source class of that category.

    A client that picks a service plays the part of a source system's own class: it beats keyword
    guessing, while life-safety overrides (电梯困人 → SAFE) still win over it. The fallback (OTHER)
    stays out, as catch-all labels do: for it the text decides.
    """
    taken = {normalize_literal(s) for c in taxonomy.categories for s in c.source_categories}
    cats = tuple(
        c if c.code == taxonomy.fallback or normalize_literal(c.code) in taken
        else replace(c, source_categories=(*c.source_categories, c.code))
        for c in taxonomy.categories
    )
    return taxonomy if cats == taxonomy.categories else replace(taxonomy, categories=cats)


def submission_context(settings: Settings, store: Store, cached: IngestContext | None = None) -> IngestContext:
    """The ingest context for submissions. With ``cached`` (an earlier result) the loaded gazetteer, model and
    taxonomy are reused and only the grids and the stored resolution are read again (they can change)."""
    if cached is None:
        ctx = IngestContext.build(settings, store)
        return replace(ctx, taxonomy=with_service_codes(ctx.taxonomy))
    res = int(store.get_meta("h3_resolution", str(settings.h3_resolution)))
    return replace(cached, grids=GridIndex(store.grids_frame()), resolution=res)


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    s = None if value is None else str(value).strip()
    return s or None


def _attributes(params: Mapping, taxonomy: Taxonomy) -> dict[str, str]:
    """``attribute[code]=value`` parameters, checked against the service definition."""
    out: dict[str, str] = {}
    for key in params:
        m = re.fullmatch(r"attribute\[(.+)\]", str(key))
        if not m:
            continue
        code, value = m.group(1), _text(params[key])
        if code != REQUEST_TYPE:
            raise InvalidInputError(f"未知属性 {key} / unknown attribute {key}; this service defines only "
                                    f"attribute[{REQUEST_TYPE}]", field=str(key))
        if value is None:
            continue
        label = taxonomy.normalize_request_types(pd.Series([value], dtype="str")).iloc[0]
        if pd.isna(label):
            keys = ", ".join(t.label for t in taxonomy.request_types)
            raise InvalidInputError(f"{key} 的值 {value!r} 无效，可选：{keys} / {key}: {value!r} is not one of {keys}",
                                    field=str(key))
        out[code] = str(label)
    return out


def _reporter_name(first: str | None, last: str | None) -> str | None:
    if first and last:
        # Chinese names are family name first; Latin names given name first.
        han = re.fullmatch(r"[\u3400-\u9fff·]+", first + last) is not None
        return f"{last}{first}" if han else f"{first} {last}"
    return first or last


def submit_request(store: Store, settings: Settings, params: Mapping, *, ctx: IngestContext | None = None,
                   client: str | None = None, now: pd.Timestamp | None = None) -> list[dict]:
    """Store one POSTed service request; returns the spec's answer ``[{service_request_id, service_notice,
    account_id}]``. Bad input raises (400 InvalidInputError / 404 NotFoundError) naming the Open311
    parameter, and then nothing is stored. ``client`` (the API token's name) is kept with the request."""
    ctx = submission_context(settings, store) if ctx is None else ctx
    tax = ctx.taxonomy
    code = service_code(tax, _text(params.get("service_code")))
    attrs = _attributes(params, tax)
    description = _text(params.get("description"))
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise InvalidInputError(f"description 超过 {MAX_DESCRIPTION} 字 / description is longer than "
                                f"{MAX_DESCRIPTION} characters", field="description")
    lat, lng, address = _text(params.get("lat")), _text(params.get("long")), _text(params.get("address_string"))
    if lat is None and lng is None and address is None:
        if _text(params.get("address_id")) is not None:  # we keep no master address repository to look it up in
            raise InvalidInputError("不支持 address_id，请用 address_string 或 lat/long / address_id is not supported "
                                    "here: send address_string, or lat and long", field="address_id")
        raise InvalidInputError("缺少位置：请给出 lat 和 long，或 address_string / no location was provided: give "
                                "lat and long, or address_string", field="lat")
    crs = (_text(params.get("crs")) or "wgs84").lower()
    if crs not in COORDINATE_SYSTEMS:
        raise InvalidInputError(f"crs 须为 {', '.join(COORDINATE_SYSTEMS)} 之一 / crs must be one of "
                                f"{', '.join(COORDINATE_SYSTEMS)}, got {crs!r}", field="crs")
    t = (pd.Timestamp.now(tz=settings.timezone) if now is None else now).tz_convert(settings.timezone)
    row = {
        "text": description, "address": address, "lng": lng, "lat": lat,
        "created_at": t.floor("s").isoformat(), "source_category": code, "request_type": attrs.get(REQUEST_TYPE),
        "reporter_name": _reporter_name(_text(params.get("first_name")), _text(params.get("last_name"))),
        "reporter_phone": _text(params.get("phone")),
        "media_url": _text(params.get("media_url")), "api_client": client,
    }
    frame = pd.DataFrame({k: pd.Series([v], dtype="str") for k, v in row.items()})
    canonical = ("text", "address", "lng", "lat", "created_at", "source_category", "request_type",
                 "reporter_name", "reporter_phone")
    options = IngestOptions(source=SOURCE, crs=crs, mapping={k: k for k in canonical})
    try:
        _report, rows = ingest_frame(frame, settings, store, options, ctx=ctx, name="open311 POST requests",
                                     strict=True)
    except InvalidInputError as exc:
        param = PARAMETERS.get(exc.field or "", exc.field)
        reason = exc.public_message.removeprefix(f"{exc.field}: ")  # ingest_frame names our field; name theirs
        raise InvalidInputError(f"{param}: {reason}", field=param) from exc
    stored = rows.iloc[0]
    return [{"service_request_id": stored["id"], "service_notice": _notice(tax, stored),
             "account_id": None}]


def _notice(tax: Taxonomy, row: pd.Series) -> str:
    cat = {c.code: c for c in tax.categories}.get(row["category"])
    name = f"{cat.name_zh} / {cat.name_en}" if cat else row["category"]
    days = int(tax.reply_days(pd.Series([row["request_type"]], dtype="str")).iloc[0])
    text = f"已受理，归入 {name}；预计 {days} 个工作日内答复 / received, filed under {name}; reply expected within " \
           f"{days} working days"
    if row["duplicate_of"]:
        text += f"；与 {row['duplicate_of']} 为同一问题 / same issue as {row['duplicate_of']}"
    return text


# -- requests ---------------------------------------------------------------------------------------------

def _time_param(params: Mapping, name: str, tz: str) -> pd.Timestamp | None:
    raw = _text(params.get(name))
    if raw is None:
        return None
    try:
        t = pd.Timestamp(raw)
    except (ValueError, TypeError):
        t = pd.NaT
    if t is pd.NaT:
        raise InvalidInputError(f"{name} 须为 W3C 日期时间，如 2026-10-01T00:00:00+08:00 / {name} must be a W3C "
                                f"datetime such as 2026-10-01T00:00:00Z, got {raw!r}", field=name)
    return t.tz_localize(tz) if t.tzinfo is None else t


def _list_param(params: Mapping, name: str) -> list[str]:
    raw = params.get(name)
    items = raw if isinstance(raw, list | tuple) else [raw]
    return [v.strip() for item in items if item for v in str(item).split(",") if v.strip()]


def query_requests(store: Store, settings: Settings, params: Mapping, *, taxonomy: Taxonomy | None = None,
                   now: pd.Timestamp | None = None) -> list[dict]:
    """GET requests: ``service_request_id`` (comma list; overrides all other parameters, as the spec says),
    ``service_code``, ``start_date``/``end_date`` (at most 90 days apart; by default the last 90 days) and
    ``status`` (open, closed). At most :data:`MAX_RESULTS` requests, newest first."""
    tax = taxonomy or Taxonomy.load(settings.taxonomy_file)
    ids = _list_param(params, "service_request_id")
    if ids:
        where = req_t.c.id.in_(ids[:MAX_RESULTS])
    else:
        where = and_(*_filters(params, settings, tax, now))
    df = store.requests_frame(_REQUEST_COLUMNS, where=where, limit=MAX_RESULTS,
                              order_by=[req_t.c.created_at.desc(), req_t.c.id])
    return request_documents(df, settings, tax, _grid_names(store))


def _filters(params: Mapping, settings: Settings, tax: Taxonomy, now: pd.Timestamp | None) -> list:
    tz = settings.timezone
    start, end = _time_param(params, "start_date", tz), _time_param(params, "end_date", tz)
    if start is None and end is None:
        end = pd.Timestamp.now(tz=tz) if now is None else now
    if start is None:
        start = end - MAX_SPAN
    if end is None:
        end = start + MAX_SPAN
    if start > end:
        raise InvalidInputError("start_date 须早于 end_date / start_date must not be after end_date",
                                field="start_date")
    if end - start > MAX_SPAN:
        raise InvalidInputError("start_date 与 end_date 最多相隔 90 天 / start_date and end_date may not span more "
                                "than 90 days", field="end_date")
    conds = [req_t.c.created_at >= int(start.timestamp()), req_t.c.created_at <= int(end.timestamp())]
    known = {c.upper(): c for c in tax.codes()}
    codes = _list_param(params, "service_code")
    unknown = [c for c in codes if c.upper() not in known]
    if unknown:
        raise InvalidInputError(f"未知 service_code {unknown[0]!r} / unknown service_code {unknown[0]!r}; known: "
                                f"{', '.join(known.values())}", field="service_code")
    if codes:
        conds.append(req_t.c.category.in_([known[c.upper()] for c in codes]))
    states = [s.lower() for s in _list_param(params, "status")]
    bad = [s for s in states if s not in ("open", "closed")]
    if bad:
        raise InvalidInputError(f"status 须为 open 或 closed / status must be open or closed, got {bad[0]!r}",
                                field="status")
    if states and set(states) != {"open", "closed"}:
        conds.append(req_t.c.status.in_(_OPEN if states[0] == "open" else _CLOSED))
    return conds


def request_by_id(store: Store, settings: Settings, request_id: str, *,
                  taxonomy: Taxonomy | None = None) -> list[dict]:
    """GET requests/{id}: a one-element list, as the spec answers; NotFoundError for an unknown id."""
    tax = taxonomy or Taxonomy.load(settings.taxonomy_file)
    df = store.requests_frame(_REQUEST_COLUMNS, where=req_t.c.id == request_id)
    if df.empty:
        raise NotFoundError(f"找不到 service_request_id {request_id!r} / service_request_id {request_id!r} not found",
                            field="service_request_id")
    return request_documents(df, settings, tax, _grid_names(store))


def token_lookup(store: Store, token: str) -> list[dict]:
    """GET tokens/{token}. Requests are stored at once, so the token a client may hold is the id itself."""
    df = store.requests_frame(["id"], where=req_t.c.id == token)
    if df.empty:
        raise NotFoundError(f"找不到 token {token!r} / token {token!r} not found", field="token")
    return [{"service_request_id": token, "token": token}]


def _grid_names(store: Store) -> dict[str, str]:
    g = store.grids_frame()
    return dict(zip(g["grid_code"].astype(str), g["name"].fillna(g["grid_code"]).astype(str), strict=True))


def status_notes(status: pd.Series, duplicate_of: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Our detailed statuses → Open311 ``open``/``closed`` and ``status_notes`` (zh label / English)."""
    codes = status.astype("string")
    closed = codes.isin(_CLOSED).to_numpy(dtype=bool)  # an unknown code counts as open: nobody closed it
    labels = {c: f"{zh} / {en}" for c, (zh, en, _o) in STATUSES.items()}
    notes = codes.map(labels).fillna(codes).astype("string")
    dup = duplicate_of.astype("string")
    notes = notes.where(dup.isna(), notes + "；与 " + dup + " 为同一问题 / same issue as " + dup)
    return np.where(closed, "closed", "open").astype(object), notes.astype(object).to_numpy()


def _iso(times: pd.Series, tz: str) -> pd.Series:
    return pd.Series(iso_times(times, tz), index=times.index, dtype=object)


def _expected(created: pd.Series, request_types: pd.Series, tax: Taxonomy, tz: str) -> pd.Series:
    """Reply deadline: the request type's working days after the request (weekends skipped, not holidays)."""
    if created.empty:
        return pd.Series([], dtype="str")
    local = created.dt.tz_convert(tz)
    day = local.dt.tz_localize(None).dt.normalize()
    days = tax.reply_days(request_types.astype("str")).to_numpy()
    due = np.busday_offset(day.to_numpy().astype("datetime64[D]"), days, roll="forward")
    when = pd.Series(pd.to_datetime(due), index=created.index) + (local.dt.tz_localize(None) - day)
    return _iso(when.dt.tz_localize(tz), tz)


def request_documents(df: pd.DataFrame, settings: Settings, tax: Taxonomy,
                      grid_names: Mapping[str, str] | None = None) -> list[dict]:
    """Stored request rows → the spec's request documents, without any reporter data."""
    tz = settings.timezone
    status, notes = status_notes(df["status"], df["duplicate_of"])
    names = {c.code: c.name_zh for c in tax.categories}
    expected = _expected(df["created_at"], df["request_type"], tax, tz).where(status == "open")
    media = df["extra"].astype("string").str.extract(r'"media_url":\s*"([^"]*)"', expand=False)
    # Points are not snapped: the address already names the building, and clients map the request.
    pub = public_requests(df, category_names=names, snap_points=False)
    out = pd.DataFrame({
        "service_request_id": df["id"].astype(object),
        "status": status,
        "status_notes": notes,
        "service_name": df["category"].map(names).fillna(df["category"]).astype(object),
        "service_code": df["category"].astype(object),
        "description": pub["text"].astype(object),
        "agency_responsible": df["grid_code"].map(dict(grid_names or {})).astype(object),
        "service_notice": None,
        "requested_datetime": _iso(df["created_at"], tz).astype(object),
        "updated_datetime": _iso(df["updated_at"], tz).astype(object),
        "expected_datetime": expected.astype(object),
        "address": pub["address"].astype(object),
        "address_id": None,
        "zipcode": None,
        "lat": df["lat"].astype(float).round(6),
        "long": df["lng"].astype(float).round(6),
        "media_url": media.astype(object),
    })
    return out.astype(object).where(out.notna(), None).to_dict("records")


# -- XML --------------------------------------------------------------------------------------------------

def to_xml(doc, root: str, item: str | None = None) -> bytes:
    """A JSON-form document as the spec's XML: ``root`` element, list items named ``item`` (or by the list)."""
    el = ET.Element(root)
    _fill(el, doc, item)
    # The spec asks for the declaration with the encoding; ElementTree's own uses single quotes.
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(el, encoding="unicode").encode("utf-8")


def _fill(el: ET.Element, value, item: str | None) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _fill(ET.SubElement(el, k), v, XML_ITEMS.get(k))
    elif isinstance(value, list | tuple):
        for v in value:
            _fill(ET.SubElement(el, item or XML_ITEMS.get(el.tag, "item")), v, None)
    elif isinstance(value, bool):
        el.text = "true" if value else "false"
    elif value is not None:
        el.text = str(value)
