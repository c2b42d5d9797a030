from incubator.web.review.routes import bp

__all__ = ["bp"]
