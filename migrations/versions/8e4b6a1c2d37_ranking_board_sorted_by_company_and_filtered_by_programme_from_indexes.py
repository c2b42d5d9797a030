"""the ranking board sorted by company and filtered by programme reads indexes

Revision ID: 8e4b6a1c2d37
Revises: 3e8a6b1d0c52
Create Date: 2026-12-07 10:45:00.000000

Sorted by company, a page of the ranking board sorted the call's applications by
``lower(company_name)`` (a sort spilling to disk at 100,000 applications on PostgreSQL); an
index on (call_id, lower(company_name)) lets a page read its rows in order, either direction,
and stop. Filtered to one programme, the board counts the programme's applications; an index on
programme_preferences (programme_id, application_id) gives them from the index alone, in the
applications' id order.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '8e4b6a1c2d37'
down_revision = '3e8a6b1d0c52'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_applications_call_company_lower', 'applications',
                    ['call_id', sa.text('lower(company_name)')], unique=False)
    op.create_index('ix_programme_preferences_programme_application', 'programme_preferences',
                    ['programme_id', 'application_id'], unique=False)


def downgrade():
    op.drop_index('ix_programme_preferences_programme_application', table_name='programme_preferences')
    op.drop_index('ix_applications_call_company_lower', table_name='applications')
