"""compare's chart: params, MACs and the latency ratio with its interval per variant, and latency
against MACs (matplotlib, the optional `plot` extra, on files only)."""
from __future__ import annotations

from ..comparison import Comparison
from ..timing.paired import FASTER, SLOWER
from .compare import column_label


def _latency_panel(comparison: Comparison):
    """(title, ratios, (below, above) error lengths, bar texts) of the first timed batch, or None. A
    withheld verdict draws no bar: its text says why."""
    stats = [report.timed for report in comparison.reports]
    if not all(stats):
        return None
    estimates = [line.latency[0].estimate for line in comparison.summary]
    values = [1.0] + [e.median if e.reliable else 0.0 for e in estimates]
    below = [0.0] + [e.median - e.ci95[0] if e.reliable else 0.0 for e in estimates]
    above = [0.0] + [e.ci95[1] - e.median if e.reliable else 0.0 for e in estimates]
    texts = ["1.00x"] + [(f"{e.median:.2f}x" if e.reliable else "") +
                         ("" if e.verdict in (FASTER, SLOWER) else f"\n{e.verdict}") for e in estimates]
    first = stats[0][0]
    where = "CPU timing (not GPU latency)" if first.device_type == "cpu" else first.device
    return (f"latency / baseline, 95% CI\nbatch {first.batch} {first.dtype}, {where}", values, (below, above), texts)


def figure_title(comparison: Comparison) -> str:
    """Spec, and where the latency was measured: "googlenet: what each variant costs (CPU timing,
    fp32, batch 1)"."""
    name = comparison.reports[0].spec.name
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
