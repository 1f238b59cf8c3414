"""The gate's metrics, one record each. Everything the gate knows about a metric is generated from
METRICS: the `--max-*` options of `gcost check`, the budget keys a limit parser accepts (with its
did-you-mean and its list of known keys), the numbers read from a report, the checks of a lock
file and the keys `testing.assert_within_budget` accepts. Adding a metric is adding one record.

Imports nothing of gcost but errors and quantity: spec/load.py validates a spec's `budget:` block
with parse_limits, so this module stays at the bottom (no torch, no report).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from .errors import GcostError, did_you_mean
from .quantity import MAX_COUNT, NumberError, parse_count, parse_fraction, parse_real, shown


@dataclass(frozen=True)
class Metric:
    key: str  # its name in JSON, lock files and check tables; its budget key is max_<key>
    help: str  # what its limit is on, as `gcost check --help` says it ("Limit on <help>; ...")
    read: Callable[[Any], float | None]  # its value in a Report; None where the run did not measure it
    unit: str = "count"  # "count": a whole number (limits with decimal K/M/G); "ms": milliseconds
    timed: bool = False  # measured only when the models are timed (--latency)
    training: bool = False  # measured only for a training step (--step train)

    @property
    def budget_key(self) -> str:
        """Its key in budgets (a budgets file, a spec's `budget:` block, assert_within_budget)."""
        return f"max_{self.key}"

    @property
    def option(self) -> str:
        """Its limit's option of `gcost check`."""
        return "--max-" + self.key.replace("_", "-")

    @property
    def whole(self) -> bool:
        """Whether its values are whole numbers (counts of params, MACs, bytes)."""
        return self.unit == "count"

    def parse_limit(self, value: Any) -> float:
        """A limit as written (7.1M, 1600000; 12.5ms for milliseconds); ValueError otherwise."""
        return parse_count(value, what=self.budget_key) if self.whole else parse_latency(value)

    def format(self, value: float) -> str:
        """A value as a check table shows it: counts whole with thousands separators, ms to 3 places."""
        return f"{round(value):,}" if self.whole else f"{value:,.3f}"


METRICS = (
    Metric("params", "params", lambda report: report.totals.params),
    Metric("weights", "weights", lambda report: report.totals.weights),
    Metric("macs", "MACs", lambda report: report.totals.macs),
    # fp32: 4 bytes per activation element, per sample
    Metric("activation_bytes", "activation memory (fp32 bytes per sample)",
           lambda report: 4 * report.totals.activations),
    Metric("bytes", "memory traffic of the forward in bytes at --batch (each operator's reads and writes, fp32)",
           lambda report: report.totals.bytes),
    Metric("latency_ms", "median latency in ms (times the model; noisy)",
           lambda report: report.timed[0].median_ms if report.timed else None, unit="ms", timed=True),
    Metric("step_macs", "training-step MACs per sample (forward + backward)",
           lambda report: report.training.step_macs if report.training else None, training=True),
    Metric("train_bytes", "training-step memory in bytes at --batch (params, grads, optimizer, saved activations)",
           lambda report: report.training.train_bytes if report.training else None, training=True),
)


def metric_named(key: str) -> Metric:
    """The metric whose key is `key` (KeyError for none)."""
    for metric in METRICS:
        if metric.key == key:
            return metric
    raise KeyError(key)


def budget_keys() -> tuple[str, ...]:
    """max_params, max_weights, ...: every metric's budget key, in METRICS order."""
    return tuple(metric.budget_key for metric in METRICS)


def any_timed(keys: Iterable[str]) -> bool:
    """Whether any of these metrics is measured only by timing."""
    return any(metric_named(key).timed for key in keys)


def any_training(keys: Iterable[str]) -> bool:
    """Whether any of these metrics is measured only for a training step."""
    return any(metric_named(key).training for key in keys)


def metric_values(report: Any) -> dict[str, float]:
    """The gated numbers of a Report, in METRICS order: those the run measured."""
    values = {metric.key: metric.read(report) for metric in METRICS}
    return {key: value for key, value in values.items() if value is not None}


def parse_limits(raw: Mapping[str, Any], *, where: str) -> dict[str, float]:
    """{max_params: 7.1M, ...} -> {"params": 7100000, ...}; decimal K/M/G; latency in ms."""
    if not isinstance(raw, Mapping):
        raise GcostError(f"a budget must be a mapping like {{max_params: 7.1M}}, got {shown(raw)}", file=where)
    by_budget_key = {metric.budget_key: metric for metric in METRICS}
    limits: dict[str, float] = {}
    for key, value in raw.items():
        metric = by_budget_key.get(key) if isinstance(key, str) else None
        if metric is None:
            raise GcostError(f"unknown budget '{key if isinstance(key, str) else shown(key)}'"
                             f"{did_you_mean(key, list(by_budget_key))}; known: "
                             + ", ".join(by_budget_key), file=where)
        try:
            limits[metric.key] = metric.parse_limit(value)
        except ValueError as e:
            raise GcostError(f"{key}: {e}", file=where) from None
    return limits


def parse_latency(value: Any) -> float:
    """12.5, "12.5" or "12.5ms" -> 12.5: positive, finite, at most MAX_COUNT (quantity.parse_real)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"expected milliseconds, got {shown(value)}")
    try:
        return parse_real(value.removesuffix("ms") if isinstance(value, str) else value, low=0, low_open=True,
                          high=MAX_COUNT)
    except NumberError as e:
        if e.problem in ("syntax", "length"):
            raise ValueError(f"expected milliseconds like 12.5, got {shown(value)}") from None
        raise ValueError(f"expected a positive, finite number of milliseconds (at most 10^18), got {shown(value)}") \
            from None


def parse_tolerance(text: str, *, what: str = "--tolerance") -> float:
    """'0.5%' -> 0.005; '0.01' -> 0.01; a bare '5' is refused (quantity.parse_fraction)."""
    try:
        return parse_fraction(text, what=what)
    except ValueError as e:
        raise GcostError(str(e)) from None
