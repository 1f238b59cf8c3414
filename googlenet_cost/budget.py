"""Size budgets and baselines: the data behind `gcost check` and `gcost baseline`.

Limits come from (highest precedence first) command-line flags, a budgets file, the spec's own
`budget:` block, and a baseline lock file (its values plus a tolerance). A check compares each
(network, metric) with its limit; any value over its limit is a regression (exit code 1).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

from .errors import GcostError, did_you_mean, quoted
from .files import load_yaml, read_text
from .quantity import parse_count, parse_fraction
from .report import Report

METRICS = ("params", "weights", "macs", "activation_bytes", "latency_ms", "step_macs", "train_bytes")
TRAINING_METRICS = ("step_macs", "train_bytes")  # measured only for a training step (--step train)
BUDGET_KEYS = tuple(f"max_{m}" for m in METRICS)
LOCK_SCHEMA = 1


def metric_values(report: Report) -> dict[str, float]:
    """The gated numbers of a report; activation_bytes assumes fp32 (4 bytes), per sample."""
    values: dict[str, float] = {"params": report.totals.params, "weights": report.totals.weights,
                                "macs": report.totals.macs, "activation_bytes": 4 * report.totals.activations}
    if report.timed:
        values["latency_ms"] = report.timed[0].median_ms
    if report.training:
        values.update({metric: report.training[metric] for metric in TRAINING_METRICS})
    return values


def parse_limits(raw: Mapping[str, Any], *, where: str) -> dict[str, float]:
    """{max_params: 7.1M, ...} -> {"params": 7100000, ...}; decimal K/M/G; latency in ms."""
    if not isinstance(raw, Mapping):
        raise GcostError(f"a budget must be a mapping like {{max_params: 7.1M}}, got {quoted(raw)}", file=where)
    limits: dict[str, float] = {}
    for key, value in raw.items():
        if key not in BUDGET_KEYS:
            raise GcostError(f"unknown budget '{key}'{did_you_mean(key, BUDGET_KEYS)}; known: "
                             + ", ".join(BUDGET_KEYS), file=where)
        metric = key[len("max_"):]
        try:
            limits[metric] = parse_latency(value) if metric == "latency_ms" else parse_count(value, what=key)
        except ValueError as e:
            raise GcostError(f"{key}: {e}", file=where) from None
    return limits


def parse_latency(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"expected milliseconds, got {quoted(value)}")
    try:
        number = float(str(value).removesuffix("ms"))
    except ValueError:
        raise ValueError(f"expected milliseconds like 12.5, got {quoted(value)}") from None
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"expected a positive, finite number of milliseconds, got {quoted(value)}")
    return number


def parse_tolerance(text: str, *, what: str = "--tolerance") -> float:
    """'0.5%' -> 0.005; '0.01' -> 0.01; a bare '5' is refused (quantity.parse_fraction)."""
    try:
        return parse_fraction(text, what=what)
    except ValueError as e:
        raise GcostError(str(e)) from None


def load_budgets_file(path: str) -> dict[str, dict[str, float]]:
    """budgets.yaml: {<spec name>: {max_params: 7.1M, ...}, ...}."""
    data = load_yaml(read_text(path), where=path)
    if not isinstance(data, dict):
        raise GcostError("a budgets file maps spec names to budgets, like googlenet: {max_params: 7.1M}",
                         file=path)
    return {str(name): parse_limits(limits or {}, where=f"{path}: {name}") for name, limits in data.items()}


@dataclass(frozen=True)
class CheckEntry:
    network: str
    metric: str
    value: float
    limit: float
    source: str  # "flag", "budgets", "spec" or "baseline"
    baseline: float | None = None

    @property
    def ok(self) -> bool:
        return self.value <= self.limit

    def to_dict(self) -> dict[str, Any]:
        return {"spec": self.network, "metric": self.metric, "value": self.value, "limit": self.limit,
                "ok": self.ok, "source": self.source, "baseline": self.baseline,
                "over_by": self.value - self.limit,
                "over_by_pct": (self.value - self.limit) / self.limit * 100 if self.limit else None}


@dataclass(frozen=True)
class CheckResult:
    entries: list[CheckEntry]
    grown_layers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(entry.ok for entry in self.entries)

    @property
    def return_code(self) -> int:
        """0 when every metric is within its limit, 1 for a regression (usage errors are 2)."""
        return 0 if self.ok else 1

    def to_dict(self) -> dict[str, Any]:
        return {"schema": 1, "ok": self.ok, "entries": [e.to_dict() for e in self.entries],
                "grown_layers": self.grown_layers, "notes": self.notes}


def lock_entry(report: Report) -> dict[str, Any]:
    entry = {"path": report.spec.get("path"), "mode": report.mode, "metrics": metric_values(report),
             "layers": {row.name: {"params": row.params, "macs": row.macs}
                        for row in report.layers if row.parent is None}}
    if report.timed:
        entry["latency_device_type"] = report.timed[0].device_type
    if report.training:
        entry["training"] = {"batch": report.training["batch"], "optimizer": report.training["optimizer"]}
    return entry


def lock_document(reports: dict[str, Report]) -> str:
    """The lock file: today's numbers per network, with the versions that produced them."""
    import torch

    from . import __version__

    document = {"schema": LOCK_SCHEMA, "gcost_version": __version__, "torch_version": torch.__version__,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "specs": {name: lock_entry(report) for name, report in reports.items()}}
    return json.dumps(document, indent=2, sort_keys=False) + "\n"


