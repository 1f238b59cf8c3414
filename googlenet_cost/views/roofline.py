"""The roofline picture (--roofline --plot FILE): log-log, arithmetic intensity against FLOP/s.

Every layer with MACs is a point: at its measured FLOP/s with --per-layer, else at its bound's
(marked as a bound). The roofs are drawn and labelled with their values and where they come
from (measured or datasheet). Points are sized by their time, the worst layers are labelled,
and in a comparison each variant has its own colour. Rows without MACs (pools, LRN, softmax)
have no FLOP/s to place: a note under the figure counts them and their time."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..quantity import human

if TYPE_CHECKING:
    from ..comparison import Comparison
    from ..report import LayerRow, Report

COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c")
LABELLED = (5, 3)  # the worst layers named on the figure: of one report, of each of several


def _leaves(report: Report) -> list[LayerRow]:
    """The rows that are no one's parent: each operator's cost is drawn once."""
    parents = {row.parent for row in report.layers if row.parent is not None}
    return [row for row in report.layers if row.name not in parents]


def _point(row: LayerRow, batch: int) -> tuple[float, float, float, bool] | None:
    """(intensity, FLOP/s, ms, measured) of a row with MACs and a time, else None."""
    if not row.macs or not row.arithmetic_intensity or not row.bound_ms:
        return None
    measured = row.latency_ms is not None and row.latency_ms > 0
    ms = row.latency_ms if measured else row.bound_ms
    return row.arithmetic_intensity, 2 * row.macs * batch / (ms / 1e3), ms, measured


def draw(axis: Any, reports: list[Report], labels: list[str]) -> list[str]:
    """Roofs and points on `axis`; the notes to print under the figure."""
    machine = reports[0].machine
    points = [[(_point(row, r.batch), row) for row in _leaves(r)] for r in reports]
    xs = [p[0] for drawn in points for p, _ in drawn if p]
    low, high = (min(xs) / 4, max(xs) * 4) if xs else (0.1, 1000.0)
    roofs = [(machine.bytes_per_s, f"memory {human(machine.bytes_per_s)}B/s", "-")]
    if machine.cache_bytes_per_s:
        roofs.append((machine.cache_bytes_per_s, f"cache {human(machine.cache_bytes_per_s)}B/s", "--"))
    for bandwidth, label, style in roofs:
        ridge = machine.flops_per_s / bandwidth
        axis.plot([low, ridge], [bandwidth * low, machine.flops_per_s], style, color="#333333", linewidth=1.2)
        axis.annotate(f"{label} ({machine.source})", (low, bandwidth * low), textcoords="offset points",
                      xytext=(4, 6), fontsize=8, rotation=30)
    axis.plot([machine.flops_per_s / max(bandwidth for bandwidth, _, _ in roofs), high],
              [machine.flops_per_s] * 2, "-", color="#333333", linewidth=1.2)
    axis.annotate(f"peak {human(machine.flops_per_s)}FLOP/s ({machine.source})", (high, machine.flops_per_s),
                  textcoords="offset points", xytext=(-4, 4), ha="right", fontsize=8)
    notes = []
    largest = max((p[2] for drawn in points for p, _ in drawn if p), default=1.0) or 1.0
    for index, (drawn, label) in enumerate(zip(points, labels)):
        shown = [(p, row) for p, row in drawn if p]
        colour = COLOURS[index % len(COLOURS)]
        measured = any(p[3] for p, _ in shown)
        axis.scatter([p[0] for p, _ in shown], [p[1] for p, _ in shown], s=[20 + 400 * p[2] / largest for p, _ in shown],
                     color=colour, alpha=0.6, edgecolors="white", linewidths=0.5,
                     label=f"{label} ({'measured' if measured else 'at its bound'})")
        worst = sorted(shown, key=lambda item: (item[1].efficiency or 0.0) if measured else -item[0][2])
        worst = worst[:LABELLED[len(reports) > 1]]
        for p, row in worst:
            axis.annotate(row.name, (p[0], p[1]), textcoords="offset points", xytext=(4, -10), fontsize=7,
                          color=colour)
        without = [row for row in _leaves(reports[index]) if not row.macs and row.bytes]
        if without:
            ms = sum((row.latency_ms if row.latency_ms is not None else row.bound_ms or 0.0) for row in without)
            notes.append(f"{label}: {len(without)} rows without MACs (pools, normalization, ...) not drawn: "
                         f"{ms:,.3f} ms {'measured' if measured else 'of bound'}")
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlim(low, high)
    axis.set_xlabel("arithmetic intensity (FLOP per byte moved)")
    axis.set_ylabel("FLOP/s")
    axis.grid(True, which="both", alpha=0.2)
    axis.legend(fontsize=8, loc="lower right")
    return notes


def title(report: Report, what: str) -> str:
    machine = report.machine
    return (f"{report.spec.get('name')}: {what} on {machine.device} ({machine.source} peaks), {report.dtype}, "
            f"batch {report.batch}")


def build(reports: list[Report], labels: list[str], heading: str):
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(10, 7), dpi=100)
    notes = draw(axis, reports, labels)
    axis.set_title(heading, fontsize=11)
    if notes:
        figure.text(0.01, 0.01, "\n".join(notes), fontsize=8, va="bottom")
        figure.subplots_adjust(bottom=0.1 + 0.025 * len(notes))
    return figure


def plot_report(report: Report, path: str) -> None:
    """analyze --roofline --plot FILE."""
    from .plots import plot_backend, save_figure

    plot_backend(path)
    save_figure(build([report], [str(report.spec.get("name"))], title(report, "roofline")), path)


def plot_comparison(comparison: Comparison, path: str) -> None:
    """compare --roofline --plot FILE: every variant's layers, one colour each."""
    from .compare import column_label
    from .plots import plot_backend, save_figure

    plot_backend(path)
    labels = [column_label(comparison, k) for k in range(len(comparison.labels))]
    save_figure(build(comparison.reports, labels, title(comparison.reports[0], "roofline of every variant")), path)
