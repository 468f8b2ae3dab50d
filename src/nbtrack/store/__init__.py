"""Persistence: metadata (SQLAlchemy Core) and content-addressed objects (fsspec)."""