def read_lock(path: str) -> dict[str, Any]:
    """A lock file, validated whole: any other shape is a one-line error saying where."""
    try:
        data = json.loads(read_text(path, max_bytes=100_000_000))
    except json.JSONDecodeError as e:
        raise GcostError(f"not a gcost lock file: {e}", file=path) from None
    except RecursionError:
        raise GcostError("not a gcost lock file: nested too deeply", file=path) from None
    if not isinstance(data, dict) or data.get("schema") != LOCK_SCHEMA:
        raise GcostError(f"not a gcost lock file of schema {LOCK_SCHEMA}", file=path)
    problem = lock_problem(data)
    if problem:
        raise GcostError(f"not a gcost lock file: {problem}", file=path)
    return data


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def lock_problem(data: dict[str, Any]) -> str | None:
    """Where a lock document departs from what `lock_document` writes, or None."""
    specs = data.get("specs")
    if not isinstance(specs, dict):
        return "specs must be a mapping of spec names"
    for name, entry in specs.items():
        where = f"specs.{str(name)[:40]}"
        if not isinstance(entry, dict):
            return f"{where} must be a mapping"
        metrics = entry.get("metrics")
        if not isinstance(metrics, dict):
            return f"{where}.metrics must be a mapping"
        for metric, value in metrics.items():
            if metric not in METRICS:
                return f"{where}.metrics: unknown metric {quoted(metric)}"
            if not _is_number(value):
                return f"{where}.metrics.{metric} must be a non-negative number, got {quoted(value)}"
        layers = entry.get("layers", {})
        if not isinstance(layers, dict):
            return f"{where}.layers must be a mapping"
        for layer, counts in layers.items():
            if not isinstance(counts, dict) or not all(_is_number(counts.get(k)) for k in ("params", "macs")):
                return f"{where}.layers.{str(layer)[:40]} must hold params and macs numbers"
        for key in ("path", "mode", "latency_device_type"):
            if entry.get(key) is not None and not isinstance(entry[key], str):
                return f"{where}.{key} must be text"
        training = entry.get("training")
        if training is not None and not (isinstance(training, dict) and _is_number(training.get("batch"))
                                         and isinstance(training.get("optimizer"), str)):
            return f"{where}.training must hold a batch and an optimizer"
    return None


def check_reports(reports: dict[str, Report], *, limits_by_source: list[tuple[str, dict[str, dict[str, float]]]],
                  lock: dict[str, Any] | None, tolerance: float, latency_tolerance: float,
                  device_type: str | None) -> CheckResult:
    """Compare every report with the first source that sets each metric's limit."""
    entries: list[CheckEntry] = []
    grown: dict[str, list[dict[str, Any]]] = {}
    notes: list[str] = []
    for name, report in reports.items():
        values = metric_values(report)
        locked = (lock or {}).get("specs", {}).get(name) if lock else None
        if lock is not None and locked is None:
            notes.append(f"{name}: not in the baseline; run gcost baseline to record it")
        for metric in METRICS:
            entry = _entry(name, metric, values, limits_by_source, locked, tolerance, latency_tolerance,
                           device_type, notes, report.training)
            if entry is not None:
                entries.append(entry)
        if locked:
            grown_rows = _grown_layers(report, locked)
            if grown_rows:
                grown[name] = grown_rows
    return CheckResult(entries, grown, notes)


