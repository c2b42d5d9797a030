"""insights figures stored per call and scope, checked by a per-call change counter

Revision ID: 5b0e4f3c2a17
Revises: 21ceec45e155
Create Date: 2026-12-07 08:00:00.000000

A call's dashboard aggregated every score and review of the call on each visit (4.5 s at
100,000 applications); now its figures are stored per call and programme scope with the call's
``insights_version`` they were computed from, and computed again only once it moved.
"""
from alembic import op
import sqlalchemy as sa

import incubator.database


# revision identifiers, used by Alembic.
revision = '5b0e4f3c2a17'
down_revision = '21ceec45e155'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('insights_version', sa.Integer(), server_default='0', nullable=False))

    op.create_table(
        'call_insight_snapshots',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('call_id', sa.Integer(), nullable=False),
        sa.Column('scope', sa.Text(), nullable=False),
        sa.Column('inputs_version', sa.Integer(), nullable=False),
        sa.Column('computed_at', incubator.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column('valid_until', incubator.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column('figures', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_call_insight_snapshots_call_id_calls'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_call_insight_snapshots')),
        sa.UniqueConstraint('call_id', 'scope', name=op.f('uq_call_insight_snapshots_call_id_scope')),
    )


def downgrade():
    op.drop_table('call_insight_snapshots')
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_column('insights_version')
