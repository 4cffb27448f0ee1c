"""Masking of personal data on the server (PIPL): phones, names; applied before anything leaves the store."""

from __future__ import annotations

import pandas as pd

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
