"""Views of a Report: rich table, JSON, CSV, Markdown. All take the same rows; none computes."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from ..escaping import json_text, printable
from ..quantity import human
from ..report import COUNTING_RULE, LayerRow, Report, TrainingSummary

if TYPE_CHECKING:
    from ..timing.stats import LatencyStats

FORMATS = ("table", "json", "csv", "markdown")


def shape_text(shape: list[int]) -> str:
    """The paper's HxWxC for feature maps, the length for flat vectors."""
    if len(shape) == 3:
        c, h, w = shape
        return f"{h}x{w}x{c}"
    return "x".join(map(str, shape))


def _paper_cell(text: str | None, ok: bool | None) -> str:
    if text is None:
        return ""
    return text if ok else f"{text} ≠"


def row_level(name: str) -> int:
    """0 for a top-level row, 1 for its children ("inception_4a/3x3"), and so on."""
    return name.count("/")


def indented(name: str, level: int | None = None) -> str:
    """A row's name as the table shows it: children indented under their parent; `level` counts
    from a row shown with its whole path (by default the top)."""
    level = row_level(name) if level is None else level
    name = printable(name, one_line=True)  # a user's module name: one line, inert
    return name if not level else "  " * level + "└ " + name.rsplit("/", 1)[1]


def levels_shown(depth: str) -> int | None:
    """--depth as a number of row levels: top = 1, a number N = N, branches or all = every level."""
    if depth == "top":
        return 1
    if depth in ("branches", "all"):
        return None
    return int(depth)


Column = tuple[str, Callable[[LayerRow], Any], Callable[[LayerRow], str]]

