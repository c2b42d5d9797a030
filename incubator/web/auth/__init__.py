from incubator.web.auth import sessions, two_factor  # noqa: F401  # register their routes on bp
from incubator.web.auth.routes import bp

__all__ = ["bp"]
