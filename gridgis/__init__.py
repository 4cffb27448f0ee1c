"""gridgis: residents ' requests on H3 demand heatmaps."""
