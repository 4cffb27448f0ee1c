"""User accounts: create, list, disable/enable, reset passwords, and authenticate with login throttling.

Passwords are hashed with Argon2id (argon2-cffi's ``PasswordHasher`` at OWASP's recommended minimum,
m = 19 MiB, t = 2, p = 1: ~70 ms a login on a 2-core server instead of ~550 ms with the library's 64 MiB/p=4
default, which would let a handful of concurrent logins stall the map for everyone) and
rehashed on login when the parameters change. Disabling a user or resetting the password bumps the
user's ``session_epoch``, which ends every session issued before. :func:`authenticate` answers every
failure — unknown user, wrong password, disabled account — with the same message, verifying against a
dummy hash for unknown users so the time taken does not tell them apart, and refuses further attempts
(:class:`LoginThrottled`) after :data:`MAX_USER_FAILURES` failures for a user name or
:data:`MAX_ADDR_FAILURES` from one address within :data:`WINDOW_S`.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterable
from functools import cache

import pandas as pd
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gridgis.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from gridgis.roles import ROLES, Principal
from gridgis.storage import Store

MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # Argon2 takes any length; a cap keeps a huge body from costing much
WINDOW_S = 15 * 60
MAX_USER_FAILURES = 5
MAX_ADDR_FAILURES = 20
WRONG = "用户名或密码错误 / wrong user name or password"
_NAME = re.compile(r"^[\w.\-@]{1,64}$")  # \w includes Han characters
_GRID = re.compile(r"^\d{14,15}$")


class LoginThrottled(PermissionDeniedError):
    """Too many failed logins for this user name or address; ``retry_after`` seconds until the next try."""

    code = "too_many_attempts"

    def __init__(self, retry_after: int) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(f"登录失败次数过多，请 {self.retry_after} 秒后再试 / too many failed logins, try again in "
                         f"{self.retry_after} s", field="username")


@cache
def hasher() -> PasswordHasher:
    # argon2id, OWASP Password Storage Cheat Sheet: m=19 MiB, t=2, p=1
    return PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


@cache
def _dummy_hash() -> str:
    return hasher().hash(secrets.token_urlsafe(16))


def _now(now: int | None) -> int:
    return int(time.time()) if now is None else int(now)


# -- checks -------------------------------------------------------------------------------------------------

def check_username(username: str) -> str:
    name = str(username).strip()
    if not _NAME.match(name):
        raise InvalidInputError(
            f"用户名 {name!r} 无效：1–64 个字母、数字、汉字或 . _ - @ / invalid user name {name!r}: use 1–64 "
            "letters, digits, Han characters, '.', '_', '-' or '@'",
            field="username",
        )
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInputError(f"未知角色 {role!r}，可选：{', '.join(ROLES)} / unknown role {role!r}; choose one of "
                                f"{', '.join(ROLES)}", field="role")
    return role


def check_password(password: str, username: str) -> str:
    """The password if it meets the policy: ≥ 10 characters, not all digits, not the user name."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise InvalidInputError(f"密码至少需要 {MIN_PASSWORD} 个字符 / the password needs at least {MIN_PASSWORD} "
                                "characters", field="password")
    if len(password) > MAX_PASSWORD:
        raise InvalidInputError(f"密码不能超过 {MAX_PASSWORD} 个字符 / the password may have at most {MAX_PASSWORD} "
                                "characters", field="password")
    if password.isdigit():
        raise InvalidInputError("密码不能全是数字 / the password must not be all digits", field="password")
    if password.strip().casefold() == str(username).strip().casefold():
        raise InvalidInputError("密码不能与用户名相同 / the password must not be the user name", field="password")
    return password


def check_grids(store: Store, role: str, grids: Iterable[str] | None) -> str | None:
    """A grid worker's grid codes as stored (space-separated); checked against the ``grids`` table when it
    holds any. Other roles serve the whole community and take none."""
    codes = list(dict.fromkeys(str(g).strip() for g in (grids or ()) if str(g).strip()))
    if role != "grid_worker":
        if codes:
            raise InvalidInputError(f"只有网格员（grid_worker）需要指定网格，{role} 覆盖全社区 / only grid workers "
                                    f"take --grid; a {role} serves the whole community", field="grid")
        return None
    if not codes:
        raise InvalidInputError("网格员至少需要一个网格编码 / a grid worker needs at least one grid code (--grid)",
                                field="grid")
    bad = [c for c in codes if not _GRID.match(c)]
    if bad:
        raise InvalidInputError(f"网格编码须为 14 或 15 位数字：{bad[0]!r} / a grid code has 14 or 15 digits, got "
                                f"{bad[0]!r}", field="grid")
    known = set(store.grids_frame()["grid_code"].astype(str))
    unknown = [c for c in codes if known and c not in known]
    if unknown:
        raise InvalidInputError(f"没有这个网格：{unknown[0]}（先用 gridgis grids import 导入）/ no grid "
                                f"{unknown[0]} is stored (see gridgis grids list)", field="grid")
    return " ".join(codes)


