"""The SVG charts: well-formed, escaped, free of what the CSP forbids, and scaled right."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from incubator.domain import charts

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert("x")</script> & "quotes"'


def every_chart(label: str) -> list[str]:
    bars = [charts.Bar(label, 3, "3"), charts.Bar("Other", 1, "1")]
    return [
        charts.bar_chart(label, bars, chart_id="a"),
        charts.column_chart(label, bars, chart_id="b"),
        charts.line_chart(label, [label, "Feb"], [charts.Series(label, [0.5, None], ["50 %", "—"])], chart_id="c"),
        charts.range_chart(label, [charts.Range(label, 3, 2, 4, "3", 2.5, "2.5")], chart_id="d", low=0, high=5,
                           reference_label=label),
    ]


def test_text_is_escaped_and_nothing_the_csp_blocks_is_drawn() -> None:
    for svg in every_chart(HOSTILE):
        root = ET.fromstring(svg)  # well-formed XML, so nothing escaped its element
        assert root.tag == f"{SVG}svg" and root.get("role") == "img"
        assert not list(root.iter(f"{SVG}script"))
        assert all("style" not in element.attrib and not any(a.startswith("on") for a in element.attrib)
                   for element in root.iter())
        assert HOSTILE in "".join(root.itertext())


def test_bars_scale_to_the_largest_value_and_marks_name_their_values() -> None:
    root = ET.fromstring(charts.bar_chart("T", [charts.Bar("Big", 10, "10"), charts.Bar("Half", 5, "5")],
                                          chart_id="t"))
    big, half = root.iter(f"{SVG}rect")
    assert float(half.get("width")) == pytest.approx(float(big.get("width")) / 2)
    assert [rect.find(f"{SVG}title").text for rect in (big, half)] == ["Big: 10", "Half: 5"]


def test_empty_data_says_so_instead_of_drawing_nothing() -> None:
    assert "No data" in charts.bar_chart("T", [], chart_id="e", empty="No data")
    assert "No data" in charts.line_chart("T", ["Jan"], [charts.Series("s", [None], ["—"])], chart_id="e",
                                          empty="No data")


@pytest.mark.parametrize(("value", "ceiling"), [(0, 1), (0.3, 0.5), (1, 1), (7, 10), (12, 20), (230, 250), (0.9, 1)])
def test_axes_end_on_round_numbers(value: float, ceiling: float) -> None:
    assert charts.nice_ceiling(value) == pytest.approx(ceiling)
