"""metric rollups

Why: the metrics page summed every raw observation of its range (9–23 s for 30 days of a
1M-observation project). Hourly totals per environment and model / name / prompt version,
per-hour trace counts with latency histograms, and the score sums of the traces
that used each prompt version, and per-user trace totals, are rebuilt from the raw rows for each
project-hour the ingest writer marks dirty.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

UTC_DATETIME = sa.DateTime(timezone=True)

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table('metric_dirty_hours',
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('hour', UTC_DATETIME, nullable=False),
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('project_id', 'hour', name=op.f('pk_metric_dirty_hours'))
    )
    op.create_table('metric_hours',
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('hour', UTC_DATETIME, nullable=False),
    sa.Column('environment', sa.String(length=40), nullable=False),
    sa.Column('dimension', sa.String(length=8), nullable=False),
    sa.Column('key', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=True),
    sa.Column('observations', sa.Integer(), nullable=False),
    sa.Column('model_calls', sa.Integer(), nullable=False),
    sa.Column('errors', sa.Integer(), nullable=False),
    sa.Column('model_call_errors', sa.Integer(), nullable=False),
    sa.Column('unpriced', sa.Integer(), nullable=False),
    sa.Column('input_tokens', sa.BigInteger(), nullable=False),
    sa.Column('output_tokens', sa.BigInteger(), nullable=False),
    sa.Column('cost', sa.Float(), nullable=True),
    sa.Column('durations', sa.Text(), nullable=True),
    )
    op.create_index('ix_metric_hours_project_hour', 'metric_hours', ['project_id', 'hour'], unique=False)
    op.create_table('trace_hours',
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('hour', UTC_DATETIME, nullable=False),
    sa.Column('environment', sa.String(length=40), nullable=False),
    sa.Column('traces', sa.Integer(), nullable=False),
    sa.Column('error_traces', sa.Integer(), nullable=False),
    sa.Column('latencies', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('project_id', 'hour', 'environment', name=op.f('pk_trace_hours'))
    )
    op.create_table('prompt_score_hours',
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('hour', UTC_DATETIME, nullable=False),
    sa.Column('environment', sa.String(length=40), nullable=False),
    sa.Column('prompt_name', sa.Text(), nullable=False),
    sa.Column('prompt_version', sa.Integer(), nullable=True),
    sa.Column('score_name', sa.Text(), nullable=False),
    sa.Column('total', sa.Float(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    )
    op.create_index('ix_prompt_score_hours_project_hour', 'prompt_score_hours', ['project_id', 'hour'], unique=False)
    op.create_table('user_hours',
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('hour', UTC_DATETIME, nullable=False),
    sa.Column('environment', sa.String(length=40), nullable=False),
    sa.Column('user_id', sa.Text(), nullable=False),
    sa.Column('traces', sa.Integer(), nullable=False),
    sa.Column('error_traces', sa.Integer(), nullable=False),
    sa.Column('tokens', sa.BigInteger(), nullable=False),
    sa.Column('cost', sa.Float(), nullable=True),
    )
    op.create_index('ix_user_hours_project_hour', 'user_hours', ['project_id', 'hour'], unique=False)
    _mark_existing_hours()


def _mark_existing_hours() -> None:
    """Every hour that already has observations or traces is dirty: the server builds its
    rollups in the background (or the metrics page reads it raw until then)."""
    if op.get_bind().dialect.name == 'sqlite':
        # Timestamps are naive UTC text 'YYYY-MM-DD HH:MM:SS.ffffff'.
        hour = "strftime('%Y-%m-%d %H:00:00.000000', {})"
    else:
        hour = "(date_trunc('hour', {} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"
    op.execute(
        "INSERT INTO metric_dirty_hours (project_id, hour, token) "
        f"SELECT project_id, h, 'migration' FROM ("
        f"SELECT project_id, {hour.format('start_time')} AS h FROM observations "
        f"UNION SELECT project_id, {hour.format('timestamp')} AS h FROM traces) AS hours"
    )


def downgrade() -> None:
    op.drop_index('ix_user_hours_project_hour', table_name='user_hours')
    op.drop_table('user_hours')
    op.drop_index('ix_prompt_score_hours_project_hour', table_name='prompt_score_hours')
    op.drop_table('prompt_score_hours')
    op.drop_table('trace_hours')
    op.drop_index('ix_metric_hours_project_hour', table_name='metric_hours')
    op.drop_table('metric_hours')
    op.drop_table('metric_dirty_hours')
