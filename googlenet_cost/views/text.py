"""A Report where Python users look at it: `print(report)` (the table `gcost analyze` prints, drawn
by views/table.py into a string at the terminal's width, or `report.to_text(width=...)`), the HTML
table of a notebook, a pandas DataFrame. Nothing here counts or computes: every cell comes from the
same columns as the terminal table, CSV and Markdown.

`PrintableReport` is what the Python API (googlenet_cost.api) returns: the plain Report with these
three views as methods. They live here, not on report.Report, because the views import the report
module and report.py imports nothing of gcost (tests/house/test_imports.py: no cycle)."""
from __future__ import annotations

import html
import io
import os
import sys
from dataclasses import dataclass, fields
from typing import Any, Sequence

from ..errors import GcostError
from ..escaping import printable
from ..report import Report
from .columns import body, columns_of, frame_columns, headings, parse_columns, totals_row
from .formats import markdown_name
from .prose import conventions, latency_panel
from .table import analyze_view, rows_shown, table_depth

TEXT_WIDTH = 100  # str(report) where no terminal says its width (a pipe, a file, a test): 100 columns
WIDE = 100_000  # a notebook's output: the table as wide as it needs, the text unwrapped
# What a Python user does about rows or columns left out (the CLI's notes name its flags instead).
API_COLUMNS_REMEDY = ("print(report.to_text(width=200)) or report.to_text(columns=[...]) shows them; "
                      "report.to_pandas() has every column.")
API_ROWS_REMEDY = "report.to_text(depth='branches') shows them all; report.to_pandas() has them all."


def text_width(width: int | None = None) -> int:
    """The width str(report) fits its table to: `width` when given; wide in a notebook (Jupyter,
    Colab); COLUMNS when set; the terminal's when standard output is one; else TEXT_WIDTH."""
    import shutil

    from ..quantity import NumberError, parse_int

    if width is not None:
        if isinstance(width, bool) or not isinstance(width, int) or width < 20:
            raise TypeError(f"width must be a number of columns of at least 20, got {width!r}")
        return min(width, WIDE)
    if _in_notebook():
        return WIDE
    try:
        columns = parse_int(os.environ.get("COLUMNS", "").strip() or "0", low=0)
    except NumberError:
        columns = 0  # a COLUMNS that is no number: the terminal's, as if unset
    if columns:
        return min(columns, WIDE)
    stdout = sys.stdout
    if stdout is not None and getattr(stdout, "isatty", lambda: False)():
        return shutil.get_terminal_size((TEXT_WIDTH, 24)).columns
    return TEXT_WIDTH


def _in_notebook() -> bool:
    """A Jupyter kernel (or Colab) runs this process: IPython's shell there draws output in a cell."""
    ipython = sys.modules.get("IPython")
    shell = getattr(ipython, "get_ipython", lambda: None)() if ipython is not None else None
    return type(shell).__name__ in ("ZMQInteractiveShell", "Shell")


def report_renderables(report: Report, width: int | None = TEXT_WIDTH, *, depth: str | None = None,
                       columns: tuple[str, ...] | None = None) -> list:
    """What `gcost analyze` prints for `report`, in order: the table (fitted to `width`), the notes on
    rows or columns left out (naming the Python API's remedies), the totals and counting rule, the
    latency panel, the notes (--verify's agreement), the warnings."""
    from rich.text import Text

    table, words = analyze_view(report, depth, width=width, columns=columns, rows_remedy=API_ROWS_REMEDY,
                                columns_remedy=API_COLUMNS_REMEDY)
    items = [table, *(Text(printable(text)) for text in words)]
    items += [latency_panel(report.timed)] if report.timed else []
    items += [Text(printable(note)) for note in report.notes]
    items += [Text("warning: ", style="bold") + Text(printable(message)) for message in report.warnings]
    return items


def report_text(report: Report, width: int = TEXT_WIDTH, *, depth: str | None = None,
                columns: tuple[str, ...] | None = None) -> str:
    """The report as plain text (no colour, no terminal needed, no trailing spaces): the table
    fitted to `width` columns; a table that cannot fit is drawn as wide as it needs, never with a
    number cut."""
    buffer = io.StringIO()
    console = _console(buffer, width)
    for item in report_renderables(report, width if width < WIDE else None, depth=depth, columns=columns):
        console.width = max(width, getattr(item, "needed_width", 0))  # views.fit.Rendered: never cut
        console.print(item)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())


