"""Helpers for users' own test suites: `assert_within_budget(spec, max_params=7_100_000)`, or
`assert_within_budget(model, (1, 3, 224, 224), max_macs="2G")` for an nn.Module object."""
from __future__ import annotations

from typing import Any, Sequence

from .metrics import METRICS, metric_values, parse_limits

# Every budget key but the timed metrics' (latency): a test suite runs on noisy machines, and timing
# belongs in benchmarks.
ACCEPTED = tuple(metric.budget_key for metric in METRICS if not metric.timed)
_TIMED = tuple(metric.budget_key for metric in METRICS if metric.timed)


def assert_within_budget(network: Any, input_size: Sequence[int] | Sequence[Sequence[int]] | None = None, *,
                         input_data: Any = None, dtypes: Sequence[Any] | None = None, train: bool = False, batch: int | None = None, optimizer: str = "momentum",
                         **budget: Any) -> None:
    """Fail (AssertionError) when the network is over any budget given (ACCEPTED: max_params,
    max_weights, max_macs, max_activation_bytes, and for a training step at the batch with
    `optimizer` max_step_macs and max_train_bytes), as integers or strings like "7.1M". `network` is
    a Spec, a path or a built-in name (batch 1 unless given), or an nn.Module with `input_size` as
    torchinfo reads it, the batch first (or `input_data`; several inputs as googlenet_cost.summary
    takes them)."""
    from dataclasses import replace

    from .analysis import analyze
    from .api import is_module, module_source, run_options, spec_source
    from .gate.run import options_for

    if any(key in _TIMED for key in budget):
        raise TypeError("assert_within_budget does not time; latency is too noisy for a test")
    unknown = set(budget) - set(ACCEPTED)
    if unknown:
        raise TypeError(f"unknown budget {sorted(unknown)}; known: {', '.join(ACCEPTED)}")
    if is_module(network):
        source, batch = module_source(network, input_size, input_data, batch, dtypes)
    else:
        if input_size is not None or input_data is not None or dtypes is not None:
            raise TypeError("a spec carries its own input shape: input_size and input_data go with a torch.nn.Module")
        source, batch = spec_source(network, "assert_within_budget"), 1 if batch is None else batch
    limits = parse_limits(budget, where=source.key)
    options = options_for(limits, replace(run_options(batch, train=train), optimizer=optimizer))
    values = metric_values(analyze(source, options))
    over = [f"{metric} {values[metric]:,} > {limit:,}" for metric, limit in limits.items() if values[metric] > limit]
    assert not over, f"{source.key} is over budget: " + "; ".join(over)
