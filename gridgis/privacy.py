"""Personal data on the server (PIPL, DOMAIN.md §9): masking, role views of request rows, k-suppression, log redaction.

- **Masks**: :func:`mask_names` (``张*``, compound surnames ``欧阳*``), :func:`mask_phones` (mobile
  ``138****1234``, landline ``028****8888``), :func:`scrub_text` (ID-card, phone and long digit runs in
  free text, and the row's own reporter name).
- **Role views** (:func:`requests_view`): ``full`` (raw), ``masked`` (names, phones, numbers in texts
  masked) and ``aggregates`` (no rows: :class:`~gridgis.errors.PermissionDeniedError`); ``hide_care``
  replaces texts of care requests (health, disability, 低保: Art. 28) by :data:`CARE_PLACEHOLDER` and drops
  their address.
- **Public rows** (:func:`public_requests`): what exports, the OGC API and Open311 publish.
- **k-suppression** (:func:`suppress_small_counts`): aggregates with fewer than k requests dropped or withheld.
- **Logs** (:class:`RedactingFilter`, :func:`install_log_redaction`): phone and ID-card numbers scrubbed
  from every record of the ``gridgis`` and ``webmap`` loggers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from gridgis import grid
from gridgis.errors import InvalidInputError, PermissionDeniedError

# -- masks of single fields --------------------------------------------------------------------------------

COMPOUND_SURNAMES = frozenset(
    "欧阳 司马 诸葛 上官 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 司空 夏侯 轩辕 令狐 钟离 闻人 澹台 公冶 太史 申屠 "
    "端木 万俟 独孤 南宫 西门 呼延 赫连 濮阳 单于 拓跋 第五 百里 东郭 左丘 谷梁 羊舌 微生 梁丘 东门 公羊".split())
"""Two-character surnames kept whole by :func:`mask_names` (欧阳娜娜 → 欧阳*)."""

_SEPARATORS = r"[\s\-()（）.．]"
_COUNTRY = r"(?:\+?86|0086)"
_MOBILE = rf"^{_COUNTRY}?(1\d{{2}})\d{{4}}(\d{{4}})$"
# Area codes: 010 and 02x have three digits, all others four; local numbers seven or eight digits.
_AREA = r"0(?:10|2\d|[3-9]\d{2})"
_LANDLINE = rf"^({_AREA})\d{{3,4}}(\d{{4}})$"


def _map_unique(values: pd.Series, fn) -> pd.Series:
    """``fn`` applied to each distinct non-missing value once (names and numbers repeat), as "string"."""
    codes, uniques = pd.factorize(values.astype("string"))
    out = np.array([fn(v) for v in uniques.tolist()] + [None], dtype=object)
    return pd.Series(out[codes], index=values.index, dtype="string")  # code -1 (missing) takes the None


def _mask_name(name: str) -> str | None:
    n = name.strip()
    if len(n) <= 1:
        return "*" if n else None
    return (n[:2] if len(n) > 2 and n[:2] in COMPOUND_SURNAMES else n[:1]) + "*"


def mask_names(values: pd.Series) -> pd.Series:
    """The surname and one ``*``: 张三丰 → ``张*``, 欧阳娜娜 → ``欧阳*``, John Smith → ``J*``; a one-letter
    name → ``*``. Missing and blank values stay missing."""
    return _map_unique(values, _mask_name)


def mask_name(value: str | None) -> str | None:
    """:func:`mask_names` of one value."""
    return None if value is None or pd.isna(value) else _mask_name(str(value))


_SEPARATORS_RE = re.compile(_SEPARATORS)
_MOBILE_RE = re.compile(_MOBILE)
_TRUNK_RE = re.compile(rf"^{_COUNTRY}(?=[1-9]\d{{8,10}}$)")  # +86 28 8888 8888: the country code replaces the 0
_LANDLINE_RE = re.compile(_LANDLINE)


def _mask_phone(value: str) -> str | None:
    s = _SEPARATORS_RE.sub("", value)
    if not s:
        return None
    m = _MOBILE_RE.match(s)
    if m:
        return f"{m.group(1)}****{m.group(2)}"
    m = _LANDLINE_RE.match(_TRUNK_RE.sub("0", s))
    if m:
        return f"{m.group(1)}****{m.group(2)}"
    return "****" + s[-4:] if len(s) > 4 else "****"


def mask_phones(values: pd.Series) -> pd.Series:
    """Mobile ``138****1234`` (also from ``+86 138-1234-5678``), landline ``028****8888`` / ``0537****1234``
    (also ``(028) 8888 8888``, ``+86 28 8888 8888``); any other value longer than 4 → ``****`` + last 4."""
    return _map_unique(values, _mask_phone)


def mask_phone(value: str | None) -> str | None:
    """:func:`mask_phones` of one value."""
    return None if value is None or pd.isna(value) else _mask_phone(str(value))


# -- numbers and names inside free text ---------------------------------------------------------------------

_TEXT_DIGITS = r"\d[\d\- ]{6,}\d"  # shortest of the patterns below: a 7-digit local number with its area code
_TEXT_ID_CARD = (r"(?<![0-9])(\d{6})\d{8}(\d{3}[0-9Xx])(?![0-9])", r"\1********\2")
_TEXT_MOBILE = (r"(?<![0-9])(?:(?:\+|00)?86[- ]?)?(1[3-9]\d)[- ]?\d{4}[- ]?(\d{4})(?![0-9])", r"\1****\2")
_TEXT_LANDLINE = (rf"(?<![0-9])[(（]?({_AREA})[)）]?[- ]?\d{{3,4}}[- ]?(\d{{4}})(?![0-9])", r"\1****\2")
_TEXT_PATTERNS = tuple((re.compile(p), r) for p, r in (_TEXT_ID_CARD, _TEXT_MOBILE, _TEXT_LANDLINE))
# Whatever run of 11 digits or more is left (a number glued to others, a bank card …): all but the last 4.
_LONG_RUN = re.compile(r"\d{11,}")


def _star_run(m: re.Match) -> str:
    run = m.group(0)
    return "*" * (len(run) - 4) + run[-4:]


def scrub_string(text: str) -> str:
    """One text with ID-card, mobile and landline numbers masked (and any other run of 11+ digits)."""
    for pattern, repl in _TEXT_PATTERNS:
        text = pattern.sub(repl, text)
    return _LONG_RUN.sub(_star_run, text)


def scrub_text(texts: pd.Series, names: pd.Series | None = None) -> pd.Series:
    """Free texts with numbers masked as :func:`scrub_string` does, and each row's own reporter name (two
    characters or more: one character would mask ordinary words) replaced by its mask."""
    s = texts.astype("string")
    arr = s.to_numpy(dtype=object, na_value=None)
    # Only texts with a long run of digits can hold such a number (a vectorized test first); the
    # substitutions run on those alone, with compiled patterns (faster than pandas' per-pattern passes).
    numbers = np.flatnonzero(s.str.contains(_TEXT_DIGITS, regex=True).fillna(False).to_numpy(dtype=bool))
    if numbers.size:
        arr[numbers] = [scrub_string(t) for t in arr[numbers]]
    if names is not None and len(arr):
        own = names.astype("string").str.strip().to_numpy(dtype=object, na_value=None)
        found = [i for i, (t, n) in enumerate(zip(arr.tolist(), own.tolist(), strict=True))
                 if t is not None and n is not None and len(n) >= 2 and n in t]
        if found:
            masked = mask_names(pd.Series(own[found], dtype="string")).tolist()
            for i, m in zip(found, masked, strict=True):
                arr[i] = arr[i].replace(own[i], m)
    return pd.Series(arr, index=s.index, dtype="string")


def mask_known_names(texts: pd.Series, names: Iterable[str]) -> pd.Series:
    """Texts with any of ``names`` (two characters or more) masked wherever it occurs: for texts whose own
    reporter is unknown but drawn from a known set of people (a project candidate's requests, a zone)."""
    names = sorted({str(n).strip() for n in names if n is not None and len(str(n).strip()) >= 2},
                   key=lambda n: (-len(n), n))  # longest first: 欧阳明 before a shorter name inside it
    if not names or texts.empty:
        return texts
    masked = dict(zip(names, mask_names(pd.Series(names, dtype="string")).tolist(), strict=True))
    pattern = re.compile("|".join(re.escape(n) for n in names))
    return texts.map(lambda t: pattern.sub(lambda m: masked[m.group(0)], t) if isinstance(t, str) else t)


# -- role views of request rows ------------------------------------------------------------------------------

ACCESS_LEVELS: tuple[str, ...] = ("full", "masked", "aggregates")
"""``full``: raw rows (admin, secretary, a grid worker in their own grids); ``masked``: contact data and
numbers in texts masked; ``aggregates``: counts only, never a request row (viewers, other grids)."""

SENSITIVE_CATEGORIES: tuple[str, ...] = ("CARE",)
"""Categories whose texts are sensitive personal information (health, disability, 低保: PIPL Art. 28)."""

CARE_PLACEHOLDER = "（关爱类诉求内容已隐藏）/ (care request text hidden)"
"""What ``hide_care`` puts in place of a care request's text."""


def check_level(level: str) -> str:
    if level not in ACCESS_LEVELS:
        raise InvalidInputError(f"未知的访问级别 {level!r}，可选：{', '.join(ACCESS_LEVELS)} / unknown access level "
                                f"{level!r}; choose one of {', '.join(ACCESS_LEVELS)}", field="level")
    return level


def require_rows(level: str) -> None:
    """PermissionDeniedError unless ``level`` may see request rows at all."""
    if check_level(level) == "aggregates":
        raise PermissionDeniedError("此角色只能查看汇总数据，不能查看诉求明细 / this role sees aggregates only, not "
                                    "individual requests", field="level")


def requests_view(frame: pd.DataFrame, level: str, *, hide_care: bool = False,
                  sensitive: Iterable[str] = SENSITIVE_CATEGORIES) -> pd.DataFrame:
    """Request rows as ``level`` may see them (a copy; columns not present are skipped).

    ``masked``: ``reporter_name`` → ``张*``, ``reporter_phone`` → ``138****1234``, ``text`` and ``extra``
    with ID-card and phone numbers and the row's own reporter name masked. ``hide_care``: texts of
    ``sensitive`` categories → :data:`CARE_PLACEHOLDER`, their ``address`` and ``extra`` emptied.
    ``aggregates`` raises PermissionDeniedError."""
    require_rows(level)
    df = frame.copy()
    if level == "masked":
        names = df["reporter_name"] if "reporter_name" in df.columns else None
        for col in ("text", "extra"):
            if col in df.columns:
                df[col] = scrub_text(df[col], names)
        if "reporter_name" in df.columns:
            df["reporter_name"] = mask_names(df["reporter_name"])
        if "reporter_phone" in df.columns:
            df["reporter_phone"] = mask_phones(df["reporter_phone"])
    if hide_care and "category" in df.columns and len(df):
        care = df["category"].astype("string").isin(list(sensitive)).fillna(False).to_numpy(dtype=bool)
        if "text" in df.columns:
            df["text"] = df["text"].astype("string").mask(care, CARE_PLACEHOLDER)
        for col in ("address", "extra"):
            if col in df.columns:
                df[col] = df[col].astype("string").mask(care)
    return df


# -- request rows leaving the store (exports, OGC API, Open311) ------------------------------------------------

WITHHELD_COLUMNS: tuple[str, ...] = ("reporter_name", "reporter_phone", "extra", "orig_x", "orig_y")
"""Request columns that never leave the store: contact data, unmapped source columns (which may hold
anything, ID numbers included) and the original coordinates (they would undo snapping)."""

_NUM = r"[0-9０-９一二三四五六七八九十零〇两]+"
# Door plates on a road: 芳华街155号, 紫荆巷96-2号 (号楼 is a building and 号院 a compound: both kept).
_DOOR = rf"(?<=[路街巷道弄里段])\s*{_NUM}(?:[-－之]{_NUM})?\s*号(?![楼院])"
# Up to the building (5栋, B座, 3号楼); whatever follows it (unit, floor, room, 楼下 …) goes.
_BUILDING = r"^(.*?[0-9０-９一二三四五六七八九十零〇两A-Za-z]+\s*(?:栋|幢|号楼|座))"
# Without a building: cut at the first unit, floor or room, or a 3-2-501 style triple.
_UNIT_OR_ROOM = rf"(?:{_NUM}\s*(?:单元|楼层|层|楼|室|户|号房)|\d+[-－]\d+(?:[-－]\d+)?).*$"


_DOOR_RE, _BUILDING_RE, _UNIT_OR_ROOM_RE = re.compile(_DOOR), re.compile(_BUILDING), re.compile(_UNIT_OR_ROOM)


MAX_ADDRESS_CHARS = 200
"""Longer text is not an address: only its start is kept. The patterns above backtrack quadratically on a
long run of digits or letters, and a 1 M-character address (an Open311 POST) hung every page showing it."""


def _truncate(address: str) -> str | None:
    a = _DOOR_RE.sub("", address.strip()[:MAX_ADDRESS_CHARS])
    building = _BUILDING_RE.match(a)
    a = building.group(1) if building else _UNIT_OR_ROOM_RE.sub("", a)
    return a.strip().rstrip(" ,，、-－") or None


def truncate_addresses(values: pd.Series) -> pd.Series:
    """Addresses cut to the 小区/building: door plates, units, floors and rooms removed.

    ``锦城花园5栋3单元501室`` → ``锦城花园5栋``; ``芳华街155号附近`` → ``芳华街附近``;
    ``蓝天小区12楼1203`` → ``蓝天小区``. Empty results are missing values. Each distinct address is
    cut once (a building's requests share it).
    """
    return _map_unique(values, _truncate)


def hide_sensitive_texts(texts: pd.Series, categories: pd.Series, labels: Mapping[str, str],
                         sensitive: Iterable[str] = SENSITIVE_CATEGORIES) -> pd.Series:
    """Texts of sensitive categories replaced by the category's label (``labels``: code → name)."""
    cats = categories.astype("string").to_numpy(dtype=object, na_value=None)
    hidden = np.flatnonzero(np.isin(cats, list(sensitive)))
    out = texts.astype("string")
    if not hidden.size:
        return out
    arr = out.to_numpy(dtype=object, na_value=None)
    arr[hidden] = [labels.get(c, c) for c in cats[hidden].tolist()]
    return pd.Series(arr, index=out.index, dtype="string")


def public_requests(frame: pd.DataFrame, *, category_names: Mapping[str, str], snap_points: bool,
                    sensitive: Iterable[str] = SENSITIVE_CATEGORIES) -> pd.DataFrame:
    """Request rows as they may leave the store: :data:`WITHHELD_COLUMNS` dropped, texts scrubbed (the
    row's reporter name included) and hidden for sensitive categories, addresses truncated, and with
    ``snap_points`` the ``lng``/``lat`` moved to the centre of the row's fine H3 ``cell``."""
    df = frame.copy()
    if "text" in df.columns:
        names = df["reporter_name"] if "reporter_name" in df.columns else None
        text = scrub_text(df["text"], names)
        if "category" in df.columns:
            text = hide_sensitive_texts(text, df["category"], category_names, sensitive)
        df["text"] = text
    if "address" in df.columns:
        df["address"] = truncate_addresses(df["address"])
    if snap_points and len(df):
        if "cell" not in df.columns:
            raise ValueError("snapping needs the fine H3 'cell' column")  # a programming error
        lat, lng = grid.cell_centers(df["cell"].to_numpy().astype(np.uint64))
        df["lng"], df["lat"] = lng, lat
    return df.drop(columns=[c for c in WITHHELD_COLUMNS if c in df.columns])


# -- k-suppression of aggregates ---------------------------------------------------------------------------------

def suppress_small_counts(frame: pd.DataFrame, k: int, count_cols: Sequence[str] = ("requests",), *,
                          withhold: bool = False) -> pd.DataFrame:
    """Aggregates under the k rule (``export_min_count_k``): rows with a count below ``k`` in any of
    ``count_cols`` are left out, or with ``withhold`` kept with those counts emptied (nullable integers;
    for rows that matter for another reason, e.g. a significant hot spot). ``attrs["suppressed"]`` of the
    result is the number of rows left out, or with ``withhold`` of rows with a count in 1..k-1."""
    k = int(k)
    small = np.zeros(len(frame), dtype=bool)
    positive = np.zeros(len(frame), dtype=bool)
    values = {}
    for c in count_cols:
        v = pd.to_numeric(frame[c]).astype("Int64")
        below = (v < k).fillna(False).to_numpy(dtype=bool)
        small |= below
        positive |= below & (v > 0).fillna(False).to_numpy(dtype=bool)
        values[c] = v.mask(below)
    if withhold:
        out = frame.copy()
        for c, v in values.items():
            out[c] = v
        out.attrs["suppressed"] = int(positive.sum())
    else:
        out = frame[~small]
        out.attrs["suppressed"] = int(small.sum())
    return out


# -- logs -----------------------------------------------------------------------------------------------------

LOGGERS: tuple[str, ...] = ("gridgis", "webmap")


class RedactingFilter(logging.Filter):
    """Scrubs phone and ID-card numbers (:func:`scrub_string`) from a record's message, arguments and
    exception text; never drops a record. The message is formatted once and its arguments cleared."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_gridgis_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler to report
            return True
        record.msg, record.args = scrub_string(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub_string(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub_string(record.stack_info)
        record._gridgis_redacted = True
        return True


_FILTER = RedactingFilter()


def install_log_redaction(names: Sequence[str] = LOGGERS) -> None:
    """Redact every record of the ``names`` loggers and their children, whatever handler receives it.

    A logger's filters see only records logged on that very logger, not those of its children
    (``gridgis.export.kinds``) passing through, so the filter is added to the named loggers and also
    run by a record factory for records of their children, when the record is made. Idempotent."""
    for name in names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    old = logging.getLogRecordFactory()
    prefixes = tuple(names)
    known = getattr(old, "_gridgis_prefixes", None)
    if known is not None:
        if set(prefixes) <= set(known):
            return
        prefixes = tuple(sorted(set(known) | set(prefixes)))
        old = old._gridgis_inner

    def factory(*args, **kwargs):
        record = old(*args, **kwargs)
        name = record.name
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            _FILTER.filter(record)
        return record

    factory._gridgis_prefixes = prefixes
    factory._gridgis_inner = old
    logging.setLogRecordFactory(factory)
