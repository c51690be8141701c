"""initial schema

Why: the first schema: projects and their API keys, traces, observations and scores, with the
indexes for the dashboard's common reads (latest traces of a project, observations of a trace,
traces of a session or a user, time-range scans).

Frozen: this file declares its own column types instead of importing the models, so later model
changes never rewrite what it does.

Revision ID: 0001
Revises: 
Create Date: 2026-11-28
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# Same storage as server.db.types at the time of writing: JSONB on Postgres, JSON text on SQLite;
# timestamptz on Postgres, naive UTC text on SQLite.
JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
UTC_DATETIME = sa.DateTime(timezone=True)

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table('observations',
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('id', sa.String(length=800), nullable=False),
    sa.Column('trace_id', sa.String(length=800), nullable=False),
    sa.Column('parent_observation_id', sa.String(length=800), nullable=True),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('name', sa.Text(), nullable=True),
    sa.Column('start_time', UTC_DATETIME, nullable=False),
    sa.Column('end_time', UTC_DATETIME, nullable=True),
    sa.Column('completion_start_time', UTC_DATETIME, nullable=True),
    sa.Column('model', sa.Text(), nullable=True),
    sa.Column('model_parameters', JSON_TYPE, nullable=True),
    sa.Column('input', sa.Text(), nullable=True),
    sa.Column('output', sa.Text(), nullable=True),
    sa.Column('metadata', JSON_TYPE, nullable=True),
    sa.Column('level', sa.String(length=8), nullable=False),
    sa.Column('status_message', sa.Text(), nullable=True),
    sa.Column('version', sa.Text(), nullable=True),
    sa.Column('environment', sa.String(length=40), nullable=False),
    sa.Column('usage_details', JSON_TYPE, nullable=True),
    sa.Column('usage_unit', sa.String(length=16), nullable=True),
    sa.Column('cost_details', JSON_TYPE, nullable=True),
    sa.Column('total_cost', sa.Float(), nullable=True),
    sa.Column('prompt_name', sa.Text(), nullable=True),
    sa.Column('prompt_version', sa.Integer(), nullable=True),
    sa.Column('provisional', sa.Boolean(), nullable=False),
    sa.Column('last_event_at', UTC_DATETIME, nullable=False),
    sa.Column('created_at', UTC_DATETIME, nullable=False),
    sa.Column('updated_at', UTC_DATETIME, nullable=False),
    sa.PrimaryKeyConstraint('project_id', 'id', name=op.f('pk_observations'))
    )
    with op.batch_alter_table('observations', schema=None) as batch_op:
        batch_op.create_index('ix_observations_project_start', ['project_id', 'start_time'], unique=False)
        batch_op.create_index('ix_observations_project_trace', ['project_id', 'trace_id', 'start_time'], unique=False)

    op.create_table('projects',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('created_at', UTC_DATETIME, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_projects')),
    sa.UniqueConstraint('name', name=op.f('uq_projects_name'))
    )
    op.create_table('scores',
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('id', sa.String(length=800), nullable=False),
    sa.Column('trace_id', sa.String(length=800), nullable=True),
    sa.Column('observation_id', sa.String(length=800), nullable=True),
    sa.Column('session_id', sa.Text(), nullable=True),
    sa.Column('dataset_run_id', sa.Text(), nullable=True),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('string_value', sa.Text(), nullable=True),
    sa.Column('data_type', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('metadata', JSON_TYPE, nullable=True),
    sa.Column('config_id', sa.Text(), nullable=True),
    sa.Column('queue_id', sa.Text(), nullable=True),
    sa.Column('author_user_id', sa.Text(), nullable=True),
    sa.Column('environment', sa.String(length=40), nullable=False),
    sa.Column('timestamp', UTC_DATETIME, nullable=False),
    sa.Column('created_at', UTC_DATETIME, nullable=False),
    sa.Column('updated_at', UTC_DATETIME, nullable=False),
    sa.PrimaryKeyConstraint('project_id', 'id', name=op.f('pk_scores'))
    )
    with op.batch_alter_table('scores', schema=None) as batch_op:
        batch_op.create_index('ix_scores_project_session', ['project_id', 'session_id'], unique=False)
        batch_op.create_index('ix_scores_project_timestamp', ['project_id', 'timestamp'], unique=False)
        batch_op.create_index('ix_scores_project_trace', ['project_id', 'trace_id'], unique=False)

    op.create_table('traces',
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('id', sa.String(length=800), nullable=False),
    sa.Column('timestamp', UTC_DATETIME, nullable=False),
    sa.Column('name', sa.Text(), nullable=True),
    sa.Column('user_id', sa.Text(), nullable=True),
    sa.Column('session_id', sa.Text(), nullable=True),
    sa.Column('release', sa.Text(), nullable=True),
    sa.Column('version', sa.Text(), nullable=True),
    sa.Column('environment', sa.String(length=40), nullable=False),
    sa.Column('external_id', sa.Text(), nullable=True),
    sa.Column('public', sa.Boolean(), nullable=False),
    sa.Column('bookmarked', sa.Boolean(), nullable=False),
    sa.Column('tags', JSON_TYPE, nullable=False),
    sa.Column('metadata', JSON_TYPE, nullable=True),
    sa.Column('input', sa.Text(), nullable=True),
    sa.Column('output', sa.Text(), nullable=True),
    sa.Column('implicit', sa.Boolean(), nullable=False),
    sa.Column('last_event_at', UTC_DATETIME, nullable=False),
    sa.Column('created_at', UTC_DATETIME, nullable=False),
    sa.Column('updated_at', UTC_DATETIME, nullable=False),
    sa.PrimaryKeyConstraint('project_id', 'id', name=op.f('pk_traces'))
    )
    with op.batch_alter_table('traces', schema=None) as batch_op:
        batch_op.create_index('ix_traces_project_session', ['project_id', 'session_id', 'timestamp'], unique=False)
        batch_op.create_index('ix_traces_project_timestamp', ['project_id', 'timestamp'], unique=False)
        batch_op.create_index('ix_traces_project_user', ['project_id', 'user_id', 'timestamp'], unique=False)

    op.create_table('api_keys',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('public_key', sa.String(length=255), nullable=False),
    sa.Column('secret_hash', sa.String(length=255), nullable=False),
    sa.Column('secret_hint', sa.String(length=16), nullable=False),
    sa.Column('note', sa.String(length=255), nullable=True),
    sa.Column('created_at', UTC_DATETIME, nullable=False),
    sa.Column('revoked_at', UTC_DATETIME, nullable=True),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_api_keys_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('public_key', name=op.f('uq_api_keys_public_key'))
    )
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_keys_project_id'), ['project_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_keys_project_id'))

    op.drop_table('api_keys')
    with op.batch_alter_table('traces', schema=None) as batch_op:
        batch_op.drop_index('ix_traces_project_user')
        batch_op.drop_index('ix_traces_project_timestamp')
        batch_op.drop_index('ix_traces_project_session')

    op.drop_table('traces')
    with op.batch_alter_table('scores', schema=None) as batch_op:
        batch_op.drop_index('ix_scores_project_trace')
        batch_op.drop_index('ix_scores_project_timestamp')
        batch_op.drop_index('ix_scores_project_session')

    op.drop_table('scores')
    op.drop_table('projects')
    with op.batch_alter_table('observations', schema=None) as batch_op:
        batch_op.drop_index('ix_observations_project_trace')
        batch_op.drop_index('ix_observations_project_start')

    op.drop_table('observations')
