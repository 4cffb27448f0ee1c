"""Roles, named permissions and the Principal: who is asking, and what may they see and do.

Four user roles (admin, secretary, grid_worker, viewer) and the scopes of API tokens map to named
permissions (``zones:write``, ``requests:read`` …). A :class:`Principal` is the caller of one request —
a logged-in user, a machine client's token, or anonymous — and answers the questions the web adapter
asks: may it do X (:meth:`Principal.can`), at which level may it see the request rows of a grid
(:meth:`Principal.request_level`), may it change a request's status there, must its aggregates be
k-suppressed, must CARE texts be hidden from it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

# permission → what it allows (zh / en), the vocabulary of every access rule
PERMISSIONS: dict[str, str] = {
    "map:view": "查看地图页面与数据概览 / open the map page and the data overview",
    "aggregates:read": "格网计数、热点、趋势、统计、项目候选 / cell counts, hot spots, trends, stats, "
                       "project candidates",
    "zones:read": "查看重点区域 / read priority zones",
    "zones:write": "新建、修改、删除重点区域 / create, edit and delete priority zones",
    "requests:read": "查看诉求明细（网格员仅限本人网格）/ read request rows (grid workers: their own grids only)",
    "requests:status": "更新诉求办理状态（网格员仅限本人网格）/ change a request's status (grid workers: own grids)",
    "export:aggregates": "导出与拉取汇总数据（导出、OGC）/ export and pull aggregates (exports, OGC API)",
    "export:requests": "批量导出与拉取脱敏诉求（导出、OGC、Open311）/ bulk masked request rows (exports, OGC, Open311)",
    "imports:read": "查看导入批次 / read the import batches",
    "audit:read": "查看审计日志 / read the audit log",
    "users:admin": "管理用户与令牌 / manage users and tokens",
    "open311:submit": "通过 Open311 提交诉求 / submit requests through Open311",
}

ROLES: dict[str, str] = {
    "admin": "管理员：全部权限 / administrator: everything",
    "secretary": "社区书记：全社区的区域、项目候选与全部诉求 / community secretary: zones, candidates, all requests",
    "grid_worker": "网格员：本人网格的诉求明细与状态更新，其余仅汇总 / grid worker: own grids' requests and "
                   "status updates, aggregates elsewhere",
    "viewer": "查看者：仅汇总数据 / viewer: aggregates only",
}

_VIEWER = frozenset({"map:view", "aggregates:read", "zones:read", "export:aggregates"})
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset(PERMISSIONS),
    "secretary": _VIEWER | {"zones:write", "requests:read", "requests:status", "export:requests", "imports:read",
                            "audit:read"},
    "grid_worker": _VIEWER | {"requests:read", "requests:status"},
    "viewer": _VIEWER,
}

# What anonymous callers get when the setting public_aggregates is on (an intranet wall screen).
PUBLIC_AGGREGATES = frozenset({"map:view", "aggregates:read", "zones:read"})

# API token scope (gridgis.tokens.SCOPES) → permissions. Tokens never get the map page or status changes.
_AGG_SCOPE = frozenset({"aggregates:read", "zones:read", "export:aggregates"})
SCOPE_PERMISSIONS: dict[str, frozenset[str]] = {
    "aggregates": _AGG_SCOPE,
    "requests_masked": _AGG_SCOPE | {"requests:read", "export:requests"},
    "open311_submit": frozenset({"open311:submit"}),
    "admin": frozenset(PERMISSIONS),
}

Level = Literal["full", "masked"]


def permissions_for_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """The union of the permissions of token ``scopes`` (unknown scopes grant nothing)."""
    out: set[str] = set()
    for s in scopes:
        out |= SCOPE_PERMISSIONS.get(s, frozenset())
    return frozenset(out)


@dataclass(frozen=True)
class Principal:
    """The caller of one request. ``grids`` None = every grid; a frozenset = only those (grid workers)."""

    kind: Literal["user", "token", "anonymous"]
    name: str
    role: str | None = None
    grids: frozenset[str] | None = None
    permissions: frozenset[str] = field(default_factory=frozenset)
    scopes: tuple[str, ...] = ()
    display_name: str | None = None

    # -- constructors -----------------------------------------------------------------------------------
    @classmethod
    def user(cls, name: str, role: str, grids: Iterable[str] | None = None, *,
             display_name: str | None = None) -> Principal:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")  # the store only holds checked roles
        own = frozenset(grids or ()) if role == "grid_worker" else None
        return cls(kind="user", name=name, role=role, grids=own, permissions=ROLE_PERMISSIONS[role],
                   display_name=display_name)

    @classmethod
    def token(cls, name: str, scopes: Iterable[str]) -> Principal:
        scopes = tuple(scopes)
        return cls(kind="token", name=name, permissions=permissions_for_scopes(scopes), scopes=scopes)

    @classmethod
    def anonymous(cls, public_aggregates: bool = False) -> Principal:
        return cls(kind="anonymous", name="anonymous",
                   permissions=PUBLIC_AGGREGATES if public_aggregates else frozenset())

    # -- questions --------------------------------------------------------------------------------------
    @property
    def authenticated(self) -> bool:
        return self.kind != "anonymous"

    def can(self, permission: str) -> bool:
        if permission not in PERMISSIONS:
            raise ValueError(f"unknown permission {permission!r}")  # a programming error
        return permission in self.permissions

    def in_grid(self, grid_code: str | None) -> bool:
        """Whether ``grid_code`` is one of the principal's grids (always, for grids None)."""
        return self.grids is None or (grid_code is not None and str(grid_code) in self.grids)

    def request_level(self, grid_code: str | None) -> Level | None:
        """How the rows of a request in ``grid_code`` may be seen: "full", "masked", or None (not at all)."""
        if not self.can("requests:read") or not self.in_grid(grid_code):
            return None
        if self.kind == "token":
            return "full" if "admin" in self.scopes else "masked"
        return "full"

    def can_update_status(self, grid_code: str | None) -> bool:
        return self.can("requests:status") and self.in_grid(grid_code)

    @property
    def sees_all_grids(self) -> bool:
        """Request rows of every grid are visible (not a grid worker)."""
        return self.can("requests:read") and self.grids is None

    @property
    def suppress_small_counts(self) -> bool:
        """Aggregates to this caller leave out cells with fewer than k requests (low-privilege callers)."""
        return not self.can("requests:read")

    @property
    def hide_care(self) -> bool:
        """CARE texts (health, disability, welfare) are hidden from this caller wherever texts appear."""
        return self.role == "viewer" or not self.can("requests:read")

    def to_dict(self) -> dict:
        """The principal as /api/me shows it (no secrets)."""
        return {"kind": self.kind, "name": self.name, "display_name": self.display_name, "role": self.role,
                "grids": None if self.grids is None else sorted(self.grids),
                "permissions": sorted(self.permissions), "scopes": list(self.scopes)}
