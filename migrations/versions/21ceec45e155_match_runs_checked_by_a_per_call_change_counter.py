"""match runs checked by a per-call change counter

Revision ID: 21ceec45e155
Revises: 85e197221a76
Create Date: 2026-12-01 11:15:00.000000

A stored run used to carry a digest of five aggregates over the call's inputs, recomputed on
every visit of the match page; now it carries the call's ``match_inputs_version`` when it was
computed. Runs stored before cannot say which version they saw, so current ones become stale
(the manager computes the match again).
"""
from alembic import op
import sqlalchemy as sa

import incubator.database  # noqa: F401  (custom column types; not every revision uses them)


# revision identifiers, used by Alembic.
revision = '21ceec45e155'
down_revision = '85e197221a76'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('match_inputs_version', sa.Integer(), server_default='0', nullable=False))

    op.execute("UPDATE match_runs SET state = 'stale' WHERE state = 'current'")
    with op.batch_alter_table('match_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('inputs_version', sa.Integer(), server_default='0', nullable=False))
        batch_op.drop_column('inputs_digest')
    with op.batch_alter_table('match_runs', schema=None) as batch_op:
        batch_op.alter_column('inputs_version', server_default=None)


def downgrade():
    op.execute("UPDATE match_runs SET state = 'stale' WHERE state = 'current'")
    with op.batch_alter_table('match_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('inputs_digest', sa.String(length=64), server_default='', nullable=False))
        batch_op.drop_column('inputs_version')
    with op.batch_alter_table('match_runs', schema=None) as batch_op:
        batch_op.alter_column('inputs_digest', server_default=None)

    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_column('match_inputs_version')
