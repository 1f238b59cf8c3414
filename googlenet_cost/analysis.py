"""analyze(source, options) -> Report: the one pipeline for every network.

A Source (sources.py: a spec or a Python model) counts its rows (count/); with timing options the
pipeline times the target the source gives (timing/, which knows nothing else of the network),
and with --per-layer each row's latency too; the Report is assembled here and nowhere else."""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol, Sequence

from .errors import GcostError
from .report import COUNTING_RULE, Counted, Report, SourceInfo, TrainingSummary, totals_of

if TYPE_CHECKING:
    from .count.units import UnitCache
    from .inputs import Inputs
    from .options import RunOptions
    from .timing.measure import TimingTarget
    from .timing.stats import LatencyStats

Progress = Callable[..., Any]


class Source(Protocol):
    """A network the pipeline analyzes (sources.py: SpecSource, ModuleSource).

    - `name` (how errors name it), `key` (its name in budgets and lock files), `budget` (its limits),
      `inputs` (what its forward takes: inputs.Inputs);
    - `info()`: the report's "spec" object;
    - `count(options, cache)`: its rows counted (count/);
    - `timing_target(options, counted)`: what timing builds and times (timing/ reaches no further).
    """

    name: str
    key: str
    budget: Mapping[str, Any]
    inputs: Inputs

    def info(self) -> SourceInfo: ...

    def count(self, options: RunOptions, cache: UnitCache) -> Counted: ...

    def timing_target(self, options: RunOptions, counted: Counted) -> TimingTarget: ...


def analyze(source: Source, options: RunOptions, *, progress: Progress | None = None,
            cache: UnitCache | None = None) -> Report:
    """Count (per sample) and, with options.timing, time the network `source` gives. `cache` holds
    the measured units (count.units) and may be shared by several analyses (compare)."""
    from .count.units import UnitCache

    if options.batch < 1:
        raise GcostError(f"batch must be at least 1, got {options.batch}")
    counted = source.count(options, UnitCache() if cache is None else cache)
    rows, warnings = counted.rows, list(counted.warnings)
    latency: tuple = ()
    layer_latency = None
    if options.timing is not None:
        from .timing.measure import measure_latency, with_thread_choice
        from .timing.per_layer import measure_layer_latency

        timing = with_thread_choice(options.timing)  # one thread count for every pass
        target = source.timing_target(options, counted)
        per_sample = timed_macs(counted.training, totals_of(rows).macs, options)
        latency = tuple(measure_latency(target, timing, macs=per_sample, progress=progress))
        warnings += [warning for stats in latency for warning in stats.warnings]
        if timing.per_layer:
            layer_latency = measure_layer_latency(target, timing, timed_ms=latency[0].median_ms)
            rows = with_layer_latency(rows, layer_latency)
            warnings += layer_latency.warnings
    bytes_batch = counted.bytes_batch or options.batch  # the batch the bytes were counted at
    bound_ms = None
    if options.roofline is not None:
        rows, bound_ms, found = _roofline(rows, options, latency, bytes_batch)
        warnings += found
        if options.bound_batches:
            rows = _bounds_per_batch(rows, source, options, bytes_batch, cache)
    return Report(spec=source.info(), counting=dict(COUNTING_RULE), input_shape=list(source.inputs.shape),
                  inputs=source.inputs, batch=options.batch, mode=options.mode, layers=rows,
                  totals=replace(totals_of(rows, bytes_batch), bound_ms=bound_ms),
                  latency=latency, layer_latency=layer_latency, training=counted.training, warnings=warnings,
                  notes=list(counted.notes),
                  dtype=options.dtype, machine=options.roofline)


def timed_macs(training: TrainingSummary | None, forward_macs: int, options: RunOptions) -> int:
    """MACs per sample of what is timed: a training step's when the options time one, else the forward's."""
    return training.step_macs if training is not None and options.training else forward_macs


def forward_median_ms(latency: Sequence[LatencyStats], options: RunOptions) -> float | None:
    """The timed forward's median at the first batch, what a roofline bound is held against; None
    when nothing was timed or a training step was (the bound is the forward's)."""
    return latency[0].median_ms if latency and not options.training else None


def with_layer_latency(rows: list, layer_latency: Any) -> list:
    """The rows with their profiled time and operators (timing.per_layer.LayerLatency), each
    profiled operator joined by name with the row's counted operators (their FLOPs and bytes)."""
    return [replace(row, latency_ms=layer_latency.by_row.get(row.name),
                    ops=_joined(layer_latency.ops.get(row.name, ()), row.operators))
            for row in rows]


def _joined(timed: tuple, counted: tuple) -> tuple:
    """Profiled operators with the FLOPs and bytes counting gave the same names in the same row."""
    sums: dict[str, tuple[int, int]] = {}
    for op in counted:
        flops, moved = sums.get(op.name, (0, 0))
        sums[op.name] = (flops + op.flops, moved + op.bytes)
    return tuple(replace(op, flops=sums[op.name][0], bytes=sums[op.name][1]) if op.name in sums else op
                 for op in timed)


def _roofline(rows: list, options: RunOptions, latency: tuple, batch: int) -> tuple:
    """The rows with their roofline bounds (options.roofline's peaks) at the batch their bytes were
    counted at, the model's bound, and the contradictions found."""
    from .roofline.bound import contradictions, model_bound_ms, with_bounds
    from .roofline.limits import with_limits

    peaks = options.roofline
    rows = with_limits(with_bounds(rows, batch, options.itemsize, peaks), peaks.operators)
    bound_ms = model_bound_ms(rows)
    found = contradictions(rows, bound_ms, forward_median_ms(latency, options), peaks, on_gpu=bool(latency) and latency[0].device_type == "cuda")
    return rows, bound_ms, found


def _bounds_per_batch(rows: list, source: Source, options: RunOptions, batch: int, cache: UnitCache | None) -> list:
    """--roofline --batch 1,8,64: each row's bytes, bytes_fused and bound at every batch (the rows
    counted again at each further batch, as a forward pass), so that the move from memory- to
    compute-bound shows."""
    from .count.units import UnitCache
    from .report import BatchBound
    from .roofline.bound import with_bounds

    cache = UnitCache() if cache is None else cache
    table = {batch: rows}
    for extra in dict.fromkeys(options.bound_batches):
        again = replace(options, batch=extra, timing=None, verify=False, step="inference", bound_batches=())
        counted = source.count(again, cache)
        counted_at = counted.bytes_batch or extra
        table.setdefault(counted_at, with_bounds(counted.rows, counted_at, options.itemsize, options.roofline))
    by_batch = {size: {row.name: row for row in bounded} for size, bounded in sorted(table.items())}
    return [replace(row, batches=tuple(BatchBound(size, found[row.name].bytes, found[row.name].bytes_fused,
                                                  found[row.name].bound_ms or 0.0, found[row.name].roof)
                                       for size, found in by_batch.items() if row.name in found))
            for row in rows]
