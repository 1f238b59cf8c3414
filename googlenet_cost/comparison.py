"""Compare variants of a network (or several networks) side by side: counts and latency.

Latency is compared only as measured together: every variant is timed interleaved in one process,
and each non-baseline variant gets the ratio of its median to the baseline's with a 95% interval
and a verdict (timing.paired); a variant whose interval contains 1.0 is "no measurable difference",
never a ratio that merely looks like one."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable

from .report import Report

if TYPE_CHECKING:
    from .count.units import UnitCache
    from .options import RunOptions
    from .timing.stats import LatencyStats

SCHEMA_VERSION = 3  # 3: bytes_ratio, bound_ratio; variants are schema-3 reports


@dataclass(frozen=True)
class Comparison:
    labels: list[str]  # the first is the baseline
    reports: list[Report]
    summary: list[dict[str, Any]]
    timing: list[dict[str, Any]] = field(default_factory=list)  # per timed batch: rounds, why it stopped

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA_VERSION,
                "variants": [{"label": label, **report.to_dict()}
                             for label, report in zip(self.labels, self.reports)],
                "summary": self.summary,
                "timing": self.timing or None}


def ratio_entry(ratio: Any, batch: int) -> dict[str, Any]:
    """The JSON form of one latency ratio: {"median", "ci95", "verdict", "rounds", "batch"}."""
    return {**ratio.to_dict(), "batch": batch}


def latency_words(entry: dict[str, Any], what: str = "latency") -> str:
    """'0.85x the latency (95% CI 0.84-0.86)', or 'no measurable latency difference (...)'."""
    low, high = entry["ci95"]
    interval = f"95% CI {low:.2f}-{high:.2f}"
    if entry["verdict"] == "no measurable difference":
        return f"no measurable {what} difference ({interval})"
    if entry["verdict"] == "no meaningful difference":
        return (f"{entry['median']:.2f}x the {what}, less than the {entry['min_effect']:.0%} that counts: no "
                f"meaningful {what} difference ({interval})")
    if entry["verdict"] == "too few rounds":
        return (f"{entry['median']:.2f}x the {what} from only {entry['rounds']} rounds, too few for a verdict "
                f"({interval}; raise --max-time)")
    return f"{entry['median']:.2f}x the {what} ({interval})"


def summarize(labels: list[str], reports: list[Report], ratios: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One entry per non-baseline variant: its ratios to the baseline, and a sentence. `ratios[k]`
    holds variant k+1's latency ratio per timed batch (empty without timing)."""
    base = reports[0]
    lines = []
    for label, report, by_batch in zip(labels[1:], reports[1:], ratios):
        entry = {"label": label,
                 "params_ratio": _ratio(report.totals.params, base.totals.params),
                 "macs_ratio": _ratio(report.totals.macs, base.totals.macs),
                 "bytes_ratio": _ratio(report.totals.bytes, base.totals.bytes),
                 "latency_ratio": None if not by_batch else by_batch[0] if len(by_batch) == 1 else by_batch}
        if base.machine is not None:
            entry["bound_ratio"] = _ratio(report.totals.bound_ms, base.totals.bound_ms)
        if base.training and report.training:
            entry["step_macs_ratio"] = _ratio(report.training.step_macs, base.training.step_macs)
            entry["train_bytes_ratio"] = _ratio(report.training.train_bytes, base.training.train_bytes)
        parts = [f"{entry[key]:.2f}x the {what}" for key, what in
                 (("params_ratio", "params"), ("macs_ratio", "MACs"), ("bytes_ratio", "bytes"),
                  ("step_macs_ratio", "training-step MACs"), ("train_bytes_ratio", "training memory"))
                 if entry.get(key) is not None]
        if entry.get("bound_ratio") is not None:
            parts.append(f"a roofline bound {entry['bound_ratio']:.2f}x the baseline's")
        what = "training-step latency" if base.timed and base.timed[0].step == "train" else "latency"
        if len(by_batch) == 1:
            parts.append(latency_words(by_batch[0], what))
        parts += [f"at batch {r['batch']} {latency_words(r, what)}" for r in by_batch if len(by_batch) > 1]
        text = f"{label}: " + ", ".join(parts)
        if report.machine is not None:
            text += f": {bound_words(report)}"
            if report.efficiency is not None and base.efficiency is not None:
                text += (f"; it runs at {report.efficiency:.0%} of its roof, the baseline at "
                         f"{base.efficiency:.0%}")
        lines.append({**entry, "text": text})
    return lines


def _ratio(value: float | None, base: float | None) -> float | None:
    return value / base if value is not None and base else None


def bound_words(report: Report) -> str:
    """Which roof holds most of a report's bound, and whose peaks those are: 'mostly memory-bound
    on this machine', or on a datasheet's device, a bound and never a measurement."""
    top = [row for row in report.layers if row.parent is None and row.bound_ms]
    memory = sum(row.bound_ms for row in top if row.limit == "memory")
    total = sum(row.bound_ms for row in top)
    if not total:
        return "no roofline bound (nothing computed or moved)"
    share = memory / total
    kind = "memory" if share >= 0.5 else "compute"
    machine = report.machine
    where = ("on this machine" if machine.source == "measured"
             else f"on {machine.device} ({machine.source} peaks: a bound, not a measurement)")
    return f"mostly {kind}-bound {where} ({max(share, 1 - share):.0%} of its bound time)"


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
    from .analysis import analyze
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
    ratios: list[list[dict[str, Any]]] = [[] for _ in entries[1:]]
    runs: list[dict[str, Any]] = []
    if timing is not None:
        from .timing.measure import measure_interleaved

        per_sample = [r.training.step_macs if r.training and options.training else r.totals.macs
                      for r in reports]
        targets = [entry.source.timing_target(options, Counted(rows=report.layers, training=report.training))
                   for entry, report in zip(entries, reports)]
        timed = measure_interleaved(targets, timing, macs=per_sample, progress=progress)
        reports = [_with_latency(report, [run.stats[k] for run in timed], options) for k, report in enumerate(reports)]
        for run in timed:
            runs.append(run.run_dict())
            for k, ratio in enumerate(run.ratios):
                ratios[k].append(ratio_entry(ratio, run.batch))
    labels = [entry.label for entry in entries]
    return Comparison(labels, reports, summarize(labels, reports, ratios), runs)


def _with_latency(report: Report, stats: list[LatencyStats], options: RunOptions) -> Report:
    """A report counted without timing, with its interleaved latency: the warnings of both, and
    with --roofline the model's measured median checked against its bound."""
    warnings = report.warnings + [w for s in stats for w in s.warnings]
    if report.machine is not None and stats and stats[0].step != "train":  # the bound is the forward's
        from .roofline.bound import contradictions

        warnings += contradictions([], report.totals.bound_ms or 0.0, stats[0].median_ms, report.machine,
                                   on_gpu=stats[0].device_type == "cuda")
    return replace(report, latency=tuple(stats), warnings=warnings)
