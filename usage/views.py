"""The usage page: exact totals per meter, a chart of the series, and quota bars.

All numbers come from ``usage.selectors``; the chart is inline SVG drawn from its series
(no charting library, nothing fetched, nothing executed).
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from usage import selectors

TOTAL_PERIODS = ("24h", "7d", "30d")
CHART_PERIODS = {"24h": "last 24 hours", "7d": "last 7 days", "30d": "last 30 days"}
CHART_WIDTH, CHART_HEIGHT = 720, 240
PAD_LEFT, PAD_BOTTOM, PAD_TOP = 48, 28, 12


def _chart(points: list[dict], *, granularity: str) -> dict:
    """Bar geometry for one meter's series, in SVG user units."""
    plot_w = CHART_WIDTH - PAD_LEFT - 8
    plot_h = CHART_HEIGHT - PAD_BOTTOM - PAD_TOP
    peak = max((p["value"] for p in points), default=0) or 1
    step = plot_w / max(len(points), 1)
    fmt = "%Y-%m-%d" if granularity == "day" else "%Y-%m-%d %H:%M"
    bars = []
    for i, point in enumerate(points):
        height = plot_h * point["value"] / peak
        bars.append(
            {
                "x": round(PAD_LEFT + i * step + step * 0.1, 2),
                "y": round(PAD_TOP + plot_h - height, 2),
                "width": round(max(step * 0.8, 1), 2),
                "height": round(height, 2),
                "label": f"{point['start'].strftime(fmt)} UTC: {point['value']}",
            }
        )
    ticks = []
    if points:
        last = len(points) - 1
        for i in sorted({0, len(points) // 2, last}):
            ticks.append(
                {
                    "x": round(PAD_LEFT + i * step + step / 2, 2),
                    "anchor": "start" if i == 0 else "end" if i == last else "middle",
                    "text": points[i]["start"].strftime(
                        "%m-%d" if granularity == "day" else "%m-%d %H:00"
                    ),
                }
            )
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "bars": bars,
        "ticks": ticks,
        "peak": peak,
        "axis_x": PAD_LEFT,
        "axis_y": PAD_TOP + plot_h,
        "top": PAD_TOP,
        "right": CHART_WIDTH - 8,
        "label_y": CHART_HEIGHT - 8,
    }


@login_required
def usage_overview(request: HttpRequest) -> HttpResponse:
    period = request.GET.get("period", "24h")
    if period not in CHART_PERIODS:
        period = "24h"
    meters = list(selectors.meter_list())
    by_key = {m.key: m for m in meters}

    totals_by_period = {
        p: selectors.usage_totals(user=request.user, period=p) for p in TOTAL_PERIODS
    }
    stats = selectors.usage_stats(user=request.user, period=period)
    shown_keys = list(stats["totals"])
    rows = [
        {
            "meter": by_key.get(key),
            "key": key,
            "values": [totals_by_period[p].get(key, 0) for p in TOTAL_PERIODS],
        }
        for key in shown_keys
    ]
    chosen = request.GET.get("meter")
    if chosen not in shown_keys:
        # The busiest meter of the period is the most useful default.
        chosen = max(shown_keys, key=lambda k: stats["totals"][k], default=None)
    chart = None
    if chosen:
        points = [p for p in stats["series"] if p["meter"] == chosen]
        chart = _chart(points, granularity=stats["granularity"])
        chart["meter"] = by_key.get(chosen)
        chart["key"] = chosen
        chart["total"] = stats["totals"][chosen]
    quotas = []
    for q in selectors.usage_quota(user=request.user):
        limit = q["limit"] or 0
        quotas.append(
            {
                **q,
                "meter_obj": by_key.get(q["meter"]),
                "percent": min(100, round(100 * q["used"] / limit)) if limit else 100,
            }
        )
    context = {
        "periods": TOTAL_PERIODS,
        "rows": rows,
        "chart": chart,
        "chart_period": period,
        "chart_periods": CHART_PERIODS,
        "chart_period_label": CHART_PERIODS[period],
        "meter_keys": shown_keys,
        "quotas": quotas,
        "stats": stats,
    }
    return render(request, "roster/usage.html", context)
