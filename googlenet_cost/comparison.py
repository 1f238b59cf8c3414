"""Compare variants of a network (or several networks) side by side: counts and latency.

Latency is compared only as measured together: every variant is timed interleaved in one process,
and each non-baseline variant gets the ratio of its median to the baseline's with a 95% interval
and a verdict (timing.paired); a variant whose interval contains 1.0 is "no measurable difference",
never a ratio that merely looks like one."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable

from .report import Report
from .timing.paired import RatioEstimate

if TYPE_CHECKING:
    from .count.units import UnitCache
    from .options import RunOptions
    from .timing.stats import LatencyStats

SCHEMA_VERSION = 3  # 3: bytes_ratio, bound_ratio; variants are schema-3 reports


@dataclass(frozen=True)
class LatencyRatio:
    """A variant's latency over the baseline's at one timed batch (timing.paired.RatioEstimate)."""

    batch: int
    estimate: RatioEstimate

    def to_dict(self) -> dict[str, Any]:
        return {**self.estimate.to_dict(), "batch": self.batch}


@dataclass(frozen=True)
class Attribution:
    """compare --per-layer: where the baseline's time goes for one variant. The baseline's profiled
    time split into the rows the variant leaves as they are and those it changes (the shallowest rows
    that differ: a row whose children differ in number or name is changed as a whole), and the
    latency ratio the variant could reach at best if each changed row's time scaled with its MACs
    (with its bytes where it has no MACs; removed rows take no time) and the rest stayed."""

    changed_ms: float
    unchanged_ms: float
    ceiling_ratio: float | None  # None when the baseline's rows took no time

    def to_dict(self) -> dict[str, Any]:
        return {"changed_ms": self.changed_ms, "unchanged_ms": self.unchanged_ms, "ceiling_ratio": self.ceiling_ratio}


def attribute(base: Report, variant: Report) -> Attribution | None:
    """The Attribution of `variant` against `base`, from the baseline's per-row times (None when the
    baseline has none)."""
    if not any(row.latency_ms is not None for row in base.layers):
        return None
    ours, theirs = {row.name: row for row in base.layers}, {row.name: row for row in variant.layers}
    kids_of, their_kids_of = _children(base.layers), _children(variant.layers)
    changed = unchanged = scaled = 0.0

    def identical(name: str) -> bool:
        return _same(ours[name], theirs.get(name)) and kids_of.get(name, []) == their_kids_of.get(name, []) \
            and all(identical(kid) for kid in kids_of.get(name, []))

    def walk(name: str) -> None:
        nonlocal changed, unchanged, scaled
        ms = ours[name].latency_ms or 0.0
        kids = kids_of.get(name, [])
        if identical(name):
            unchanged += ms
        elif name in theirs and kids and kids == their_kids_of.get(name, []) \
                and all(ours[kid].latency_ms is not None for kid in kids):
            unchanged += max(0.0, ms - sum(ours[kid].latency_ms for kid in kids))  # its own work (a concat)
            for kid in kids:
                walk(kid)
        else:
            changed += ms
            scaled += ms * _scale(ours[name], theirs.get(name))

    for name in kids_of.get(None, []):
        walk(name)
    total = changed + unchanged
    return Attribution(changed, unchanged, (unchanged + scaled) / total if total > 0 else None)


def _children(rows: list) -> dict[str | None, list[str]]:
    found: dict[str | None, list[str]] = {}
    for row in rows:
        found.setdefault(row.parent, []).append(row.name)
    return found


def _same(mine: Any, other: Any) -> bool:
    return mine is not None and other is not None and (mine.type, mine.params, mine.macs, mine.bytes,
                                                       mine.output_shape) == (other.type, other.params, other.macs,
                                                                              other.bytes, other.output_shape)


def _scale(mine: Any, other: Any) -> float:
    """How a changed row's time would scale: its MACs' ratio, else its bytes'; 0 when removed."""
    if other is None:
        return 0.0
    if mine.macs > 0:
        return other.macs / mine.macs
    return other.bytes / mine.bytes if mine.bytes > 0 else 1.0


