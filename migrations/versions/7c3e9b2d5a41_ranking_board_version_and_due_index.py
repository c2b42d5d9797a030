"""the ranking board's change counter, and assignments indexed by due moment

Revision ID: 7c3e9b2d5a41
Revises: 4d2f7a9c1e83
Create Date: 2026-12-07 13:00:00.000000

The ranking board's rendered pages are kept per call and ``calls.board_version``, which moves
in the same flush as every change to what the board shows (``models.insight_inputs``). A kept
page also holds only until the next open assignment of the call falls overdue: that moment is
read from ``ix_assignments_due_at`` from now on, instead of every assignment of the call.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7c3e9b2d5a41'
down_revision = '4d2f7a9c1e83'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('board_version', sa.Integer(), server_default='0', nullable=False))
    op.create_index('ix_assignments_due_at', 'assignments', ['due_at'], unique=False)


def downgrade():
    op.drop_index('ix_assignments_due_at', table_name='assignments')
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_column('board_version')
