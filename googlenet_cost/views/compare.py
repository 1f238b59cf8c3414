"""Views of a Comparison: one grid of cells, rendered as a rich table, Markdown, CSV or JSON."""
from __future__ import annotations

import csv
import io
from typing import Callable

from ..comparison import Comparison
from ..escaping import json_text, printable
from .report import csv_cells, markdown_table, ms_text


def _ratio(value: float, base: float) -> str:
    if not base:
        return "" if not value else "new"
    return f"{value / base:.2f}x"


def column_label(comparison: Comparison, index: int) -> str:
    """The baseline column is named after its spec: "googlenet (baseline)" (one line, inert: a
    label may be a model's path)."""
    label = comparison.labels[index]
    label = f"{comparison.reports[0].spec.get('name')} (baseline)" if index == 0 and label == "baseline" else label
    return printable(label, one_line=True)


# Variants that change kernels while claiming to keep what each output sees: their table shows
# every variant's receptive field, so the claim can be read off.
FIELD_VARIANTS = ("factorize",)


def _short(value: float) -> str:
    """A total in a ratio column: 872.93M, 1.05G, 57.451 (ms)."""
    from ..quantity import human

    return human(value) if value >= 1000 or float(value).is_integer() else f"{value:,.3f}"


DETAILS = ("full", "macs", "ratios", "lean")  # the compare table, widest first (to_rich picks the first that fits)


def grid(comparison: Comparison, depth: str = "top", variants: list[int] | None = None, *,
         full_names: bool = False, detail: str = "full", repeat_labels: bool = True, module: str | None = None
         ) -> tuple[list[str], list[list[str]]]:
    """Headers and rows: a layer per row, then the totals (MACs and params, bytes moved, the
    roofline bound, a training step's, latency). The baseline once, with its params and MACs
    ("lean": its MACs only); per other variant, by `detail`: its params, MACs and MACs ratio to the
    baseline ("full"), its MACs and ratio ("macs"), or its ratio alone ("ratios", "lean": then the
    totals' ratio cells carry the variant's value too, so every total stays visible). With a
    FIELD_VARIANTS variant, each variant's receptive field. `variants` picks the non-baseline
    variants (all by default). `module` (compare's --module glob) shows only the rows it chose in
    the baseline and, by `depth`, the rows inside them; the totals stay the whole network's."""
    from .report import indented, levels_shown

    keep = [0] + (variants if variants is not None else list(range(1, len(comparison.reports))))
    reports = [comparison.reports[k] for k in keep]
    level = _row_levels(comparison, module)
    levels = levels_shown(depth)
    names: list[str] = []
    for report in reports:  # a row only a variant has goes right after the row before it there
        at = 0
        for row in report.layers:
            shown = level(row.name)
            if shown is None or (levels is not None and shown >= levels):
                continue
            if row.name in names:
                at = names.index(row.name) + 1
            else:
                names.insert(at, row.name)
                at += 1
    by_name = [{row.name: row for row in report.layers} for report in reports]
    fields = any(comparison.labels[k] in FIELD_VARIANTS for k in keep)
    blank = [""] if fields else []
    params_shown = {0: detail != "lean"} | {index: detail == "full" for index in range(1, len(keep))}
    values_shown = {0: True} | {index: detail in ("full", "macs") for index in range(1, len(keep))}
    headers = ["layer"]
    for index, k in enumerate(keep):
        label = column_label(comparison, k)
        group = ([f"{label}\nparams"] if params_shown[index] else []) + \
                ([f"{label}\nMACs"] if values_shown[index] else []) + \
                ([f"{label}\nMACs ratio"] if index else []) + \
                ([f"{label}\nRF"] if fields else [])
        if not repeat_labels:  # a table for people: each variant named once, over its first column
            group = group[:1] + ["\n" + header.split("\n", 1)[1] for header in group[1:]]
        headers += group

    def cells_of(index: int, params: str, value: str, ratio: str, extra: list[str]) -> list[str]:
        return (([params] if params_shown[index] else []) + ([value] if values_shown[index] else [])
                + ([ratio] if index else []) + extra)

    rows = []
    for name in names:
        cells = [name if full_names else indented(name, level(name))]
        base = by_name[0].get(name)
        for index, rows_of in enumerate(by_name):
            row = rows_of.get(name)
            cells += cells_of(index, f"{row.params:,}" if row else "", f"{row.macs:,}" if row else "",
                              _ratio(row.macs, base.macs) if row and base else "",
                              ["x".join(map(str, row.receptive_field)) if row else ""] if fields else [])
        rows.append(cells)
    totals = [("total", lambda r: r.totals.macs, lambda v: f"{v:,}", lambda r: f"{r.totals.params:,}")]
    # (title, value of a report, its cell, its params cell): each total a row, and with ratios only
    # a second row of the variants' values, so that every total stays visible
    if any(not params_shown[index] for index in range(len(keep))):
        totals.append(("total params", lambda r: r.totals.params, lambda v: f"{v:,}", None))
    totals.append(("bytes moved", lambda r: r.totals.bytes, lambda v: f"{v:,}", None))
    if all(report.machine is not None for report in reports):
        totals.append(("roofline bound ms", lambda r: r.totals.bound_ms, ms_text, None))
    if all(report.training for report in reports):
        totals += [("training-step MACs", lambda r: r.training.step_macs, lambda v: f"{v:,}", None),
                   ("training memory (bytes)", lambda r: r.training.train_bytes, lambda v: f"{v:,}", None)]
    ratios_only = not all(values_shown.values())
    for title, value, shown, params in totals:
        cells, values = [title], ["  └ value"]
        for index, report in enumerate(reports):
            ratio = _ratio(value(report), value(reports[0])) if index else ""
            cells += cells_of(index, params(report) if params else "", shown(value(report)), ratio, blank)
            values += cells_of(index, "", "", _short(value(report)), blank)
        rows += [cells, values] if ratios_only else [cells]
    rows += latency_rows(comparison, keep, blank, params_shown, values_shown)
    return headers, rows


