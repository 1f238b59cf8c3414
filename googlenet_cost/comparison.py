"""Compare variants of a network (or several networks) side by side: counts and latency."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

from .report import Report
from .variants import Variant


@dataclass(frozen=True)
class Comparison:
    labels: list[str]  # the first is the baseline
    reports: list[Report]
    summary: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"schema": 1,
                "variants": [{"label": label, **report.to_dict()}
                             for label, report in zip(self.labels, self.reports)],
                "summary": self.summary}


def _median(report: Report) -> float | None:
    return report.latency.median_ms if report.latency is not None else None


def summarize(labels: list[str], reports: list[Report]) -> list[dict[str, Any]]:
    """One entry per non-baseline variant: its ratios to the baseline, and a sentence."""
    base = reports[0]
    lines = []
    for label, report in zip(labels[1:], reports[1:]):
        ratios = {"params_ratio": report.totals.params / base.totals.params if base.totals.params else None,
                  "macs_ratio": report.totals.macs / base.totals.macs if base.totals.macs else None,
                  "latency_ratio": None}
        if _median(report) is not None and _median(base):
            ratios["latency_ratio"] = _median(report) / _median(base)
        parts = [f"{ratios[key]:.2f}x the {what}" for key, what in
                 (("params_ratio", "params"), ("macs_ratio", "MACs"), ("latency_ratio", "latency"))
                 if ratios[key] is not None]
        lines.append({"label": label, **ratios, "text": f"{label}: " + ", ".join(parts)})
    return lines


def compare(variants: list[Variant], *, train: bool = False, timing: Any = None,
            progress: Callable[[str, float], Any] | None = None) -> Comparison:
    """Count every variant; with `timing`, time them all interleaved in this process."""
    from .analysis import analyze

    reports = [analyze(v.spec, batch=timing.batches[0] if timing else 1, train=train) for v in variants]
    if timing is not None:
        from .latency import measure_interleaved, spec_target

        stats = measure_interleaved([spec_target(v.spec) for v in variants], timing,
                                    macs=[r.totals.macs for r in reports], progress=progress)
        reports = [replace(r, latency=s, warnings=r.warnings + s.warnings) for r, s in zip(reports, stats)]
    labels = [v.label for v in variants]
    return Comparison(labels, reports, summarize(labels, reports))
