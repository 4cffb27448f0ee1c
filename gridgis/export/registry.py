"""The writer registry: file suffix → writer function, and :func:`write`, which picks one."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from gridgis.errors import InvalidInputError, UnsupportedFormatError

log = logging.getLogger(__name__)

Writer = Callable[..., Any]
"""``writer(frame, path, **options)``: writes ``frame`` to ``path`` (the caller checked the folder)."""

_WRITERS: dict[str, Writer] = {}
_BUILTIN: dict[str, Writer] = {}


def register(suffix: str, writer: Writer) -> None:
    """Make ``write`` send files ending in ``suffix`` (e.g. ".shp") to ``writer``; replaces any earlier one."""
    s = suffix.lower() if suffix.startswith(".") else "." + suffix.lower()
    _WRITERS[s] = writer


def _builtin() -> None:
    """Load the built-in writers once (their modules import GDAL/rasterio bindings only when used)."""
    if _BUILTIN:
        return
    from gridgis.export import csv_writer, geojson, gpkg, tif

    _BUILTIN.update({".geojson": geojson.write_geojson, ".csv": csv_writer.write_csv, ".gpkg": gpkg.write_gpkg,
                     ".tif": tif.write_tif, ".tiff": tif.write_tif})
    for suffix, writer in _BUILTIN.items():
        _WRITERS.setdefault(suffix, writer)  # a writer registered earlier for the same suffix wins


def suffixes() -> tuple[str, ...]:
    """The suffixes :func:`write` knows, sorted."""
    _builtin()
    return tuple(sorted(_WRITERS))


def check_path(path: str | Path) -> Path:
    """The output path, if its suffix has a writer and its folder exists (check before long computations)."""
    _builtin()
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in _WRITERS:
        known = ", ".join(suffixes())
        raise UnsupportedFormatError(
            f"不支持的输出格式 {suffix or '（无后缀）'}，可用：{known} / unsupported output format "
            f"{suffix or '(no suffix)'} for {p.name}; supported: {known}",
            field="output",
        )
    if not p.parent.is_dir():
        raise InvalidInputError(f"输出目录不存在 / output folder does not exist: {p.parent}", field="output")
    return p


def write(frame: pd.DataFrame, path: str | Path, **options: Any) -> Path:
    """Write a DataFrame or GeoDataFrame to ``path`` in the format its suffix names (the file is replaced).

    ``options`` go to the format's writer (e.g. ``crs=`` for .gpkg, ``bom=`` for .csv, ``value=`` for .tif).
    """
    p = check_path(path)
    writer = _WRITERS[p.suffix.lower()]
    # Write next to the target and move it into place: a failed write leaves any old file intact, and
    # drivers that differ on existing files (GeoJSON refuses, GPKG adds a layer) always start afresh.
    with tempfile.TemporaryDirectory(dir=p.parent, prefix=".gridgis-") as tmp:
        part = Path(tmp) / p.name
        writer(frame, part, **options)
        os.replace(part, p)
    log.info("wrote %d rows to %s", len(frame), p)
    return p