def _entry(name: str, metric: str, values: dict[str, float], sources, locked, tolerance: float,
           latency_tolerance: float, device_type: str | None, notes: list[str],
           training: dict | None = None) -> CheckEntry | None:
    if metric not in values:
        return None
    for source, limits in sources:
        if metric in limits.get(name, {}):
            limit = limits[name][metric]
            if metric == "latency_ms":
                limit *= 1 + latency_tolerance
            return CheckEntry(name, metric, values[metric], limit, source)
    if locked and metric in locked.get("metrics", {}):
        base = locked["metrics"][metric]
        if metric in TRAINING_METRICS:
            recorded, measured = locked.get("training") or {}, training or {}
            if (recorded.get("batch"), recorded.get("optimizer")) != (measured.get("batch"), measured.get("optimizer")):
                notes.append(f"{name}: {metric} not compared: the baseline was recorded at batch "
                             f"{recorded.get('batch')} with {recorded.get('optimizer')}, this run at batch "
                             f"{measured.get('batch')} with {measured.get('optimizer')}")
                return None
        if metric == "latency_ms":
            if locked.get("latency_device_type") != device_type:
                notes.append(f"{name}: latency not compared: the baseline was timed on "
                             f"{locked.get('latency_device_type')}, this run on {device_type}")
                return None
            return CheckEntry(name, metric, values[metric], base * (1 + latency_tolerance), "baseline", base)
        return CheckEntry(name, metric, values[metric], base * (1 + tolerance), "baseline", base)
    return None


def _grown_layers(report: Report, locked: dict[str, Any]) -> list[dict[str, Any]]:
    before = locked.get("layers", {})
    grown = []
    for row in report.layers:
        if row.parent is not None:
            continue
        old = before.get(row.name)
        if old is None:
            grown.append({"layer": row.name, "params": row.params, "macs": row.macs, "new": True})
        elif row.params > old["params"] or row.macs > old["macs"]:
            grown.append({"layer": row.name, "params": row.params, "macs": row.macs,
                          "params_before": old["params"], "macs_before": old["macs"]})
    return grown


def run_check(sources: list, *, flags: Mapping[str, Any], budgets_path: str | None = None,
              baseline_path: str | None = None, tolerance: str = "0%", latency_tolerance: str = "10%",
              with_latency: bool = False, device: str = "auto", train: bool = False,
              strict: bool = False, batch: int = 1, optimizer: str = "momentum",
              step: str = "inference") -> CheckResult:
    """Analyze every source (see sources.open_sources) and check it against its limits."""
    keys = [source.key for source in sources]
    flag_limits = parse_limits(flags, where="command line")
    file_limits = load_budgets_file(budgets_path) if budgets_path else {}
    for key in file_limits:
        if key not in keys:
            raise GcostError(f"'{key}' is none of the specs checked ({', '.join(keys)})"
                             f"{did_you_mean(key, keys)}", file=budgets_path)
    spec_limits = {source.key: parse_limits(source.budget, where=source.name) for source in sources}
    lock = read_lock(baseline_path) if baseline_path else None
    limit_sources = [("flag", {key: flag_limits for key in keys}), ("budgets", file_limits), ("spec", spec_limits)]
    timed = with_latency or any("latency_ms" in limits for _, by_key in limit_sources for limits in by_key.values())
    timing = None
    if timed:
        from .timing.measure import TimingOptions

        timing = TimingOptions(device=device)
    training = step == "train" or any(metric in limits for _, by_key in limit_sources for limits in by_key.values()
                                      for metric in TRAINING_METRICS)
    reports = {source.key: source.analyze(train=train, strict=strict, timing=timing, batch=batch,
                                          optimizer=optimizer if training else None) for source in sources}
    latency = next(iter(reports.values())).latency if timed else None
    return check_reports(reports, limits_by_source=limit_sources, lock=lock,
                         tolerance=parse_tolerance(tolerance),
                         latency_tolerance=parse_tolerance(latency_tolerance, what="--latency-tolerance"),
                         device_type=latency.device_type if latency is not None else None)
