"""Views of a Comparison: one grid of cells, rendered as a rich table, Markdown, CSV or JSON."""
from __future__ import annotations

import csv
import io
import json

from ..comparison import Comparison
from .report import csv_cells, markdown_table, printable


def _ratio(value: float, base: float) -> str:
    if not base:
        return "" if not value else "new"
    return f"{value / base:.2f}x"


def column_label(comparison: Comparison, index: int) -> str:
    """The baseline column is named after its spec: "googlenet (baseline)"."""
    label = comparison.labels[index]
    return f"{comparison.reports[0].spec.get('name')} (baseline)" if index == 0 and label == "baseline" else label


# Variants that change kernels while claiming to keep what each output sees: their table shows
# every variant's receptive field, so the claim can be read off.
FIELD_VARIANTS = ("factorize",)


def grid(comparison: Comparison, depth: str = "top", variants: list[int] | None = None, *,
         full_names: bool = False) -> tuple[list[str], list[list[str]]]:
    """Headers and rows: a layer per row, then totals and latency; per variant params and MACs,
    and for each non-baseline variant its MACs as a ratio of the baseline's (and with a
    FIELD_VARIANTS variant, each variant's receptive field). `variants` picks the non-baseline
    variants to show (all by default)."""
    from .report import indented, levels_shown, row_level

    keep = [0] + (variants if variants is not None else list(range(1, len(comparison.reports))))
    reports = [comparison.reports[k] for k in keep]
    levels = levels_shown(depth)
    names: list[str] = []
    for report in reports:  # a row only a variant has goes right after the row before it there
        at = 0
        for row in report.layers:
            if levels is not None and row_level(row.name) >= levels:
                continue
            if row.name in names:
                at = names.index(row.name) + 1
            else:
                names.insert(at, row.name)
                at += 1
    by_name = [{row.name: row for row in report.layers} for report in reports]
    fields = any(comparison.labels[k] in FIELD_VARIANTS for k in keep)
    headers = ["layer"]
    for index, k in enumerate(keep):
        label = column_label(comparison, k)
        headers += ([f"{label}\nparams", f"{label}\nMACs"] + ([f"{label}\nMACs ratio"] if index else [])
                    + ([f"{label}\nRF"] if fields else []))
    rows = []
    for name in names:
        cells = [name if full_names else indented(name)]
        base = by_name[0].get(name)
        for index, rows_of in enumerate(by_name):
            row = rows_of.get(name)
            cells += [f"{row.params:,}" if row else "", f"{row.macs:,}" if row else ""]
            if index:
                cells.append(_ratio(row.macs, base.macs) if row and base else "")
            if fields:
                cells.append("x".join(map(str, row.receptive_field)) if row else "")
        rows.append(cells)
    blank = [""] if fields else []
    total = ["total"]
    for index, report in enumerate(reports):
        total += [f"{report.totals.params:,}", f"{report.totals.macs:,}"]
        if index:
            total.append(_ratio(report.totals.macs, reports[0].totals.macs))
        total += blank
    rows.append(total)
    totals = [("bytes moved", lambda r: r.totals.bytes, lambda v: f"{v:,}")]
    if all(report.machine is not None for report in reports):
        totals.append(("roofline bound ms", lambda r: r.totals.bound_ms, lambda v: f"{v:,.3f}"))
    if all(report.training for report in reports):
        totals += [("training-step MACs", lambda r: r.training.step_macs, lambda v: f"{v:,}"),
                   ("training memory (bytes)", lambda r: r.training.train_bytes, lambda v: f"{v:,}")]
    for title, value, shown in totals:
        cells = [title]
        for index, report in enumerate(reports):
            cells += ["", shown(value(report))]
            if index:
                cells.append(_ratio(value(report), value(reports[0])))
            cells += blank
        rows.append(cells)
    rows += latency_rows(comparison, keep, blank)
    return headers, rows


def ratio_cell(entry: dict | None) -> str:
    """'0.85x [0.84-0.86] faster', '0.995x [0.99-1.00] no meaningful difference', or '[0.98-1.03] no
    measurable difference'."""
    if entry is None:
        return ""
    low, high = entry["ci95"]
    if entry["verdict"] == "no measurable difference":
        return f"[{low:.2f}-{high:.2f}] no measurable difference"
    return f"{entry['median']:.2f}x [{low:.2f}-{high:.2f}] {entry['verdict']}"


