from incubator.web.review.routes import bp

__all__ = ["bp"]

# Route modules register their views on ``bp`` when imported.
from incubator.web.review import bids  # noqa: E402,F401
