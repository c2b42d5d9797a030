"""the assignment board reads in index order: names indexed, assignment counts kept by triggers

Revision ID: 7c1d2e9f4a60
Revises: 5b1e0c7d9a21
Create Date: 2026-12-07 09:00:00.000000

The assignment board lists a call's applications by ``coalesce(company_name, '')`` then id,
50 at a time. Without an index on that expression each page sorted the whole call (about 270 ms
at 100,000 applications on PostgreSQL); with it a page reads 51 index entries. Its reviewer
column and the reviewer suggestions order users by ``coalesce(name, '')`` within a role, which
scanned every user (the applicants too: 10-20 ms at 100,000).

Its "missing reviewers" filter counted every application's assignments (about 180 ms at 100,000
even in index order); ``applications.assignment_count`` now holds that count, kept by row
triggers on ``assignments`` (per statement on PostgreSQL) so that every writer (services, bulk inserts, COPY, cascades) keeps
it, and an index on (call_id, assignment_count) finds the few applications still short.

The reviewers' loads (a page of reviewers' assignments joined to their applications' call and
state) scanned the call's applications (30-35 ms at 100,000); an index on (id, call_id, state)
lets PostgreSQL read them from the index alone (4-6 ms).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7c1d2e9f4a60'
down_revision = '5b1e0c7d9a21'
branch_labels = None
depends_on = None

# PostgreSQL: statement triggers with transition tables, so a bulk insert (auto-assignment adds
# thousands of rows per statement) updates each application once, not once per assignment.
# A trigger with transition tables takes one event and no column list: three triggers, one
# function; an update that moves nothing (a due date changed) changes no application.
PG_FUNCTION = """
CREATE FUNCTION applications_count_assignments() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE applications AS a SET assignment_count = a.assignment_count + d.delta
        FROM (SELECT application_id, count(*) AS delta FROM new_rows GROUP BY application_id) AS d
        WHERE a.id = d.application_id;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE applications AS a SET assignment_count = a.assignment_count - d.delta
        FROM (SELECT application_id, count(*) AS delta FROM old_rows GROUP BY application_id) AS d
        WHERE a.id = d.application_id;
    ELSE
        UPDATE applications AS a SET assignment_count = a.assignment_count + d.delta
        FROM (SELECT application_id, sum(delta) AS delta
              FROM (SELECT application_id, 1 AS delta FROM new_rows
                    UNION ALL SELECT application_id, -1 FROM old_rows) AS moved
              GROUP BY application_id HAVING sum(delta) <> 0) AS d
        WHERE a.id = d.application_id;
    END IF;
    RETURN NULL;
END
$$
"""
PG_TRIGGERS = {
    "assignments_counted_insert": "AFTER INSERT ON assignments REFERENCING NEW TABLE AS new_rows",
    "assignments_counted_delete": "AFTER DELETE ON assignments REFERENCING OLD TABLE AS old_rows",
    "assignments_counted_move": "AFTER UPDATE ON assignments REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
}
# SQLite has row triggers only.
INCREMENT = "UPDATE applications SET assignment_count = assignment_count + 1 WHERE id = NEW.application_id;"
DECREMENT = "UPDATE applications SET assignment_count = assignment_count - 1 WHERE id = OLD.application_id;"
SQLITE_TRIGGERS = {
    "assignments_counted_insert": f"AFTER INSERT ON assignments BEGIN {INCREMENT} END",
    "assignments_counted_delete": f"AFTER DELETE ON assignments BEGIN {DECREMENT} END",
    "assignments_counted_move": f"AFTER UPDATE OF application_id ON assignments BEGIN {DECREMENT} {INCREMENT} END",
}


def upgrade():
    # The column first: SQLite's batch mode may copy the table, and it cannot carry an index on
    # an expression across (it cannot reflect one).
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('assignment_count', sa.Integer(), server_default='0', nullable=False))
    op.execute("UPDATE applications SET assignment_count = "
               "(SELECT count(*) FROM assignments WHERE assignments.application_id = applications.id)")
    op.create_index('ix_applications_call_assignment_count', 'applications', ['call_id', 'assignment_count'],
                    unique=False)
    op.create_index('ix_applications_call_name', 'applications',
                    ['call_id', sa.text("coalesce(company_name, '')"), 'id'], unique=False)
    op.create_index('ix_users_role_name', 'users', ['role', sa.text("coalesce(name, '')"), 'id'], unique=False)
    op.create_index('ix_applications_id_call_state', 'applications', ['id', 'call_id', 'state'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(PG_FUNCTION)
        for name, event in PG_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {event} FOR EACH STATEMENT "
                       "EXECUTE FUNCTION applications_count_assignments()")
    else:
        for name, body in SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        for name in PG_TRIGGERS:
            op.execute(f"DROP TRIGGER {name} ON assignments")
        op.execute("DROP FUNCTION applications_count_assignments()")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    op.drop_index('ix_applications_id_call_state', table_name='applications')
    op.drop_index('ix_users_role_name', table_name='users')
    op.drop_index('ix_applications_call_name', table_name='applications')
    op.drop_index('ix_applications_call_assignment_count', table_name='applications')
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.drop_column('assignment_count')
