"""Small charts drawn as SVG text on the server, for the dashboards and the PDF reports.

Pure: numbers and already translated, already formatted texts in, an SVG string out. No
script and no ``style`` attributes (the pages' Content-Security-Policy allows neither inline
scripts nor inline styles); colours and sizes are SVG presentation attributes. Every mark
carries a ``<title>`` naming its label and value, so the picture can be read by pointing and
tested against the table beside it. All text is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

# Colour-blind safe (Okabe & Ito), dark enough against white for the 3:1 of WCAG's non-text contrast.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#56B4E9", "#E69F00", "#000000")
INK = "#212529"
GRID = "#ced4da"
WIDTH = 640
FONT = 'font-family="sans-serif" font-size="12"'
# The label column of horizontal charts: longer labels are cut (the table beside has them whole).
LABEL_WIDTH = 170
LABEL_CHARACTERS = 26

Format = Callable[[float], str]


def _plain(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str  # the value as the reader reads it ("1 234", "12,5 %")


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]  # None: no value for that point (the line breaks)
    texts: Sequence[str]


@dataclass(frozen=True)
class Range:
    """A value with a spread around it (e.g. a reviewer's mean ± one standard deviation) and,
    optionally, a reference to compare it with (the other reviewers' mean)."""

    label: str
    value: float
    low: float
    high: float
    text: str
    reference: float | None = None
    reference_text: str = ""


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10ⁿ at or above ``value`` (1 for nothing), so axes end on round numbers."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power + 1e-9:
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARACTERS else label[: LABEL_CHARACTERS - 1] + "…"


def _open(title: str, height: float, chart_id: str) -> list[str]:
    return [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {height:.0f}" '
            f'width="{WIDTH}" height="{height:.0f}" role="img" aria-labelledby="{escape(chart_id)}-title">',
            f'<title id="{escape(chart_id)}-title">{escape(title)}</title>']


def _mark_title(label: str, text: str) -> str:
    return f"<title>{escape(label)}: {escape(text)}</title>"


def _empty(title: str, chart_id: str, message: str) -> str:
    parts = _open(title, 40, chart_id)
    parts.append(f'<text x="8" y="24" {FONT} fill="{INK}">{escape(message)}</text></svg>')
    return "".join(parts)


def bar_chart(title: str, bars: Sequence[Bar], *, chart_id: str, empty: str = "—") -> str:
    """Horizontal bars, one per label, longest at full width: funnels, counts by category."""
    if not bars:
        return _empty(title, chart_id, empty)
    row, top = 26, 8
    height = top * 2 + row * len(bars)
    top_value = max((bar.value for bar in bars), default=0) or 1
    plot = WIDTH - LABEL_WIDTH - 70
    parts = _open(title, height, chart_id)
    for i, bar in enumerate(bars):
        y = top + i * row
        length = max(bar.value, 0) / top_value * plot
        parts.append(f'<text x="{LABEL_WIDTH - 6}" y="{y + 17}" text-anchor="end" {FONT} fill="{INK}">'
                     f"{escape(_short(bar.label))}</text>")
        parts.append(f'<rect x="{LABEL_WIDTH}" y="{y + 4}" width="{length:.1f}" height="{row - 8}" '
                     f'fill="{PALETTE[0]}">{_mark_title(bar.label, bar.text)}</rect>')
        parts.append(f'<text x="{LABEL_WIDTH + length + 6:.1f}" y="{y + 17}" {FONT} fill="{INK}">'
                     f"{escape(bar.text)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _every(labels: Sequence[str], width: float) -> int:
    """Label every n-th point so that the labels shown fit side by side in ``width``."""
    widest = max((len(label) for label in labels), default=1) * 7 + 10  # about 7 units per character at 12
    room = max(int(width // widest), 1)
    return max(math.ceil(len(labels) / room), 1)


def column_chart(title: str, bars: Sequence[Bar], *, chart_id: str, tick: Format = _plain,
                 empty: str = "—") -> str:
    """Vertical columns over an ordered axis: submissions per day, a histogram of scores."""
    if not bars:
        return _empty(title, chart_id, empty)
    left, right, top, bottom, plot_height = 48, 12, 12, 40, 180
    height = top + plot_height + bottom
    ceiling = nice_ceiling(max(bar.value for bar in bars))
    slot = (WIDTH - left - right) / len(bars)
    parts = _open(title, height, chart_id)
    whole = all(float(bar.value).is_integer() for bar in bars)
    parts.extend(_value_axis(left, top, plot_height, ceiling, tick, whole=whole))
    label_every = _every([bar.label for bar in bars], WIDTH - left - right)
    for i, bar in enumerate(bars):
        bar_height = max(bar.value, 0) / ceiling * plot_height
        x = left + i * slot
        parts.append(f'<rect x="{x + slot * 0.1:.1f}" y="{top + plot_height - bar_height:.1f}" '
                     f'width="{slot * 0.8:.1f}" height="{bar_height:.1f}" fill="{PALETTE[0]}">'
                     f"{_mark_title(bar.label, bar.text)}</rect>")
        if i % label_every == 0:
            parts.append(f'<text x="{x + slot / 2:.1f}" y="{top + plot_height + 16}" text-anchor="middle" '
                         f'{FONT} fill="{INK}">{escape(bar.label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _value_axis(left: float, top: float, plot_height: float, ceiling: float, tick: Format,
                whole: bool = False) -> list[str]:
    """Grid lines at nothing, half and the ceiling; counts (``whole``) get no "2.5" mark."""
    parts = []
    for share in (0, 0.5, 1):
        y = top + plot_height - share * plot_height
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{WIDTH - 12}" y2="{y:.1f}" stroke="{GRID}"/>')
        if whole and not float(ceiling * share).is_integer():
            continue
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" {FONT} fill="{INK}">'
                     f"{escape(tick(ceiling * share))}</text>")
    return parts


def line_chart(title: str, x_labels: Sequence[str], series: Sequence[Series], *, chart_id: str,
               ceiling: float | None = None, tick: Format = _plain, empty: str = "—") -> str:
    """One line per series over ordered x labels (months), with a legend below: occupancy,
    utilisation, a balance per year."""
    values = [v for s in series for v in s.values if v is not None]
    if not x_labels or not values:
        return _empty(title, chart_id, empty)
    left, right, top, plot_height, legend_row = 48, 12, 12, 180, 18
    legend_top = top + plot_height + 30
    height = legend_top + legend_row * len(series) + 8
    ceiling = ceiling or nice_ceiling(max(values))
    step = (WIDTH - left - right) / max(len(x_labels) - 1, 1)
    parts = _open(title, height, chart_id)
    parts.extend(_value_axis(left, top, plot_height, ceiling, tick))
    label_every = _every(x_labels, WIDTH - left - right)
    for i, label in enumerate(x_labels):
        if i % label_every == 0:
            parts.append(f'<text x="{left + i * step:.1f}" y="{top + plot_height + 16}" text-anchor="middle" '
                         f'{FONT} fill="{INK}">{escape(label)}</text>')
    for n, line in enumerate(series):
        colour = PALETTE[n % len(PALETTE)]
        points = [(left + i * step, top + plot_height - v / ceiling * plot_height, i)
                  for i, v in enumerate(line.values) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for x, y, i in points:
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
                         f"{_mark_title(f'{line.name}, {x_labels[i]}', line.texts[i])}</circle>")
        y = legend_top + n * legend_row
        parts.append(f'<rect x="{left}" y="{y}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{left + 18}" y="{y + 10}" {FONT} fill="{INK}">{escape(line.name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def range_chart(title: str, ranges: Sequence[Range], *, chart_id: str, low: float, high: float,
                reference_label: str = "", empty: str = "—") -> str:
    """A dot per row at its value with a whisker over its spread, and a hollow diamond at its
    reference, on a common scale from ``low`` to ``high``: reviewers' means against the others'."""
    if not ranges:
        return _empty(title, chart_id, empty)
    row, top = 26, 8
    legend = 22 if reference_label else 0
    height = top * 2 + row * len(ranges) + legend
    plot_left, plot = LABEL_WIDTH, WIDTH - LABEL_WIDTH - 80
    span = (high - low) or 1

    def x_of(value: float) -> float:
        return plot_left + (min(max(value, low), high) - low) / span * plot

    parts = _open(title, height, chart_id)
    for i, item in enumerate(ranges):
        y = top + i * row + row / 2
        parts.append(f'<text x="{LABEL_WIDTH - 6}" y="{y + 4:.1f}" text-anchor="end" {FONT} fill="{INK}">'
                     f"{escape(_short(item.label))}</text>")
        parts.append(f'<line x1="{plot_left}" y1="{y:.1f}" x2="{plot_left + plot}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(f'<line x1="{x_of(item.low):.1f}" y1="{y:.1f}" x2="{x_of(item.high):.1f}" y2="{y:.1f}" '
                     f'stroke="{PALETTE[0]}" stroke-width="3"/>')
        parts.append(f'<circle cx="{x_of(item.value):.1f}" cy="{y:.1f}" r="5" fill="{PALETTE[0]}">'
                     f"{_mark_title(item.label, item.text)}</circle>")
        if item.reference is not None:
            rx = x_of(item.reference)
            parts.append(f'<path d="M{rx:.1f},{y - 6:.1f} L{rx + 6:.1f},{y:.1f} L{rx:.1f},{y + 6:.1f} '
                         f'L{rx - 6:.1f},{y:.1f} Z" fill="none" stroke="{PALETTE[1]}" stroke-width="2">'
                         f"{_mark_title(f'{item.label}, {reference_label}', item.reference_text)}</path>")
        parts.append(f'<text x="{plot_left + plot + 8}" y="{y + 4:.1f}" {FONT} fill="{INK}">'
                     f"{escape(item.text)}</text>")
    if reference_label:
        y = top + row * len(ranges) + 6
        parts.append(f'<path d="M{plot_left + 6},{y} L{plot_left + 12},{y + 6} L{plot_left + 6},{y + 12} '
                     f'L{plot_left},{y + 6} Z" fill="none" stroke="{PALETTE[1]}" stroke-width="2"/>')
        parts.append(f'<text x="{plot_left + 18}" y="{y + 10}" {FONT} fill="{INK}">{escape(reference_label)}</text>')
    parts.append("</svg>")
    return "".join(parts)
