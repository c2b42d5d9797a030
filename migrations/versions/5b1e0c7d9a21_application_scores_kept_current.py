"""application scores kept current for the ranking board

Revision ID: 5b1e0c7d9a21
Revises: 5b0e4f3c2a17
Create Date: 2026-12-07 08:00:00.000000

One row per application with a submitted, scored review: the statistics of its weighted scores
and how many thresholds it misses, so the ranking board pages through an index instead of
aggregating every review of the call per request. Filled here from the existing reviews with
the same pure functions the application uses (``domain.scoring``), a few hundred applications
at a time.
"""
from alembic import op
import sqlalchemy as sa

import incubator.database


# revision identifiers, used by Alembic.
revision = '5b1e0c7d9a21'
down_revision = '5b0e4f3c2a17'
branch_labels = None
depends_on = None

BATCH = 500
UNRANKED = ("draft", "withdrawn")


def upgrade():
    op.create_table(
        'application_scores',
        sa.Column('application_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('call_id', sa.Integer(), nullable=False),
        sa.Column('ranked', sa.Boolean(), nullable=False),
        sa.Column('submitted_at', incubator.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column('reviews_submitted', sa.Integer(), nullable=False),
        sa.Column('mean', sa.Double(), nullable=False),
        sa.Column('negated_mean', sa.Double(), nullable=False),
        sa.Column('median', sa.Double(), nullable=False),
        sa.Column('std', sa.Double(), nullable=False),
        sa.Column('minimum', sa.Double(), nullable=False),
        sa.Column('maximum', sa.Double(), nullable=False),
        sa.Column('below_threshold', sa.Integer(), nullable=False),
        sa.Column('criterion_means', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['application_id'], ['applications.id'],
                                name=op.f('fk_application_scores_application_id_applications'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_application_scores_call_id_calls'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('application_id', name=op.f('pk_application_scores')),
    )
    with op.batch_alter_table('application_scores', schema=None) as batch_op:
        batch_op.create_index('ix_application_scores_rank',
                              ['call_id', 'ranked', 'negated_mean', 'submitted_at', 'application_id'], unique=False)
    _backfill(op.get_bind())


def _backfill(connection):
    from incubator.domain.scoring import CriterionRule, aggregate_many, threshold_failures

    moment = incubator.database.UTCDateTime()  # typed columns: SQLite returns text otherwise
    scores = sa.table('application_scores', sa.column('submitted_at', moment), sa.column('criterion_means', sa.JSON()),
                      *(sa.column(name) for name in (
                          'application_id', 'call_id', 'ranked', 'reviews_submitted', 'mean', 'negated_mean',
                          'median', 'std', 'minimum', 'maximum', 'below_threshold')))
    applications_table = sa.table('applications', sa.column('id'), sa.column('call_id'), sa.column('state'),
                                  sa.column('submitted_at', moment))
    rules = {}
    for call_id, criterion_id, threshold in connection.execute(sa.text(
            "SELECT call_id, id, threshold FROM criteria WHERE threshold IS NOT NULL")):
        rules.setdefault(call_id, []).append(CriterionRule(id=criterion_id, weight=1, threshold=threshold))
    ids = [row[0] for row in connection.execute(sa.text(
        "SELECT DISTINCT application_id FROM reviews WHERE state = 'submitted' ORDER BY application_id"))]
    for start in range(0, len(ids), BATCH):
        low, high = ids[start], ids[min(start + BATCH, len(ids)) - 1]
        window = {"low": low, "high": high}
        applications = {row[0]: row for row in connection.execute(
            sa.select(applications_table).where(applications_table.c.id.between(low, high)))}
        reviews = connection.execute(sa.text(
            "SELECT application_id, CAST(weighted_score AS FLOAT) FROM reviews WHERE state = 'submitted' "
            "AND weighted_score IS NOT NULL AND application_id BETWEEN :low AND :high"), window).all()
        if not reviews:
            continue
        means = {}
        for application_id, criterion_id, mean in connection.execute(sa.text(
                "SELECT r.application_id, s.criterion_id, CAST(AVG(s.value) AS FLOAT) FROM reviews r "
                "JOIN scores s ON s.review_id = r.id WHERE r.state = 'submitted' "
                "AND r.application_id BETWEEN :low AND :high GROUP BY r.application_id, s.criterion_id"), window):
            if mean is not None:
                means.setdefault(application_id, {})[criterion_id] = mean
        review_ids, values = zip(*reviews, strict=True)
        rows = []
        for application_id, summary in aggregate_many(review_ids, values).items():
            application = applications.get(application_id)
            if application is None:
                continue
            rows.append({
                "application_id": application_id, "call_id": application[1],
                "ranked": application[2] not in UNRANKED, "submitted_at": application[3],
                "reviews_submitted": summary.count, "mean": summary.mean, "negated_mean": -summary.mean,
                "median": summary.median, "std": summary.std, "minimum": summary.minimum,
                "maximum": summary.maximum,
                "below_threshold": len(threshold_failures(rules.get(application[1], []),
                                                          means.get(application_id, {}))),
                "criterion_means": {str(key): value for key, value in means.get(application_id, {}).items()},
            })
        if rows:
            connection.execute(sa.insert(scores), rows)


def downgrade():
    with op.batch_alter_table('application_scores', schema=None) as batch_op:
        batch_op.drop_index('ix_application_scores_rank')
    op.drop_table('application_scores')
