"""the normalised ranking board stored per call

Revision ID: 3e8a6b1d0c52
Revises: 7c1d2e9f4a60
Create Date: 2026-12-07 10:45:00.000000

The normalised figures of a call as a snapshot (``models.normalised_scores``): a row per
call with the change counter it was computed at, and a row per application with its
normalised statistics and position, read by the normalised board through its position
index. Nothing to fill: a call without a snapshot row is computed when its board is first
asked for.
"""
from alembic import op
import sqlalchemy as sa

import incubator.database


# revision identifiers, used by Alembic.
revision = '3e8a6b1d0c52'
down_revision = '7c1d2e9f4a60'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'normalised_snapshots',
        sa.Column('call_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('inputs_version', sa.Integer(), nullable=False),
        sa.Column('computed_at', incubator.database.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_normalised_snapshots_call_id_calls'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('call_id', name=op.f('pk_normalised_snapshots')),
    )
    op.create_table(
        'normalised_scores',
        sa.Column('call_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('application_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('ranked', sa.Boolean(), nullable=False),
        sa.Column('submitted_at', incubator.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column('reviews', sa.Integer(), nullable=False),
        sa.Column('mean', sa.Double(), nullable=False),
        sa.Column('negated_mean', sa.Double(), nullable=False),
        sa.Column('median', sa.Double(), nullable=False),
        sa.Column('std', sa.Double(), nullable=False),
        sa.Column('minimum', sa.Double(), nullable=False),
        sa.Column('maximum', sa.Double(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=True),
        # No foreign keys (models.normalised_scores says why).
        sa.PrimaryKeyConstraint('call_id', 'application_id', name=op.f('pk_normalised_scores')),
    )
    with op.batch_alter_table('normalised_scores', schema=None) as batch_op:
        batch_op.create_index('ix_normalised_scores_position', ['call_id', 'position'], unique=False)


def downgrade():
    with op.batch_alter_table('normalised_scores', schema=None) as batch_op:
        batch_op.drop_index('ix_normalised_scores_position')
    op.drop_table('normalised_scores')
    op.drop_table('normalised_snapshots')
