"""Server-rendered SVG bar charts: no chart library, no script, nothing for the browser to run.

Each function returns an inline <svg> (as Markup) that names itself for screen readers
(role="img", aria-label, <title> and <desc>) and carries every figure in a <title> per
bar and in a data-value attribute. Colours are presentation attributes, never style
attributes, so the charts draw the same with or without a stylesheet. Pages put a table
with the same numbers beside each chart: the table is the accessible form of the data.
"""

from dataclasses import dataclass
from typing import Optional, Sequence

from markupsafe import Markup, escape

from .templating import colon

RED = "#b42318"
GREEN = "#116329"
INK = "#1f2328"
LINE = "#d0d7de"

_FONT = 'font-family="system-ui, sans-serif"'


@dataclass(frozen=True)
class Series:
    """One set of bars: its name (legend), a value per category, its colour and class."""

    name: str
    values: Sequence[Optional[float]]
    fill: str = RED
    css_class: str = "bar"


def _data(value: Optional[float]) -> str:
    """Counts as they are, rates and medians with one decimal, as the tables beside show them."""
    if value is None:
        return ""
    return str(value) if isinstance(value, int) else f"{value:.1f}"


def _number(value: Optional[float], unit: str = "") -> str:
    return "—" if value is None else _data(value) + unit


def _shorten(label: str, length: int) -> str:
    return label if len(label) <= length else label[: length - 1] + "…"


def _open(chart_id: str, title: str, description: str, width: float, height: float) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{escape(chart_id)}" role="img"'
        f' aria-label="{escape(title)}" aria-describedby="{escape(chart_id)}-desc"'
        f' viewBox="0 0 {width:g} {height:g}" width="100%" preserveAspectRatio="xMinYMin meet">'
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>'
        f'<desc id="{escape(chart_id)}-desc">{escape(description)}</desc>'
    )


def column_chart(chart_id: str, title: str, description: str, categories: Sequence[str],
                 series: Sequence[Series], *, unit: str = "") -> Markup:
    """Vertical bars, one group per category (e.g. a month) with one bar per series."""
    group, gap, plot_h, top, bottom, left = 48.0, 8.0, 150.0, 28.0, 24.0, 4.0
    bar = (group - gap) / max(len(series), 1)
    width = left + max(len(categories), 1) * group + 4
    height = top + plot_h + bottom
    peak = max((v for s in series for v in s.values if v is not None), default=0) or 1
    parts = [_open(chart_id, title, description, width, height)]
    for index, s in enumerate(series):  # legend
        x = left + index * 110
        parts.append(f'<rect x="{x:g}" y="4" width="12" height="12" fill="{s.fill}"></rect>'
                     f'<text x="{x + 16:g}" y="14" font-size="12" fill="{INK}" {_FONT}>{escape(str(s.name))}</text>')
    baseline = top + plot_h
    for c, category in enumerate(map(str, categories)):
        x0 = left + c * group + gap / 2
        for index, s in enumerate(series):
            value = s.values[c]
            h = 0.0 if not value else max(plot_h * value / peak, 1.0)
            x = x0 + index * bar
            parts.append(
                f'<rect class="{escape(s.css_class)}" x="{x:.1f}" y="{baseline - h:.1f}" width="{bar - 1:.1f}"'
                f' height="{h:.1f}" fill="{s.fill}" data-label="{escape(category)}" data-value="{_data(value)}">'
                f'<title>{escape(colon(f"{category} · {s.name}"))}{_number(value, unit)}</title></rect>'
            )
            if value:
                parts.append(f'<text x="{x + (bar - 1) / 2:.1f}" y="{baseline - h - 3:.1f}" font-size="9"'
                             f' text-anchor="middle" fill="{INK}" {_FONT}>{_number(value, unit)}</text>')
        parts.append(f'<text x="{x0 + (group - gap) / 2:.1f}" y="{baseline + 15:g}" font-size="10"'
                     f' text-anchor="middle" fill="{INK}" {_FONT}>{escape(category)}</text>')
    parts.append(f'<line x1="0" y1="{baseline:g}" x2="{width:g}" y2="{baseline:g}" stroke="{LINE}"></line>')
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_chart(chart_id: str, title: str, description: str, labels: Sequence[str],
              values: Sequence[Optional[float]], *, unit: str = "", fill: str = RED,
              maximum: Optional[float] = None) -> Markup:
    """Horizontal bars, one per label; `maximum` fixes the scale (100 for rates)."""
    rows = [(str(label), value) for label, value in zip(labels, values)]
    row_h, label_w, plot_w, value_w, top = 24.0, 150.0, 200.0, 48.0, 4.0
    width = label_w + plot_w + value_w
    height = top * 2 + max(len(rows), 1) * row_h
    peak = maximum or max((v for _, v in rows if v is not None), default=0) or 1
    parts = [_open(chart_id, title, description, width, height)]
    for index, (label, value) in enumerate(rows):
        y = top + index * row_h
        w = 0.0 if not value else max(plot_w * value / peak, 1.0)
        parts.append(
            f'<text x="{label_w - 6:g}" y="{y + 16:g}" font-size="12" text-anchor="end" fill="{INK}"'
            f' {_FONT}>{escape(_shorten(label, 12))}</text>'
            f'<rect class="bar" x="{label_w:g}" y="{y + 4:g}" width="{w:.1f}" height="{row_h - 8:g}" fill="{fill}"'
            f' data-label="{escape(label)}" data-value="{_data(value)}">'
            f'<title>{escape(colon(label))}{_number(value, unit)}</title></rect>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + 16:g}" font-size="12" fill="{INK}"'
            f' {_FONT}>{_number(value, unit)}</text>'
        )
    parts.append(f'<line x1="{label_w:g}" y1="0" x2="{label_w:g}" y2="{height:g}" stroke="{LINE}"></line>')
    parts.append("</svg>")
    return Markup("".join(parts))
