"""Views of a Comparison: one grid of cells, rendered as a rich table, Markdown, CSV or JSON."""
from __future__ import annotations

import csv
import io
from typing import Callable

from ..comparison import Comparison, LatencyRatio
from ..escaping import json_text, printable
from ..timing.paired import SAME
from .compare_text import summary_text, variant_sentence
from .cells import indented, levels_shown, ms_text, row_level
from .formats import csv_cells, markdown_name, markdown_table


def _ratio(value: float, base: float) -> str:
    if not base:
        return "" if not value else "new"
    return f"{value / base:.2f}x"


def column_label(comparison: Comparison, index: int) -> str:
    """The baseline column is named after its spec: "googlenet (baseline)" (one line, inert: a
    label may be a model's path)."""
    label = comparison.labels[index]
    label = f"{comparison.reports[0].spec.name} (baseline)" if index == 0 and label == "baseline" else label
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
    paths = reduce_paths([row.name for report in reports for row in report.layers])
    for name in names:
        cells = [name if full_names else indented(name, level(name))]
        base = by_name[0].get(name)
        for index, rows_of in enumerate(by_name):
            row = rows_of.get(name)
            cells += cells_of(index, f"{row.params:,}" if row else "", f"{row.macs:,}" if row else "",
                              _ratio(row.macs, base.macs) if row and base else "",
                              ["x".join(map(str, row.receptive_field)) if row else ""] if fields else [])
        rows.append(cells)
        if name in paths:
            rows.append(path_cells(paths[name], by_name, full_names, level(name), cells_of, blank))
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


PATH = " path"  # a reduce conv and the conv it feeds, shown as one row after the conv


def reduce_paths(names: list[str]) -> dict[str, tuple[str, str]]:
    """The paper's paths: for each conv "P/X" with a sibling "P/X_reduce" in any variant, the pair
    (reduce, conv), keyed by the conv's row. A variant that removed the reduce still has the path:
    its conv alone."""
    present = set(names)
    return {name.removesuffix("_reduce"): (name, name.removesuffix("_reduce")) for name in names
            if name.endswith("_reduce") and name.removesuffix("_reduce") in present}


def path_cells(path: tuple[str, str], by_name: list[dict], full_names: bool, shown_level: int,
               cells_of: Callable, blank: list[str]) -> list[str]:
    """One path's row: each variant's params and MACs summed over the path's rows it has, and the
    ratio to the baseline's path (the 5x5 path without its reduce: 120,422,400 / 12,443,648 = 9.68x)."""
    reduce, conv = path
    name = f"{conv}{PATH} ({reduce.rsplit('/', 1)[-1]} + {conv.rsplit('/', 1)[-1]})"
    cells = [name if full_names else indented(name, shown_level)]
    sums = [(sum(rows[n].params for n in path if n in rows), sum(rows[n].macs for n in path if n in rows))
            for rows in by_name]
    for index, (params, macs) in enumerate(sums):
        cells += cells_of(index, f"{params:,}", f"{macs:,}", _ratio(macs, sums[0][1]) if index else "", blank)
    return cells


def _row_levels(comparison: Comparison, module: str | None) -> Callable[[str], int | None]:
    """A row's level as the table counts it: from the top (0), or with `module` from the row the
    glob chose that holds it; None for a row outside every chosen row."""
    if module is None:
        return row_level
    from ..spec.tree import outermost_matches

    chosen = outermost_matches([row.name for row in comparison.reports[0].layers], module)

    def level(name: str) -> int | None:
        holder = next((row for row in chosen if name == row or name.startswith(row + "/")), None)
        return None if holder is None else row_level(name) - row_level(holder)

    return level


def ratio_cell(ratio: LatencyRatio | None) -> str:
    """'0.85x [0.84-0.86] faster', '0.995x [0.99-1.00] no meaningful difference', '[0.98-1.03] no
    measurable difference', or a withheld verdict alone ('too few rounds': no number is shown)."""
    if ratio is None:
        return ""
    estimate = ratio.estimate
    if not estimate.reliable:
        return estimate.verdict
    low, high = estimate.ci95
    if estimate.verdict == SAME:
        return f"[{low:.2f}-{high:.2f}] {SAME}"
    return f"{estimate.median:.2f}x [{low:.2f}-{high:.2f}] {estimate.verdict}"


