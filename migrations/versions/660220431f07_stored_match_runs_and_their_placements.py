"""stored match runs and their placements

Revision ID: 660220431f07
Revises: 0aac37738e44
Create Date: 2026-12-01 06:46:48.430541

"""
from alembic import op
import sqlalchemy as sa

import incubator.database  # noqa: F401  (custom column types; not every revision uses them)


# revision identifiers, used by Alembic.
revision = '660220431f07'
down_revision = '0aac37738e44'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('match_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', incubator.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('include_waitlisted', sa.Boolean(), nullable=False),
    sa.Column('inputs_digest', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('participants', sa.Integer(), nullable=False),
    sa.Column('slots', sa.Integer(), nullable=False),
    sa.Column('placed', sa.Integer(), nullable=False),
    sa.Column('unmatched', sa.Integer(), nullable=False),
    sa.Column('adjusted', sa.Integer(), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.CheckConstraint("state IN ('current', 'stale', 'confirmed')", name=op.f('ck_match_runs_state_known')),
    sa.CheckConstraint('placed + unmatched = participants', name=op.f('ck_match_runs_counts_add_up')),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_match_runs_call_id_calls'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_match_runs_created_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_match_runs'))
    )
    with op.batch_alter_table('match_runs', schema=None) as batch_op:
        batch_op.create_index('ix_match_runs_call_created', ['call_id', 'created_at'], unique=False)

    op.create_table('match_placements',
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('slot_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=24), nullable=True),
    sa.Column('rank', sa.Integer(), nullable=True),
    sa.Column('adjusted', sa.Boolean(), nullable=False),
    sa.CheckConstraint('(slot_id IS NULL) <> (reason IS NULL)', name=op.f('ck_match_placements_placed_or_reason')),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_match_placements_application_id_applications'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['run_id'], ['match_runs.id'], name=op.f('fk_match_placements_run_id_match_runs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['slot_id'], ['slots.id'], name=op.f('fk_match_placements_slot_id_slots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'application_id', name=op.f('pk_match_placements'))
    )
    with op.batch_alter_table('match_placements', schema=None) as batch_op:
        batch_op.create_index('ix_match_placements_run_slot', ['run_id', 'slot_id'], unique=False)



def downgrade():
    with op.batch_alter_table('match_placements', schema=None) as batch_op:
        batch_op.drop_index('ix_match_placements_run_slot')

    op.drop_table('match_placements')
    with op.batch_alter_table('match_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_match_runs_call_created')

    op.drop_table('match_runs')
