from incubator.web.manage.routes import bp

__all__ = ["bp"]