def compact_ratio_cell(ratio: LatencyRatio | None) -> str:
    """ratio_cell on three short lines, for a narrow table: '0.85x', '[0.84-0.86]', 'faster'."""
    if ratio is None:
        return ""
    estimate = ratio.estimate
    verdict = estimate.verdict
    for words in ("no measurable ", "no meaningful ", "too few ", "unstable "):
        verdict = verdict.replace(words, words.strip() + "\n")
    if not estimate.reliable:
        return verdict
    low, high = estimate.ci95
    return f"{estimate.median:.2f}x\n[{low:.2f}-{high:.2f}]\n{verdict}"


def latency_rows(comparison: Comparison, keep: list[int], blank: list[str] | None = None,
                 params_shown: dict[int, bool] | None = None, values_shown: dict[int, bool] | None = None
                 ) -> list[list[str]]:
    """One row per timed batch: each variant's median (p10-p90) in its value column, and for each
    non-baseline variant its latency ratio with the 95% interval and the verdict; `blank` after
    each variant's cells (the receptive-field column's)."""
    stats = [comparison.reports[k].timed for k in keep]
    ratios = [comparison.summary[k - 1].latency for k in keep[1:]]
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
    from .fit import Layout, fit

    def layouts():
        for detail in DETAILS if len(comparison.reports) > 1 else DETAILS[:1]:
            headers, rows = grid(comparison, depth, detail=detail, repeat_labels=False, module=module)
            styles = ["bold" if cells[0].startswith(("total", "latency", "training", "bytes", "roofline")) else None
                      for cells in rows]
            yield Layout("variants side by side (first columns: the baseline)", headers, rows,
                         set(range(1, len(headers))), styles=styles, name=detail)

    table = fit(layouts(), width)
    paths = any(PATH + " (" in cells[0] for cells in table.layout.rows)
    return [table, legend(comparison, table.layout.name, module, paths)]


def legend(comparison: Comparison, detail: str, module: str | None = None, paths: bool = False) -> str:
    """What the columns hold, under the table."""
    text = f"Ratios are a variant's value over the baseline's ({comparison.reports[0].spec.name}); MACs per sample."
    if module is not None:
        text += f" Rows: those inside --module {module}; the totals are the whole network's."
    if paths:
        text += " A path row sums a reduce conv and the conv it feeds (a variant without the reduce: the conv alone)."
    if detail in ("ratios", "lean"):
        text += (" Narrow terminal: each variant shows its ratios, and its totals' values on the 'value' rows; "
                 "--format markdown or csv has every column.")
    elif detail == "macs":
        text += " Variants' per-layer params are in --format markdown or csv."
    return text


def to_json(comparison: Comparison) -> str:
    """The JSON contract: the comparison's data, each summary entry with its sentence ("text")."""
    data = comparison.to_dict()
    for index, entry in enumerate(data["summary"], start=1):
        entry["text"] = variant_sentence(comparison, index)
    return json_text(data)


def render(comparison: Comparison, fmt: str, depth: str = "top", module: str | None = None) -> str | None:
    """JSON (every row), CSV or Markdown (the rows `depth` and `module` show, as the table)."""
    if fmt == "json":
        return to_json(comparison)
    headers, rows = grid(comparison, depth, full_names=fmt == "csv", module=module)
    headers = [header.replace("\n", " ") for header in headers]
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(csv_cells(headers))
        writer.writerows(csv_cells(row) for row in rows)
        return buffer.getvalue()
    if fmt == "markdown":
        body = markdown_table(headers, [[markdown_name(r[0]), *r[1:]] for r in rows], set(range(1, len(headers))))
        return body + "\n" + printable(summary_text(comparison)) + "\n"
    return None