@dataclass(frozen=True)
class VariantSummary:
    """What one non-baseline variant costs against the baseline: ratios of its totals (None where
    the baseline's is zero or the figure was not measured) and its latency ratio per timed batch."""

    label: str
    params_ratio: float | None
    macs_ratio: float | None
    bytes_ratio: float | None
    latency: tuple[LatencyRatio, ...] = ()
    bounded: bool = False  # --roofline: bound_ratio was computed
    bound_ratio: float | None = None
    trained: bool = False  # a training step was counted: the two ratios below were computed
    step_macs_ratio: float | None = None
    train_bytes_ratio: float | None = None
    attribution: Attribution | None = None  # --per-layer

    def to_dict(self) -> dict[str, Any]:
        """The JSON's summary entry: "latency_ratio" is one object, a list with several batches,
        or null without timing; bound_ratio and the training ratios only where measured."""
        entry: dict[str, Any] = {"label": self.label, "params_ratio": self.params_ratio,
                                 "macs_ratio": self.macs_ratio, "bytes_ratio": self.bytes_ratio}
        ratios = [ratio.to_dict() for ratio in self.latency]
        entry["latency_ratio"] = None if not ratios else ratios[0] if len(ratios) == 1 else ratios
        if self.bounded:
            entry["bound_ratio"] = self.bound_ratio
        if self.trained:
            entry |= {"step_macs_ratio": self.step_macs_ratio, "train_bytes_ratio": self.train_bytes_ratio}
        if self.attribution is not None:
            entry["attribution"] = self.attribution.to_dict()
        return entry


@dataclass(frozen=True)
class TimedRun:
    """How one batch's interleaved timing went (the JSON's "timing" entries)."""

    batch: int
    rounds: int
    stopped_by: str  # "precision", "max_time" or "max_rounds"
    elapsed_s: float
    warmup_s: float
    precision: float
    max_time_s: float
    clock: str  # timing/clocks.py: "wall", "on_cpu" or "cuda_events"

    def to_dict(self) -> dict[str, Any]:
        return {"batch": self.batch, "rounds": self.rounds, "stopped_by": self.stopped_by,
                "elapsed_s": round(self.elapsed_s, 3), "warmup_s": round(self.warmup_s, 3),
                "precision": self.precision, "max_time_s": self.max_time_s, "clock": self.clock}


