"""Models: the "not better than chance" flag of a registered bundle and soft deletion.

Revision ID: 0003m
Revises: 0002
Create Date: 2026-12-01 22:40:00

Columns only, all nullable: bundles registered before this revision read back unflagged and not deleted.
A deleted bundle keeps its row so that its evaluations still say which (deleted) model they were of.
"""
from alembic import op
import sqlalchemy as sa


revision = '0003m'
down_revision = '0002'
branch_labels = ('models',)
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('bundles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('flag', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('flag_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('deleted', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('bundles', schema=None) as batch_op:
        for name in ('deleted', 'flag_reason', 'flag'):
            batch_op.drop_column(name)
