"""Spyglass SDK. The tracing API (`observe`, the background transport) arrives with the SDK issue."""

__version__ = "0.1.0"

__all__ = ["__version__"]
