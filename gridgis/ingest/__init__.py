"""Ingest: read, map, validate, locate, classify, dedupe and store residents' requests."""
