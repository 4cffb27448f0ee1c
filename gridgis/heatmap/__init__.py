"""Heatmap analytics: aggregation, hot spots, trends, project candidates, rasters."""
