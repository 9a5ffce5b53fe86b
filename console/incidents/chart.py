"""An inline SVG line chart of series over time (no scripts, fonts or URLs).

Each series is ``{"name", "points": [[iso time, value], ...]}``; x is time across all
series, y is each value scaled to the largest. Names are XML-escaped here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Any

WIDTH, HEIGHT, PAD = 720, 240, 40
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf")


def _seconds(text: str) -> float | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _clock(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%H:%M:%S")


def svg_chart(series: list[dict[str, Any]], title: str = "") -> str:
    """The chart, or "" when no series has a point."""
    lines = []
    for s in series:
        pts = []
        for t, v in s.get("points") or []:
            x = _seconds(t)
            if x is not None and isinstance(v, int | float):
                pts.append((x, float(v)))
        if pts:
            lines.append((str(s.get("name", "")), pts))
    if not lines:
        return ""
    xs = [x for _, pts in lines for x, _ in pts]
    ys = [y for _, pts in lines for _, y in pts]
    x0, x1 = min(xs), max(xs)
    top = max(max(ys), 1.0)
    span = (x1 - x0) or 1.0
    plot_w, plot_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD

    def px(x: float) -> float:
        return PAD + (x - x0) / span * plot_w

    def py(y: float) -> float:
        return HEIGHT - PAD - y / top * plot_h

    out = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} '
        f'{HEIGHT + 20 * len(lines)}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" '
        'stroke="#888"/>',
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="#888"/>',
        f'<text x="{PAD - 4}" y="{PAD + 4}" text-anchor="end" font-size="11">{top:g}</text>',
        f'<text x="{PAD - 4}" y="{HEIGHT - PAD}" text-anchor="end" font-size="11">0</text>',
        f'<text x="{PAD}" y="{HEIGHT - PAD + 14}" font-size="11">{_clock(x0)} UTC</text>',
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - PAD + 14}" text-anchor="end" '
        f'font-size="11">{_clock(x1)} UTC</text>',
    ]
    for i, (name, pts) in enumerate(lines):
        color = COLORS[i % len(COLORS)]
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in sorted(pts))
        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{path}"/>')
        for x, y in pts:
            out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{color}"/>')
        ly = HEIGHT + 20 * i
        out.append(f'<rect x="{PAD}" y="{ly - 9}" width="10" height="10" fill="{color}"/>')
        out.append(f'<text x="{PAD + 16}" y="{ly}" font-size="12">{escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out)
