"""prompts

Why: versioned prompts (Langfuse's /v2/prompts): immutable versions, and labels that each point
at one version so moving a label is a single row update.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# Frozen copies of the portable types, as in 0001.
JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
UTC_DATETIME = sa.DateTime(timezone=True)

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table('prompt_labels',
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('label', sa.String(length=36), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('project_id', 'name', 'label', name=op.f('pk_prompt_labels'))
    )
    op.create_table('prompt_versions',
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('type', sa.String(length=8), nullable=False),
    sa.Column('prompt', JSON_TYPE, nullable=False),
    sa.Column('config', JSON_TYPE, nullable=False),
    sa.Column('tags', JSON_TYPE, nullable=False),
    sa.Column('commit_message', sa.Text(), nullable=True),
    sa.Column('created_at', UTC_DATETIME, nullable=False),
    sa.Column('updated_at', UTC_DATETIME, nullable=False),
    sa.PrimaryKeyConstraint('project_id', 'name', 'version', name=op.f('pk_prompt_versions')),
    sa.UniqueConstraint('id', name=op.f('uq_prompt_versions_id'))
    )


def downgrade() -> None:
    op.drop_table('prompt_versions')
    op.drop_table('prompt_labels')
