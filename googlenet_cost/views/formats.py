"""The report's file formats: JSON (its to_dict), CSV and Markdown, from the same columns as the
table (views/columns.py); the Markdown and CSV helpers every view's tables use."""
from __future__ import annotations

import csv
import io

from ..escaping import json_text, printable
from ..report import Report
from .columns import body, columns_of, csv_columns, csv_header, headings, totals_row
from .prose import clock_words, conventions, threads_words
from .table import rows_shown

FORMATS = ("table", "json", "csv", "markdown")


def to_json(report: Report) -> str:
    return json_text(report.to_dict())


def to_csv(report: Report, depth: str = "branches", columns: tuple[str, ...] | None = None) -> str:
    """One row per layer, full names with their parent; the output column says its order in its
    name (output_shape_hwc, as the table shows it, or output_shape for other shapes)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    chosen = csv_columns(report, columns)
    writer.writerow(csv_header(report, chosen))
    writer.writerows(csv_cells([column.value(row) for column in chosen]) for row in rows_shown(report, depth))
    return buffer.getvalue()


def csv_cells(values: list) -> list:
    """A CSV row's values with their text made printable on one line (names come from user files
    and Python modules); numbers as they are."""
    return [printable(value, one_line=True) if isinstance(value, str) else value for value in values]


def markdown_name(cell: str) -> str:
    """Markdown drops leading spaces: show a child's level as arrows ("↳ 3x3", "↳↳ conv")."""
    stripped = cell.lstrip(" ")
    if not stripped.startswith("└ "):
        return cell
    return "↳" * ((len(cell) - len(stripped)) // 2) + " " + stripped[2:]


def markdown_table(headers: list[str], rows: list[list[str]], right: set[int] = frozenset()) -> str:
    """A GitHub-flavoured Markdown table; `right` holds the indexes of right-aligned columns. Every
    cell is one line of plain text: a `|` or a newline in a user's name cannot add a column or a row."""
    lines = ["| " + " | ".join(markdown_cell(h) for h in headers) + " |",
             "|" + "|".join("---:" if i in right else "---" for i in range(len(headers))) + "|"]
    lines += ["| " + " | ".join(markdown_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def markdown_cell(cell: str) -> str:
    """A table cell's text: control characters and newlines escaped (printable), a backslash and a
    `|` escaped for GitHub's table parser, which splits cells on any `|` not escaped by `\\`."""
    return printable(cell, one_line=True).replace("\\", "\\\\").replace("|", "\\|")


def to_markdown(report: Report, depth: str = "branches", columns: tuple[str, ...] | None = None) -> str:
    chosen = columns_of(report, columns)
    rows = [[markdown_name(cell) for cell in cells] for cells in body(rows_shown(report, depth), chosen)]
    rows.append([f"**{cell}**" if cell else "" for cell in totals_row(report, chosen)])
    right = {i for i, column in enumerate(chosen) if column.numeric}  # Markdown aligns numbers only
    headers = headings(report, chosen)
    text = f"### {markdown_cell(report.spec.name)}\n\n" + markdown_table(headers, rows, right)
    text += "\n" + conventions(report) + "\n"
    if report.timed:
        text += "\n" + latency_markdown(report.timed)
    return text


def latency_markdown(items: list) -> str:
    """The latency of each timed batch (Report.timed) as a Markdown table."""
    headers = ["device", "dtype", "batch", "median ms", "IQR ms", "p10 ms", "p90 ms", "p99 ms", "samples/s",
               "TFLOP/s", "iterations"]
    rows = [[s.device, s.dtype, str(s.batch), f"{s.median_ms:.3f}", f"{s.iqr_ms:.3f}", f"{s.p10_ms:.3f}",
             f"{s.p90_ms:.3f}", "" if s.p99_ms is None else f"{s.p99_ms:.3f}", f"{s.throughput_per_s:,.1f}",
             f"{s.tflops:.3f}", str(s.iterations)]
            for s in items]
    text = markdown_table(headers, rows, set(range(2, 11)))
    notes = [clock_words(s) for s in items if s.clock == "on_cpu"][:1]
    if notes:
        text += "\n" + printable(notes[0]) + "\n"
    if items[0].device_type == "cpu":
        threads = f" {threads_words(items[0])}." if items[0].threads_reason else ""
        text = f"CPU timing: no CUDA device was used, so this is NOT GPU latency.{threads}\n\n" + text
    return text


def render(report: Report, fmt: str, depth: str = "branches", columns: tuple[str, ...] | None = None) -> str | None:
    """Text for the file formats; None for "table", which the CLI renders with rich. JSON always
    holds every field; `columns` chooses the columns of CSV and Markdown."""
    if fmt == "json":
        return to_json(report)
    if fmt == "csv":
        return to_csv(report, depth, columns)
    if fmt == "markdown":
        return to_markdown(report, depth, columns)
    return None
