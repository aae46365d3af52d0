"""Chart.js specs for the dashboard's chart data, drawn by one generic script on the page."""


# --- Chart.js specs -------------------------------------------------------------------------
# One generic script on the page draws every spec; clicking a bar or point opens the list
# behind it (`urls`, one per label, per dataset).

ACCENT, GREEN, RED, AMBER, GREY = "#4f5bd5", "#23a15f", "#dc4446", "#e09a16", "#9aa1b0"
OWNER_COLOURS = (AMBER, RED, ACCENT)  # buyer, requester, AP


def trend_specs(trends: dict) -> list[dict]:
    """One small line chart per headline KPI, with its target as a dashed line."""
    specs = []
    for chart in trends["charts"]:
        datasets = [
            {
                "label": chart["label"],
                "data": chart["values"],
                "color": ACCENT,
                "kind": "line",
                "urls": chart["urls"],
            }
        ]
        if chart["target"] is not None:
            datasets.append(
                {
                    "label": "Target",
                    "data": [chart["target"]] * len(trends["labels"]),
                    "color": GREEN,
                    "kind": "line",
                    "dashed": True,
                }
            )
        specs.append(
            {
                "id": f"trend-{chart['key']}",
                "type": "line",
                "labels": trends["labels"],
                "datasets": datasets,
                "unit": chart["unit"],
                "percent": chart["unit"] == "%",
                "legend": False,
            }
        )
    return specs


def pareto_spec(chart_id: str, data: dict) -> dict:
    chart = data["chart"]
    return {
        "id": chart_id,
        "type": "bar",
        "labels": chart["labels"],
        "datasets": [
            {"label": "Exceptions opened", "data": chart["counts"], "color": ACCENT,
             "kind": "bar", "urls": chart["urls"]},
            {"label": "Cumulative share", "data": chart["cumulative"], "color": AMBER,
             "kind": "line", "axis": "y2"},
        ],
        "unit": "",
        "allLabels": True,
        "y2Percent": True,
        "legend": True,
    }  # fmt: skip


def aging_spec(chart_id: str, data: dict) -> dict:
    chart = data["chart"]
    return {
        "id": chart_id,
        "type": "bar",
        "stacked": True,
        "allLabels": True,
        "labels": chart["labels"],
        "datasets": [
            {"label": dataset["label"], "data": dataset["data"], "color": colour, "kind": "bar",
             "urls": chart["urls"]}
            for dataset, colour in zip(chart["datasets"], OWNER_COLOURS, strict=True)
        ],
        "unit": "",
        "legend": True,
    }  # fmt: skip


def discount_spec(chart_id: str, data: dict) -> dict:
    chart = data["chart"]
    return {
        "id": chart_id,
        "type": "bar",
        "stacked": True,
        "labels": chart["labels"],
        "datasets": [
            {"label": f"Taken ({data['currency']})", "data": chart["taken"], "color": GREEN,
             "kind": "bar", "urls": chart["taken_urls"]},
            {"label": f"Missed ({data['currency']})", "data": chart["missed"], "color": RED,
             "kind": "bar", "urls": chart["missed_urls"]},
        ],
        "unit": data["currency"] or "",
        "legend": True,
    }  # fmt: skip


def throughput_spec(chart_id: str, data: dict) -> dict:
    chart = data["chart"]
    return {
        "id": chart_id,
        "type": "bar",
        "labels": chart["labels"],
        "datasets": [
            {"label": "Opened", "data": chart["opened"], "color": AMBER, "kind": "bar",
             "urls": chart["opened_urls"]},
            {"label": "Resolved", "data": chart["resolved"], "color": GREEN, "kind": "bar",
             "urls": chart["resolved_urls"]},
        ],
        "unit": "",
        "legend": True,
    }  # fmt: skip


def resolution_spec(chart_id: str, data: dict) -> dict:
    chart = data["chart"]
    return {
        "id": chart_id,
        "type": "line",
        "labels": chart["labels"],
        "datasets": [
            {"label": dataset["label"], "data": dataset["data"], "color": colour, "kind": "line"}
            for dataset, colour in zip(chart["datasets"], OWNER_COLOURS, strict=True)
        ],
        "unit": "h",
        "legend": True,
    }


def vendors_spec(chart_id: str, rows: list[dict], urls: dict[int, str]) -> dict:
    return {
        "id": chart_id,
        "type": "bar",
        "horizontal": True,
        "labels": [row["name"] for row in rows],
        "datasets": [
            {"label": "Exceptions opened", "data": [row["opened"] for row in rows],
             "color": RED, "kind": "bar", "urls": [urls.get(row["vendor_id"], "") for row in rows]},
        ],
        "unit": "",
        "legend": False,
    }  # fmt: skip
