from incubator.web.admin.routes import bp

__all__ = ["bp"]
from incubator.web.admin import outbox_actions  # noqa: E402,F401  # isort: skip
