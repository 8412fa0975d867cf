"""Initial schema: runs, bundles, evaluations, per-case predictions, clinician-saved cases.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-28 22:54:58.838931
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('bundles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('task', sa.String(length=100), nullable=False),
    sa.Column('arch', sa.String(length=100), nullable=True),
    sa.Column('class_names', sa.JSON(), nullable=False),
    sa.Column('metrics', sa.JSON(), nullable=False),
    sa.Column('is_default_for_task', sa.Boolean(), nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('path')
    )
    with op.batch_alter_table('bundles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bundles_task'), ['task'], unique=False)

    op.create_table('evaluations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('task', sa.String(length=100), nullable=False),
    sa.Column('bundle_id', sa.Integer(), nullable=True),
    sa.Column('manifest_fingerprint', sa.String(length=128), nullable=True),
    sa.Column('rule_table', sa.JSON(), nullable=True),
    sa.Column('meta', sa.JSON(), nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['bundle_id'], ['bundles.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    with op.batch_alter_table('evaluations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_evaluations_task'), ['task'], unique=False)

    op.create_table('runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task', sa.String(length=100), nullable=False),
    sa.Column('arch', sa.String(length=100), nullable=False),
    sa.Column('cv', sa.String(length=50), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('run_dir', sa.Text(), nullable=False),
    sa.Column('bundle_id', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('meta', sa.JSON(), nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['bundle_id'], ['bundles.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_runs_task'), ['task'], unique=False)

    op.create_table('saved_cases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study', sa.String(length=100), nullable=False),
    sa.Column('bundle_id', sa.Integer(), nullable=True),
    sa.Column('bundle_name', sa.String(length=200), nullable=True),
    sa.Column('probability', sa.Float(), nullable=True),
    sa.Column('decision', sa.String(length=100), nullable=True),
    sa.Column('override', sa.String(length=100), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('rules', sa.JSON(), nullable=True),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['bundle_id'], ['bundles.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('saved_cases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_saved_cases_study'), ['study'], unique=False)

    op.create_table('predictions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('evaluation_id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.String(length=500), nullable=False),
    sa.Column('patient_id', sa.String(length=200), nullable=False),
    sa.Column('truth', sa.String(length=200), nullable=True),
    sa.Column('truth_index', sa.Integer(), nullable=True),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('scores', sa.JSON(), nullable=True),
    sa.Column('rule_applicable', sa.Boolean(), nullable=True),
    sa.Column('crl_low', sa.Boolean(), nullable=True),
    sa.Column('fhr_low', sa.Boolean(), nullable=True),
    sa.Column('both_low', sa.Boolean(), nullable=True),
    sa.Column('fold', sa.Integer(), nullable=True),
    sa.Column('subgroups', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['evaluation_id'], ['evaluations.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('evaluation_id', 'case_id', name='uq_predictions_case')
    )
    with op.batch_alter_table('predictions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_predictions_evaluation_id'), ['evaluation_id'], unique=False)
        batch_op.create_index('ix_predictions_patient', ['evaluation_id', 'patient_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('predictions', schema=None) as batch_op:
        batch_op.drop_index('ix_predictions_patient')
        batch_op.drop_index(batch_op.f('ix_predictions_evaluation_id'))

    op.drop_table('predictions')
    with op.batch_alter_table('saved_cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_saved_cases_study'))

    op.drop_table('saved_cases')
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_runs_task'))

    op.drop_table('runs')
    with op.batch_alter_table('evaluations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evaluations_task'))

    op.drop_table('evaluations')
    with op.batch_alter_table('bundles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bundles_task'))

    op.drop_table('bundles')
