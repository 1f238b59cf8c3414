"""Helpers for users' own test suites: `assert_within_budget(spec, max_params=7_100_000)`."""
from __future__ import annotations

from typing import Any

from .gate.metrics import METRICS, any_training, metric_values, parse_limits

# Every budget key but the timed metrics' (latency): a test suite runs on noisy machines, and timing
# belongs in benchmarks.
ACCEPTED = tuple(metric.budget_key for metric in METRICS if not metric.timed)
_TIMED = tuple(metric.budget_key for metric in METRICS if metric.timed)


def assert_within_budget(spec: Any, *, train: bool = False, batch: int = 1, optimizer: str = "momentum",
                         **budget: Any) -> None:
    """Fail (AssertionError) when the network is over any budget given (ACCEPTED: max_params,
    max_weights, max_macs, max_activation_bytes, and for a training step at `batch` with
    `optimizer` max_step_macs and max_train_bytes), as integers or strings like "7.1M". `spec` is a
    Spec, a path or a built-in name."""
    from .options import RunOptions
    from .sources import SpecSource
    from .spec.load import load_spec
    from .spec.model import Spec

    if any(key in _TIMED for key in budget):
        raise TypeError("assert_within_budget does not time; latency is too noisy for a test")
    unknown = set(budget) - set(ACCEPTED)
    if unknown:
        raise TypeError(f"unknown budget {sorted(unknown)}; known: {', '.join(ACCEPTED)}")
    spec = spec if isinstance(spec, Spec) else load_spec(spec)
    limits = parse_limits(budget, where=spec.name)
    step = "train" if any_training(limits) else "inference"  # a training metric's limit: measure a step
    options = RunOptions(batch=batch, train=train, step=step, optimizer=optimizer)
    values = metric_values(SpecSource(spec).analyze(options))
    over = [f"{metric} {values[metric]:,} > {limit:,}" for metric, limit in limits.items() if values[metric] > limit]
    assert not over, f"{spec.name} is over budget: " + "; ".join(over)
