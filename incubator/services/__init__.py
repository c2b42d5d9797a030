"""State changes: one function each, the only code that writes. Services flush; callers commit."""


class ServiceError(Exception):
    """A state change refused for a reason the person can act on; the message says which."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
