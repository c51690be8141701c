"""Spyglass server: Langfuse-compatible ingestion and read API on SQLite or PostgreSQL."""

__version__ = "0.1.0"
