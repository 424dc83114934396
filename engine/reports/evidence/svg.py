"""Small server-side SVG charts for the evidence pack (no JavaScript, nothing from another host).

Each function returns a standalone ``<svg>`` string with a ``<title>`` and a text
alternative, sized for an A4 page; values outside the data are never drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

_INK, _BAR, _GRID, _MUTED = "#1f2937", "#2563eb", "#d1d5db", "#6b7280"


def bar_chart(title: str, bars: Sequence[tuple[str, float | None]], *, maximum: float = 1.0,
              formatter: str = "percent", width: int = 520) -> str:
    """Horizontal bars (label, value) on 0..maximum; a missing value shows « n < seuil »."""
    row, left, pad = 26, 190, 8
    height = pad * 2 + row * len(bars) + 20
    span = width - left - 70
    parts = [_open(width, height, title)]
    for i, (label, value) in enumerate(bars):
        y = pad + 20 + i * row
        parts.append(f'<text x="{left - 8}" y="{y + 14}" text-anchor="end" font-size="11" fill="{_INK}">'
                     f'{escape(label)}</text>')
        parts.append(f'<rect x="{left}" y="{y + 2}" width="{span}" height="16" fill="none" stroke="{_GRID}"/>')
        if value is None:
            parts.append(f'<text x="{left + 6}" y="{y + 14}" font-size="10" fill="{_MUTED}">non publié (effectif '
                         'insuffisant)</text>')
            continue
        size = max(0.0, min(1.0, value / maximum)) * span
        parts.append(f'<rect x="{left}" y="{y + 2}" width="{size:.1f}" height="16" fill="{_BAR}"/>')
        parts.append(f'<text x="{left + span + 6}" y="{y + 14}" font-size="11" fill="{_INK}">'
                     f'{_fmt(value, formatter)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def line_chart(title: str, points: Sequence[tuple[str, float | None]], *, maximum: float = 1.0,
               minimum: float = 0.0, formatter: str = "percent", width: int = 520, height: int = 180) -> str:
    """A trend over periods (label, value); gaps where a period has no value."""
    left, right, top, bottom = 40, 20, 28, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    parts = [_open(width, height, title)]
    for fraction in (0.0, 0.5, 1.0):
        y = top + plot_h * (1 - fraction)
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{_GRID}"/>')
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="9" fill="{_MUTED}">'
                     f'{_fmt(minimum + (maximum - minimum) * fraction, formatter)}</text>')
    step = plot_w / max(1, len(points) - 1)
    segment: list[str] = []
    for i, (label, value) in enumerate(points):
        x = left + step * i if len(points) > 1 else left + plot_w / 2
        parts.append(f'<text x="{x:.1f}" y="{height - 10}" text-anchor="middle" font-size="9" fill="{_INK}">'
                     f'{escape(label)}</text>')
        if value is None:
            if len(segment) > 1:
                parts.append(_polyline(segment))
            segment = []
            continue
        share = (max(minimum, min(maximum, value)) - minimum) / ((maximum - minimum) or 1)
        y = top + plot_h * (1 - share)
        segment.append(f"{x:.1f},{y:.1f}")
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{_BAR}"/>')
    if len(segment) > 1:
        parts.append(_polyline(segment))
    parts.append("</svg>")
    return "".join(parts)


def _polyline(points: list[str]) -> str:
    return f'<polyline points="{" ".join(points)}" fill="none" stroke="{_BAR}" stroke-width="2"/>'


def _open(width: int, height: int, title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'
            f'<title>{escape(title)}</title>'
            f'<text x="4" y="14" font-size="12" font-weight="bold" fill="{_INK}">{escape(title)}</text>')


def _fmt(value: float, formatter: str) -> str:
    if formatter == "percent":
        return f"{round(value * 100)} %"
    if formatter == "nps":
        return f"{value:+.0f}"
    return f"{value:.1f}".replace(".", ",")
