"""Cases: clinician corrections kept with a saved case (case key, who, clinician decision, AI output, images
with corrected masks, calipers).

Revision ID: 0003c
Revises: 0002
Create Date: 2026-12-01 22:30:00

Columns only, all nullable: cases saved before this revision keep their rows and read back with empty
corrections.
"""
from alembic import op
import sqlalchemy as sa


revision = '0003c'
down_revision = '0002'
branch_labels = ('cases',)
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('saved_cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('case_key', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('actor', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('clinician_decision', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('ai_output', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('images', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('calipers', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('saved_cases', schema=None) as batch_op:
        for name in ('calipers', 'images', 'ai_output', 'clinician_decision', 'actor', 'case_key'):
            batch_op.drop_column(name)