def report_html(report: Report) -> str:
    """The table as HTML for a notebook (`_repr_html_`), with the totals row, the counting rule, the
    latency and the warnings. Every cell is escaped: layer names come from users' modules and files."""
    depth, left_out = table_depth(report, None, remedy=API_ROWS_REMEDY)
    columns = columns_of(report)
    right = [column.aligned_right for column in columns]

    def cells(tag: str, texts: list[str]) -> str:
        return "<tr>" + "".join(f'<{tag} style="text-align:{"right" if r else "left"}">{_escaped(text)}</{tag}>'
                                for text, r in zip(texts, right)) + "</tr>"

    rows = [cells("td", [markdown_name(cell) for cell in texts]) for texts in body(rows_shown(report, depth), columns)]
    parts = ['<div class="gcost-report">', "<table>",
             f"<caption>{_escaped(report.spec.name)}: per-layer cost</caption>",
             f"<thead>{cells('th', headings(report, columns))}</thead>", "<tbody>", *rows, "</tbody>",
             f"<tfoot>{cells('th', totals_row(report, columns))}</tfoot>", "</table>"]
    parts += [f"<p>{_escaped(text)}</p>" for text in (left_out, conventions(report)) if text]
    if report.timed:
        parts.append(f"<pre>{_escaped(_plain(latency_panel(report.timed)))}</pre>")
    parts += [f"<p>{_escaped(note)}</p>" for note in report.notes]
    parts += [f"<p><b>warning:</b> {_escaped(message)}</p>" for message in report.warnings]
    return "\n".join([*parts, "</div>"])


def _escaped(text: str) -> str:
    """User text made inert in HTML: control characters shown as escapes, <, >, & and quotes as
    entities, line breaks kept."""
    return html.escape(printable(text)).replace("\n", "<br>")


def _console(buffer: io.StringIO, width: int) -> Any:
    """A rich console that writes plain text into `buffer`: no colour, and no notebook display (in
    Jupyter rich would show its output in the cell instead of writing it)."""
    from rich.console import Console

    return Console(file=buffer, width=width, color_system=None, force_terminal=False, force_jupyter=False,
                   force_interactive=False, highlight=False, emoji=False, legacy_windows=False)


def _plain(renderable: Any) -> str:
    buffer = io.StringIO()
    _console(buffer, TEXT_WIDTH).print(renderable)
    return buffer.getvalue()


# report.to_pandas(): one row per layer, the columns with a Column.frame (views/columns.py): `output`
# the table's text (HxWxC for a feature map, as the paper prints it), `output_size` the output
# tensor's size in torch's order with the batch first, as torchinfo gives it ([1, 64, 16, 16]), the
# receptive field as text; None where a row has no such figure.
FRAME_COLUMNS = tuple(column.key for column in frame_columns())


def frame_records(report: Report) -> list[dict[str, Any]]:
    """The rows of `report.to_pandas()`, one dict per layer with FRAME_COLUMNS as keys."""
    columns = frame_columns()
    return [{column.key: column.frame_value(row, report.batch) for column in columns} for row in report.layers]


def report_frame(report: Report) -> Any:
    """A pandas DataFrame of the layers (FRAME_COLUMNS); pandas is imported only here."""
    try:
        import pandas
    except ImportError:
        raise GcostError("to_pandas needs pandas: pip install pandas") from None
    return pandas.DataFrame(frame_records(report), columns=[column.key for column in frame_columns()])


@dataclass(frozen=True)
class PrintableReport(Report):
    """A Report that prints as its table (`print(report)`, `str(report)`), renders as an HTML table
    in a notebook and gives its layers as a pandas DataFrame; otherwise the same plain data, with
    the same `to_dict()`."""

    @classmethod
    def of(cls, report: Report) -> PrintableReport:
        return cls(**{item.name: getattr(report, item.name) for item in fields(Report)})

    def __str__(self) -> str:
        """The table at the terminal's width (text_width), as `gcost analyze` draws it."""
        return self.to_text()

    def to_text(self, width: int | None = None, *, columns: str | Sequence[str] | None = None,
                depth: str | None = None) -> str:
        """The table as text, fitted to `width` columns (default: the terminal's; wide in a notebook),
        with `columns` the ones chosen (as `--columns` names them: "name,output,params,macs", or a
        list) and `depth` the rows shown (top, branches, all or a number of levels)."""
        chosen = parse_columns(columns if columns is None or isinstance(columns, str) else ",".join(columns),
                               what="columns")
        if depth is not None and str(depth) not in ("top", "branches", "all") and not (
                str(depth).isdecimal() and str(depth).isascii() and int(depth) >= 1):
            raise GcostError(f"depth must be top, branches, all or a number of levels of at least 1, got {depth!r}")
        return report_text(self, text_width(width), depth=None if depth is None else str(depth), columns=chosen)

    def _repr_html_(self) -> str:
        return report_html(self)

    def to_pandas(self) -> Any:
        return report_frame(self)
