"""The report's terminal table (gcost analyze, print(report)): its rows by --depth, its columns
(views/columns.py) fitted to the terminal (views/fit.py)."""
from __future__ import annotations

from typing import Iterator

from ..report import LayerRow, Report
from .cells import levels_shown, row_level
from .columns import Column, body, columns_of, headings, totals_row
from .fit import Layout, Rendered, fit
from .prose import conventions


def rows_shown(report: Report, depth: str) -> list[LayerRow]:
    """The rows --depth shows."""
    levels = levels_shown(depth)
    return [row for row in report.layers if levels is None or row_level(row.name) < levels]


# rich renders a table at roughly 2,000 rows a second; past this many rows the terminal table
# shows top-level rows unless --depth says otherwise (the file formats always keep every row).
TABLE_MAX_ROWS = 2_000


ROWS_REMEDY = "--depth branches shows them all, --format csv or json writes them all."


def table_depth(report: Report, depth: str | None, remedy: str = ROWS_REMEDY) -> tuple[str, str | None]:
    """The depth the table is drawn at (`depth` when given) and, when rows were left out by
    default, a line saying so and what shows them (`remedy`: the CLI's flags, or the API's calls)."""
    if depth is not None or len(report.layers) <= TABLE_MAX_ROWS:
        return depth or "branches", None
    top = len(rows_shown(report, "top"))
    return "top", f"Showing the {top:,} top-level rows of {len(report.layers):,}: {remedy}"


COLUMNS_REMEDY = ("--columns chooses columns (e.g. --columns name,type,output,params,macs,rf); --format markdown or "
                  "csv has them all.")


def to_rich_table(report: Report, depth: str = "branches", *, width: int | None = None,
                  columns: tuple[str, ...] | None = None, remedy: str = COLUMNS_REMEDY) -> tuple[Rendered, str | None]:
    """The table, and a note when columns were left out to fit `width` (those with a Column.drop,
    in its order; never when `columns` were chosen). A table that still needs more than `width`
    says so (Rendered.needed_width): printed at that width it wraps in the terminal instead of
    cutting a number."""
    table = fit(_layouts(report, rows_shown(report, depth), columns_of(report, columns), columns is None), width)
    note = None
    if table.layout.left_out:
        note = f"Left out to fit {width} columns: {', '.join(table.layout.left_out)}. {remedy}"
    return table, note


def _layouts(report: Report, rows: list[LayerRow], columns: list[Column], dropping: bool) -> Iterator[Layout]:
    """The table with every column, then (`dropping`) without each droppable column in turn: the
    cells are made once and each layout keeps some of them (views/gate.py's way)."""
    title = f"{report.spec.name}: per-layer cost"
    styles = ["dim" if row.parent else ("yellow" if row.paper is not None and not row.paper.ok else None)
              for row in rows]
    headers, cells, totals = headings(report, columns), body(rows, columns), totals_row(report, columns)
    droppable = sorted((i for i, column in enumerate(columns) if column.drop is not None),
                       key=lambda i: columns[i].drop)
    keep, left_out = list(range(len(columns))), ()
    while True:
        yield Layout(title, [headers[i] for i in keep], [[row[i] for i in keep] for row in cells],
                     {k for k, i in enumerate(keep) if columns[i].aligned_right}, [totals[i] for i in keep],
                     styles, left_out)
        if not dropping or not droppable:
            return
        dropped = droppable.pop(0)
        keep.remove(dropped)
        left_out += (columns[dropped].heading(report),)


def analyze_view(report: Report, depth: str | None, *, width: int | None, columns: tuple[str, ...] | None = None,
                 rows_remedy: str = ROWS_REMEDY, columns_remedy: str = COLUMNS_REMEDY) -> tuple[Rendered, list[str]]:
    """What `gcost analyze` and `print(report)` show first, in order: the table fitted to `width`,
    then its words: the notes on rows or columns left out (each naming its caller's remedies), the
    totals and the counting rule. Each caller adds the latency panel and its own lines after them."""
    shown, left_out = table_depth(report, depth, remedy=rows_remedy)
    table, dropped = to_rich_table(report, shown, width=width, columns=columns, remedy=columns_remedy)
    return table, [note for note in (left_out, dropped) if note] + [conventions(report)]
