"""The README stays true: it shows the two set-up commands, every setting and every CLI command."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import click

from gridgis.cli import main
from gridgis.config import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def _commands(group: click.Group, prefix: str = "gridgis") -> list[str]:
    out = []
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            out += _commands(cmd, f"{prefix} {name}")
        else:
            out.append(f"{prefix} {name}")
    return out


def test_readme_shows_the_two_commands():
    assert "make demo" in README and "make test" in README


def test_readme_lists_every_setting_and_its_env_variable():
    for f in fields(Settings):
        assert f"`{f.name}`" in README, f.name
        assert f"GRIDGIS_{f.name.upper()}" in README, f.name


def test_readme_lists_every_cli_command():
    missing = [c for c in _commands(main) if f"`{c}" not in README]
    assert not missing, f"README lacks: {missing}"
