from incubator.web.main.routes import bp

__all__ = ["bp"]
