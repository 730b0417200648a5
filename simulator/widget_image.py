"""What CloudWatch's GetMetricWidgetImage draws, for the embedded emulator (moto has no such operation): a metric
widget's lines as a PNG of the widget's size, in CloudWatch's style (title top left, legend below, horizontal
annotations as dashed lines, the y axis of the widget's `yAxis.left`).

Only the simulator renders images (matplotlib, a development dependency); the Lambda code receives the PNG bytes
from CloudWatch. `simulator/emulator.py` turns the widget's metrics into `WidgetLine`s (PATCH 15).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

DEFAULT_WIDTH, DEFAULT_HEIGHT = 600, 395  # CloudWatch's defaults
MAX_SIZE = 2000
_DEFAULT_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


@dataclass(frozen=True)
class WidgetLine:
    label: str
    timestamps: tuple[datetime, ...]
    values: tuple[float, ...]
    colour: str | None = None


def render_png(widget: dict, lines: Sequence[WidgetLine], start: datetime, end: datetime) -> bytes:
    # Imported here: only a scenario that asks for a graph pays for matplotlib (about half a second).
    from matplotlib import dates  # noqa: PLC0415
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    width = min(int(widget.get("width", DEFAULT_WIDTH)), MAX_SIZE)
    height = min(int(widget.get("height", DEFAULT_HEIGHT)), MAX_SIZE)
    figure = Figure(figsize=(width / 100, height / 100), dpi=100, facecolor="white")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for index, line in enumerate(lines):
        axes.plot(
            line.timestamps,
            line.values,
            label=line.label,
            color=line.colour or _DEFAULT_COLOURS[index % len(_DEFAULT_COLOURS)],
            linewidth=1.6,
        )
    for annotation in widget.get("annotations", {}).get("horizontal", []):
        colour = annotation.get("color", "#d62728")
        axes.axhline(annotation["value"], color=colour, linestyle="--", linewidth=1.2)
        if annotation.get("label"):
            axes.annotate(
                annotation["label"],
                (1.0, annotation["value"]),
                xycoords=("axes fraction", "data"),
                xytext=(-4, 3),
                textcoords="offset points",
                ha="right",
                va="bottom",
                fontsize=8,
                color=colour,
            )
    if not any(line.values for line in lines):
        axes.text(0.5, 0.5, "No data available.", transform=axes.transAxes, ha="center", va="center", color="#6b7280")
    left = widget.get("yAxis", {}).get("left", {})
    bottom, top = left.get("min"), left.get("max")
    if bottom is not None or top is not None:
        axes.set_ylim(bottom=bottom, top=top)
    if left.get("label"):
        axes.set_ylabel(left["label"], fontsize=9, color="#374151")
    axes.set_xlim(start, end)
    locator = dates.AutoDateLocator(minticks=4, maxticks=10)
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator))
    axes.tick_params(labelsize=8, colors="#374151")
    axes.grid(True, color="#e5e7eb", linewidth=0.8)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        axes.spines[side].set_color("#9ca3af")
    if widget.get("title"):
        axes.set_title(widget["title"], loc="left", fontsize=11, color="#111827", pad=10)
    if lines and widget.get("legend", {}).get("position", "bottom") != "hidden":
        figure.legend(
            loc="lower center", ncol=min(len(lines), 5), frameon=False, fontsize=8, handlelength=1.6, borderaxespad=0.3
        )
    figure.tight_layout(rect=(0, 0.08 if lines else 0, 1, 1))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()
