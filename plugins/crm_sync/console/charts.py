"""Small inline SVG charts for the history page: no JavaScript library, themed by CSS variables.

Each chart is a row of bars, oldest run on the left, with the largest value and the first and
last dates labelled and a tooltip (`<title>`) per bar; colours come from the page's CSS, so
they follow Airflow's light and dark themes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

WIDTH = 480
HEIGHT = 170
_LEFT, _RIGHT, _TOP, _BOTTOM = 40, 6, 12, 24


@dataclass(frozen=True)
class Series:
    """One stacked component of a bar chart."""

    key: str
    label: str


RECORD_SERIES = (Series("created", "created"), Series("updated", "updated"), Series("archived", "archived"),
                 Series("quarantined", "quarantined"), Series("skipped", "skipped"))


def _number(value: float) -> str:
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


def bar_chart(runs: Sequence[dict[str, Any]], series: Sequence[Series], *, title: str, unit: str = "") -> str:
    """A stacked bar per run (runs given newest first, drawn oldest first) as an SVG string.

    Args:
        runs: Sync-log rows with `run_id`, `started_at` and the series' keys.
        series: The stacked components, bottom first.
        title: The chart's accessible title.
        unit: Shown after values in tooltips (e.g. " s").
    """
    ordered = list(reversed(runs))
    totals = [sum(float(run.get(s.key) or 0) for s in series) for run in ordered]
    top = max(totals, default=0) or 1
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM
    slot = plot_w / max(len(ordered), 1)
    bar_w = max(min(slot * 0.7, 24), 1.5)
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>",
             f'<line class="axis" x1="{_LEFT}" y1="{_TOP + plot_h}" x2="{WIDTH - _RIGHT}" y2="{_TOP + plot_h}"/>',
             f'<line class="grid" x1="{_LEFT}" y1="{_TOP}" x2="{WIDTH - _RIGHT}" y2="{_TOP}"/>',
             f'<text class="tick" x="{_LEFT - 6}" y="{_TOP + 4}" text-anchor="end">{_number(top)}</text>',
             f'<text class="tick" x="{_LEFT - 6}" y="{_TOP + plot_h + 4}" text-anchor="end">0</text>']
    for index, run in enumerate(ordered):
        x = _LEFT + index * slot + (slot - bar_w) / 2
        y: float = _TOP + plot_h
        tip = [f"run {run['run_id']} · {run['object']} · {run['started_at']:%Y-%m-%d %H:%M}"]
        for s in series:
            value = float(run.get(s.key) or 0)
            tip.append(f"{s.label}: {_number(value)}{unit}")
            if value <= 0:
                continue
            height = value / top * plot_h
            y -= height
            parts.append(f'<rect class="bar s-{s.key}" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
                         f'height="{height:.1f}"><title>{escape(chr(10).join(tip))}</title></rect>')
        parts.append(f'<rect class="hit" x="{x:.1f}" y="{_TOP}" width="{bar_w:.1f}" height="{plot_h}">'
                     f"<title>{escape(chr(10).join(tip))}</title></rect>")
    if ordered:
        first, last = ordered[0]["started_at"], ordered[-1]["started_at"]
        parts.append(f'<text class="tick" x="{_LEFT}" y="{HEIGHT - 6}">{first:%b %d %H:%M}</text>')
        parts.append(f'<text class="tick" x="{WIDTH - _RIGHT}" y="{HEIGHT - 6}" text-anchor="end">'
                     f"{last:%b %d %H:%M}</text>")
    else:
        parts.append(f'<text class="tick" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">no runs</text>')
    parts.append("</svg>")
    return "".join(parts)


def legend(series: Sequence[Series]) -> str:
    """The colour legend of a chart's series as HTML."""
    items = "".join(f'<span class="key"><i class="swatch s-{s.key}"></i>{escape(s.label)}</span>' for s in series)
    return f'<div class="legend">{items}</div>'


def history_charts(runs: Sequence[dict[str, Any]]) -> dict[str, str]:
    """The three history charts (records, duration, API calls) over the latest 60 runs shown."""
    shown = list(runs[:60])
    return {
        "records": bar_chart(shown, RECORD_SERIES, title="Records per run"),
        "records_legend": legend(RECORD_SERIES),
        "duration": bar_chart(shown, (Series("seconds", "duration"),), title="Duration per run (seconds)",
                              unit=" s"),
        "api_calls": bar_chart(shown, (Series("api_calls", "API calls"),), title="Salesforce API calls per run"),
    }
