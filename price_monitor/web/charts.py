"""Inline SVG charts drawn on the server (no JavaScript, no CDN: the system runs offline).

Prices arrive as Decimal; pixel coordinates are floats (drawing, not money). Every text
is escaped. Each function returns a ``SafeString`` to drop into a template.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 880, 330
LEFT, RIGHT, TOP, BOTTOM = 64, 250, 30, 46
PALETTE = {
    "transaction": "#0b4f8a",
    "hospital": "#b42318",
    "award": "#05603a",
    "listing": "#b54708",
    "province_min": "#6941c6",
    "national_min": "#c11574",
    "retail": "#667085",
    "baseline": "#98a2b3",
    "drug": "#0b4f8a",
    "consumable": "#b54708",
}


@dataclass
class Line:
    name: str
    values: Sequence[Decimal | None]
    color: str = "#0b4f8a"
    dashed: bool = False
    step: bool = False  # a price in force: held flat until it changes
    markers: bool = True


@dataclass
class Band:
    name: str
    low: Sequence[Decimal | None]
    high: Sequence[Decimal | None]
    color: str = "#0b4f8a"


@dataclass
class Marker:
    """A horizontal reference line across the plot (e.g. the base = 100 of an index)."""

    name: str
    value: Decimal
    color: str = "#98a2b3"


@dataclass
class _Scale:
    lo: float
    hi: float
    n: int
    plot_w: float = field(default=WIDTH - LEFT - RIGHT)
    plot_h: float = field(default=HEIGHT - TOP - BOTTOM)

    def x(self, i: int) -> float:
        return LEFT + (self.plot_w / 2 if self.n == 1 else self.plot_w * i / (self.n - 1))

    def y(self, v) -> float:
        span = (self.hi - self.lo) or 1.0
        return TOP + self.plot_h * (1 - (float(v) - self.lo) / span)


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round axis ticks (steps of 1, 2, 2.5 or 5 × 10^k) covering [lo, hi]."""
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    n = math.ceil((hi - start) / step - 1e-9)
    return [round(start + k * step, 10) for k in range(n + 1)]


def _fmt(v: float) -> str:
    return f"{v:,.2f}" if abs(v) < 1000 else f"{v:,.0f}"


def _open(title: str, height: int = HEIGHT) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="pm-chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]


def _legend(items: list[tuple[str, str, bool]], top: int = TOP) -> list[str]:
    out = []
    x = WIDTH - RIGHT + 16
    for i, (name, color, dashed) in enumerate(items):
        y = top + 8 + i * 20
        dash = ' stroke-dasharray="5 3"' if dashed else ""
        out.append(f'<line x1="{x}" y1="{y}" x2="{x + 22}" y2="{y}" stroke="{color}" stroke-width="2.5"{dash}/>')
        out.append(f'<text x="{x + 28}" y="{y + 4}" font-size="12">{escape(name)}</text>')
    return out


def time_chart(
    *,
    title: str,
    periods: Sequence[str],
    lines: Sequence[Line] = (),
    bands: Sequence[Band] = (),
    markers: Sequence[Marker] = (),
    unit: str = "元",
    highlight: str | None = None,
) -> SafeString:
    """Monthly series on a shared y axis; ``highlight`` shades one period (the alert's month)."""
    values = [float(v) for ln in lines for v in ln.values if v is not None]
    values += [float(v) for b in bands for v in (*b.low, *b.high) if v is not None]
    values += [float(m.value) for m in markers]
    out = _open(title)
    if not periods or not values:
        out.append(
            f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" font-size="14">无数据 / no data</text></svg>'
        )
        return mark_safe("".join(out))  # noqa: S308 - every text above is escaped
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.08 or abs(hi) * 0.1 or 1.0
    ticks = _nice_ticks(max(lo - pad, 0.0) if lo >= 0 else lo - pad, hi + pad)
    sc = _Scale(lo=ticks[0], hi=ticks[-1], n=len(periods))
    # axes and grid
    for t in ticks:
        y = sc.y(t)
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#e4e7eb"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{_fmt(t)}</text>')
    out.append(f'<text x="{LEFT - 6}" y="{TOP - 14}" text-anchor="end" font-size="11">{escape(unit)}</text>')
    label_every = max(1, len(periods) // 12)
    for i, p in enumerate(periods):
        x = sc.x(i)
        if highlight and p == highlight:
            half = sc.plot_w / max(len(periods) - 1, 1) / 2
            out.append(
                f'<rect x="{x - half:.1f}" y="{TOP}" width="{2 * half:.1f}" height="{sc.plot_h:.1f}" fill="#fef0c7" opacity="0.7"/>'
            )
        if i % label_every == 0 or i == len(periods) - 1:
            out.append(
                f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" font-size="11">{escape(p)}</text>'
            )
    out.append(
        f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" y2="{HEIGHT - BOTTOM}" stroke="#52606d"/>'
    )
    for b in bands:
        out.extend(_band(sc, b))
    for m in markers:
        y = sc.y(m.value)
        out.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="{m.color}" stroke-dasharray="2 3"/>'
        )
    for ln in lines:
        out.extend(_line(sc, ln))
    legend = [(b.name, b.color, False) for b in bands] + [(ln.name, ln.color, ln.dashed) for ln in lines]
    legend += [(m.name, m.color, True) for m in markers]
    out.extend(_legend(legend))
    out.append("</svg>")
    return mark_safe("".join(out))  # noqa: S308 - every text above is escaped


def _segments(values: Sequence) -> list[list[tuple[int, Decimal]]]:
    segs, cur = [], []
    for i, v in enumerate(values):
        if v is None:
            if cur:
                segs.append(cur)
            cur = []
        else:
            cur.append((i, v))
    if cur:
        segs.append(cur)
    return segs


