"""Views of a SweepResult: the table (the front first), the sentences under it, JSON, CSV, Markdown,
and `PrintableSweep`, what the Python API returns (prints as the table, renders as HTML in a
notebook, gives a pandas DataFrame). The front's picture is in views/sweep_plot.py."""
from __future__ import annotations

import csv
import html
import io
import json
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from ..space.result import Candidate, SweepResult
from ..escaping import printable
from .fit import Rendered, rich_table, table_width
from .formats import csv_cells, markdown_table

if TYPE_CHECKING:
    from ..space.result import DeviceSummary

FORMATS = ("table", "json", "csv", "markdown")
TABLE_ROWS = 40  # the terminal table's rows at most (JSON, CSV and Markdown list every candidate)
TEXT_WIDTH = 100
METRIC_WORDS = {"params": "params", "weights": "weights", "macs": "MACs", "bytes": "bytes",
                "activation_bytes": "activation bytes", "latency_ms": "latency"}


def ordered(result: SweepResult) -> list[Candidate]:
    """The front first (fastest first, else by the first objective), then the other candidates within
    budget, then those over a budget, then those that do not build; the grid's order within each."""
    first = result.objectives[0]
    sign = -1 if first.direction == "max" else 1

    def key(c: Candidate) -> tuple:
        group = 0 if c.pareto else 1 if c.valid and not c.over else 2 if c.valid else 3
        within = c.latency_ms if c.latency_ms is not None else sign * (c.value(first.metric) or 0)
        return (group, within if group == 0 else 0, c.index)

    return sorted(result.candidates, key=key)


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:,.3f}"


def _status(c: Candidate) -> str:
    if not c.valid:
        return f"does not build: {c.reason}"
    if c.over:
        return "over " + ", ".join(METRIC_WORDS.get(key, key) for key in c.over)
    return "front" if c.pareto else ""


def _columns(result: SweepResult) -> list[tuple[str, Any]]:
    """(heading, cell of a candidate) of every column the result has."""
    columns: list[tuple[str, Any]] = [("candidate", lambda c: c.label),
                                      ("params", lambda c: "" if c.counts is None else f"{c.counts.params:,}"),
                                      ("MACs", lambda c: "" if c.counts is None else f"{c.counts.macs:,}"),
                                      ("bytes", lambda c: "" if c.counts is None else f"{c.counts.bytes:,}")]
    for device in result.devices:
        suffix = f" ({device.kind})" if len(result.devices) > 1 else ""
        if result.latency == "predicted":
            columns.append((f"predicted ms{suffix}", lambda c, k=device.kind: _ms(_on(c, k).predicted_ms)))
        columns.append((f"measured ms{suffix}", lambda c, k=device.kind: _ms(_on(c, k).measured_ms)))
    columns.append(("", _status))
    return columns


def _on(candidate: Candidate, kind: str):
    from ..space.result import CandidateLatency

    return candidate.latency.get(kind, CandidateLatency())


def to_rich(result: SweepResult, rows: int | None = TABLE_ROWS) -> list:
    columns = _columns(result)
    shown = ordered(result)
    left = len(shown) - rows if rows is not None and len(shown) > rows else 0
    shown = shown[:len(shown) - left]
    headers = [heading for heading, _ in columns]
    body = [[cell(c) for _, cell in columns] for c in shown]
    title = f"{result.spec.get('name')}: {len(result.candidates):,} candidates, the front first"
    table = rich_table(title, headers, body, right=set(range(1, len(columns) - 1)),
                       styles=["bold" if c.pareto else "dim" if not c.valid or c.over else None for c in shown])
    notes = [f"{left:,} more candidates not shown: --format json, csv or markdown lists every one."] if left else []
    return [Rendered(table, table_width(headers, body, None)), *(_text(line) for line in notes + summary(result))]


def _text(line: str) -> Any:
    """A sentence as rich Text: printed as it is (a label's brackets are not rich markup)."""
    from rich.text import Text

    return Text(printable(line))


def summary(result: SweepResult) -> list[str]:
    """The sentences under the table."""
    candidates = result.candidates
    invalid = sum(not c.valid for c in candidates)
    over = sum(c.valid and bool(c.over) for c in candidates)
    drawn = (f"{len(candidates):,} drawn at random (seed {result.seed}) from a grid of {result.size:,}"
             if result.sample is not None and len(candidates) < result.size else f"{len(candidates):,} candidates")
    parts = [f"{invalid:,} do not build"] if invalid else []
    parts += [f"{over:,} over budget"] if over else []
    objectives = ", ".join(o.text for o in result.objectives)
    lines = [f"{drawn}{' (' + ', '.join(parts) + ')' if parts else ''}; {len(result.front):,} on the front of "
             f"{objectives}."]
    lines += [_device_line(result, device) for device in result.devices]
    if result.store_path is not None or result.devices:
        lines.append(f"Latency store: {result.store_path or 'in memory only (no cache folder)'}.")
    lines.append(f"Counted by the closed forms, {result.batch} sample{'s' if result.batch != 1 else ''} a batch, "
                 f"bytes in {result.dtype}; every candidate's edits reproduce it with gcost analyze --set; "
                 f"{result.elapsed_s:,.{1 if result.elapsed_s >= 10 else 2}f} s.")
    return lines


