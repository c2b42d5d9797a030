from incubator.web.admin.routes import bp

__all__ = ["bp"]
