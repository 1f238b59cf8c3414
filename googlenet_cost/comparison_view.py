"""Views of a Comparison: one grid of cells, rendered as a rich table, Markdown, CSV or JSON."""
from __future__ import annotations

import csv
import io
import json

from .comparison import Comparison
from .formatters import markdown_table


def _ratio(value: float, base: float) -> str:
    if not base:
        return "" if not value else "new"
    return f"{value / base:.2f}x"


def grid(comparison: Comparison, depth: str = "top") -> tuple[list[str], list[list[str]]]:
    """Headers and rows: a layer per row, then totals and latency; per variant params and MACs,
    and for each non-baseline variant its MACs as a ratio of the baseline's."""
    labels, reports = comparison.labels, comparison.reports
    names: list[str] = []
    for report in reports:
        for row in report.layers:
            if (depth == "branches" or row.parent is None) and row.name not in names:
                names.append(row.name)
    by_name = [{row.name: row for row in report.layers} for report in reports]
    headers = ["layer"]
    for index, label in enumerate(labels):
        headers += [f"{label} params", f"{label} MACs"] + ([f"{label} MACs ratio"] if index else [])
    rows = []
    for name in names:
        cells = ["  └ " + name.split("/", 1)[1] if "/" in name else name]
        base = by_name[0].get(name)
        for index, rows_of in enumerate(by_name):
            row = rows_of.get(name)
            cells += [f"{row.params:,}" if row else "", f"{row.macs:,}" if row else ""]
            if index:
                cells.append(_ratio(row.macs, base.macs) if row and base else "")
        rows.append(cells)
    total = ["total"]
    for index, report in enumerate(reports):
        total += [f"{report.totals.params:,}", f"{report.totals.macs:,}"]
        if index:
            total.append(_ratio(report.totals.macs, reports[0].totals.macs))
    rows.append(total)
    if any(r.latency is not None for r in reports):
        latency = ["latency ms (p10-p90)"]
        for index, report in enumerate(reports):
            s = report.latency
            latency += ["", f"{s.median_ms:.3f} ({s.p10_ms:.3f}-{s.p90_ms:.3f})" if s else ""]
            if index:
                latency.append(_ratio(s.median_ms, reports[0].latency.median_ms) if s else "")
        rows.append(latency)
    return headers, rows


def to_rich(comparison: Comparison, depth: str = "top"):
    from .formatters import rich_table

    headers, rows = grid(comparison, depth)
    styles = ["bold" if cells[0] == "total" or cells[0].startswith("latency") else None for cells in rows]
    return rich_table("variants side by side (first column: baseline)", headers, rows,
                      right=set(range(1, len(headers))), styles=styles)


def summary_text(comparison: Comparison) -> str:
    return "\n".join(line["text"] for line in comparison.summary)


def render(comparison: Comparison, fmt: str, depth: str = "top") -> str | None:
    if fmt == "json":
        return json.dumps(comparison.to_dict(), indent=2) + "\n"
    headers, rows = grid(comparison, depth)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(headers)
        writer.writerows([[c.replace("  └ ", "") for c in row] for row in rows])
        return buffer.getvalue()
    if fmt == "markdown":
        body = markdown_table(headers, [[c.replace("  └ ", "↳ ") for c in r] for r in rows],
                              set(range(1, len(headers))))
        return body + "\n" + summary_text(comparison) + "\n"
    return None


def plot_backend(path: str):
    """matplotlib's pyplot on a file-only backend, or a GcostError saying what is missing. Called
    before any analysis, so a bad --plot fails fast."""
    from .errors import GcostError

    if not path.lower().endswith((".png", ".svg")):
        raise GcostError("--plot needs a .png or .svg file name", file=path)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise GcostError("--plot needs matplotlib: pip install 'gcost[plot]'") from None
    return plt


def plot(comparison: Comparison, path: str) -> None:
    """Bars of params, MACs and latency per variant (matplotlib, the optional `plot` extra)."""
    plt = plot_backend(path)
    metrics = [("params (M)", [r.totals.params / 1e6 for r in comparison.reports]),
               ("MACs (G)", [r.totals.macs / 1e9 for r in comparison.reports])]
    if all(r.latency is not None for r in comparison.reports):
        metrics.append(("latency (ms)", [r.latency.median_ms for r in comparison.reports]))
    figure, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3.5), squeeze=False)
    for axis, (title, values) in zip(axes[0], metrics):
        axis.bar(comparison.labels, values, color="#4c72b0")
        axis.set_title(title)
        axis.tick_params(axis="x", rotation=45)
    figure.tight_layout()
    from .files import atomic_write_bytes

    buffer = io.BytesIO()
    figure.savefig(buffer, format=path.lower().rsplit(".", 1)[1])
    plt.close(figure)
    atomic_write_bytes(path, buffer.getvalue())
