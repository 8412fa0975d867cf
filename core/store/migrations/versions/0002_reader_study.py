"""Reader studies: accounts, studies, cases with cached AI output, reader assignments, case opens, answers.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 10:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=100), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('password_hash', sa.Text(), nullable=True),
    sa.Column('oidc_subject', sa.String(length=300), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username'),
    sa.UniqueConstraint('oidc_subject')
    )
    op.create_table('reader_studies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('task', sa.String(length=100), nullable=False),
    sa.Column('design', sa.String(length=20), nullable=False),
    sa.Column('labels', sa.JSON(), nullable=False),
    sa.Column('positive_label', sa.String(length=200), nullable=False),
    sa.Column('questions', sa.JSON(), nullable=False),
    sa.Column('allow_changes', sa.Boolean(), nullable=False),
    sa.Column('seed', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('source', sa.JSON(), nullable=False),
    sa.Column('bundle_path', sa.Text(), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('study_cases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('case_key', sa.String(length=500), nullable=False),
    sa.Column('images', sa.JSON(), nullable=False),
    sa.Column('clinical', sa.JSON(), nullable=False),
    sa.Column('truth', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['study_id'], ['reader_studies.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('study_id', 'position', name='uq_study_cases_position')
    )
    with op.batch_alter_table('study_cases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_study_cases_study_id'), ['study_id'], unique=False)

    op.create_table('study_case_ai',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('probability', sa.Float(), nullable=True),
    sa.Column('probabilities', sa.JSON(), nullable=True),
    sa.Column('predicted_class', sa.String(length=200), nullable=True),
    sa.Column('rules', sa.JSON(), nullable=True),
    sa.Column('overlay_png', sa.LargeBinary(), nullable=True),
    sa.Column('model', sa.Text(), nullable=True),
    sa.Column('warnings', sa.JSON(), nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['study_cases.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_id')
    )
    op.create_table('study_readers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('case_order', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['study_id'], ['reader_studies.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('study_id', 'user_id', name='uq_study_readers')
    )
    with op.batch_alter_table('study_readers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_study_readers_study_id'), ['study_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_study_readers_user_id'), ['user_id'], unique=False)

    op.create_table('study_case_opens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('phase', sa.String(length=20), nullable=False),
    sa.Column('opened', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['study_cases.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_id', 'user_id', 'phase', name='uq_study_case_opens')
    )
    op.create_table('reader_answers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('phase', sa.String(length=20), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('free_text', sa.Text(), nullable=False),
    sa.Column('region', sa.JSON(), nullable=True),
    sa.Column('seconds', sa.Float(), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['study_cases.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['study_id'], ['reader_studies.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_id', 'user_id', 'phase', 'version', name='uq_reader_answers')
    )
    with op.batch_alter_table('reader_answers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reader_answers_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_reader_answers_study_id'), ['study_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_reader_answers_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('reader_answers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reader_answers_user_id'))
        batch_op.drop_index(batch_op.f('ix_reader_answers_study_id'))
        batch_op.drop_index(batch_op.f('ix_reader_answers_case_id'))
    op.drop_table('reader_answers')
    op.drop_table('study_case_opens')
    with op.batch_alter_table('study_readers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_study_readers_user_id'))
        batch_op.drop_index(batch_op.f('ix_study_readers_study_id'))
    op.drop_table('study_readers')
    op.drop_table('study_case_ai')
    with op.batch_alter_table('study_cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_study_cases_study_id'))
    op.drop_table('study_cases')
    op.drop_table('reader_studies')
    op.drop_table('users')