def _line(sc: _Scale, ln: Line) -> list[str]:
    out = []
    dash = ' stroke-dasharray="6 4"' if ln.dashed else ""
    for seg in _segments(ln.values):
        pts = []
        for j, (i, v) in enumerate(seg):
            x, y = sc.x(i), sc.y(v)
            if j == 0:
                pts.append(f"M{x:.1f},{y:.1f}")
            elif ln.step:
                pts.append(f"H{x:.1f}V{y:.1f}")
            else:
                pts.append(f"L{x:.1f},{y:.1f}")
        if len(seg) == 1 and ln.step:
            x, y = sc.x(seg[0][0]), sc.y(seg[0][1])
            pts.append(f"H{x + 8:.1f}")
        out.append(f'<path d="{"".join(pts)}" fill="none" stroke="{ln.color}" stroke-width="2"{dash}/>')
        if ln.markers:
            for i, v in seg:
                out.append(
                    f'<circle cx="{sc.x(i):.1f}" cy="{sc.y(v):.1f}" r="3" fill="{ln.color}">'
                    f"<title>{escape(ln.name)} {v}</title></circle>"
                )
    return out


def _band(sc: _Scale, b: Band) -> list[str]:
    out = []
    pairs = [(lo, hi) if lo is not None and hi is not None else None for lo, hi in zip(b.low, b.high, strict=True)]
    for seg in _segments(pairs):
        top = [f"{sc.x(i):.1f},{sc.y(v[1]):.1f}" for i, v in seg]
        bottom = [f"{sc.x(i):.1f},{sc.y(v[0]):.1f}" for i, v in reversed(seg)]
        if len(seg) == 1:
            i, (lo, hi) = seg[0]
            x = sc.x(i)
            out.append(
                f'<line x1="{x:.1f}" y1="{sc.y(lo):.1f}" x2="{x:.1f}" y2="{sc.y(hi):.1f}" stroke="{b.color}" '
                f'stroke-width="6" opacity="0.25"/>'
            )
            continue
        out.append(f'<polygon points="{" ".join(top + bottom)}" fill="{b.color}" opacity="0.15"/>')
    return out


def strip_chart(
    *,
    title: str,
    values: Sequence[tuple[str, Decimal]],
    highlight: str | None = None,
    median: Decimal | None = None,
    threshold: Decimal | None = None,
    unit: str = "元",
) -> SafeString:
    """The peers' distribution: one dot per (label, value), stacked where they coincide;
    ``highlight`` (a label) in red, the median and the alert threshold as vertical lines."""
    height = 200
    out = _open(title, height)
    nums = [float(v) for _label, v in values]
    extra = [float(x) for x in (median, threshold) if x is not None]
    if not nums:
        out.append(
            f'<text x="{WIDTH / 2}" y="{height / 2}" text-anchor="middle" font-size="14">无数据 / no data</text></svg>'
        )
        return mark_safe("".join(out))  # noqa: S308 - escaped
    lo, hi = min(nums + extra), max(nums + extra)
    pad = (hi - lo) * 0.08 or abs(hi) * 0.1 or 1.0
    ticks = _nice_ticks(max(lo - pad, 0.0), hi + pad)
    x0, x1 = LEFT, WIDTH - RIGHT
    base_y = height - BOTTOM

    def px(v) -> float:
        return x0 + (x1 - x0) * (float(v) - ticks[0]) / ((ticks[-1] - ticks[0]) or 1.0)

    for t in ticks:
        out.append(f'<line x1="{px(t):.1f}" y1="{TOP}" x2="{px(t):.1f}" y2="{base_y}" stroke="#e4e7eb"/>')
        out.append(f'<text x="{px(t):.1f}" y="{base_y + 16}" text-anchor="middle" font-size="11">{_fmt(t)}</text>')
    out.append(f'<text x="{x1}" y="{base_y + 32}" text-anchor="end" font-size="11">{escape(unit)}</text>')
    out.append(f'<line x1="{x0}" y1="{base_y}" x2="{x1}" y2="{base_y}" stroke="#52606d"/>')
    stacks: dict[int, int] = {}
    for label, v in sorted(values, key=lambda lv: (lv[1], lv[0])):
        bucket = round(px(v) / 6)
        level = stacks.get(bucket, 0)
        stacks[bucket] = level + 1
        cy = base_y - 8 - 9 * (level % 14)
        color = "#b42318" if label == highlight else "#0b4f8a"
        r = 5 if label == highlight else 3.5
        out.append(
            f'<circle cx="{px(v):.1f}" cy="{cy:.1f}" r="{r}" fill="{color}" opacity="0.85">'
            f"<title>{escape(label)} {v}</title></circle>"
        )
    legend = []
    if median is not None:
        out.append(
            f'<line x1="{px(median):.1f}" y1="{TOP}" x2="{px(median):.1f}" y2="{base_y}" stroke="#05603a" stroke-width="2"/>'
        )
        legend.append(("同级中位数 / peer median", "#05603a", False))
    if threshold is not None:
        out.append(
            f'<line x1="{px(threshold):.1f}" y1="{TOP}" x2="{px(threshold):.1f}" y2="{base_y}" stroke="#b54708" '
            f'stroke-width="2" stroke-dasharray="5 3"/>'
        )
        legend.append(("预警阈值 / threshold", "#b54708", True))
    if highlight:
        legend.append(("本院 / this hospital", "#b42318", False))
    legend.append(("其他医院 / other hospitals", "#0b4f8a", False))
    out.extend(_legend(legend))
    out.append("</svg>")
    return mark_safe("".join(out))  # noqa: S308 - escaped
