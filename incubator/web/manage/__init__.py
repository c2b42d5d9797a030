from incubator.web.manage.routes import bp

__all__ = ["bp"]

# Route modules register their views on ``bp`` when imported.
from incubator.web.manage import (  # noqa: E402,F401
    assignments,
    call_editor,
    calls,
    committee,
    decisions,
    exchange,
    follow_up,
    insights,
    pools,
    programmes,
    questions,
    ranking,
    reminders,
    residencies,
    scoped,
)