def _row_levels(comparison: Comparison, module: str | None) -> Callable[[str], int | None]:
    """A row's level as the table counts it: from the top (0), or with `module` from the row the
    glob chose that holds it; None for a row outside every chosen row."""
    from .report import row_level

    if module is None:
        return row_level
    from ..spec.tree import outermost_matches

    chosen = outermost_matches([row.name for row in comparison.reports[0].layers], module)

    def level(name: str) -> int | None:
        holder = next((row for row in chosen if name == row or name.startswith(row + "/")), None)
        return None if holder is None else row_level(name) - row_level(holder)

    return level


def ratio_cell(entry: dict | None) -> str:
    """'0.85x [0.84-0.86] faster', '0.995x [0.99-1.00] no meaningful difference', or '[0.98-1.03] no
    measurable difference'."""
    if entry is None:
        return ""
    low, high = entry["ci95"]
    if entry["verdict"] == "no measurable difference":
        return f"[{low:.2f}-{high:.2f}] no measurable difference"
    return f"{entry['median']:.2f}x [{low:.2f}-{high:.2f}] {entry['verdict']}"


def compact_ratio_cell(entry: dict | None) -> str:
    """ratio_cell on three short lines, for a narrow table: '0.85x', '[0.84-0.86]', 'faster'."""
    if entry is None:
        return ""
    low, high = entry["ci95"]
    verdict = entry["verdict"]
    for words in ("no measurable ", "no meaningful ", "too few "):
        verdict = verdict.replace(words, words.strip() + "\n")
    return f"{entry['median']:.2f}x\n[{low:.2f}-{high:.2f}]\n{verdict}"


def _by_batch(value) -> list:
    return [] if value is None else value if isinstance(value, list) else [value]