COLUMNS: list[Column] = [
    ("layer", lambda r: r.name, lambda r: indented(r.name)),
    ("type", lambda r: r.type, lambda r: r.type),
    ("kernel", lambda r: r.kernel, lambda r: r.kernel),
    ("output", lambda r: "x".join(map(str, r.output_shape)),
     lambda r: shape_text(r.output_shape) + (" ≠" if r.paper is not None and r.paper.output_ok is False else "")),
    ("params", lambda r: r.params, lambda r: f"{r.params:,}" if r.params else "0"),
    ("frozen_params", lambda r: r.frozen_params, lambda r: f"{r.frozen_params:,}" if r.frozen_params else "0"),
    ("macs", lambda r: r.macs, lambda r: f"{r.macs:,}" if r.macs else "0"),
    ("receptive_field", lambda r: "x".join(map(str, r.receptive_field)),
     lambda r: "x".join(map(str, r.receptive_field))),
    ("paper_params", lambda r: r.paper.params if r.paper else "",
     lambda r: _paper_cell(r.paper.params_text, r.paper.params_ok) if r.paper else ""),
    ("paper_ops", lambda r: r.paper.ops if r.paper else "",
     lambda r: _paper_cell(r.paper.ops_text, r.paper.ops_ok) if r.paper else ""),
]
TRAINING_COLUMNS: list[Column] = [
    ("backward_macs", lambda r: "" if r.backward_macs is None else r.backward_macs,
     lambda r: "" if r.backward_macs is None else f"{r.backward_macs:,}"),
    ("backward_ratio", lambda r: "" if not r.macs or r.backward_macs is None else round(r.backward_macs / r.macs, 4),
     lambda r: "" if not r.macs or r.backward_macs is None else f"{r.backward_macs / r.macs:.2f}x"),
    ("saved_bytes", lambda r: "" if r.saved_bytes is None else r.saved_bytes,
     lambda r: "" if r.saved_bytes is None else f"{r.saved_bytes:,}"),
]
def _fixed(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def ms_text(value: float | None) -> str:
    """Milliseconds as a table shows them: 3 decimals, or 3 significant digits below 0.1 ms (a
    datasheet GPU's bounds are microseconds: 0.000 would hide them)."""
    if value is None:
        return ""
    return f"{value:,.3f}" if value >= 0.1 or value == 0 else f"{value:.3g}"


def limit_text(row: LayerRow) -> str:
    """"memory", or a kernel or overhead limit with the operator most responsible: "kernel: avg_pool3d"."""
    if row.limit_ops and row.limit in ("kernel", "overhead"):
        return f"{row.limit}: {row.limit_ops[0].removeprefix('aten::')}"
    return row.limit or ""


def batches_text(row: LayerRow) -> str:
    """--batch 1,8,64: each batch's bound and roof, "1: 0.12m 8: 0.80m 64: 6.10c"."""
    return " ".join(f"{item.batch}: {ms_text(item.bound_ms)}{(item.roof or '-')[0]}" for item in row.batches)


ROOFLINE_COLUMNS: list[Column] = [
    ("bytes", lambda r: r.bytes, lambda r: f"{human(r.bytes)}B" if r.bytes else "0"),
    ("arithmetic_intensity", lambda r: "" if r.arithmetic_intensity is None else round(r.arithmetic_intensity, 4),
     lambda r: _fixed(r.arithmetic_intensity, 1)),
    ("bound_ms", lambda r: "" if r.bound_ms is None else r.bound_ms, lambda r: ms_text(r.bound_ms)),
    ("limit", lambda r: r.limit or "", limit_text),
]
EXPECTED_COLUMN: Column = ("expected_ms", lambda r: "" if r.expected_ms is None else r.expected_ms,
                           lambda r: ms_text(r.expected_ms))
BATCHES_COLUMN: Column = ("batches", lambda r: batches_text(r), batches_text)
EXTRA_COLUMNS: list[Column] = [  # on request (--columns): shown by default in CSV's last columns and in JSON
    ("weights", lambda r: r.weights, lambda r: f"{r.weights:,}" if r.weights else "0"),
    ("flops", lambda r: 2 * r.macs, lambda r: f"{2 * r.macs:,}" if r.macs else "0"),
    ("activations", lambda r: r.activations, lambda r: f"{r.activations:,}" if r.activations else "0"),
    ("bytes_fused", lambda r: r.bytes_fused, lambda r: f"{human(r.bytes_fused)}B" if r.bytes_fused else "0"),
]
# Table 1's structural columns (spec/table1.py), on request: a row's depth and its filter counts.
TABLE1_COLUMNS: list[Column] = [
    ("depth", lambda r: "" if r.depth is None else r.depth, lambda r: "" if r.depth is None else str(r.depth)),
    *((f"#{column}", lambda r, c=column: r.filters.get(c, ""), lambda r, c=column: f"{r.filters[c]:,}"
       if c in r.filters else "") for column in ("1x1", "3x3_reduce", "3x3", "5x5_reduce", "5x5", "pool_proj")),
]
EFFICIENCY_COLUMN: Column = ("efficiency", lambda r: "" if r.efficiency is None else round(r.efficiency, 4),
                             lambda r: "" if r.efficiency is None else f"{r.efficiency:.0%}")
LATENCY_COLUMN: Column = ("latency_ms", lambda r: r.latency_ms if r.latency_ms is not None else "",
                          lambda r: f"{r.latency_ms:.3f}" if r.latency_ms is not None else "")


def top_op_text(row: LayerRow) -> str:
    """--per-layer: the row's slowest operator and its share of the row's time, "avg_pool3d 74%"."""
    if not row.ops:
        return ""
    top = row.ops[0]
    share = f" {top.median_ms / row.latency_ms:.0%}" if row.latency_ms else ""
    return top.name.removeprefix("aten::") + share


TOP_OP_COLUMN: Column = ("top_op", lambda r: r.ops[0].name if r.ops else "", top_op_text)
HEADERS = {"layer": "layer", "type": "type", "kernel": "kernel/stride", "output": "output HxWxC",
           "params": "params", "macs": "MACs", "receptive_field": "RF", "paper_params": "paper params",
           "paper_ops": "paper ops", "latency_ms": "latency ms", "backward_macs": "backward MACs",
           "backward_ratio": "bwd/fwd", "saved_bytes": "saved bytes", "bytes": "bytes",
           "arithmetic_intensity": "FLOP/B", "bound_ms": "bound ms", "limit": "limit", "efficiency": "of roof",
           "weights": "weights", "flops": "FLOPs", "activations": "activations", "frozen_params": "frozen",
           "depth": "depth", "#1x1": "#1x1", "#3x3_reduce": "#3x3 reduce", "#3x3": "#3x3",
           "#5x5_reduce": "#5x5 reduce", "#5x5": "#5x5", "#pool_proj": "pool proj", "expected_ms": "expected ms",
           "bytes_fused": "bytes fused", "batches": "bound ms by batch (m/c: roof)", "top_op": "top operator"}
NUMERIC = {"params", "macs", "latency_ms", "backward_macs", "backward_ratio", "saved_bytes", "bytes",
           "arithmetic_intensity", "bound_ms", "efficiency", "weights", "flops", "activations", "frozen_params",
           "depth", "#1x1", "#3x3_reduce", "#3x3", "#5x5_reduce", "#5x5", "#pool_proj", "expected_ms",
           "bytes_fused"}


def output_heading(report: Report) -> str:
    """"output HxWxC" when every shape is a feature map or a vector, else plain "output" (tokens:
    197x768 is not an image)."""
    if all(len(row.output_shape) in (0, 1, 3) for row in report.layers):
        return "output HxWxC"
    return "output"


def _headings(report: Report, keys: list[str]) -> list[str]:
    return [output_heading(report) if key == "output" else HEADERS[key] for key in keys]


def _columns(report: Report, chosen: tuple[str, ...] | None = None) -> list[Column]:
    """The columns a report has (paper and latency columns only when it has such figures), or
    the `chosen` ones (--columns), in the order given."""
    has_latency = any(row.latency_ms is not None for row in report.layers)
    has_paper = any(row.paper is not None for row in report.layers)
    empty = {key for key, has in (("frozen_params", any(row.frozen_params for row in report.layers)),
                                  ("kernel", any(row.kernel for row in report.layers)),
                                  ("receptive_field", any(row.receptive_field for row in report.layers))) if not has}
    columns = [c for c in COLUMNS if (has_paper or not c[0].startswith("paper")) and c[0] not in empty]
    columns += TRAINING_COLUMNS if report.training else []
    columns += [LATENCY_COLUMN] if has_latency else []
    columns += [TOP_OP_COLUMN] if any(row.ops for row in report.layers) else []
    if report.machine is not None:
        expected = [EXPECTED_COLUMN] if any(row.expected_ms is not None for row in report.layers) else []
        columns += ROOFLINE_COLUMNS[:3] + expected + ROOFLINE_COLUMNS[3:] + ([EFFICIENCY_COLUMN] if has_latency else [])
        columns += [BATCHES_COLUMN] if any(row.batches for row in report.layers) else []
    if chosen is None:
        return columns
    by_key = {key: column for column in [*COLUMNS, *TRAINING_COLUMNS, LATENCY_COLUMN, *ROOFLINE_COLUMNS,
                                         EXPECTED_COLUMN, BATCHES_COLUMN, EFFICIENCY_COLUMN, TOP_OP_COLUMN, *EXTRA_COLUMNS,
                                         *TABLE1_COLUMNS]
              for key in [column[0]]}
    return [by_key[key] for key in chosen]


COLUMN_NAMES = {"layer": "layer", "name": "layer", "type": "type", "kernel": "kernel", "output": "output",
                "params": "params", "macs": "macs", "rf": "receptive_field", "receptive_field": "receptive_field",
                "paper_params": "paper_params", "paper_ops": "paper_ops", "latency": "latency_ms",
                "latency_ms": "latency_ms", "backward_macs": "backward_macs", "bwd": "backward_macs",
                "bwd_fwd": "backward_ratio", "saved": "saved_bytes", "saved_bytes": "saved_bytes",
                "bytes": "bytes", "intensity": "arithmetic_intensity", "arithmetic_intensity": "arithmetic_intensity",
                "bound": "bound_ms", "bound_ms": "bound_ms", "limit": "limit", "efficiency": "efficiency",
                "weights": "weights", "flops": "flops", "activations": "activations", "frozen": "frozen_params",
                "frozen_params": "frozen_params", "depth": "depth",
                **{name: f"#{column}" for column in ("1x1", "3x3_reduce", "3x3", "5x5_reduce", "5x5", "pool_proj")
                   for name in (column, f"#{column}", column.replace("_", " "), f"#{column.replace('_', ' ')}")},
                "expected": "expected_ms", "expected_ms": "expected_ms", "bytes_fused": "bytes_fused",
                "fused": "bytes_fused", "batches": "batches", "top_op": "top_op", "op": "top_op"}
# Dropped first to fit a narrow terminal, in this order: the roofline's, then the paper's and the rest.
OPTIONAL_COLUMNS = ("batches", "arithmetic_intensity", "bytes", "limit", "efficiency", "bound_ms", "expected_ms",
                    "paper_ops", "paper_params", "receptive_field", "kernel", "top_op")


def parse_columns(text: str | None, what: str = "--columns") -> tuple[str, ...] | None:
    """--columns "name,output,params,macs" -> column keys; None when not given. `what` names the
    option in errors (the Python API's `columns`)."""
    from ..errors import GcostError, did_you_mean

    if text is None:
        return None
    keys = []
    for word in (w.strip().lower() for w in text.split(",") if w.strip()):
        if word not in COLUMN_NAMES:
            raise GcostError(f"{what}: unknown column {word[:40]!r}{did_you_mean(word, COLUMN_NAMES)}; known: "
                             + ", ".join(sorted(COLUMN_NAMES)))
        keys.append(COLUMN_NAMES[word])
    if not keys:
        raise GcostError(f"{what} needs at least one column, e.g. name,output,params,macs")
    return tuple(dict.fromkeys(keys))


def table_width(headers: list[str], rows: list[list[str]], footer: list[str] | None = None) -> int:
    """Characters a boxed table needs to show every cell whole: the widest cell of each column,
    one space of padding on each side, and the column rules."""
    def widest(cell: str) -> int:
        return max(len(line) for line in cell.split("\n"))

    widths = [max([widest(header)] + [widest(row[i]) for row in rows] + ([widest(footer[i])] if footer else []))
              for i, header in enumerate(headers)]
    return sum(widths) + 3 * len(widths) + 1


def _rows(report: Report, depth: str) -> list[LayerRow]:
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
    top = len(_rows(report, "top"))
    return "top", f"Showing the {top:,} top-level rows of {len(report.layers):,}: {remedy}"


def _inputs_text(report: Report) -> str:
    """"input 224x224x3", or for several: "inputs 224x224x3, text=77 (int64)"."""
    from ..inputs import TensorInput

    def one(item) -> str:
        if not isinstance(item, TensorInput):
            return item.text()  # a constant, as the Python API passed it
        kind = "" if item.kind == "float" else f" ({item.kind})"
        return (f"{item.name}=" if item.name else "") + (shape_text(list(item.shape)) or "scalar") + kind

    arguments = report.arguments
    if arguments.plain:
        return f"input {shape_text(report.input_shape)}"
    return "inputs " + ", ".join(one(item) for item in arguments.items)


def conventions(report: Report) -> str:
    """The totals and the counting rule in words, under every table (report.COUNTING_RULE, the
    rule counting follows, so the words cannot drift from what was counted)."""
    t = report.totals
    frozen = f", {t.frozen_params:,} frozen" if t.frozen_params else ""
    text = (f"Totals: {t.params:,} params ({t.weights:,} weights{frozen}), {t.macs:,} MACs = "
            f"{human(t.macs)} MACs = {human(t.flops)} FLOPs per sample, {report.mode} mode, "
            f"{_inputs_text(report)}.\n"
            f"MACs: {COUNTING_RULE['macs']} (FLOPs = 2 x MACs); {COUNTING_RULE['not_counted']} are not "
            f"counted. Params include biases; weights are the {COUNTING_RULE['weights'].split(' (')[0]}.")
    if report.machine is not None:
        text += "\n" + roofline_text(report)
    if report.training:
        text += "\n" + training_text(report.training)
    if any(row.paper is not None for row in report.layers):
        text += (" Paper figures: params (K = 1024) are compared with weights, ops (M = 10^6) with MACs; "
                 "≠ marks a disagreement beyond rounding.")
        if t.paper_params is not None or t.paper_ops is not None:
            sums = [f"{t.paper_params:,} params" if t.paper_params is not None else "",
                    f"{t.paper_ops:,} ops" if t.paper_ops is not None else ""]
            text += f" The paper's figures sum to {' and '.join(item for item in sums if item)}."
    return text


def roofline_text(report: Report) -> str:
    """The roofs, the formulas exactly as computed (roofline/bound.py, roofline/limits.py), the
    model's bound and expected time beside its measured median, and the traffic rule."""
    m, t = report.machine, report.totals
    cache = (f", cache-resident {human(m.cache_bytes_per_s)}B/s up to {human(m.cache_bytes, base=1024)}iB"
             if m.cache_bytes_per_s and m.cache_bytes else "")
    when = f" {m.measured_at}" if m.measured_at else ""
    ridges = f"ridge points {m.memory_ridge:.1f} FLOP/B (memory)" + (
        f", {m.cache_ridge:.1f} FLOP/B (cache)" if m.cache_ridge else "")
    memory = ("max(bytes / cache bandwidth, working set beyond the cache's size / memory bandwidth)"
              if m.cache_bytes_per_s else "bytes / memory bandwidth")
    text = (f"Roofline ({m.source} peaks of {m.device}, {m.dtype}{when}): {human(m.flops_per_s)}FLOP/s, memory "
            f"{human(m.bytes_per_s)}B/s{cache}; {ridges}. Bound (a lower bound) = max(FLOPs / peak FLOP/s, memory), "
            f"memory = {memory}, at batch {report.batch}; a row with children is the sum of its children's bounds and "
            f"of what it adds. ")
    if t.expected_ms is not None:
        text += ("Expected (an estimate, not a bound) = each operator at this machine's measured rate for its size: "
                 "calls x max(one call's cost, its time at the rate); a row with children sums theirs and its own. ")
    text += ("Limit: compute or memory (the roof its bound sits under); kernel (its time, measured or else expected, "
             "is over 10x its bound and 0.05 ms or more: slow kernels, the operator named); overhead (its operators' "
             f"per-call cost is half its time or more). The model's bound is {ms_text(t.bound_ms)} ms")
    if t.expected_ms is not None:
        text += f", expected {ms_text(t.expected_ms)} ms"
    if report.efficiency is not None:
        text += (f", its measured median {report.timed[0].median_ms:,.3f} ms: it runs at {report.efficiency:.0%} "
                 "of its roof")
    return text + f". Bytes: {COUNTING_RULE['bytes']}."


def training_text(t: TrainingSummary) -> str:
    """The training step in words: MACs per sample, memory at the batch."""
    optimizer = {"sgd": "plain SGD", "momentum": "momentum SGD", "adam": "Adam"}[t.optimizer]
    return (f"Training step ({optimizer}, batch {t.batch}, {t.dtype}): forward {t.forward_macs:,} + "
            f"backward {t.backward_macs:,} = {t.step_macs:,} MACs per sample ({human(t.step_macs)}); "
            f"memory {t.train_bytes:,} bytes ({mib(t.train_bytes)}) = parameters {mib(t.param_bytes)} + "
            f"gradients {mib(t.grad_bytes)} + optimizer state {mib(t.optimizer_bytes)} + activations saved "
            f"for backward {mib(t.saved_bytes)}. Not counted: {t.not_counted}.")


def mib(size: int) -> str:
    return f"{size / 2**20:,.1f} MiB"


def _totals_row(report: Report, keys: list[str]) -> list[str]:
    t = report.totals
    cells = {"layer": "total", "params": f"{t.params:,}", "macs": f"{t.macs:,}", "bytes": f"{human(t.bytes)}B",
             "frozen_params": f"{t.frozen_params:,}", "depth": "" if t.depth is None else str(t.depth),
             "paper_params": "" if t.paper_params is None else f"{t.paper_params / 1024:,.0f}K",
             "paper_ops": "" if t.paper_ops is None else f"{t.paper_ops / 1e6:,.0f}M",
             "weights": f"{t.weights:,}", "flops": f"{t.flops:,}", "activations": f"{t.activations:,}",
             "arithmetic_intensity": _fixed(t.arithmetic_intensity, 1), "bound_ms": ms_text(t.bound_ms),
             "expected_ms": ms_text(t.expected_ms), "bytes_fused": f"{human(t.bytes_fused)}B",
             "efficiency": "" if report.efficiency is None else f"{report.efficiency:.0%}"}
    if report.training:
        cells.update({"backward_macs": f"{report.training.backward_macs:,}",
                      "saved_bytes": f"{report.training.saved_bytes:,}",
                      "backward_ratio": f"{report.training.backward_macs / t.macs:.2f}x" if t.macs else ""})
    return [cells.get(key, "") for key in keys]


def rich_table(title: str, headers: list[str], rows: list[list[str]], *, right: set[int],
               styles: list[str | None] | None = None, footer: list[str] | None = None):
    """A rich Table whose number columns never shrink below their widest cell: a narrow terminal
    wraps names, never truncates a count. Every cell is plain text (no rich markup, control
    characters shown as escapes): names come from user files."""
    from rich.table import Table
    from rich.text import Text

    def plain(cell: str) -> Text:
        return Text(printable(cell))

    # a title wraps at spaces, never inside a word: a word cut in two could start a line with `::`
    table = Table(title=Text(printable(title, one_line=True), overflow="ellipsis"), header_style="bold",
                  show_footer=footer is not None, footer_style="bold")
    for index, header in enumerate(headers):
        cells = [row[index] for row in rows] + ([footer[index]] if footer else [])
        table.add_column(plain(header), footer=footer[index] if footer else "", justify="right" if index in right else "left",
                         no_wrap=index in right or index == 0,
                         min_width=max((len(line) for cell in cells for line in cell.split("\n")), default=0) if index in right else None)
    for row, style in zip(rows, styles or [None] * len(rows)):
        table.add_row(*map(plain, row), style=style)
    return table


@dataclass(frozen=True)
class Rendered:
    """A rich renderable and the width it needs: printed narrower than that, a table wraps in the
    terminal instead of cutting a number (cli/render.emit widens its console to it). `plain` is the
    same table as rich draws it without colour, when it is known (plain_table): a console that
    writes no styles (a pipe, a file) and has the room prints those lines, without rich's layout
    (for googlenet's 110 rows, 50 ms of a run that takes a few hundred)."""

    renderable: Any
    needed_width: int = 0
    plain: tuple[str, ...] | None = None

    def __rich_console__(self, console: Any, options: Any):
        if self.plain is not None and console.color_system is None and options.max_width >= self.needed_width:
            from rich.segment import Segment

            for line in self.plain:
                yield Segment(line)
                yield Segment.line()
            return
        yield self.renderable

    def __rich_measure__(self, console: Any, options: Any) -> Any:
        from rich.measure import Measurement

        return Measurement.get(console, options, self.renderable)


# rich's box.HEAVY_HEAD, the tables' box: top, header, below the header, between rows and the footer, bottom
_BOX = {"top": "┏━┳┓", "head": "┃┃┃", "below_head": "┡━╇┩", "row": "│││", "above_foot": "├─┼┤", "bottom": "└─┴┘"}
_ONE_CELL = frozenset("≠└↳")  # the non-ASCII characters gcost's own cells hold, each one terminal cell wide


def plain_table(title: str, headers: list[str], rows: list[list[str]], footer: list[str] | None,
                right: set[int]) -> tuple[str, ...] | None:
    """The lines rich draws for rich_table(...) on a console without styles, wide enough for every
    cell (each column as wide as its widest cell, one space of padding each side, the title centred
    over the table); None where only rich can say (text that is not one line of one-cell-wide
    characters: a user's name in another script, an escape shown on several lines)."""
    texts = [title, *headers, *(cell for row in rows for cell in row), *(footer or [])]
    if not rows or any(not (text.isascii() or set(text) - set(map(chr, range(128))) <= _ONE_CELL) or "\n" in text
                       or not text.isprintable() for text in map(printable, texts)):
        return None
    widths = [max(len(printable(cell)) for cell in [header, *(row[i] for row in rows), *([footer[i]] if footer else [])])
              for i, header in enumerate(headers)]

    def rule(chars: str) -> str:
        return chars[0] + chars[2].join(chars[1] * (width + 2) for width in widths) + chars[3]

    def line(cells: list[str], rules: str) -> str:
        shown = [printable(cell).rjust(width) if i in right else printable(cell).ljust(width)
                 for i, (cell, width) in enumerate(zip(cells, widths))]
        return rules[0] + rules[1].join(f" {cell} " for cell in shown) + rules[2]

    width = sum(widths) + 3 * len(widths) + 1
    title = printable(title)
    if len(title) > width:
        return None
    excess = width - len(title)
    lines = [" " * (excess // 2) + title + " " * (excess - excess // 2), rule(_BOX["top"]), line(headers, _BOX["head"]),
             rule(_BOX["below_head"]), *(line(row, _BOX["row"]) for row in rows)]
    if footer is not None:
        lines += [rule(_BOX["above_foot"]), line(footer, _BOX["row"])]
    return (*lines, rule(_BOX["bottom"]))


COLUMNS_REMEDY = ("--columns chooses columns (e.g. --columns name,type,output,params,macs,rf); --format markdown or "
                  "csv has them all.")


def to_rich_table(report: Report, depth: str = "branches", *, width: int | None = None,
                  columns: tuple[str, ...] | None = None, remedy: str = COLUMNS_REMEDY):
    """The table, and a note when columns were left out to fit `width` (the optional ones, in
    OPTIONAL_COLUMNS order; never when `columns` were chosen). A table that still needs more than
    `width` says so (Rendered.needed_width): printed at that width it wraps in the terminal instead
    of cutting a number."""
    chosen = _columns(report, columns)
    shown = _rows(report, depth)
    left_out: list[str] = []

    def cells(cols: list[Column]) -> tuple[list[str], list[list[str]], list[str]]:
        keys = [key for key, _, _ in cols]
        return (_headings(report, keys), [[display(row) for _, _, display in cols] for row in shown],
                _totals_row(report, keys))

    headers, body, footer = cells(chosen)
    for key in OPTIONAL_COLUMNS if columns is None and width is not None else ():
        if table_width(headers, body, footer) <= width:
            break
        if any(c[0] == key for c in chosen):
            left_out.append(HEADERS[key])
            chosen = [c for c in chosen if c[0] != key]
            headers, body, footer = cells(chosen)
    keys = [key for key, _, _ in chosen]
    styles = ["dim" if row.parent else ("yellow" if row.paper is not None and not row.paper.ok else None)
              for row in shown]
    title, right = f"{report.spec.name}: per-layer cost", {i for i, k in enumerate(keys) if k in NUMERIC | {"output"}}
    table = rich_table(title, headers, body, right=right, styles=styles, footer=footer)
    table = Rendered(table, table_width(headers, body, footer), plain_table(title, headers, body, footer, right))
    note = None
    if left_out:
        note = f"Left out to fit {width} columns: {', '.join(left_out)}. {remedy}"
    return table, note


def to_json(report: Report) -> str:
    return json_text(report.to_dict())


def to_csv(report: Report, depth: str = "branches", columns: tuple[str, ...] | None = None) -> str:
    """One row per layer, full names with their parent; the output column says its order in its
    name (output_shape_hwc, as the table shows it, or output_shape for other shapes)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    output = "output_shape_hwc" if output_heading(report) == "output HxWxC" else "output_shape"
    chosen = [(output if key == "output" else key, lambda r: shape_text(r.output_shape), None) if key == "output"
              else (key, value, display) for key, value, display in _columns(report, columns) if key != "layer"]
    extra = [] if columns else [("weights", lambda r: r.weights, None), ("activations", lambda r: r.activations, None),
                                *([] if report.machine is not None else ROOFLINE_COLUMNS[:2])]
    columns_out = [("name", lambda r: r.name, None), ("parent", lambda r: r.parent or "", None), *chosen, *extra]
    writer.writerow([key for key, _, _ in columns_out])
    writer.writerows(csv_cells([value(row) for _, value, _ in columns_out]) for row in _rows(report, depth))
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
    columns = _columns(report, columns)
    rows = [[markdown_name(display(row)) for _, _, display in columns] for row in _rows(report, depth)]
    rows.append([f"**{cell}**" if cell else "" for cell in _totals_row(report, [k for k, _, _ in columns])])
    right = {i for i, (key, _, _) in enumerate(columns) if key in NUMERIC}
    headers = _headings(report, [k for k, _, _ in columns])
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


def threads_words(stats: LatencyStats) -> str:
    """'1 thread (decided: other work kept 2.0 of 2 CPUs busy; --threads N overrides)'."""
    count = f"{stats.threads} thread{'s' if stats.threads != 1 else ''}"
    if stats.threads_reason and stats.threads_reason.startswith("--threads"):
        return f"{count} ({stats.threads_reason})"
    return f"{count} (decided: {stats.threads_reason}; --threads N overrides)"


def clock_words(stats: LatencyStats) -> str:
    """What an on-CPU figure is, and the wall-clock median beside it."""
    held = f" in {stats.load.share:.0%} of the iterations" if stats.load is not None else ""
    return (f"on-CPU time: other work held the CPU{held}, so each figure is the time the forward ran, without "
            f"the others' turns (wall-clock median {stats.wall_median_ms:.3f} ms)")


def latency_panel(items: tuple[LatencyStats, ...]):
    """The latency of each timed batch (Report.timed), CPU or GPU said once."""
    from rich.markup import escape
    from rich.panel import Panel

    from ..timing.stats import Sensors

    first = items[0]
    if first.device_type == "cpu":
        lines = [f"[bold yellow]CPU timing[/]: no CUDA device was used, so this is NOT GPU latency. "
                 f"{escape(first.device)}, torch {first.torch_version}"]
        if first.threads_reason:
            lines.append(f"  {threads_words(first)}")
    else:
        lines = [f"[bold green]GPU timing[/] on {escape(first.device)}, torch {first.torch_version}"]
    for s in items:
        modes = ", ".join(m for m, on in (("channels_last", s.channels_last), ("CUDA graph", s.cuda_graph),
                                          ("torch.compile", s.compiled), ("cold L2", s.cold_cache)) if on)
        peak = f" ({s.peak_fraction:.1%} of peak)" if s.peak_fraction is not None else ""
        memory = f", peak memory {s.peak_memory_bytes / 2**20:,.1f} MiB" if s.peak_memory_bytes else ""
        p99 = f", p99 {s.p99_ms:.3f}" if s.p99_ms is not None else ""
        lines.append(
            f"batch {s.batch} {s.dtype}{', ' + modes if modes else ''}: median [bold]{s.median_ms:.3f} ms[/] "
            f"(IQR {s.iqr_ms:.3f}, p10 {s.p10_ms:.3f}, p90 {s.p90_ms:.3f}{p99}) over {s.iterations} "
            f"runs after {s.warmup_iterations} warm-up; {s.throughput_per_s:,.1f} samples/s, "
            f"{s.tflops:.3f} TFLOP/s{peak}{memory}")
        if s.clock == "on_cpu":
            lines.append(f"  {clock_words(s)}")
        if s.phases:
            total = s.phases.total_ms or 1.0
            lines.append("  step: " + ", ".join(f"{name} {ms:.3f} ms ({ms / total:.0%})"
                                                for name, ms in s.phases.parts()))
        check = s.self_check
        if check is not None and check.events_vs_wall is not None:
            graph = {True: ", CUDA graph output = eager output", None: ""}.get(check.graph_matches_eager, "")
            lines.append(f"  self-check: events / wall time {check.events_vs_wall:.3f}{graph}")
        if s.gpu_state and s.gpu_state.before:
            before, after = s.gpu_state.before, s.gpu_state.after or Sensors()
            lines.append(f"  GPU SM clock {before.sm_clock_mhz} -> {after.sm_clock_mhz} MHz, "
                         f"temperature {before.temperature_c} -> {after.temperature_c} C")
    title = "training-step latency" if first.step == "train" else "forward-pass latency"
    return Panel("\n".join(lines), title=title, expand=False)
