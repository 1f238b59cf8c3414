"""The report's columns, one record each (torchinfo's ColumnSettings): the table, Markdown, CSV,
the notebook's HTML, the pandas frame, `--columns` (its names and its help) and the totals row all
read COLUMNS. Adding a column is adding one record."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..quantity import human
from ..report import LayerRow, Report
from .cells import count, fixed, indented, ms_text, shape_text

Shown = Callable[[Report], bool]


@dataclass(frozen=True)
class Column:
    """One column of the per-layer report.

    `cell` is its text in the table, Markdown and HTML (None: not a table column, only the CSV's or
    the frame's); `value` its CSV value (None: not in the CSV); `frame` its value in
    `report.to_pandas()` (True: the row's attribute named `key`; None: not in the frame); `total`
    its cell in the totals row. `shown` says when the table has it without --columns (None: only on
    request); `in_csv` puts it in a CSV without --columns even where the table does not show it.
    `drop`: the order it is left out in to fit a narrow terminal (1 first; None: never)."""

    key: str  # the JSON, CSV and frame name; a --columns name
    header: str | Callable[[Report], str] = ""
    cell: Callable[[LayerRow], str] | None = None
    value: Callable[[LayerRow], Any] | None = None
    frame: bool | Callable[[LayerRow, int], Any] | None = None  # (row, batch)
    total: Callable[[Report], str] | None = None
    aliases: tuple[str, ...] = ()  # other --columns names
    help: str | None = None  # the name --columns' help gives it (default: the key)
    numeric: bool = False  # right-aligned everywhere
    right: bool = False  # right-aligned in the table and HTML, though not a number (Markdown: numbers only)
    shown: Shown | None = None
    in_csv: bool = False
    drop: int | None = None
    family: str = ""  # grouped in the help under this name ("Table 1's")
    csv_key: Callable[[Report], str] | None = None  # the CSV's name, where it depends on the report

    def heading(self, report: Report) -> str:
        return self.header(report) if callable(self.header) else self.header

    def frame_value(self, row: LayerRow, batch: int) -> Any:
        return getattr(row, self.key) if self.frame is True else self.frame(row, batch)

    @property
    def aligned_right(self) -> bool:
        return self.numeric or self.right


def _always(report: Report) -> bool:
    return True


def _any(attribute: Callable[[LayerRow], Any]) -> Shown:
    return lambda report: any(attribute(row) for row in report.layers)


def _with_roofline(more: Shown = _always) -> Shown:
    return lambda report: report.machine is not None and more(report)


def _training(cell: Callable[[Report], str]) -> Callable[[Report], str]:
    return lambda report: cell(report) if report.training else ""


def _blank(value: Any, text: Callable[[Any], Any] = lambda v: v) -> Any:
    return "" if value is None else text(value)


_has_latency = _any(lambda row: row.latency_ms is not None)
_has_paper = _any(lambda row: row.paper is not None)


def output_heading(report: Report) -> str:
    """"output HxWxC" when every shape is a feature map or a vector, else plain "output" (tokens:
    197x768 is not an image)."""
    if all(len(row.output_shape) in (0, 1, 3) for row in report.layers):
        return "output HxWxC"
    return "output"


def _output_cell(row: LayerRow) -> str:
    differs = row.paper is not None and row.paper.output_ok is False
    return shape_text(row.output_shape) + (" ≠" if differs else "")


def _paper_cell(text: str | None, ok: bool | None) -> str:
    if text is None:
        return ""
    return text if ok else f"{text} ≠"


def limit_text(row: LayerRow) -> str:
    """"memory", or a kernel or overhead limit with the operator most responsible: "kernel: avg_pool3d"."""
    if row.limit_ops and row.limit in ("kernel", "overhead"):
        return f"{row.limit}: {row.limit_ops[0].removeprefix('aten::')}"
    return row.limit or ""


def batches_text(row: LayerRow) -> str:
    """--batch 1,8,64: each batch's bound and roof, "1: 0.12m 8: 0.80m 64: 6.10c"."""
    return " ".join(f"{item.batch}: {ms_text(item.bound_ms)}{(item.roof or '-')[0]}" for item in row.batches)


def top_op_text(row: LayerRow) -> str:
    """--per-layer: the row's slowest operator and its share of the row's time, "avg_pool3d 74%"."""
    if not row.ops:
        return ""
    top = row.ops[0]
    share = f" {top.median_ms / row.latency_ms:.0%}" if row.latency_ms else ""
    return top.name.removeprefix("aten::") + share


def _table1(column: str, header: str) -> Column:
    """One of Table 1's filter counts (spec/table1.py): "#3x3_reduce", also named "3x3 reduce"."""
    spaced = column.replace("_", " ")
    return Column(f"#{column}", header, lambda r: f"{r.filters[column]:,}" if column in r.filters else "",
                  lambda r: r.filters.get(column, ""), aliases=(column, spaced, f"#{spaced}"), help=column,
                  numeric=True, family="Table 1's")


# In the table's order. The rows' identity (name, parent; output_size) is the CSV's and the frame's only.
COLUMNS: tuple[Column, ...] = (
    Column("name", value=lambda r: r.name, frame=True),
    Column("parent", value=lambda r: r.parent or "", frame=True),
    Column("layer", "layer", lambda r: indented(r.name), total=lambda rep: "total", aliases=("name",), help="name",
           shown=_always),
    Column("type", "type", lambda r: r.type, lambda r: r.type, frame=True, shown=_always),
    Column("kernel", "kernel/stride", lambda r: r.kernel, lambda r: r.kernel, frame=lambda r, b: r.kernel or None,
           shown=_any(lambda row: row.kernel), drop=11),
    Column("output", output_heading, _output_cell, lambda r: shape_text(r.output_shape),
           frame=lambda r, b: shape_text(r.output_shape) or None, right=True, shown=_always,
           csv_key=lambda rep: "output_shape_hwc" if output_heading(rep) == "output HxWxC" else "output_shape"),
    # torch's order with the batch first, as torchinfo gives it ([1, 64, 16, 16])
    Column("output_size", frame=lambda r, batch: [batch, *r.output_shape] if r.output_shape else None),
    Column("params", "params", lambda r: count(r.params), lambda r: r.params, frame=True,
           total=lambda rep: f"{rep.totals.params:,}", numeric=True, shown=_always),
    Column("frozen_params", "frozen", lambda r: count(r.frozen_params), lambda r: r.frozen_params, frame=True,
           total=lambda rep: f"{rep.totals.frozen_params:,}", aliases=("frozen",), help="frozen", numeric=True,
           shown=_any(lambda row: row.frozen_params)),
    Column("weights", "weights", lambda r: count(r.weights), lambda r: r.weights, frame=True,
           total=lambda rep: f"{rep.totals.weights:,}", numeric=True, in_csv=True),
    Column("macs", "MACs", lambda r: count(r.macs), lambda r: r.macs, frame=True,
           total=lambda rep: f"{rep.totals.macs:,}", numeric=True, shown=_always),
    Column("flops", "FLOPs", lambda r: count(2 * r.macs), lambda r: 2 * r.macs,
           total=lambda rep: f"{rep.totals.flops:,}", numeric=True),
    Column("activations", "activations", lambda r: count(r.activations), lambda r: r.activations, frame=True,
           total=lambda rep: f"{rep.totals.activations:,}", numeric=True, in_csv=True),
    Column("receptive_field", "RF", lambda r: "x".join(map(str, r.receptive_field)),
           lambda r: "x".join(map(str, r.receptive_field)),
           frame=lambda r, b: "x".join(map(str, r.receptive_field)) if r.receptive_field else None,
           aliases=("rf",), help="rf", shown=_any(lambda row: row.receptive_field), drop=10),
    Column("paper_params", "paper params", lambda r: _paper_cell(r.paper.params_text, r.paper.params_ok) if r.paper else "",
           lambda r: r.paper.params if r.paper else "",
           total=lambda rep: _blank(rep.totals.paper_params, lambda v: f"{v / 1024:,.0f}K"), shown=_has_paper, drop=9),
    Column("paper_ops", "paper ops", lambda r: _paper_cell(r.paper.ops_text, r.paper.ops_ok) if r.paper else "",
           lambda r: r.paper.ops if r.paper else "",
           total=lambda rep: _blank(rep.totals.paper_ops, lambda v: f"{v / 1e6:,.0f}M"), shown=_has_paper, drop=8),
    Column("backward_macs", "backward MACs", lambda r: _blank(r.backward_macs, lambda v: f"{v:,}"),
           lambda r: _blank(r.backward_macs), frame=True, total=_training(lambda rep: f"{rep.training.backward_macs:,}"),
           aliases=("bwd",), numeric=True, shown=lambda rep: bool(rep.training)),
    Column("backward_ratio", "bwd/fwd",
           lambda r: "" if not r.macs or r.backward_macs is None else f"{r.backward_macs / r.macs:.2f}x",
           lambda r: "" if not r.macs or r.backward_macs is None else round(r.backward_macs / r.macs, 4),
           total=_training(lambda rep: f"{rep.training.backward_macs / rep.totals.macs:.2f}x" if rep.totals.macs else ""),
           aliases=("bwd_fwd",), numeric=True, shown=lambda rep: bool(rep.training)),
    Column("saved_bytes", "saved bytes", lambda r: _blank(r.saved_bytes, lambda v: f"{v:,}"),
           lambda r: _blank(r.saved_bytes), frame=True, total=_training(lambda rep: f"{rep.training.saved_bytes:,}"),
           aliases=("saved",), numeric=True, shown=lambda rep: bool(rep.training)),
    Column("latency_ms", "latency ms", lambda r: _blank(r.latency_ms, lambda v: f"{v:.3f}"),
           lambda r: _blank(r.latency_ms), frame=True, aliases=("latency",), help="latency", numeric=True,
           shown=_has_latency),
    Column("top_op", "top operator", top_op_text, lambda r: r.ops[0].name if r.ops else "", aliases=("op",),
           shown=_any(lambda row: row.ops), drop=12),
    Column("bytes", "bytes", lambda r: f"{human(r.bytes)}B" if r.bytes else "0", lambda r: r.bytes, frame=True,
           total=lambda rep: f"{human(rep.totals.bytes)}B", numeric=True, shown=_with_roofline(), in_csv=True, drop=3),
    Column("bytes_fused", "bytes fused", lambda r: f"{human(r.bytes_fused)}B" if r.bytes_fused else "0",
           lambda r: r.bytes_fused, total=lambda rep: f"{human(rep.totals.bytes_fused)}B", aliases=("fused",),
           numeric=True),
    Column("arithmetic_intensity", "FLOP/B", lambda r: fixed(r.arithmetic_intensity, 1),
           lambda r: _blank(r.arithmetic_intensity, lambda v: round(v, 4)), frame=True,
           total=lambda rep: fixed(rep.totals.arithmetic_intensity, 1), aliases=("intensity",), help="intensity",
           numeric=True, shown=_with_roofline(), in_csv=True, drop=2),
    Column("bound_ms", "bound ms", lambda r: ms_text(r.bound_ms), lambda r: _blank(r.bound_ms), frame=True,
           total=lambda rep: ms_text(rep.totals.bound_ms), aliases=("bound",), help="bound", numeric=True,
           shown=_with_roofline(), drop=6),
    Column("expected_ms", "expected ms", lambda r: ms_text(r.expected_ms), lambda r: _blank(r.expected_ms),
           total=lambda rep: ms_text(rep.totals.expected_ms), aliases=("expected",), help="expected", numeric=True,
           shown=_with_roofline(_any(lambda row: row.expected_ms is not None)), drop=7),
    Column("limit", "limit", limit_text, lambda r: r.limit or "", frame=True, shown=_with_roofline(), drop=4),
    Column("efficiency", "of roof", lambda r: _blank(r.efficiency, lambda v: f"{v:.0%}"),
           lambda r: _blank(r.efficiency, lambda v: round(v, 4)), frame=True,
           total=lambda rep: _blank(rep.efficiency, lambda v: f"{v:.0%}"), numeric=True,
           shown=_with_roofline(_has_latency), drop=5),
    Column("batches", "bound ms by batch (m/c: roof)", batches_text, batches_text,
           shown=_with_roofline(_any(lambda row: row.batches)), drop=1),
    # Table 1's structural columns (spec/table1.py), on request: a row's depth and its filter counts.
    Column("depth", "depth", lambda r: _blank(r.depth, str), lambda r: _blank(r.depth),
           total=lambda rep: _blank(rep.totals.depth, str), numeric=True, family="Table 1's"),
    _table1("1x1", "#1x1"), _table1("3x3_reduce", "#3x3 reduce"), _table1("3x3", "#3x3"),
    _table1("5x5_reduce", "#5x5 reduce"), _table1("5x5", "#5x5"), _table1("pool_proj", "pool proj"),
)
EXAMPLE = ("layer", "output", "params", "macs")  # --columns' help: "e.g. name,output,params,macs"


def table_columns() -> dict[str, Column]:
    """The columns a table can show (those with a cell), by key."""
    return {column.key: column for column in COLUMNS if column.cell is not None}


def column_names() -> dict[str, str]:
    """--columns' names: each table column's key and its aliases ("name" is the layer column's)."""
    return {name: column.key for column in table_columns().values() for name in (column.key, *column.aliases)}


def frame_columns() -> tuple[Column, ...]:
    """report.to_pandas()'s columns."""
    return tuple(column for column in COLUMNS if column.frame is not None)


def columns_help() -> str:
    """--columns' help: every column by the name it is best known by."""
    def named(columns) -> str:
        return ", ".join(column.help or column.key for column in columns)

    table = table_columns()
    example = ",".join(table[key].help or key for key in EXAMPLE)
    others = [column for column in table.values() if column.key not in EXAMPLE]
    families = dict.fromkeys(column.family for column in others if column.family)
    grouped = "".join(f", and {family} " + named(c for c in others if c.family == family) for family in families)
    return (f"Columns of the table, Markdown and CSV, e.g. {example} (also "
            f"{named(c for c in others if not c.family)}{grouped}).")


def parse_columns(text: str | None, what: str = "--columns") -> tuple[str, ...] | None:
    """--columns "name,output,params,macs" -> column keys; None when not given. `what` names the
    option in errors (the Python API's `columns`)."""
    from ..errors import GcostError, did_you_mean

    if text is None:
        return None
    names, keys = column_names(), []
    for word in (w.strip().lower() for w in text.split(",") if w.strip()):
        if word not in names:
            raise GcostError(f"{what}: unknown column {word[:40]!r}{did_you_mean(word, names)}; known: "
                             + ", ".join(sorted(names)))
        keys.append(names[word])
    if not keys:
        raise GcostError(f"{what} needs at least one column, e.g. name,output,params,macs")
    return tuple(dict.fromkeys(keys))


def columns_of(report: Report, chosen: tuple[str, ...] | None = None) -> list[Column]:
    """The table's columns: the `chosen` ones (--columns) in their order, else those the report
    has figures for (Column.shown), in COLUMNS' order."""
    if chosen is not None:
        table = table_columns()
        return [table[key] for key in chosen]
    return [column for column in table_columns().values() if column.shown is not None and column.shown(report)]


def headings(report: Report, columns: list[Column]) -> list[str]:
    return [column.heading(report) for column in columns]


def totals_row(report: Report, columns: list[Column]) -> list[str]:
    return [column.total(report) if column.total else "" for column in columns]


def body(rows: list[LayerRow], columns: list[Column]) -> list[list[str]]:
    return [[column.cell(row) for column in columns] for row in rows]


def csv_columns(report: Report, chosen: tuple[str, ...] | None = None) -> list[Column]:
    """The CSV's columns: the rows' identity, the table's (`chosen`, or those shown), and without
    --columns those every CSV has (Column.in_csv)."""
    shown = [column for column in columns_of(report, chosen) if column.value is not None]
    identity = [column for column in COLUMNS if column.cell is None and column.value is not None]
    keys = {column.key for column in shown}
    extra = [] if chosen else [column for column in COLUMNS if column.in_csv and column.key not in keys]
    return [*identity, *shown, *extra]


def csv_header(report: Report, columns: list[Column]) -> list[str]:
    return [column.csv_key(report) if column.csv_key else column.key for column in columns]

