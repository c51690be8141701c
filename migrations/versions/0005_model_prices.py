"""model prices

Why: cost from usage × a model price when the client sent none (issue 6): a project's own price
definitions, and per observation where its cost came from or why it is unpriced.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
UTC_DATETIME = sa.DateTime(timezone=True)

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table('model_prices',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('model_name', sa.Text(), nullable=False),
    sa.Column('match_pattern', sa.Text(), nullable=False),
    sa.Column('start_date', UTC_DATETIME, nullable=True),
    sa.Column('unit', sa.String(length=16), nullable=False),
    sa.Column('tokenizer', sa.String(length=64), nullable=True),
    sa.Column('prices', JSON_TYPE, nullable=False),
    sa.Column('created_at', UTC_DATETIME, nullable=False),
    sa.Column('updated_at', UTC_DATETIME, nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_model_prices_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_model_prices'))
    )
    op.create_index(op.f('ix_model_prices_project_id'), 'model_prices', ['project_id'], unique=False)
    with op.batch_alter_table('observations') as batch_op:
        batch_op.add_column(sa.Column('cost_source', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('unpriced_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('model_price_id', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('usage_estimated', sa.Boolean(), server_default=sa.false(), nullable=False))
    # Costs stored before this revision all came from clients.
    op.execute("UPDATE observations SET cost_source = 'client' WHERE total_cost IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table('observations') as batch_op:
        batch_op.drop_column('usage_estimated')
        batch_op.drop_column('model_price_id')
        batch_op.drop_column('unpriced_reason')
        batch_op.drop_column('cost_source')
    op.drop_index(op.f('ix_model_prices_project_id'), table_name='model_prices')
    op.drop_table('model_prices')
