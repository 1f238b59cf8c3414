"""The roofline pictures (--roofline --plot FILE).

`--plot-kind roofline` (the default): two panels. Left, the classic roofline, arithmetic intensity
against FLOP/s on log-log axes, the roofs drawn and labelled with their values and source, every
leaf row with MACs a point at its measured FLOP/s (--per-layer), else at its expected FLOP/s (its
operators at the measured rates), else at its bound's (marked as such). Right, the rows without
MACs (pools, LRN, softmax, norms), which have no FLOP/s: their bytes against the bandwidth they
reach (measured, else expected from their operators' measured rates) under the memory and cache
roofs. So every row is placed. Points are sized by their time; the rows that take the most time
are labelled, the labels moved apart so that none overlaps another; in a comparison each variant
has its own colour.

`--plot-kind bars`: per top-level row, its measured time (--per-layer), expected time and bound
side by side, on a log axis: where the time goes and how far each row is from its roof."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..quantity import human

if TYPE_CHECKING:
    from ..comparison import Comparison
    from ..report import LayerRow, Report

COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c")
LABELLED = (6, 3)  # the rows named on each panel: of one report, of each of several
PLOT_KINDS = ("roofline", "bars")


def _leaves(report: Report) -> list[LayerRow]:
    """The rows that are no one's parent: each operator's cost is drawn once."""
    parents = {row.parent for row in report.layers if row.parent is not None}
    return [row for row in report.layers if row.name not in parents]


def row_time(row: LayerRow) -> tuple[float | None, str]:
    """A row's time to place it by, and where it comes from: measured, expected, or its bound."""
    if row.latency_ms:
        return row.latency_ms, "measured"
    if row.expected_ms:
        return row.expected_ms, "expected"
    return (row.bound_ms, "bound") if row.bound_ms else (None, "")


def _mac_point(row: LayerRow, batch: int) -> tuple[float, float, float] | None:
    """(intensity, FLOP/s, ms) of a row with MACs and a time."""
    ms, _ = row_time(row)
    if not row.macs or not row.arithmetic_intensity or not ms:
        return None
    return row.arithmetic_intensity, 2 * row.macs * batch / (ms / 1e3), ms


def _byte_point(row: LayerRow) -> tuple[float, float, float] | None:
    """(bytes, bytes/s, ms) of a row without MACs that moves something and has a time."""
    ms, _ = row_time(row)
    if row.macs or not row.bytes or not ms:
        return None
    return row.bytes, row.bytes / (ms / 1e3), ms


def _source(report: Report) -> str:
    kinds = {row_time(row)[1] for row in _leaves(report) if row_time(row)[0]}
    return next((kind for kind in ("measured", "expected", "bound") if kind in kinds), "bound")


def place_labels(axis: Any, points: list[tuple[float, float, str]], colour: str, placed: list) -> None:
    """Name each point beside it, to its right or left and moved up or down (in steps of a line)
    until its text overlaps no label already placed on the axis (`placed`: their boxes in display
    units) and stays inside it; a point with no free place nearby stays unnamed. A moved label
    gets a leader line to its point."""
    renderer = axis.figure.canvas.get_renderer()
    frame = axis.get_window_extent(renderer)
    tries = [(side, step) for step in (0, 1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6, -6) for side in (1, -1)]
    for x, y, text in points:
        for side, step in tries:
            where = {"textcoords": "offset points", "xytext": (5 * side, -3 + 11 * step),
                     "ha": "left" if side > 0 else "right", "fontsize": 7, "color": colour}
            label = axis.annotate(text, (x, y), **where)
            box = label.get_window_extent(renderer)
            label.remove()
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
            if inside and not any(box.overlaps(other) for other in placed):
                line = None if step == 0 else {"arrowstyle": "-", "color": colour, "lw": 0.4, "alpha": 0.6}
                axis.annotate(text, (x, y), arrowprops=line, **where)
                placed.append(box)
                break


