"""Personal data handling on the server (PIPL): masking phones and names, and the public form of request rows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from gridgis import grid

_MOBILE = r"^(?:\+?86)?(1\d{2})\d{4}(\d{4})$"
_LANDLINE = r"^(0\d{2,3})-?\d{3,4}(\d{4})$"


def mask_phones(values: pd.Series) -> pd.Series:
    """Mobile ``138****1234``, landline ``0537****1234``; anything else longer than 4 → ``****`` + last 4."""
    s = values.astype("string").str.replace(r"[\s\-()（）]", "", regex=True)
    mobile = s.str.replace(_MOBILE, r"\1****\2", regex=True)
    land = s.str.replace(_LANDLINE, r"\1****\2", regex=True)
    out = mobile.where(mobile != s, land)
    other = (out == s) & (s.str.len() > 4)
    out = out.mask(other, "****" + s.str[-4:])
    out = out.mask(s.str.len() <= 4, "****")
    return out.mask(s.isna() | (s == ""))


def mask_names(values: pd.Series) -> pd.Series:
    """``张*`` for one or two characters, ``张*明`` for three or more (first and last kept)."""
    s = values.astype("string").str.strip()
    n = s.str.len()
    two = s.str[0] + "*"
    longer = s.str[0] + "*" + s.str[-1]
    out = two.where(n <= 2, longer)
    return out.mask(s.isna() | (s == ""))


# -- request rows leaving the store (exports, OGC API, Open311): DOMAIN.md §9 ------------------------------

SENSITIVE_CATEGORIES: tuple[str, ...] = ("CARE",)
"""Categories whose texts are sensitive personal information (health, disability, 低保: PIPL Art. 28):
outside the store their text is replaced by the category's name."""

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
_TEXT_DIGITS = r"\d[\d\- ]{6,}\d"  # shortest of the three below: a 10-digit landline
_TEXT_ID_CARD = (r"(?<![0-9])(\d{6})\d{8}(\d{3}[0-9Xx])(?![0-9])", r"\1********\2")
_TEXT_MOBILE = (r"(?<![0-9])(?:\+?86[- ]?)?(1[3-9]\d)[- ]?\d{4}[- ]?(\d{4})(?![0-9])", r"\1****\2")
_TEXT_LANDLINE = (r"(?<![0-9])(0\d{2,3})[- ]?\d{3,4}(\d{4})(?![0-9])", r"\1****\2")


def truncate_addresses(values: pd.Series) -> pd.Series:
    """Addresses cut to the 小区/building: door plates, units, floors and rooms removed.

    ``锦城花园5栋3单元501室`` → ``锦城花园5栋``; ``芳华街155号附近`` → ``芳华街附近``;
    ``蓝天小区12楼1203`` → ``蓝天小区``. Empty results are missing values.
    """
    s = values.astype("string").str.strip()
    s = s.str.replace(_DOOR, "", regex=True)
    building = s.str.extract(_BUILDING, expand=False)
    s = building.where(building.notna(), s.str.replace(_UNIT_OR_ROOM, "", regex=True))
    s = s.str.strip().str.rstrip(" ,，、-－")
    return s.mask(s == "")


def scrub_text(texts: pd.Series, names: pd.Series | None = None) -> pd.Series:
    """Free text with ID-card, mobile and landline numbers masked, and each row's own reporter name (two
    characters or more, e.g. 张三丰 → 张*丰) replaced by its masked form, element-wise in numpy."""
    s = texts.astype("string")
    # Only texts with a long run of digits can hold such a number: the regexes run on those alone.
    numbers = s.str.contains(_TEXT_DIGITS, regex=True).fillna(False).to_numpy(dtype=bool)
    if numbers.any():
        part = s[numbers]
        for pattern, repl in (_TEXT_ID_CARD, _TEXT_MOBILE, _TEXT_LANDLINE):
            part = part.str.replace(pattern, repl, regex=True)
        s = s.copy()
        s[numbers] = part
    if names is None or s.empty:
        return s
    names = names.astype("string").str.strip()
    usable = (names.notna() & (names.str.len() >= 2) & s.notna()).to_numpy(dtype=bool)
    if not usable.any():
        return s
    # A character no text contains stands in for "no name" (searching for "" would match everywhere).
    noop = "\x00"
    text_arr = s.fillna("").to_numpy(dtype=np.dtypes.StringDType())
    old = np.where(usable, names.fillna(noop).to_numpy(dtype=object), noop).astype(np.dtypes.StringDType())
    found = np.flatnonzero(usable & (np.strings.find(text_arr, old) >= 0))
    if not found.size:
        return s
    new = mask_names(names.iloc[found]).to_numpy(dtype=object).astype(np.dtypes.StringDType())
    text_arr[found] = np.strings.replace(text_arr[found], old[found], new)
    out = pd.Series(text_arr.astype(object), index=s.index, dtype="string")
    return out.mask(s.isna())


def hide_sensitive_texts(texts: pd.Series, categories: pd.Series, labels: Mapping[str, str],
                         sensitive: Iterable[str] = SENSITIVE_CATEGORIES) -> pd.Series:
    """Texts of sensitive categories replaced by the category's label (``labels``: code → name)."""
    cats = categories.astype("string")
    hidden = cats.isin(list(sensitive)).fillna(False).to_numpy(dtype=bool)
    label = cats.map(dict(labels)).fillna(cats)
    return texts.astype("string").mask(hidden, label)


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
