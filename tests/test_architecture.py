"""Import boundaries: gridgis is the library (no web code), grid.py is the only h3 user, no print() in the core."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = sorted((ROOT / "gridgis").rglob("*.py"))
WEB = {"flask", "folium", "branca", "webmap", "waitress", "werkzeug", "jinja2"}


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """(top-level module, line, imported at module level?) for every import in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top_level = {id(n) for n in tree.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name.split(".")[0], node.lineno, id(node) in top_level) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module.split(".")[0], node.lineno, id(node) in top_level))
    return out


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(ROOT)))
def test_core_never_imports_web_code(path):
    for mod, line, at_top in _imports(path):
        if mod in WEB:
            # one exception: `gridgis serve` imports webmap inside the command
            assert path.name == "cli.py" and not at_top, f"{path.name}:{line} imports {mod}"


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(ROOT)))
def test_only_grid_module_imports_h3(path):
    if path.name == "grid.py":
        return
    for mod, line, _ in _imports(path):
        assert mod not in ("h3", "h3ronpy"), f"{path.name}:{line} imports {mod}; use gridgis.grid"


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_print_outside_cli(path):
    if path.name == "cli.py":
        return
    tree = ast.parse(path.read_text(encoding="utf-8"))
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "print"]
    assert not calls, f"{path.name}:{calls[0].lineno} calls print(); use logging"


def test_storage_does_not_import_upper_layers():
    for path in (ROOT / "gridgis" / "storage").rglob("*.py"):
        for mod, line, _ in _imports(path):
            if mod == "gridgis":
                src = path.read_text(encoding="utf-8").splitlines()[line - 1]
                assert any(f"gridgis.{ok}" in src for ok in ("storage", "models", "errors", "config")), (
                    f"{path.name}:{line}: storage may only use models/errors/config: {src.strip()}"
                )
