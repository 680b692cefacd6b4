"""The report's charts as SVG drawn by pygal, from a built Report's figures (no query of their own).

Each chart has a table beside it on the page, built from the same rows (`*_rows`), so the numbers stay
readable without the picture: by a screen reader, in print, or when an image is blocked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pygal
from pygal.etree import etree
from pygal.style import Style

from handlers.jobs.reports import Report, percent

# The console's own font stack (bot/console/static/console.css), so Chinese labels render as on the page.
FONTS = (
    '-apple-system, "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC", '
    '"WenQuanYi Micro Hei", sans-serif'
)
BRAND, SECOND = "#0b6e4f", "#7fb8a4"
# Categories in a stacked bar need colours told apart in print and by colour-blind readers.
PALETTE = (BRAND, "#e69f00", "#56b4e9", "#cc79a7", "#009e73", "#d55e00", "#0072b2", "#999999", "#f0e442")
# Narrow, so that on a phone (about 360 px of column) the labels stay near their drawn size.
WIDTH = 420


@dataclass(frozen=True)
class RateRow:
    """One rate for the rates chart and table: label, value in [0, 1] or None, and its counts."""

    label: str
    rate: float | None
    counts: str

    @property
    def shown(self) -> str:
        """The rate as the page and the pushes write it, e.g. 85%(17/20) or 暂无(0/0)."""
        return f"{percent(self.rate)}({self.counts})"


@dataclass(frozen=True)
class GridRow:
    """One grid's on-time figures: response and resolution rates with their counts."""

    label: str
    response: RateRow
    resolution: RateRow


def rate_rows(report: Report) -> list[RateRow]:
    """The five rates of a report, in the order the page has always listed them."""
    r = report
    return [
        RateRow("响应率", r.response_rate, f"{r.acknowledged_in_time}/{r.ack_judged}"),
        RateRow("解决率", r.resolution_rate, f"{r.resolved_in_time}/{r.resolve_judged}"),
        RateRow("满意率", r.satisfaction_rate, f"{r.satisfied}/{r.rated}"),
        RateRow("问候应答率", r.checkin_answer_rate, f"{r.checkins_answered}/{r.checkins_pinged}"),
        RateRow("走访完成率", r.visits_rate, f"{r.visits_done}/{r.visits_due}"),
    ]


def grid_rows(reports: Sequence[Report]) -> list[GridRow]:
    """Each grid's response and resolution rate (on time), from that grid's own report."""
    return [GridRow(r.scope.label, *rate_rows(r)[:2]) for r in reports]


def busy_categories(report: Report) -> list[tuple[str, str]]:
    """(category, label) of the categories with a ticket opened or resolved in the period."""
    return [(c.category, c.label) for c in report.by_category if c.opened or c.resolved]


def daily_chart(report: Report) -> bytes:
    """Tickets opened per local day, stacked by category."""
    opened = [(c.category, c.label) for c in report.by_category if c.opened]
    chart = _chart(pygal.StackedBar, len(report.by_day), horizontal=False)
    chart.x_labels = [f"{d.day.month}/{d.day.day}" for d in report.by_day]
    if len(report.by_day) > 10:
        chart.x_labels_major_every, chart.show_minor_x_labels = 7, False
    for category, label in opened:
        chart.add(label, [_point(d.opened[category], f"{d.day.isoformat()} {label}") for d in report.by_day])
    return _svg(chart)


def category_chart(report: Report) -> bytes:
    """Tickets opened and resolved per category, the categories with either."""
    # pygal stacks horizontal bars from the bottom up: reversed, the first row is on top as in the table.
    busy = [c for c in report.by_category if c.opened or c.resolved][::-1]
    chart = _chart(pygal.HorizontalBar, 2 * len(busy))
    chart.x_labels = [c.label for c in busy]
    chart.add("新增", [_point(c.opened, f"{c.label} 新增") for c in busy])
    chart.add("办结", [_point(c.resolved, f"{c.label} 办结") for c in busy])
    return _svg(chart)


def rates_chart(report: Report) -> bytes:
    """The five rates in percent; a rate with nothing to count is left out of the bars (暂无 in the table)."""
    rows = rate_rows(report)[::-1]
    chart = _chart(pygal.HorizontalBar, len(rows), show_legend=False, percent_axis=True)
    chart.x_labels = [row.label for row in rows]
    chart.add("比率", [_rate_point(row) for row in rows])
    return _svg(chart)


def grids_chart(reports: Sequence[Report]) -> bytes:
    """Response and resolution rate (on time) of each grid, side by side."""
    rows = grid_rows(reports)[::-1]
    chart = _chart(pygal.HorizontalBar, 2 * len(rows), percent_axis=True)
    chart.x_labels = [row.label for row in rows]
    chart.add("响应率", [_rate_point(row.response, row.label) for row in rows])
    chart.add("解决率", [_rate_point(row.resolution, row.label) for row in rows])
    return _svg(chart)


def _chart(
    kind: Callable[..., pygal.graph.graph.Graph],
    bars: int,
    horizontal: bool = True,
    show_legend: bool = True,
    percent_axis: bool = False,
) -> pygal.graph.graph.Graph:
    """A chart in the console's look, sized for its bars, drawn to read without any script."""
    height = max(200, 90 + 26 * bars) if horizontal else 280
    style = Style(
        font_family=FONTS,
        background="white",
        plot_background="white",
        foreground="#1d1d1f",
        foreground_strong="#1d1d1f",
        foreground_subtle="#d9dce1",
        colors=PALETTE if not horizontal else (BRAND, SECOND, *PALETTE[1:]),
        label_font_size=13,
        major_label_font_size=13,
        legend_font_size=14,
        value_font_size=12,
        value_label_font_size=12,
        no_data_font_size=18,
    )
    config = {
        "style": style,
        "width": WIDTH,
        "height": height,
        "js": [],
        "show_legend": show_legend,
        "legend_at_bottom": True,
        "print_values": True,
        "print_zeroes": False,
        "no_data_text": "本期没有数据",
        "margin": 12,
        "truncate_label": -1,
        "truncate_legend": -1,
    }
    if percent_axis:
        config |= {"range": (0, 100), "value_formatter": lambda v: f"{v:.0f}%"}
    else:
        config |= {"value_formatter": lambda v: f"{v:.0f}", "min_scale": 1, "order_min": 0}
    return kind(**config)


def _point(value: int, title: str) -> dict[str, object]:
    """One bar: its count, and a label naming what it counts (kept in the SVG as the bar's description)."""
    return {"value": value, "label": f"{title} {value}"}


def _rate_point(row: RateRow, prefix: str = "") -> dict[str, object] | None:
    """One rate bar in percent, or no bar when there is nothing to rate."""
    if row.rate is None:
        return None
    return {"value": round(100 * row.rate, 1), "label": f"{prefix} {row.label} {row.shown}".strip()}


def _svg(chart: pygal.graph.graph.Graph) -> bytes:
    """The chart as an SVG document with pygal's script element taken out: the console runs no script."""
    root = chart.render_tree()
    for parent in list(root.iter()):
        for child in list(parent):
            if isinstance(child.tag, str) and child.tag.rsplit("}", 1)[-1] == "script":
                parent.remove(child)
    # pygal's own etree wrapper: lxml's or the standard library's, whichever pygal drew with.
    return etree.tostring(root, encoding="utf-8", xml_declaration=True)
