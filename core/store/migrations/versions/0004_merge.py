"""Join the three second-wave branches (access + audit, saved-case corrections, model flags) into one head.

Why a merge revision: the three were written side by side from 0002; after this one a store has a single
``alembic_version`` row again, and the next schema change simply revises 0004.

Revision ID: 0004
Revises: 0003a, 0003c, 0003m
Create Date: 2026-12-01 23:45:00
"""

revision = '0004'
down_revision = ('0003a', '0003c', '0003m')
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
