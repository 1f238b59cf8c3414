"""One sweep, start to end: the grid's candidates counted, budgets applied, latency predicted from
the device tables (or measured), the Pareto front, and the predictor checked on a few candidates
timed end to end."""
from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Callable, Sequence

from ..errors import GcostError
from ..spec.model import Spec
from .candidates import Counted, edited, network_units
from .executors import Executor
from .grid import Axis, chosen_indices, labelled, product_size
from .latency import Predictions, measure_on, predict_on
from .options import SweepOptions
from .pareto import front
from .predict import prediction_error
from .result import Candidate, CandidateLatency, DeviceSummary, SweepResult
from .store import Store

Progress = Callable[..., Any]


def check_axes(spec: Spec, axes: Sequence[Axis]) -> None:
    """Each value of each axis made alone on the spec: a glob that matches nothing, a key a layer
    lacks or a value out of range is the grid's mistake (exit 2), not a candidate that does not build."""
    for axis in axes:
        for value in axis.values:
            try:
                edited(spec, axis.edit(value))
            except GcostError as e:
                raise GcostError(f"--grid {axis.target}={value}: {e.message}", file=e.file or spec.path,
                                 layer=e.layer) from None


def run_sweep(spec: Spec, options: SweepOptions, executor: Executor, store: Store | None, *,
              progress: Progress | None = None, clock: Callable[[], float] = time.perf_counter) -> SweepResult:
    start = clock()
    check_axes(spec, options.axes)
    items = list(labelled(options.axes, chosen_indices(options.axes, options.sample, options.seed)))
    run = options.run
    counted = executor.count(spec, items, batch=run.batch, itemsize=run.itemsize, units=options.latency != "none",
                             progress=progress)
    over = {c.index: _over(c, options.limits) for c in counted}
    eligible = [c for c in counted if c.counts is not None and not over[c.index]]
    latency: dict[int, dict[str, CandidateLatency]] = {c.index: {} for c in counted}
    summaries: list[DeviceSummary] = []
    warnings: list[str] = []
    if options.latency != "none":
        assert store is not None, "a timed sweep needs a store"
        for device in executor.devices():
            found = Predictions()
            if options.latency == "predicted":
                found = predict_on(device, executor, store, spec, eligible, interpolate=options.interpolate,
                                   progress=progress)
                for index, ms in found.predicted.items():
                    latency[index][device.kind] = CandidateLatency(ms, interpolated=found.interpolated[index])
            else:
                for index, ms in measure_on(device, executor, store, spec, eligible, use=found.use,
                                            warnings=found.warnings, progress=progress).items():
                    latency[index][device.kind] = CandidateLatency(measured_ms=ms)
            summaries.append(DeviceSummary(device.kind, device.conditions, found.use, found.calibration))
            warnings += found.warnings
    candidates = [Candidate(c.index, c.label, c.edits, c.counts, c.reason, over[c.index], latency[c.index])
                  for c in counted]
    candidates = [_latency_budget(candidate, options.limits) for candidate in candidates]
    candidates = _with_front(candidates, options)
    if options.measure_count:
        candidates, summaries = _check_predictor(spec, executor, store, candidates, summaries,
                                                 options.measure_count, warnings, progress)
    return SweepResult(spec=spec.to_dict(), axes=options.axes, size=product_size(options.axes), sample=options.sample,
                       seed=options.seed, latency=options.latency, objectives=options.objectives, batch=run.batch,
                       dtype=run.dtype, limits=dict(options.limits), executor=executor.name,
                       candidates=tuple(candidates), devices=tuple(summaries),
                       store_path=None if store is None or store.path is None else str(store.path),
                       elapsed_s=clock() - start, warnings=tuple(warnings))


def _over(counted: Counted, limits: dict[str, float]) -> tuple[str, ...]:
    if counted.counts is None:
        return ()
    return tuple(key for key, limit in limits.items()
                 if counted.counts.metric(key) is not None and counted.counts.metric(key) > limit)


def _latency_budget(candidate: Candidate, limits: dict[str, float]) -> Candidate:
    limit = limits.get("latency_ms")
    if limit is None or candidate.latency_ms is None or candidate.latency_ms <= limit:
        return candidate
    return replace(candidate, over=(*candidate.over, "latency_ms"))


def _with_front(candidates: list[Candidate], options: SweepOptions) -> list[Candidate]:
    """Every candidate marked on the front or not: among the valid ones within every budget that
    have a value for every objective."""
    metrics = [objective.metric for objective in options.objectives]
    taking_part = [c for c in candidates if c.valid and not c.over and all(c.value(m) is not None for m in metrics)]
    chosen = {taking_part[position].index
              for position in front(taking_part, options.objectives, lambda c, metric: c.value(metric))}
    return [replace(c, pareto=c.index in chosen) for c in candidates]


def to_measure(candidates: Sequence[Candidate], count: int) -> list[Candidate]:
    """`count` candidates to time end to end: spread evenly over the front's predicted latencies
    (its fastest and slowest included), then, where the front has fewer, over the others'."""
    def spread(pool: list[Candidate], k: int) -> list[Candidate]:
        pool = sorted(pool, key=lambda c: (c.predicted_ms, c.index))
        if k >= len(pool):
            return pool
        if k == 1:
            return [pool[0]]
        return [pool[round(i * (len(pool) - 1) / (k - 1))] for i in range(k)]

    timed = [c for c in candidates if c.predicted_ms is not None]
    chosen = spread([c for c in timed if c.pareto], count)
    chosen += spread([c for c in timed if not c.pareto], count - len(chosen))
    return sorted(chosen, key=lambda c: c.index)


def _check_predictor(spec: Spec, executor: Executor, store: Store, candidates: list[Candidate],
                     summaries: list[DeviceSummary], count: int, warnings: list[str],
                     progress: Progress | None) -> tuple[list[Candidate], list[DeviceSummary]]:
    """--measure K: the chosen candidates timed end to end on every device (or found in the store);
    each device's error. A chosen candidate that is the base network itself times the base again:
    how far that is from its calibration says whether the machine's speed changed meanwhile."""
    chosen = to_measure(candidates, count)
    if not chosen:
        return candidates, summaries
    by_index = {c.index: c for c in candidates}
    counted = [Counted(c.index, c.label, c.edits, c.counts) for c in chosen]
    base = network_units(spec)
    again = next((c.index for c in chosen if network_units(edited(spec, c.edits)) == base), None)
    checked = []
    for device, summary in zip(executor.devices(), summaries):
        measured = measure_on(device, executor, store, spec, counted, use=summary.use, warnings=warnings,
                              progress=progress, label="checking the predictor")
        if again is not None and summary.calibration is not None:
            summary = replace(summary, calibration=replace(summary.calibration, again_ms=measured[again]))
        pairs = []
        for index, ms in measured.items():
            candidate = by_index[index]
            latency = dict(candidate.latency)
            latency[device.kind] = replace(latency[device.kind], measured_ms=ms)
            by_index[index] = replace(candidate, latency=latency)
            pairs.append((latency[device.kind].predicted_ms, ms))
        checked.append(replace(summary, prediction=prediction_error(pairs)))
    return [by_index[c.index] for c in candidates], checked

