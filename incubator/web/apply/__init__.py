"""The startups' side: open calls, the application in steps, attachments, privacy."""

from flask import Blueprint

bp = Blueprint("apply", __name__)

# Route modules register their views on ``bp`` when imported.
from incubator.web.apply import attachments, members, offers, privacy, routes  # noqa: E402, F401

__all__ = ["bp"]
