"""The ranking board's table rows as HTML, built in Python.

A page has 100 rows of about 17 values each; in the template every value went through Jinja's
output escaping (a Markup object each) and attribute lookups, which made rendering more than
half of the board's CPU time (cProfile on CPU time, PostgreSQL at 10,000 applications). Here the
numbers are formatted directly and only text that comes from people (company, programme and
criterion names) is escaped, with ``markupsafe.escape`` as the template did. Every word is
translated by the caller once per page (``row_texts``) or, for the rare badges, here through the
same catalogue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flask_babel import gettext as _
from flask_babel import ngettext
from markupsafe import Markup, escape

from incubator.services.ranking import RankingRow

DASH = "—"


def _score(value: float | None) -> str:
    return DASH if value is None else f"{value:.2f}"


def board_rows(rows: Sequence[RankingRow], *, normalised: bool, texts: Mapping[str, Any],
               criteria: Mapping[int, str], application_link: str) -> Markup:
    """The ``<tr>`` of each row, as ``templates/manage/ranking.html`` lays the table out."""
    states, submitted_of = texts["states"], texts["submitted_of"]
    link, no_company = escape(application_link), escape(texts["no_company"])
    disagree = f'<span class="badge text-bg-warning">{escape(texts["disagree"])}</span>'
    parts: list[str] = []
    for row in rows:
        scores = row.scores
        progress = escape(submitted_of % {"n": row.reviews_submitted, "k": row.reviews_assigned})
        overdue = (f' <span class="badge text-bg-danger">'
                   f'{escape(ngettext("%(num)d overdue", "%(num)d overdue", row.reviews_overdue))}</span>'
                   if row.reviews_overdue else "")
        spread = f' title="{_score(scores.minimum)}–{_score(scores.maximum)}"' if scores.count else ""
        normalised_cell = (f'<td class="text-end">{_score(row.normalised.mean if row.normalised else None)}</td>'
                           if normalised else "")
        below = ""
        if row.threshold_failures:
            names = ", ".join(str(escape(criteria.get(criterion_id, criterion_id)))
                              for criterion_id in row.threshold_failures)
            below = (f'<span class="badge text-bg-danger">'
                     f'{escape(_("Below threshold: %(criteria)s")) % {"criteria": Markup(names)}}</span>')
        parts.append(
            f'<tr>'
            f'<td class="text-end">{row.rank if row.rank is not None else DASH}</td>'
            f'<th scope="row"><a href="{link}{row.application_id}">'
            f'{escape(row.company_name) if row.company_name else no_company}</a></th>'
            f'<td>{escape(", ".join(row.programmes))}</td>'
            f'<td>{escape(states[row.state])}</td>'
            f'<td><span aria-hidden="true" title="{progress}">{row.reviews_submitted}/{row.reviews_assigned}</span>'
            f' <span class="visually-hidden">{progress}</span>{overdue}</td>'
            f'<td class="text-end">{_score(scores.mean)}</td>'
            f'<td class="text-end">{_score(scores.median)}</td>'
            f'<td class="text-end">{_score(scores.std)}</td>'
            f'<td class="text-end"{spread}>{_score(scores.range)}</td>'
            f'{normalised_cell}'
            f'<td>{" ".join(badge for badge in (disagree if row.disagreement else "", below) if badge)}</td>'
            f'</tr>\n'
        )
    return Markup("".join(parts))
