from incubator.web.notifications.routes import bp

__all__ = ["bp"]
