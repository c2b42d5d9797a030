"""unreleased decisions counted from an index

Revision ID: 4d2f7a9c1e83
Revises: 8e4b6a1c2d37
Create Date: 2026-12-07 12:00:00.000000

The decisions page counts a call's decided applications not yet released: with only
(call_id, state) indexed, that read a heap row per decided application (20,000 at 100,000
applications, 8 ms on PostgreSQL) to test ``decision_released_at``. With the release time in
the index the count reads the unreleased entries alone.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '4d2f7a9c1e83'
down_revision = '8e4b6a1c2d37'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_applications_call_state_released', 'applications',
                    ['call_id', 'state', 'decision_released_at'], unique=False)


def downgrade():
    op.drop_index('ix_applications_call_state_released', table_name='applications')
