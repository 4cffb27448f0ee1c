"""API tokens for machine clients: scoped, stored as SHA-256 only, shown once, optionally expiring, revocable.

A token is ``ggt_`` + 43 URL-safe characters (256 random bits from :mod:`secrets`). With that much
entropy a plain SHA-256 is enough at rest (no salt or slow hash needed: nothing to brute-force), and
the hash doubles as the lookup key. Scopes:

- ``aggregates``       cell counts, hot spots, project candidates (no request rows);
- ``requests_masked``  request rows with personal data masked or removed (implies ``aggregates``);
- ``open311_submit``   submit requests through Open311 ``POST requests``;
- ``admin``            everything.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from gridgis.errors import InvalidInputError, PermissionDeniedError
from gridgis.storage import Store

PREFIX = "ggt_"
SCOPES: dict[str, str] = {
    "aggregates": "汇总数据（格网计数、热点、项目）/ aggregates only (cell counts, hot spots, projects)",
    "requests_masked": "脱敏诉求明细及汇总 / masked request rows, and aggregates",
    "open311_submit": "通过 Open311 提交诉求 / submit requests through Open311",
    "admin": "全部权限 / everything",
}
# What each scope grants besides itself.
IMPLIES: dict[str, frozenset[str]] = {
    "admin": frozenset(SCOPES),
    "requests_masked": frozenset({"aggregates"}),
}
_NAME = re.compile(r"^[\w.\-]{1,64}$")  # \w includes Han characters: 12345热线 is a fine client name


class TokenRejected(PermissionDeniedError):
    """The token is unknown, revoked or expired (HTTP adapters answer 401, Open311 403)."""

    code = "invalid_token"


class ScopeMissing(PermissionDeniedError):
    """The token is valid but its scopes do not allow the action (403)."""

    code = "insufficient_scope"


@dataclass(frozen=True)
class ApiToken:
    """A stored token as callers see it (never the secret or its hash)."""

    name: str
    scopes: tuple[str, ...]
    prefix: str
    created_at: int
    expires_at: int | None = None
    revoked_at: int | None = None
    created_by: str | None = None

    def allows(self, scope: str) -> bool:
        return any(scope == s or scope in IMPLIES.get(s, ()) for s in self.scopes)

    def state(self, now: int | None = None) -> str:
        """``active``, ``expired`` or ``revoked``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and _now(now) >= self.expires_at:
            return "expired"
        return "active"

    @classmethod
    def from_row(cls, row: dict) -> ApiToken:
        return cls(name=row["name"], scopes=tuple(row["scopes"].split()), prefix=row["prefix"],
                   created_at=int(row["created_at"]), expires_at=_int_or_none(row["expires_at"]),
                   revoked_at=_int_or_none(row["revoked_at"]), created_by=row.get("created_by"))


def _int_or_none(v) -> int | None:
    return None if v is None or pd.isna(v) else int(v)


def _now(now: int | None) -> int:
    return int(time.time()) if now is None else int(now)


def hash_token(secret: str) -> str:
    """SHA-256 hex digest of a token: the only form in which tokens are stored."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def check_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """Known scope names, deduplicated in order; none or an unknown one is an InvalidInputError."""
    out: list[str] = []
    for s in scopes:
        s = str(s).strip()
        if s not in SCOPES:
            raise InvalidInputError(
                f"未知权限范围 {s!r}，可选：{', '.join(SCOPES)} / unknown scope {s!r}; known: {', '.join(SCOPES)}",
                field="scope",
            )
        if s not in out:
            out.append(s)
    if not out:
        raise InvalidInputError(f"至少需要一个权限范围：{', '.join(SCOPES)} / give at least one scope: "
                                f"{', '.join(SCOPES)}", field="scope")
    return tuple(out)


def create_token(store: Store, name: str, scopes: Iterable[str], expires_days: float | None = None, *,
                 created_by: str | None = None, now: int | None = None) -> tuple[str, ApiToken]:
    """Create a token; returns (secret, token). The secret is not stored anywhere: show it once."""
    name = str(name).strip()
    if not _NAME.match(name):
        raise InvalidInputError(
            f"令牌名 {name!r} 无效：1–64 个字母、数字、汉字或 . _ - / invalid token name {name!r}: use 1–64 "
            "letters, digits, Han characters, '.', '_' or '-'",
            field="name",
        )
    scopes = check_scopes(scopes)
    if expires_days is not None and not expires_days > 0:
        raise InvalidInputError(f"有效天数须为正数 / expires must be a positive number of days, got {expires_days}",
                                field="expires")
    ts = _now(now)
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(name=name, scopes=scopes, prefix=secret[: len(PREFIX) + 6], created_at=ts,
                     expires_at=None if expires_days is None else ts + round(expires_days * 86_400),
                     created_by=created_by)
    store.insert_token({
        "name": token.name, "token_sha256": hash_token(secret), "prefix": token.prefix,
        "scopes": " ".join(token.scopes), "created_at": token.created_at, "expires_at": token.expires_at,
        "revoked_at": None, "created_by": created_by,
    })
    return secret, token


def list_tokens(store: Store, now: int | None = None) -> pd.DataFrame:
    """One row per token: name, scopes, prefix, state, created/expires/revoked/last used (epoch seconds)."""
    df = store.tokens_frame()
    tokens = [ApiToken.from_row(r) for r in df.to_dict("records")]
    seen = store.audit_last_seen()
    return pd.DataFrame({
        "name": [t.name for t in tokens],
        "scopes": [" ".join(t.scopes) for t in tokens],
        "prefix": [t.prefix for t in tokens],
        "state": [t.state(now) for t in tokens],
        "created_at": [t.created_at for t in tokens],
        "expires_at": pd.array([t.expires_at for t in tokens], dtype="Int64"),
        "revoked_at": pd.array([t.revoked_at for t in tokens], dtype="Int64"),
        "last_used_at": pd.array([seen.get(t.name) for t in tokens], dtype="Int64"),
        "created_by": [t.created_by for t in tokens],
    })


def revoke_token(store: Store, name: str, now: int | None = None) -> ApiToken:
    """Revoke a token by name (it is rejected from then on); NotFoundError for an unknown name."""
    return ApiToken.from_row(store.revoke_token(str(name).strip(), _now(now)))


def authenticate(store: Store, secret: str | None, scope: str | None = None, *,
                 now: int | None = None) -> ApiToken:
    """The token a client presented, checked: known, not revoked, not expired, and allowing ``scope``.

    Raises :class:`TokenRejected` (missing, unknown, revoked, expired) or :class:`ScopeMissing`.
    """
    if scope is not None and scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")  # a programming error, not a client's
    if not secret:
        raise TokenRejected("缺少 API 令牌 / no API token was presented", field="api_key")
    row = store.token_by_sha256(hash_token(secret.strip()))
    if row is None:
        raise TokenRejected("API 令牌无效 / the API token is not valid", field="api_key")
    token = ApiToken.from_row(row)
    state = token.state(now)
    if state == "revoked":
        raise TokenRejected(f"API 令牌 {token.name} 已被吊销 / the API token {token.name!r} was revoked",
                            field="api_key")
    if state == "expired":
        raise TokenRejected(f"API 令牌 {token.name} 已过期 / the API token {token.name!r} has expired",
                            field="api_key")
    if scope is not None and not token.allows(scope):
        raise ScopeMissing(
            f"API 令牌 {token.name} 没有 {scope} 权限（现有：{' '.join(token.scopes)}）/ the API token "
            f"{token.name!r} lacks the scope {scope!r} (it has: {', '.join(token.scopes)})",
            field="api_key",
        )
    return token
