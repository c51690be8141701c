"""pricing tiers

Why: providers charge more above a context size (Gemini 2.5 Pro and Claude Sonnet 4 above
200k input tokens) or for a service tier; a definition gains conditional tiers, and each
observation records which tier priced it (Langfuse's `usagePricingTierName`).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

JSON_TYPE = sa.JSON().with_variant(JSONB(), 'postgresql')

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table('model_prices') as batch_op:
        batch_op.add_column(sa.Column('tiers', JSON_TYPE, nullable=True))
    with op.batch_alter_table('observations') as batch_op:
        batch_op.add_column(sa.Column('pricing_tier', sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('observations') as batch_op:
        batch_op.drop_column('pricing_tier')
    with op.batch_alter_table('model_prices') as batch_op:
        batch_op.drop_column('tiers')
