"""Helpers for users' own test suites: `assert_within_budget(spec, max_params=7_100_000)`."""
from __future__ import annotations

from typing import Any

from .budget import BUDGET_KEYS, metric_values, parse_limits


def assert_within_budget(spec: Any, *, train: bool = False, **budget: Any) -> None:
    """Fail (AssertionError) when the network is over any budget given: max_params, max_weights,
    max_macs or max_activation_bytes, as integers or strings like "7.1M". `spec` is a Spec, a
    path or a built-in name."""
    from .analysis import analyze
    from .loading import load_spec
    from .spec import Spec

    if "max_latency_ms" in budget:
        raise TypeError("assert_within_budget does not time; latency is too noisy for a test")
    unknown = set(budget) - set(BUDGET_KEYS)
    if unknown:
        raise TypeError(f"unknown budget {sorted(unknown)}; known: {', '.join(BUDGET_KEYS[:-1])}")
    spec = spec if isinstance(spec, Spec) else load_spec(spec)
    values = metric_values(analyze(spec, train=train))
    over = [f"{metric} {values[metric]:,} > {limit:,}"
            for metric, limit in parse_limits(budget, where=spec.name).items() if values[metric] > limit]
    assert not over, f"{spec.name} is over budget: " + "; ".join(over)