@dataclass(frozen=True)
class Comparison:
    labels: list[str]  # the first is the baseline
    reports: list[Report]
    summary: list[VariantSummary]  # one per non-baseline variant
    timing: list[TimedRun] = field(default_factory=list)  # per timed batch

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract, less the sentences (views/compare.to_json adds each summary's "text")."""
        return {"schema": SCHEMA_VERSION,
                "variants": [{"label": label, **report.to_dict()}
                             for label, report in zip(self.labels, self.reports)],
                "summary": [line.to_dict() for line in self.summary],
                "timing": [run.to_dict() for run in self.timing] or None}


def summarize(labels: list[str], reports: list[Report], ratios: list[list[LatencyRatio]]) -> list[VariantSummary]:
    """One summary per non-baseline variant; `ratios[k]` holds variant k+1's latency ratio per timed
    batch (empty without timing)."""
    base = reports[0]
    lines = []
    for label, report, by_batch in zip(labels[1:], reports[1:], ratios):
        trained = bool(base.training and report.training)
        bounded = base.machine is not None
        lines.append(VariantSummary(
            label, params_ratio=_ratio(report.totals.params, base.totals.params),
            macs_ratio=_ratio(report.totals.macs, base.totals.macs),
            bytes_ratio=_ratio(report.totals.bytes, base.totals.bytes), latency=tuple(by_batch),
            bounded=bounded, bound_ratio=_ratio(report.totals.bound_ms, base.totals.bound_ms) if bounded else None,
            trained=trained,
            step_macs_ratio=_ratio(report.training.step_macs, base.training.step_macs) if trained else None,
            train_bytes_ratio=_ratio(report.training.train_bytes, base.training.train_bytes) if trained else None,
            attribution=attribute(base, report)))
    return lines


def _ratio(value: float | None, base: float | None) -> float | None:
    return value / base if value is not None and base else None


@dataclass(frozen=True)
class Entry:
    """One column of a comparison: its label, the network (any Source: a spec, a Python model) and
    the notes its making left (a variant that changed fewer modules than asked)."""

    label: str
    source: Any
    notes: tuple[str, ...] = ()


def entries_of(variants: list) -> list[Entry]:
    """Entries from spec variants (spec.variants.Variant: label, spec, notes) or entries."""
    from .sources import SpecSource

    return [v if isinstance(v, Entry) else Entry(v.label, SpecSource(v.spec), tuple(v.notes)) for v in variants]


def compare(variants: list, options: RunOptions, *,
            progress: Callable[..., Any] | None = None, cache: UnitCache | None = None) -> Comparison:
    """Count every variant or network (with a training step, what it costs too), measuring each
    distinct unit once for all of them (one UnitCache); with options.timing, time them all
    interleaved in this process. Counting runs at options.batch (the first timed batch). `variants`
    are spec variants (spec.variants.Variant) or Entries of any Source: Python models compare
    like specs."""
    from .analysis import analyze, timed_macs
    from .count.units import UnitCache
    from .report import Counted

    entries = entries_of(variants)
    cache = UnitCache() if cache is None else cache
    timing = options.timing
    counting = options.with_timing(None)
    reports = []
    for index, entry in enumerate(entries):
        if progress:
            progress("counting variants", index / len(entries), entry.label)
        report = analyze(entry.source, counting, cache=cache)
        reports.append(replace(report, warnings=[*entry.notes, *report.warnings]))
    ratios: list[list[LatencyRatio]] = [[] for _ in entries[1:]]
    runs: list[TimedRun] = []
    if timing is not None:
        from .timing.measure import measure_interleaved, with_thread_choice

        per_sample = [timed_macs(r.training, r.totals.macs, options) for r in reports]
        targets = [entry.source.timing_target(options, Counted(rows=report.layers, training=report.training))
                   for entry, report in zip(entries, reports)]
        timing = with_thread_choice(timing)  # one thread count for the rounds and the per-layer passes
        timed = measure_interleaved(targets, timing, macs=per_sample, progress=progress)
        reports = [_with_latency(report, [run.stats[k] for run in timed], options) for k, report in enumerate(reports)]
        if timing.per_layer:
            reports = [_with_layer_latency(report, target, timing, progress)
                       for report, target in zip(reports, targets)]
        for run in timed:
            runs.append(TimedRun(run.batch, run.rounds, run.stopped_by, run.elapsed_s, run.warmup_s, run.precision,
                                 run.max_time_s, run.clock))
            for k, ratio in enumerate(run.ratios):
                ratios[k].append(LatencyRatio(run.batch, ratio))
    labels = [entry.label for entry in entries]
    return Comparison(labels, reports, summarize(labels, reports, ratios), runs)


def _with_layer_latency(report: Report, target: Any, timing: Any, progress: Callable[..., Any] | None) -> Report:
    """--per-layer: the variant's rows profiled (each variant alone, after the interleaved rounds),
    held against its interleaved median."""
    from .analysis import with_layer_latency
    from .timing.per_layer import measure_layer_latency

    if progress:
        progress(f"profiling {target.name} per layer", 1.0)
    found = measure_layer_latency(target, timing, timed_ms=report.timed[0].median_ms)
    return replace(report, layers=with_layer_latency(report.layers, found), layer_latency=found,
                   warnings=report.warnings + found.warnings)


def _with_latency(report: Report, stats: list[LatencyStats], options: RunOptions) -> Report:
    """A report counted without timing, with its interleaved latency: the warnings of both, and
    with --roofline the model's measured forward checked against its bound."""
    from .analysis import forward_median_ms

    warnings = report.warnings + [w for s in stats for w in s.warnings]
    median = forward_median_ms(stats, options)
    if report.machine is not None and median is not None:
        from .roofline.bound import contradictions

        warnings += contradictions([], report.totals.bound_ms or 0.0, median, report.machine,
                                   on_gpu=stats[0].device_type == "cuda")
    return replace(report, latency=tuple(stats), warnings=warnings)
