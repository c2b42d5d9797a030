from incubator.web.auth.routes import bp

__all__ = ["bp"]
