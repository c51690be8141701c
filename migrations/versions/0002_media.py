"""media

Why: the Langfuse SDKs upload images, audio and files found in inputs and outputs and leave a
reference in their place; Spyglass keeps those bytes in the database, which every replica shares.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

UTC_DATETIME = sa.DateTime(timezone=True)  # frozen, as in 0001

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table('media',
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('content_type', sa.String(length=255), nullable=False),
    sa.Column('content_length', sa.Integer(), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=True),
    sa.Column('trace_id', sa.String(length=800), nullable=True),
    sa.Column('observation_id', sa.String(length=800), nullable=True),
    sa.Column('field', sa.String(length=32), nullable=True),
    sa.Column('upload_token', sa.String(length=64), nullable=False),
    sa.Column('download_token', sa.String(length=64), nullable=False),
    sa.Column('uploaded_at', UTC_DATETIME, nullable=True),
    sa.Column('upload_http_status', sa.Integer(), nullable=True),
    sa.Column('upload_http_error', sa.Text(), nullable=True),
    sa.Column('upload_time_ms', sa.Integer(), nullable=True),
    sa.Column('created_at', UTC_DATETIME, nullable=False),
    sa.PrimaryKeyConstraint('project_id', 'id', name=op.f('pk_media'))
    )


def downgrade() -> None:
    op.drop_table('media')
