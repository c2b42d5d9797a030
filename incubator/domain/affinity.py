"""How well each reviewer fits each application, as a number in [0, 1].

Two signals, combined linearly::

    affinity = FOCUS_WEIGHT * focus_match + TEXT_WEIGHT * text_similarity

* ``focus_match`` is 1 when the application's focus area is one of the reviewer's focus
  areas, else 0. It is coarse (seven categories, self-declared) but reliable: it says the
  reviewer works in the right field.
* ``text_similarity`` is the cosine similarity of TF-IDF vectors (sublinear term frequency,
  English stop words removed) of the reviewer's expertise and the application's own words
  (project summary, unmet need, team, focus and stage labels). The vectoriser is fitted on
  all texts of the call at once, so a word every application uses ("cancer") weighs little
  and a distinctive one ("radioligand", "checkpoint") weighs a lot. It tells reviewers apart
  within a field and still ranks them when nobody declared the right focus area.

Why 0.4 / 0.6: cosines between short texts seldom exceed 0.5, so in practice a focus match
(0.4) is worth about as much as a very good text match (0.6 x 0.5 = 0.3). Declared fields
therefore lead, and the text decides between reviewers of the same field — the order a
programme manager would pick by hand. Both weights sum to 1, keeping the result in [0, 1].

Bids (a call's bidding window) adjust the affinity afterwards, see ``with_bids``::

    eager        +0.5   (BID_WEIGHTS)
    willing      +0.2
    no bid        0
    not willing  the pair is left out; only if the demand cannot be met without such
                 pairs is the assignment solved again with them allowed at
                 NOT_WILLING_AFFINITY (-10), a heavy penalty
    conflict     never assigned (the bid records a declared conflict)

Why these numbers: +0.5 is more than a focus match (0.4), so a reviewer who asked for an
application gets it ahead of one who merely works in the field, but an "eager" stranger
(0.5) still loses to a willing specialist with a good text match (0.2 + 0.4 + 0.3 = 0.9).
-10 outweighs what rearranging six other pairs could gain (each is worth at most 1.5), so
in the fallback the solver takes a not-willing pair to fill a place nobody else can, and
only in very long exchange chains for anything else. The guarantee that matters is the
first solve: whenever some assignment fills every place without them, not-willing pairs
are not used at all.

Pure: plain strings and lists in, a numpy matrix (reviewers x applications) out. Empty or
stop-word-only texts give all-zero text rows, never an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from incubator.domain.applications import DEVELOPMENT_STAGES, FOCUS_AREAS

if TYPE_CHECKING:  # numpy itself loads inside the functions that compute
    import numpy as np

FOCUS_WEIGHT = 0.4
TEXT_WEIGHT = 0.6

BID_WEIGHTS: dict[str, float] = {"eager": 0.5, "willing": 0.2}
NOT_WILLING_AFFINITY = -10.0


@dataclass(frozen=True)
class ReviewerInterests:
    """What a reviewer knows: focus area keys (see ``FOCUS_AREAS``) and free text."""

    focus_areas: Sequence[str]
    expertise: str = ""


@dataclass(frozen=True)
class ApplicationTopics:
    """What an application is about: its focus area key and its own words."""

    focus_area: str | None
    text: str = ""


def application_text(
    *,
    project_summary: str | None = None,
    unmet_need: str | None = None,
    team: str | None = None,
    focus_area: str | None = None,
    development_stage: str | None = None,
) -> str:
    """The words of an application that describe its science, for text similarity.

    Labels rather than keys ("Immuno-oncology", not "immuno_oncology") so that they share
    tokens with how reviewers describe their expertise.
    """
    parts = [
        project_summary,
        unmet_need,
        team,
        FOCUS_AREAS.get(focus_area or "", ""),
        DEVELOPMENT_STAGES.get(development_stage or "", ""),
    ]
    return "\n".join(part.strip() for part in parts if part and part.strip())


def focus_matrix(reviewers: Sequence[ReviewerInterests], applications: Sequence[ApplicationTopics]) -> np.ndarray:
    """1.0 where the application's focus area is among the reviewer's, else 0.0."""
    import numpy as np
    matrix = np.zeros((len(reviewers), len(applications)), dtype=np.float64)
    for i, reviewer in enumerate(reviewers):
        areas = set(reviewer.focus_areas)
        for j, application in enumerate(applications):
            if application.focus_area and application.focus_area in areas:
                matrix[i, j] = 1.0
    return matrix


def text_similarity(reviewer_texts: Sequence[str], application_texts: Sequence[str]) -> np.ndarray:
    """Cosine similarity of TF-IDF vectors, fitted on all the given texts together."""
    import numpy as np
    shape = (len(reviewer_texts), len(application_texts))
    if not shape[0] or not shape[1]:
        return np.zeros(shape, dtype=np.float64)
    # scikit-learn takes over a second to import; only computing assignments needs it.
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectoriser = TfidfVectorizer(sublinear_tf=True, stop_words="english", strip_accents="unicode")
    try:
        vectors = vectoriser.fit_transform([*reviewer_texts, *application_texts])
    except ValueError:  # no word left at all (every text empty or stop words only)
        return np.zeros(shape, dtype=np.float64)
    # Rows are L2-normalised by the vectoriser (empty texts stay all-zero), so the dot
    # product is the cosine; sparse until the (small) result.
    similarity = (vectors[: shape[0]] @ vectors[shape[0]:].T).toarray()
    return np.clip(similarity, 0.0, 1.0)  # rounding can leave 1.0000000002


def affinity_matrix(reviewers: Sequence[ReviewerInterests], applications: Sequence[ApplicationTopics]) -> np.ndarray:
    """Affinity in [0, 1] of each reviewer (rows) for each application (columns)."""
    focus = focus_matrix(reviewers, applications)
    text = text_similarity([r.expertise or "" for r in reviewers], [a.text or "" for a in applications])
    return FOCUS_WEIGHT * focus + TEXT_WEIGHT * text


def with_bids(affinity: np.ndarray, bids: Mapping[tuple[int, int], str]) -> np.ndarray:
    """The affinity plus each bid's weight; ``bids`` maps (row, column) to a bid level.

    "not willing" pairs get ``NOT_WILLING_AFFINITY`` (for the fallback solve; the first solve
    leaves them out entirely), conflicts are left to the caller's exclusion, other levels add
    their ``BID_WEIGHTS``.
    """
    import numpy as np
    adjusted = np.array(affinity, dtype=np.float64, copy=True)
    for (i, j), level in bids.items():
        if level == "not_willing":
            adjusted[i, j] = NOT_WILLING_AFFINITY
        else:
            adjusted[i, j] += BID_WEIGHTS.get(level, 0.0)
    return adjusted
