"""cost by usage type in the metric rollups

Why: the metrics page charts cost per usage type (input, cached input, cache write,
reasoning…). The hourly rollups gain rows of a new dimension, `usage`, which needs no new
column; the hours that hold costs are marked dirty so that they are rebuilt with those rows.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""
from __future__ import annotations

from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        # Timestamps are naive UTC text 'YYYY-MM-DD HH:MM:SS.ffffff'.
        hour = "strftime('%Y-%m-%d %H:00:00.000000', start_time)"
    else:
        hour = "(date_trunc('hour', start_time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"
    # The WHERE before ON CONFLICT is required by SQLite's parser for INSERT … SELECT.
    op.execute(
        "INSERT INTO metric_dirty_hours (project_id, hour, token) "
        f"SELECT DISTINCT project_id, {hour}, 'migration' FROM observations "
        "WHERE cost_details IS NOT NULL "
        "ON CONFLICT (project_id, hour) DO NOTHING"
    )


def downgrade() -> None:
    op.execute("DELETE FROM metric_hours WHERE dimension = 'usage'")