def _by_batch(value) -> list:
    return [] if value is None else value if isinstance(value, list) else [value]


def latency_rows(comparison: Comparison, keep: list[int], blank: list[str] | None = None) -> list[list[str]]:
    """One row per timed batch: each variant's median (p10-p90), and for each non-baseline
    variant its latency ratio with the 95% interval and the verdict; `blank` after each variant's
    cells (the receptive-field column's)."""
    stats = [comparison.reports[k].timed for k in keep]
    ratios = [_by_batch(comparison.summary[k - 1]["latency_ratio"]) for k in keep[1:]]
    rows = []
    for b, base in enumerate(stats[0]):
        cells = [f"latency ms, batch {base.batch} (p10-p90)" if len(stats[0]) > 1 else "latency ms (p10-p90)"]
        for index, by_batch in enumerate(stats):
            s = by_batch[b] if b < len(by_batch) else None
            cells += ["", f"{s.median_ms:.3f} ({s.p10_ms:.3f}-{s.p90_ms:.3f})" if s else ""]
            if index:
                cells.append(ratio_cell(ratios[index - 1][b] if b < len(ratios[index - 1]) else None))
            cells += blank or []
        rows.append(cells)
    return rows


def to_rich(comparison: Comparison, depth: str = "top", width: int | None = None) -> list:
    """The side-by-side table; when it is wider than `width`, one block per variant against the
    baseline instead (stacked), so that no name or number is ever cut."""
    from .report import Rendered, rich_table, table_width

    def table(title: str, variants: list[int] | None):
        headers, rows = grid(comparison, depth, variants)
        styles = ["bold" if cells[0] == "total" or cells[0].startswith(("latency", "training", "bytes", "roofline"))
                  else None
                  for cells in rows]
        drawn = rich_table(title, headers, rows, right=set(range(1, len(headers))), styles=styles)
        return Rendered(drawn, table_width(headers, rows))

    whole = table("variants side by side (first column: baseline)", None)
    if width is None or whole.needed_width <= width or len(comparison.reports) < 3:
        return [whole]
    return [table(f"{column_label(comparison, k)} against the baseline", [k]) for k in range(1, len(comparison.reports))]


def summary_text(comparison: Comparison) -> str:
    lines = [line["text"] for line in comparison.summary]
    for run in comparison.timing:
        widths = [(r["ci95"][1] - r["ci95"][0]) / 2 / r["median"] for line in comparison.summary
                  for r in _by_batch(line["latency_ratio"]) if r["batch"] == run["batch"] and r["median"] > 0]
        wide = any(width > run["precision"] for width in widths)
        why = {"precision": f"every interval within ±{run['precision']:.0%}",
               "max_time": f"the time limit ({run['max_time_s']:g} s"
                           + (f"; intervals wider than ±{run['precision']:.0%} remain: raise --max-time for a "
                              "sharper answer)" if wide else ")"),
               "max_rounds": "the round limit"}[run["stopped_by"]]
        lines.append(f"latency at batch {run['batch']}: {run['rounds']} interleaved rounds in "
                     f"{run['elapsed_s']:.1f} s, stopped by {why}; ratios are medians with paired-bootstrap "
                     "95% intervals")
    return "\n".join(lines)


def render(comparison: Comparison, fmt: str, depth: str = "top") -> str | None:
    if fmt == "json":
        return json.dumps(comparison.to_dict(), indent=2) + "\n"
    headers, rows = grid(comparison, depth, full_names=fmt == "csv")
    headers = [header.replace("\n", " ") for header in headers]
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(csv_cells(headers))
        writer.writerows(csv_cells(row) for row in rows)
        return buffer.getvalue()
    if fmt == "markdown":
        from .report import markdown_name

        body = markdown_table(headers, [[markdown_name(r[0]), *r[1:]] for r in rows], set(range(1, len(headers))))
        return body + "\n" + printable(summary_text(comparison)) + "\n"
    return None


