"""Hourly rollups behind the metrics page (`server.metrics.rollups`)."""
