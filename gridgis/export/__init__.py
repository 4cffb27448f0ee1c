"""Writers of tables and GeoDataFrames to files, chosen by the file's suffix through one registry.

``write(frame, "out.geojson")`` → RFC 7946 GeoJSON; ``.csv`` (UTF-8, BOM for Excel by default);
``.gpkg`` (EPSG:4326, or ``crs="EPSG:4490"`` / a Gauss-Krüger zone); ``.tif`` (a GeoTIFF surface of
per-cell values). Other modules add formats with :func:`register`.
"""

from gridgis.export.registry import check_path, register, suffixes, write

__all__ = ["check_path", "register", "suffixes", "write"]
