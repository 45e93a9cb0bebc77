"""Chart geometry for the report pages: the usage page's inline SVG bars, reused.

A figure over time is drawn by ``usage.views._chart`` itself, from its daily series; the
figures of the present state (slots by status) are drawn as labelled bars in the same
geometry, so one template draws both.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from usage import views as usage_views


def series_chart(figure: dict[str, Any]) -> dict[str, Any] | None:
    series = figure.get("series")
    if not series:
        return None
    points = [
        {
            "start": datetime.fromisoformat(p["date"]).replace(tzinfo=UTC),
            "value": Decimal(str(p["value"])),
        }
        for p in series
    ]
    return usage_views._chart(points, granularity="day")


def bars_chart(items: list[tuple[str, int | float]]) -> dict[str, Any]:
    """Labelled bars (one per item) in the usage chart's geometry."""
    width, height = usage_views.CHART_WIDTH, usage_views.CHART_HEIGHT
    left, bottom, top = usage_views.PAD_LEFT, usage_views.PAD_BOTTOM, usage_views.PAD_TOP
    plot_w, plot_h = width - left - 8, height - bottom - top
    peak = max((value for _, value in items), default=0) or 1
    step = plot_w / max(len(items), 1)
    bars, ticks = [], []
    for i, (label, value) in enumerate(items):
        bar_height = plot_h * value / peak
        bars.append(
            {
                "x": round(left + i * step + step * 0.1, 2),
                "y": round(top + plot_h - bar_height, 2),
                "width": round(max(step * 0.8, 1), 2),
                "height": round(bar_height, 2),
                "label": f"{label}: {value}",
            }
        )
        ticks.append({"x": round(left + i * step + step / 2, 2), "anchor": "middle", "text": label})
    return {
        "width": width,
        "height": height,
        "bars": bars,
        "ticks": ticks,
        "peak": peak,
        "axis_x": left,
        "axis_y": top + plot_h,
        "top": top,
        "right": width - 8,
        "label_y": height - 8,
    }


def charts_for(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One chart per figure (slots' statuses together), each with its caption."""
    charts: list[dict[str, Any]] = []
    slots: list[tuple[str, int | float]] = []
    for figure in result.get("figures", []):
        key = figure["key"]
        if key.startswith("slots."):
            slots.append((key.removeprefix("slots."), figure["value"]))
            continue
        chart = series_chart(figure)
        if chart is None:
            if figure["key"] == "mfa_coverage":
                with_mfa = figure.get("numerator") or 0
                without = (figure.get("denominator") or 0) - with_mfa
                chart = bars_chart([("with MFA", with_mfa), ("without", without)])
            elif figure["key"] == "seats":
                chart = bars_chart(
                    [("used", figure["value"])]
                    + ([("limit", figure["limit"])] if figure.get("limit") is not None else [])
                )
            else:
                chart = bars_chart([(figure["label"], figure["value"] or 0)])
        charts.append({"figure": figure, "chart": chart})
    if slots:
        charts.append(
            {
                "figure": {
                    "key": "slots",
                    "label": "Slots by status",
                    "value": sum(v for _, v in slots),
                    "unit": "",
                },
                "chart": bars_chart(slots),
            }
        )
    return charts