def _roofs(axis: Any, machine, low: float, high: float) -> list:
    """The memory (and cache) roofs and the compute roof, labelled; their labels."""
    roofs = [(machine.bytes_per_s, f"memory {human(machine.bytes_per_s)}B/s", "-")]
    if machine.cache_bytes_per_s:
        roofs.append((machine.cache_bytes_per_s, f"cache {human(machine.cache_bytes_per_s)}B/s", "--"))
    labels = []
    for bandwidth, label, style in roofs:
        ridge = machine.flops_per_s / bandwidth
        axis.plot([low, ridge], [bandwidth * low, machine.flops_per_s], style, color="#333333", linewidth=1.2)
        labels.append(axis.annotate(f"{label} ({machine.source}), ridge {ridge:.1f}", (low, bandwidth * low),
                                    textcoords="offset points", xytext=(4, 6), fontsize=8, rotation=30))
    axis.plot([machine.flops_per_s / max(bandwidth for bandwidth, _, _ in roofs), high],
              [machine.flops_per_s] * 2, "-", color="#333333", linewidth=1.2)
    labels.append(axis.annotate(f"peak {human(machine.flops_per_s)}FLOP/s ({machine.source})",
                                (high, machine.flops_per_s), textcoords="offset points", xytext=(-4, 4), ha="right",
                                fontsize=8))
    return labels


def _log_axes(axis: Any, low: float, high: float, ys: list[float], xlabel: str, ylabel: str, heading: str) -> None:
    """Scales and limits first: the labels' boxes are measured in the axes' final coordinates."""
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlim(low, high)
    if ys:
        axis.set_ylim(min(ys) / 3, max(ys) * 2)
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.set_title(heading, fontsize=9)
    axis.grid(True, which="both", alpha=0.2)


def draw(axis: Any, reports: list[Report], labels: list[str], bytes_axis: Any = None) -> list[str]:
    """The roofline on `axis` (rows with MACs) and, on `bytes_axis`, the rows without MACs against
    the bandwidth roofs; the notes to print under the figure."""
    machine = reports[0].machine
    mac_points = [[(p, row) for row in _leaves(r) if (p := _mac_point(row, r.batch))] for r in reports]
    byte_points = [[(p, row) for row in _leaves(r) if (p := _byte_point(row))] for r in reports]
    xs = [p[0] for drawn in mac_points for p, _ in drawn]
    low, high = (min(xs) / 4, max(xs) * 4) if xs else (0.1, 1000.0)
    ys = [p[1] for drawn in mac_points for p, _ in drawn] + [machine.flops_per_s, machine.bytes_per_s * low]
    _log_axes(axis, low, high, ys, "arithmetic intensity (FLOP per byte moved)", "FLOP/s", "rows with MACs")
    renderer = axis.figure.canvas.get_renderer()
    placed = [label.get_window_extent(renderer) for label in _roofs(axis, machine, low, high)]
    placed_bytes = _bandwidth_panel(bytes_axis, machine, [p for drawn in byte_points for p, _ in drawn]) \
        if bytes_axis is not None else []
    largest = max((p[2] for drawn in mac_points + byte_points for p, _ in drawn), default=1.0) or 1.0
    notes = []
    for index, label in enumerate(labels):
        colour = COLOURS[index % len(COLOURS)]
        source = _source(reports[index])
        shown = mac_points[index]
        axis.scatter([p[0] for p, _ in shown], [p[1] for p, _ in shown], s=[20 + 400 * p[2] / largest for p, _ in shown],
                     color=colour, alpha=0.6, edgecolors="white", linewidths=0.5, label=f"{label} ({source})")
        count = LABELLED[len(reports) > 1]
        place_labels(axis, [(p[0], p[1], row.name) for p, row in sorted(shown, key=lambda item: -item[0][2])[:count]],
                     colour, placed)
        without = byte_points[index]
        if bytes_axis is not None and without:
            bytes_axis.scatter([p[0] for p, _ in without], [p[1] for p, _ in without],
                               s=[20 + 400 * p[2] / largest for p, _ in without], color=colour, alpha=0.6,
                               edgecolors="white", linewidths=0.5, marker="s", label=f"{label} ({source})")
            place_labels(bytes_axis, [(p[0], p[1], row.name) for p, row in
                                      sorted(without, key=lambda item: -item[0][2])[:count]], colour, placed_bytes)
        if without:
            ms = sum(p[2] for p, _ in without)
            total = sum(p[2] for p, _ in without + shown) or 1.0
            notes.append(f"{label}: {len(without)} rows without MACs take {ms:,.3f} ms {source} ({ms / total:.0%} of "
                         f"the rows drawn), at {min(p[1] for p, _ in without) / 1e9:.2f} to "
                         f"{max(p[1] for p, _ in without) / 1e9:.2f} GB/s")
    axis.legend(fontsize=8, loc="lower right")
    if bytes_axis is not None and any(byte_points):
        bytes_axis.legend(fontsize=8, loc="upper left")
    return notes