def _latency_panel(comparison: Comparison):
    """(title, ratios, (below, above) error lengths) of the first timed batch, or None."""
    stats = [report.timed for report in comparison.reports]
    if not all(stats):
        return None
    entries = [_by_batch(line["latency_ratio"])[0] for line in comparison.summary]
    values = [1.0] + [e["median"] for e in entries]
    below = [0.0] + [e["median"] - e["ci95"][0] for e in entries]
    above = [0.0] + [e["ci95"][1] - e["median"] for e in entries]
    texts = ["1.00x"] + [f"{e['median']:.2f}x" + ("" if e["verdict"] in ("faster", "slower") else f"\n{e['verdict']}")
                         for e in entries]
    first = stats[0][0]
    where = "CPU timing (not GPU latency)" if first.device_type == "cpu" else first.device
    return (f"latency / baseline, 95% CI\nbatch {first.batch} {first.dtype}, {where}", values, (below, above), texts)


def figure_title(comparison: Comparison) -> str:
    """Spec, and where the latency was measured: "googlenet: what each variant costs (CPU timing,
    fp32, batch 1)"."""
    name = comparison.reports[0].spec.get("name")
    first = comparison.reports[0].timed
    if not first:
        return f"{name}: what each variant costs (counts only)"
    s = first[0]
    where = f"CPU timing on {s.device}" if s.device_type == "cpu" else f"GPU timing on {s.device}"
    return f"{name}: what each variant costs ({where}, {s.dtype}, batch {s.batch})"


def build_figure(comparison: Comparison):
    """Params, MACs and the latency ratio with its 95% interval per variant (values printed on
    the bars), and latency against MACs (does MACs predict time?). 1200x800 pixels at 100 dpi."""
    import matplotlib.pyplot as plt

    labels = [column_label(comparison, k).replace(" (baseline)", "\n(baseline)") for k in range(len(comparison.labels))]
    latency = _latency_panel(comparison)
    figure, axes = plt.subplots(2, 2, figsize=(12, 8), dpi=100) if latency else plt.subplots(1, 2, figsize=(12, 8),
                                                                                              dpi=100)
    axes = list(getattr(axes, "flat", axes))
    bars = [("params (millions)", [r.totals.params / 1e6 for r in comparison.reports], None, "{:,.2f}"),
            ("MACs per sample (billions)", [r.totals.macs / 1e9 for r in comparison.reports], None, "{:,.3f}")]
    if latency:
        bars.append((latency[0], latency[1], latency[2], latency[3]))
    for axis, (title, values, errors, fmt) in zip(axes, bars):
        drawn = axis.bar(labels, values, color="#4c72b0", yerr=errors, capsize=6 if errors else 0)
        texts = [fmt.format(v) for v in values] if isinstance(fmt, str) else fmt  # the latency's carry its verdict
        axis.bar_label(drawn, labels=texts, padding=3, fontsize=9)
        if errors:
            axis.axhline(1.0, color="#888888", linewidth=1, linestyle="--")
        axis.set_title(title, fontsize=11)
        axis.tick_params(axis="x", rotation=30, labelsize=9)
        axis.margins(y=0.15)
    if latency:
        _latency_scatter(axes[3], comparison, labels)
    figure.suptitle(figure_title(comparison), fontsize=13)
    figure.tight_layout()
    return figure


def _latency_scatter(axis, comparison: Comparison, labels: list[str]) -> None:
    macs = [r.totals.macs / 1e9 for r in comparison.reports]
    medians = [r.timed[0].median_ms for r in comparison.reports]
    axis.scatter(macs, medians, color="#dd8452", zorder=3)
    for x, y, label in zip(macs, medians, labels):
        axis.annotate(label.replace("\n", " "), (x, y), textcoords="offset points", xytext=(5, 5), fontsize=9)
    axis.set_xlabel("MACs per sample (billions)")
    axis.set_ylabel("median latency (ms, interleaved)")
    axis.set_title("does MACs predict latency?", fontsize=11)
    axis.grid(True, alpha=0.3)
    axis.margins(x=0.2, y=0.1)  # room for the labels of the outermost points


def plot(comparison: Comparison, path: str) -> None:
    """The figure, written atomically (matplotlib, the optional `plot` extra)."""
    from .plots import plot_backend, save_figure

    plot_backend(path)
    save_figure(build_figure(comparison), path)
