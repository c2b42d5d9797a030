from incubator.web.ops.routes import bp

__all__ = ["bp"]
