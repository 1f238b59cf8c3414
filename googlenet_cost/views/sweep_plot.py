"""The front's picture (`gcost sweep --plot FILE`): every candidate within budget on two of the
objectives, the front drawn over them and labelled; matplotlib on a file-only backend, written
atomically (views/plots.py)."""
from __future__ import annotations

from ..space.grid import short_names, values_at
from ..space.result import Candidate, SweepResult
from .plots import plot_backend, save_figure

AXIS_NAMES = {"params": "params", "macs": "MACs per sample", "bytes": "bytes moved (forward)",
              "latency": "latency (ms)"}
LABELLED = 12  # front points labelled at most (the rest are named in the table)


def axes_of(result: SweepResult) -> tuple[str, str]:
    """(x, y): a cost to minimize across, what to maximize up (params:max,latency:min draws params
    against latency); the first two objectives as given where both go the same way."""
    first, second = result.objectives[:2]
    if first.direction == "max" and second.direction == "min":
        return second.metric, first.metric
    return first.metric, second.metric


def plot_front(result: SweepResult, path: str) -> None:
    plt = plot_backend(path)
    x_metric, y_metric = axes_of(result)
    within = [c for c in result.candidates if c.valid and not c.over
              and c.value(x_metric) is not None and c.value(y_metric) is not None]
    over = [c for c in result.candidates if c.valid and c.over
            and c.value(x_metric) is not None and c.value(y_metric) is not None]
    on_front = sorted((c for c in within if c.pareto), key=lambda c: (c.value(x_metric), c.value(y_metric)))
    figure, axes = plt.subplots(figsize=(8, 5.5), layout="constrained")
    axes.scatter([c.value(x_metric) for c in within], [c.value(y_metric) for c in within], s=18, color="0.6",
                 label=f"candidates within budget ({len(within):,})", zorder=2)
    if over:
        axes.scatter([c.value(x_metric) for c in over], [c.value(y_metric) for c in over], s=18, marker="x",
                     color="0.8", label=f"over budget ({len(over):,})", zorder=1)
    axes.plot([c.value(x_metric) for c in on_front], [c.value(y_metric) for c in on_front], "-o", color="tab:red",
              markersize=6, label=f"the front ({len(on_front):,})", zorder=3)
    _measured(axes, within, x_metric, y_metric)
    step = max(1, -(-len(on_front) // LABELLED))
    for position, c in enumerate(on_front[::step]):
        axes.annotate(_literal(_short(result, c)), (c.value(x_metric), c.value(y_metric)), textcoords="offset points",
                      xytext=(6, -12 if position % 2 else 6), fontsize=7, color="tab:red")
    axes.set_xlabel(AXIS_NAMES[x_metric] + (f", predicted on {result.devices[0].kind}"
                                            if x_metric == "latency" and result.latency == "predicted" else ""))
    axes.set_ylabel(AXIS_NAMES[y_metric])
    axes.text(0.99, 0.01, _literal("labels: " + " / ".join(short_names(result.axes))), transform=axes.transAxes,
              ha="right", va="bottom", fontsize=7, color="0.4")
    objectives = ", ".join(o.text for o in result.objectives)
    axes.set_title(_literal(f"{result.spec.get('name')}: {len(result.candidates):,} candidates, front of {objectives}"),
                   fontsize=10)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8, loc="best")
    save_figure(figure, path)


def _short(result: SweepResult, candidate: Candidate) -> str:
    """A candidate's values, one per axis ("x0.5 / x1.5"): the axes' names are under the plot."""
    return " / ".join(values_at(result.axes, candidate.index))


def _measured(axes, candidates: list[Candidate], x_metric: str, y_metric: str) -> None:
    """Candidates timed end to end (--measure) as hollow markers, each joined to its prediction."""
    if "latency" not in (x_metric, y_metric):
        return
    timed = [c for c in candidates if c.predicted_ms is not None and c.measured_ms is not None]
    if not timed:
        return

    def point(c: Candidate, ms: float) -> tuple[float, float]:
        x = ms if x_metric == "latency" else c.value(x_metric)
        return x, (ms if y_metric == "latency" else c.value(y_metric))

    for c in timed:
        (x0, y0), (x1, y1) = point(c, c.predicted_ms), point(c, c.measured_ms)
        axes.plot([x0, x1], [y0, y1], ":", color="tab:blue", linewidth=1, zorder=1)
    xs, ys = zip(*(point(c, c.measured_ms) for c in timed))
    axes.scatter(xs, ys, s=40, facecolors="none", edgecolors="tab:blue", zorder=4,
                 label=f"measured end to end ({len(timed):,})")


def _literal(text: str) -> str:
    """Text matplotlib draws as it is: a `$` would start its math mode."""
    return text.replace("$", r"\$")