def generate_password() -> str:
    """A random password that meets the policy (about 96 bits, URL-safe)."""
    while True:
        pw = secrets.token_urlsafe(12)
        if not pw.isdigit():
            return pw


# -- accounts -------------------------------------------------------------------------------------------------

def create_user(store: Store, username: str, role: str, *, password: str | None = None,
                grids: Iterable[str] | None = None, display_name: str | None = None,
                created_by: str | None = None, now: int | None = None) -> tuple[dict, str | None]:
    """Create a user. Returns (row without hash, generated password or None when ``password`` was given)."""
    name = check_username(username)
    check_role(role)
    generated = None
    if password is None:
        password = generated = generate_password()
    check_password(password, name)
    codes = check_grids(store, role, grids)
    ts = _now(now)
    display = (display_name or "").strip() or None
    if display is not None and len(display) > 80:
        raise InvalidInputError("显示名最多 80 个字符 / the display name may have at most 80 characters",
                                field="display_name")
    row = store.insert_user({
        "username": name, "display_name": display, "role": role, "grids": codes,
        "password_hash": hasher().hash(password), "session_epoch": 1, "created_at": ts, "updated_at": ts,
        "disabled_at": None, "last_login_at": None, "created_by": created_by,
    })
    return _public(row), generated


def _public(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "password_hash"}


def list_users(store: Store) -> pd.DataFrame:
    """One row per user: username, display name, role, grids, state, created, last login (no hashes)."""
    df = store.users_frame()
    df["state"] = ["disabled" if d is not None and not pd.isna(d) else "active" for d in df["disabled_at"]]
    return df


def get_user(store: Store, username: str) -> dict:
    row = store.user_by_name(str(username).strip())
    if row is None:
        raise NotFoundError(f"找不到用户 / no user named {username!r}", field="username")
    return _public(row)


def disable_user(store: Store, username: str, now: int | None = None) -> dict:
    """Refuse the user's logins and end its sessions (the row stays, so the audit log keeps naming it)."""
    ts = _now(now)
    row = get_user(store, username)
    values = {"updated_at": ts}
    if row["disabled_at"] is None:
        values["disabled_at"] = ts
    return _public(store.update_user(row["username"], values, bump_epoch=True))


def enable_user(store: Store, username: str, now: int | None = None) -> dict:
    row = get_user(store, username)
    return _public(store.update_user(row["username"], {"disabled_at": None, "updated_at": _now(now)}))


def reset_password(store: Store, username: str, password: str | None = None,
                   now: int | None = None) -> tuple[dict, str | None]:
    """Set a new password (generated when none is given; returned then) and end the user's sessions."""
    row = get_user(store, username)
    generated = None
    if password is None:
        password = generated = generate_password()
    check_password(password, row["username"])
    updated = store.update_user(row["username"], {"password_hash": hasher().hash(password), "updated_at": _now(now)},
                                bump_epoch=True)
    return _public(updated), generated


def principal_of(row: dict) -> Principal:
    return Principal.user(row["username"], row["role"], (row.get("grids") or "").split(),
                          display_name=row.get("display_name"))


# -- logging in -------------------------------------------------------------------------------------------------

def _retry_after(times: list[int], limit: int, now: int) -> int | None:
    """Seconds until fewer than ``limit`` of the failure ``times`` lie in the window (None: not throttled)."""
    if len(times) < limit:
        return None
    return times[len(times) - limit] + WINDOW_S - now


def authenticate(store: Store, username: str, password: str, remote_addr: str = "-", *,
                 now: int | None = None) -> dict:
    """The user row (without hash) for a correct user name and password of an enabled account.

    Raises :class:`LoginThrottled` while too many recent failures stand against the user name or the
    address (no password is checked then), else :class:`PermissionDeniedError` with one generic message
    for an unknown user, a wrong password or a disabled account. Every checked attempt is recorded.
    """
    ts = _now(now)
    name = str(username or "").strip()[:64]
    addr = str(remote_addr or "-")[:64]
    by_user, by_addr = store.login_failures(name, addr, ts - WINDOW_S + 1)
    waits = [w for w in (_retry_after(by_user, MAX_USER_FAILURES, ts), _retry_after(by_addr, MAX_ADDR_FAILURES, ts))
             if w is not None]
    if waits:
        raise LoginThrottled(max(waits))
    row = store.user_by_name(name) if name else None
    pw = str(password or "")[:MAX_PASSWORD]
    ph = hasher()
    try:
        ph.verify(row["password_hash"] if row is not None else _dummy_hash(), pw)
        ok = row is not None and row["disabled_at"] is None
    except (VerificationError, InvalidHashError):
        ok = False
    store.record_login_attempt(name, addr, ts, ok)
    if not ok:
        raise PermissionDeniedError(WRONG, field="password")
    values = {"last_login_at": ts}
    if ph.check_needs_rehash(row["password_hash"]):
        values["password_hash"] = ph.hash(pw)
    return _public(store.update_user(row["username"], values))