def _device_line(result: SweepResult, device: DeviceSummary) -> str:
    c = device.conditions
    threads = f", {c.threads} thread{'s' if c.threads != 1 else ''}" if c.threads is not None else ""
    where = f"{device.kind}: {c.device}, {c.dtype}, batch {c.batch}{threads}, torch {c.torch}"
    use = device.use
    table = (f"table: {use.reused:,} entries reused from the store, {use.measured_layers:,} layers and "
             f"{use.measured_networks:,} networks timed now")
    if use.interpolated:
        table += f", {use.interpolated:,} layers interpolated along a channel count (--interpolate)"
    if use.unsteady_layers:
        table += (f" ({use.unsteady_layers:,} of its {use.layer_entries:,} layer entries varied by more than 5% "
                  "while timed)")
    line = f"{where}; {table}."
    if device.calibration is not None:
        term = device.calibration.term_ms
        line += (f" Predicted = its layers' entries {'-' if term < 0 else '+'} {abs(term):,.3f} ms (the base network "
                 f"measured {device.calibration.measured_ms:,.3f} ms end to end, its layers sum to "
                 f"{device.calibration.units_ms:,.3f} ms).")
    p = device.prediction
    if p is not None and p.measured:
        tau = "n/a (too few or tied)" if p.kendall_tau is None else f"{p.kendall_tau:.2f}"
        line += (f" Predictor checked on {p.measured:,} candidates timed end to end: mean absolute error "
                 f"{p.mape:.1%} (MAPE), rank agreement Kendall tau {tau}.")
    return line


def warnings(result: SweepResult) -> list[str]:
    """What the user should know about the timing: the timings' own warnings, and a base network
    that took another time when timed again (the machine's speed changed during the sweep)."""
    lines = list(result.warnings)
    for device in result.devices:
        c = device.calibration
        if c is not None and c.drifted:
            lines.append(f"{device.kind}: the base network took {c.measured_ms:,.3f} ms end to end when the table "
                         f"was calibrated and {c.again_ms:,.3f} ms when the predictor was checked ({c.drift:+.0%}): "
                         "the machine's speed changed during the sweep, and every prediction carries that; sweep "
                         "again with other work stopped, or with --threads 1")
    return lines


def to_csv(result: SweepResult) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    keys = ["label", "edits", "params", "weights", "macs", "bytes", "activations", "valid", "reason", "over",
            "predicted_ms", "measured_ms", "interpolated", "pareto"]
    kinds = [device.kind for device in result.devices] if len(result.devices) > 1 else []
    writer.writerow(keys + [f"{name}_{kind}" for kind in kinds for name in ("predicted_ms", "measured_ms")])
    for candidate in result.candidates:
        data = candidate.to_dict()
        data["over"] = ";".join(data["over"])
        extra = [getattr(_on(candidate, kind), name) for kind in kinds for name in ("predicted_ms", "measured_ms")]
        writer.writerow(csv_cells([data[key] for key in keys] + extra))
    return buffer.getvalue()


def to_markdown(result: SweepResult) -> str:
    columns = _columns(result)
    rows = [[cell(c) for _, cell in columns] for c in ordered(result)]
    table = markdown_table([h or "status" for h, _ in columns], rows, right=set(range(1, len(columns) - 1)))
    return table + "\n" + "\n\n".join(printable(line) for line in summary(result)) + "\n"


def render(result: SweepResult, fmt: str) -> str | None:
    """The text of a format, or None for the table (to_rich's renderables)."""
    if fmt == "json":
        return json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n"
    if fmt == "csv":
        return to_csv(result)
    if fmt == "markdown":
        return to_markdown(result)
    return None


def sweep_text(result: SweepResult, width: int = TEXT_WIDTH) -> str:
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False, force_jupyter=False,
                      force_interactive=False, highlight=False, emoji=False)
    for item in to_rich(result):
        console.width = max(width, getattr(item, "needed_width", 0))
        console.print(item)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())


def sweep_html(result: SweepResult) -> str:
    columns = _columns(result)
    head = "".join(f"<th>{html.escape(h)}</th>" for h, _ in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(printable(cell(c)))}</td>" for _, cell in columns) + "</tr>"
                   for c in ordered(result))
    notes = "".join(f"<p>{html.escape(printable(line))}</p>" for line in summary(result))
    return (f'<div class="gcost-sweep"><table><caption>{html.escape(printable(str(result.spec.get("name"))))}: '
            f"the front first</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{notes}</div>")


FRAME_COLUMNS = ("label", "edits", "params", "weights", "macs", "bytes", "activations", "valid", "reason", "over",
                 "predicted_ms", "measured_ms", "interpolated", "pareto")


def sweep_frame(result: SweepResult) -> Any:
    """One row per candidate (FRAME_COLUMNS), in the grid's order; pandas is imported only here."""
    from ..errors import GcostError

    try:
        import pandas
    except ImportError:
        raise GcostError("to_pandas needs pandas: pip install pandas") from None
    return pandas.DataFrame([{key: c.to_dict()[key] for key in FRAME_COLUMNS} for c in result.candidates],
                            columns=list(FRAME_COLUMNS))


@dataclass(frozen=True)
class PrintableSweep(SweepResult):
    """A SweepResult that prints as its table, renders as HTML in a notebook and gives its candidates
    as a DataFrame; otherwise the same plain data, with the same to_dict()."""

    @classmethod
    def of(cls, result: SweepResult) -> PrintableSweep:
        return cls(**{item.name: getattr(result, item.name) for item in fields(SweepResult)})

    def __str__(self) -> str:
        return sweep_text(self)

    def _repr_html_(self) -> str:
        return sweep_html(self)

    def to_pandas(self) -> Any:
        return sweep_frame(self)
