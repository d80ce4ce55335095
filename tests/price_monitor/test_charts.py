"""Server-side SVG charts: well-formed, escaped, gaps where there is no data."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal

from price_monitor.web import charts

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg) -> ET.Element:
    return ET.fromstring(str(svg))  # noqa: S314 - our own output, not untrusted input


def test_time_chart_is_well_formed_with_escaped_text_and_gaps():
    # given a series with a missing month and a name that looks like markup
    svg = charts.time_chart(
        title="<b>药品</b> & co",
        periods=["2026-01", "2026-02", "2026-03"],
        lines=[charts.Line("中位价 <x>", [Decimal("10"), None, Decimal("12.5")])],
        bands=[charts.Band("范围", [Decimal("9"), None, Decimal("11")], [Decimal("11"), None, Decimal("14")])],
        highlight="2026-03",
    )
    # then it parses as XML, the text is escaped, and the line has two separate segments
    root = parse(svg)
    assert root.find(f"{SVG}title").text == "<b>药品</b> & co"
    paths = [p for p in root.iter(f"{SVG}path")]
    assert len(paths) == 2 and all(p.get("d").count("M") == 1 for p in paths)
    assert len(list(root.iter(f"{SVG}circle"))) == 2
    assert any(r.get("fill") == "#fef0c7" for r in root.iter(f"{SVG}rect"))  # highlighted month


def test_step_line_holds_the_price_until_it_changes():
    svg = charts.time_chart(
        title="t",
        periods=["a", "b", "c"],
        lines=[charts.Line("award", [Decimal(10), Decimal(10), Decimal(8)], step=True)],
    )
    d = parse(svg).find(f"{SVG}path").get("d")
    assert d.startswith("M") and "H" in d and "V" in d and "L" not in d


def test_charts_without_data_say_so():
    assert "无数据 / no data" in charts.time_chart(title="t", periods=[], lines=[])
    assert "无数据 / no data" in charts.strip_chart(title="t", values=[])


def test_strip_chart_highlights_the_hospital():
    svg = charts.strip_chart(
        title="peers",
        values=[("H1", Decimal("10")), ("H2", Decimal("10")), ("H3", Decimal("15"))],
        highlight="H3",
        median=Decimal("10"),
        threshold=Decimal("11"),
    )
    root = parse(svg)
    dots = {c.find(f"{SVG}title").text.split()[0]: c.get("fill") for c in root.iter(f"{SVG}circle")}
    assert dots == {"H1": "#0b4f8a", "H2": "#0b4f8a", "H3": "#b42318"}