def latency_rows(comparison: Comparison, keep: list[int], blank: list[str] | None = None,
                 params_shown: dict[int, bool] | None = None, values_shown: dict[int, bool] | None = None
                 ) -> list[list[str]]:
    """One row per timed batch: each variant's median (p10-p90) in its value column, and for each
    non-baseline variant its latency ratio with the 95% interval and the verdict; `blank` after
    each variant's cells (the receptive-field column's)."""
    stats = [comparison.reports[k].timed for k in keep]
    ratios = [_by_batch(comparison.summary[k - 1]["latency_ratio"]) for k in keep[1:]]
    params_shown = params_shown or {index: True for index in range(len(keep))}
    values_shown = values_shown or {index: True for index in range(len(keep))}
    rows = []
    for b, base in enumerate(stats[0]):
        narrow = "\n" if not all(values_shown.values()) else " "
        cells = [f"latency ms, batch {base.batch}{narrow}(p10-p90)" if len(stats[0]) > 1 else f"latency ms{narrow}(p10-p90)"]
        for index, by_batch in enumerate(stats):
            s = by_batch[b] if b < len(by_batch) else None
            spread = "\n" if not all(values_shown.values()) else " "  # a narrow table: two short lines
            median = f"{s.median_ms:.3f}{spread}({s.p10_ms:.3f}-{s.p90_ms:.3f})" if s else ""
            cells += [""] if params_shown[index] else []
            cells += [median] if values_shown[index] else []
            if index:
                entry = ratios[index - 1][b] if b < len(ratios[index - 1]) else None
                cells.append(ratio_cell(entry) if values_shown[index] else compact_ratio_cell(entry))
            cells += blank or []
        rows.append(cells)
    return rows


def to_rich(comparison: Comparison, depth: str = "top", width: int | None = None, module: str | None = None) -> list:
    """One side-by-side table, never stacked: the widest of DETAILS that fits `width` (per variant
    its params, MACs and ratio; then its MACs and ratio; then the ratio alone, the totals keeping
    every value), and a legend. Narrower still, the table says how wide it needs to be
    (Rendered.needed_width) and wraps in the terminal rather than cutting a number."""
    from .report import Rendered, rich_table, table_width

    def table(detail: str):
        headers, rows = grid(comparison, depth, detail=detail, repeat_labels=False, module=module)
        styles = ["bold" if cells[0].startswith(("total", "latency", "training", "bytes", "roofline")) else None
                  for cells in rows]
        drawn = rich_table("variants side by side (first columns: the baseline)", headers, rows,
                           right=set(range(1, len(headers))), styles=styles)
        return Rendered(drawn, table_width(headers, rows)), detail

    for detail in DETAILS:
        chosen, chosen_detail = table(detail)
        if width is None or chosen.needed_width <= width or len(comparison.reports) < 2:
            break
    return [chosen, legend(comparison, chosen_detail, module)]


def legend(comparison: Comparison, detail: str, module: str | None = None) -> str:
    """What the columns hold, under the table."""
    text = f"Ratios are a variant's value over the baseline's ({comparison.reports[0].spec.get('name')}); MACs per sample."
    if module is not None:
        text += f" Rows: those inside --module {module}; the totals are the whole network's."
    if detail in ("ratios", "lean"):
        text += (" Narrow terminal: each variant shows its ratios, and its totals' values on the 'value' rows; "
                 "--format markdown or csv has every column.")
    elif detail == "macs":
        text += " Variants' per-layer params are in --format markdown or csv."
    return text


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


def render(comparison: Comparison, fmt: str, depth: str = "top", module: str | None = None) -> str | None:
    """JSON (every row), CSV or Markdown (the rows `depth` and `module` show, as the table)."""
    if fmt == "json":
        return json_text(comparison.to_dict())
    headers, rows = grid(comparison, depth, full_names=fmt == "csv", module=module)
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
