"""Page numbers as ``templates/_pagination.html`` reads them, for pages not made by
``db.paginate`` (a list already in memory, a grid paged by slots)."""

from __future__ import annotations


class PageNumbers:
    """Mixed into a dataclass that has ``page`` and ``pages`` (1-based)."""

    page: int
    pages: int

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int:
        return self.page - 1

    @property
    def next_num(self) -> int:
        return self.page + 1