def _bandwidth_panel(axis: Any, machine, points: list[tuple[float, float, float]]) -> list:
    """The rows without MACs' panel: its axes and bandwidth roofs; the roofs' label boxes."""
    xs = [p[0] for p in points] or [1e3, 1e9]
    low, high = min(xs) / 3, max(xs) * 3
    roofs = [(machine.bytes_per_s, "memory", "-"), (machine.cache_bytes_per_s, "cache", "--")]
    _log_axes(axis, low, high, [p[1] for p in points] + [bandwidth for bandwidth, _, _ in roofs if bandwidth],
              "bytes moved (eager)", "bytes/s reached", "rows without MACs: bandwidth reached")
    renderer = axis.figure.canvas.get_renderer()
    boxes = []
    for bandwidth, label, style in roofs:
        if bandwidth:
            axis.plot([low, high], [bandwidth, bandwidth], style, color="#333333", linewidth=1.2)
            boxes.append(axis.annotate(f"{label} {human(bandwidth)}B/s ({machine.source})", (high, bandwidth),
                                       textcoords="offset points", xytext=(-4, 4), ha="right",
                                       fontsize=8).get_window_extent(renderer))
    return boxes


def title(report: Report, what: str) -> str:
    machine = report.machine
    return (f"{report.spec.name}: {what} on {machine.device} ({machine.source} peaks), {report.dtype}, "
            f"batch {report.batch}")


def build(reports: list[Report], labels: list[str], heading: str):
    import matplotlib.pyplot as plt

    figure, (axis, bytes_axis) = plt.subplots(1, 2, figsize=(15, 7), dpi=100, gridspec_kw={"width_ratios": [3, 2]})
    figure.canvas.draw()  # a renderer for the labels' boxes
    notes = draw(axis, reports, labels, bytes_axis)
    figure.suptitle(heading, fontsize=11)
    if notes:
        figure.text(0.01, 0.01, "\n".join(notes), fontsize=8, va="bottom")
        figure.subplots_adjust(bottom=0.1 + 0.025 * len(notes))
    return figure


def build_bars(report: Report, heading: str):
    """Measured (with --per-layer), expected and bound per top-level row, on a log time axis."""
    import matplotlib.pyplot as plt

    rows = [row for row in report.layers if row.parent is None and (row.bound_ms or row.expected_ms or row.latency_ms)]
    series = [("measured", "latency_ms", "#c44e52"), ("expected", "expected_ms", "#4c72b0"),
              ("bound", "bound_ms", "#8c8c8c")]
    series = [item for item in series if any(getattr(row, item[1]) for row in rows)]
    figure, axis = plt.subplots(figsize=(10, max(4.0, 0.32 * len(rows) + 1.5)), dpi=100)
    height = 0.8 / max(1, len(series))
    for index, (name, attribute, colour) in enumerate(series):
        values = [getattr(row, attribute) or 0.0 for row in rows]
        axis.barh([position + index * height for position in range(len(rows))], values, height=height,
                  color=colour, label=f"{name} ms")
    axis.set_yticks([position + height * (len(series) - 1) / 2 for position in range(len(rows))])
    axis.set_yticklabels([f"{row.name} ({row.limit})" if row.limit else row.name for row in rows], fontsize=7)
    axis.invert_yaxis()
    axis.set_xscale("log")
    axis.set_xlabel("ms (log scale)")
    axis.grid(True, axis="x", which="both", alpha=0.2)
    axis.legend(fontsize=8, loc="lower right")
    axis.set_title(heading, fontsize=10)
    figure.tight_layout()
    return figure


def plot_report(report: Report, path: str, kind: str = "roofline") -> None:
    """analyze --roofline --plot FILE [--plot-kind bars]."""
    from .plots import plot_backend, save_figure

    plot_backend(path)
    if kind == "bars":
        save_figure(build_bars(report, title(report, "measured, expected and bound per row")), path)
        return
    save_figure(build([report], [report.spec.name], title(report, "roofline")), path)


def plot_comparison(comparison: Comparison, path: str) -> None:
    """compare --roofline --plot FILE: every variant's layers, one colour each."""
    from .compare import column_label
    from .plots import plot_backend, save_figure

    plot_backend(path)
    labels = [column_label(comparison, k) for k in range(len(comparison.labels))]
    save_figure(build(comparison.reports, labels, title(comparison.reports[0], "roofline of every variant")), path)
