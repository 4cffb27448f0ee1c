"""The one error hierarchy of gridgis: user-safe messages, no HTTP codes.

Each error carries ``public_message`` (safe to show a grid worker, zh-CN first with the English
after it) and, where it concerns one input, the ``field`` (a column, parameter or setting name)
and the source ``line``. ``str(e)`` is the full message for logs.
"""

from __future__ import annotations


class GridGISError(Exception):
    """Base of every error gridgis raises on purpose."""

    code = "error"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        line: int | None = None,
        public_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.field = field
        self.line = line
        self.public_message = public_message or message

    def to_dict(self) -> dict:
        out = {"code": self.code, "error": self.public_message}
        if self.field is not None:
            out["field"] = self.field
        if self.line is not None:
            out["line"] = self.line
        return out


class ConfigError(GridGISError, ValueError):
    """A setting is missing, malformed or inconsistent."""

    code = "config_error"


class InvalidInputError(GridGISError, ValueError):
    """An input value (file, parameter, row field) cannot be used as given."""

    code = "invalid_input"


class UnsupportedFormatError(InvalidInputError):
    """A file format, encoding or suffix gridgis cannot read or write."""

    code = "unsupported_format"


class NotFoundError(GridGISError, LookupError):
    """A referenced object (request, zone, grid, batch, file) does not exist."""

    code = "not_found"


class PermissionDeniedError(GridGISError, PermissionError):
    """The caller's role or token does not allow the action."""

    code = "permission_denied"


class NotAuthenticatedError(PermissionDeniedError):
    """No valid session or token came with the request, or the session expired (HTTP adapters: 401)."""

    code = "not_authenticated"


class ConflictError(GridGISError, RuntimeError):
    """The object changed since the caller read it, or the action does not fit its current state."""

    code = "conflict"


class StorageError(GridGISError, RuntimeError):
    """The database failed or is in the wrong state; always raised ``from`` the cause."""

    code = "storage_error"


class MissingDependencyError(GridGISError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""

    code = "missing_dependency"

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        msg = (
            f"缺少可选依赖 {package}（用于{purpose}）。请安装：pip install 'gridgis[{extra}]' / "
            f"optional dependency {package} is needed for {purpose}: pip install 'gridgis[{extra}]'"
        )
        super().__init__(msg)
        self.package = package
        self.extra = extra
