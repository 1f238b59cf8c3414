"""Size budgets and baselines: the data behind `gcost check` and `gcost baseline`.

Limits come from (highest precedence first) command-line flags, a budgets file, the spec's own
`budget:` block, and a baseline lock file (its values plus a tolerance). A check compares each
(network, metric) with its limit; any value over its limit is a regression (exit code 1).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

from ..errors import GcostError, did_you_mean, quoted
from ..files import load_yaml, read_text
from ..quantity import MAX_COUNT, NumberError, parse_count, parse_fraction, parse_real, shown
from ..report import Report

METRICS = ("params", "weights", "macs", "activation_bytes", "latency_ms", "step_macs", "train_bytes")
TRAINING_METRICS = ("step_macs", "train_bytes")  # measured only for a training step (--step train)
BUDGET_KEYS = tuple(f"max_{m}" for m in METRICS)
ALWAYS_MEASURED = ("params", "weights", "macs", "activation_bytes")  # every lock entry records these
LOCK_SCHEMA = 2  # 2: the run's conditions (mode, step, batch, input, dtype, optimizer) recorded and compared
# The conditions a lock entry's numbers were measured under, each with the option that sets it: a
# check compares like with like (every one equal) or refuses with exit 2.
CONDITIONS = {"step": "--step", "mode": "--train", "batch": "--batch", "optimizer": "--optimizer",
              "input": "--input", "dtype": "dtype"}  # a training step runs in train mode: step is named first


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
        raise GcostError(f"a budget must be a mapping like {{max_params: 7.1M}}, got {shown(raw)}", file=where)
    limits: dict[str, float] = {}
    for key, value in raw.items():
        if key not in BUDGET_KEYS:
            raise GcostError(f"unknown budget '{key if isinstance(key, str) else shown(key)}'"
                             f"{did_you_mean(key, BUDGET_KEYS)}; known: "
                             + ", ".join(BUDGET_KEYS), file=where)
        metric = key[len("max_"):]
        try:
            limits[metric] = parse_latency(value) if metric == "latency_ms" else parse_count(value, what=key)
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


def load_budgets_file(path: str) -> dict[str, dict[str, float]]:
    """budgets.yaml: {<spec name>: {max_params: 7.1M, ...}, ...}."""
    data = load_yaml(read_text(path), where=path)
    if not isinstance(data, dict):
        raise GcostError("a budgets file maps spec names to budgets, like googlenet: {max_params: 7.1M}",
                         file=path)
    for name in data:  # a name of digits reads as an int; a huge or non-scalar key is no name
        if (isinstance(name, bool) or not isinstance(name, (str, int))
                or (isinstance(name, int) and name.bit_length() > 256) or len(str(name)) > 80):
            raise GcostError(f"a budgets file is keyed by spec names, got {quoted(name)}", file=path)
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


def run_conditions(report: Report) -> dict[str, Any]:
    """What a report's gated numbers depend on besides the network itself (see CONDITIONS)."""
    return {"mode": report.mode, "step": "train" if report.training else "inference", "batch": report.batch,
            "input": list(report.input_shape), "dtype": report.timed[0].dtype if report.timed else "fp32",
            "optimizer": report.training["optimizer"] if report.training else None}


def lock_entry(report: Report) -> dict[str, Any]:
    entry = {"path": report.spec.get("path"), **run_conditions(report), "metrics": metric_values(report),
             "layers": {row.name: {"params": row.params, "macs": row.macs}
                        for row in report.layers if row.parent is None}}
    if report.timed:
        entry["latency_device_type"] = report.timed[0].device_type
    return entry


def lock_document(reports: dict[str, Report]) -> str:
    """The lock file: today's numbers per network, with the versions that produced them."""
    import torch

    from .._version import __version__

    document = {"schema": LOCK_SCHEMA, "gcost_version": __version__, "torch_version": torch.__version__,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "specs": {name: lock_entry(report) for name, report in reports.items()}}
    return json.dumps(document, indent=2, sort_keys=False) + "\n"


def read_lock(path: str) -> dict[str, Any]:
    """A lock file, validated whole: any other shape is a one-line error saying where."""
    try:
        data = json.loads(read_text(path, max_bytes=100_000_000), object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as e:
        raise GcostError(f"not a gcost lock file: {e}", file=path) from None
    except RecursionError:
        raise GcostError("not a gcost lock file: nested too deeply", file=path) from None
    except ValueError as e:  # a key given twice, or an integer of more digits than Python reads
        raise GcostError(f"not a gcost lock file: {str(e)[:120]}", file=path) from None
    schema = data.get("schema") if isinstance(data, dict) else None
    if type(schema) is not int:  # noqa: E721 - not 2.0, not true (json's bool is an int subclass)
        raise GcostError(f"not a gcost lock file of schema {LOCK_SCHEMA}", file=path)
    if schema == 1:
        raise GcostError("a lock file of schema 1 (an older gcost) does not record the conditions its numbers "
                         "were measured under: record it again with gcost baseline", file=path)
    if not isinstance(data, dict) or data.get("schema") != LOCK_SCHEMA:
        raise GcostError(f"not a gcost lock file of schema {LOCK_SCHEMA}", file=path)
    problem = lock_problem(data)
    if problem:
        raise GcostError(f"not a gcost lock file: {problem}", file=path)
    return data


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose key appears twice is refused: json keeps the last, so a lock with a spec
    recorded twice would be checked against whichever copy came last."""
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"key {quoted(key)} appears twice in one object")
        seen[key] = value
    return seen


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return 0 <= value <= MAX_COUNT  # False for NaN; ints compared exactly, never converted


def _is_count(value: Any, low: int = 1) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= MAX_COUNT


def lock_problem(data: dict[str, Any]) -> str | None:
    """Where a lock document departs from what `lock_document` writes, or None."""
    specs = data.get("specs")
    if not isinstance(specs, dict):
        return "specs must be a mapping of spec names"
    if not specs:
        return "specs records no network: a lock that checks nothing would pass everything"
    for name, entry in specs.items():
        problem = _entry_problem(entry)
        if problem:
            return f"specs.{str(name)[:40]}{problem}"
    return None


def _entry_problem(entry: Any) -> str | None:
    """What is wrong with one spec's lock entry (a suffix of its path, like '.metrics: ...'), or None."""
    if not isinstance(entry, dict):
        return " must be a mapping"
    if entry.get("mode") not in ("eval", "train"):
        return f".mode must be 'eval' or 'train', got {quoted(entry.get('mode'))}"
    if entry.get("step") not in ("inference", "train"):
        return f".step must be 'inference' or 'train', got {quoted(entry.get('step'))}"
    if not _is_count(entry.get("batch")):
        return f".batch must be a positive integer, got {quoted(entry.get('batch'))}"
    shape = entry.get("input")
    if not (isinstance(shape, list) and 1 <= len(shape) <= 4 and all(_is_count(d) for d in shape)):
        return f".input must list 1 to 4 positive sizes, got {quoted(shape)}"
    training = entry["step"] == "train"
    if not isinstance(entry.get("dtype"), str) or (training and not isinstance(entry.get("optimizer"), str)):
        return ".dtype must be text, and so must .optimizer for a training step"
    metrics = entry.get("metrics")
    if not isinstance(metrics, dict):
        return ".metrics must be a mapping"
    for metric, value in metrics.items():
        if metric not in METRICS:
            return f".metrics: unknown metric {quoted(metric)}"
        if not _is_number(value) or (metric != "latency_ms" and not isinstance(value, int)):
            kind = "a number" if metric == "latency_ms" else "an integer"
            return f".metrics.{metric} must be {kind} from 0 to 10^18, got {quoted(value)}"
    required = ALWAYS_MEASURED + (TRAINING_METRICS if training else ())
    missing = [metric for metric in required if metric not in metrics]
    if missing:
        return f".metrics lacks {', '.join(missing)}: a metric not recorded could grow unnoticed"
    if not training and any(metric in metrics for metric in TRAINING_METRICS):
        return ".metrics holds training-step metrics, but .step is not 'train'"
    layers = entry.get("layers", {})
    if not isinstance(layers, dict):
        return ".layers must be a mapping"
    for layer, counts in layers.items():
        if not isinstance(counts, dict) or not all(_is_number(counts.get(k)) for k in ("params", "macs")):
            return f".layers.{str(layer)[:40]} must hold params and macs numbers"
    for key in ("path", "latency_device_type"):
        if entry.get(key) is not None and not isinstance(entry[key], str):
            return f".{key} must be text"
    if "latency_ms" in metrics and not isinstance(entry.get("latency_device_type"), str):
        return ".latency_device_type must say where latency_ms was timed"
    return None


def compare_conditions(name: str, report: Report, locked: dict[str, Any], where: str) -> None:
    """Refuse (exit 2) a check whose run differs from the baseline's in any condition its numbers
    depend on: train-mode numbers include the auxiliary heads, a training step's memory its batch,
    and so on, so comparing across them could hide growth."""
    now = run_conditions(report)
    for key, option in CONDITIONS.items():
        if locked.get(key) != now[key]:
            raise GcostError(f"{name}: the baseline was recorded with {key} {_shown(locked.get(key))}, this run "
                             f"has {key} {_shown(now[key])}: check with the same {option} as the baseline, or "
                             "record the baseline again (gcost baseline)", file=where)


def compare_latency(name: str, report: Report, locked: dict[str, Any], where: str, asked: bool) -> None:
    """A timed run against a baseline: refuse (exit 2) what cannot be compared, so that no latency
    the user asked to compare (--latency) passes uncompared."""
    if not report.timed:
        return
    if "latency_ms" not in locked["metrics"]:
        if asked:
            raise GcostError(f"{name}: --latency, but the baseline records no latency: record it with "
                             "gcost baseline --latency, or check without --latency", file=where)
        return
    recorded, now = locked["latency_device_type"], report.timed[0].device_type
    if recorded != now:
        raise GcostError(f"{name}: the baseline's latency was timed on {recorded}, this run on {now}: check on the "
                         "same kind of device, or without --latency", file=where)


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return "x".join(str(size) for size in value)
    return "none" if value is None else quoted(value)


def check_reports(reports: dict[str, Report], *, limits_by_source: list[tuple[str, dict[str, dict[str, float]]]],
                  lock: dict[str, Any] | None, tolerance: float, latency_tolerance: float,
                  lock_path: str = "the baseline", allow_new: bool = False,
                  latency_asked: bool = False) -> CheckResult:
    """Compare every report with the first source that sets each metric's limit. With a baseline,
    every network checked must be in it (unless allow_new) and measured under its conditions."""
    entries: list[CheckEntry] = []
    grown: dict[str, list[dict[str, Any]]] = {}
    notes: list[str] = []
    for name, report in reports.items():
        values = metric_values(report)
        locked = lock["specs"].get(name) if lock else None
        if lock is not None and locked is None:
            if not allow_new:
                raise GcostError(f"{name}: not in the baseline (new, or renamed?): record it with gcost baseline, "
                                 "or pass --allow-new to check it against its other limits only", file=lock_path)
            notes.append(f"{name}: not in the baseline (--allow-new): checked against its other limits only")
        if locked is not None:
            compare_conditions(name, report, locked, lock_path)
            compare_latency(name, report, locked, lock_path, latency_asked)
        for metric in METRICS:
            entry = _entry(name, metric, values, limits_by_source, locked, tolerance, latency_tolerance)
            if entry is not None:
                entries.append(entry)
        if locked:
            grown_rows = _grown_layers(report, locked)
            if grown_rows:
                grown[name] = grown_rows
    return CheckResult(entries, grown, notes)


def _entry(name: str, metric: str, values: dict[str, float], sources, locked, tolerance: float,
           latency_tolerance: float) -> CheckEntry | None:
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
        if metric == "latency_ms":  # compare_latency refused another kind of device
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


def gate_timing(device: str, *, training: bool, optimizer: str, batch: int):
    """How check and baseline time (TimingOptions): what the lock says was measured, that is a
    training step when the run is one, at the run's batch."""
    from ..timing.options import TimingOptions

    return TimingOptions(device=device, batches=(batch,), step="train" if training else "inference",
                         optimizer=optimizer)


def run_check(sources: list, *, flags: Mapping[str, Any], budgets_path: str | None = None,
              baseline_path: str | None = None, tolerance: str = "0%", latency_tolerance: str = "10%",
              with_latency: bool = False, device: str = "auto", train: bool = False,
              strict: bool = False, batch: int = 1, optimizer: str = "momentum",
              step: str = "inference", allow_new: bool = False) -> CheckResult:
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
    training = step == "train" or any(metric in limits for _, by_key in limit_sources for limits in by_key.values()
                                      for metric in TRAINING_METRICS)
    timing = gate_timing(device, training=training, optimizer=optimizer, batch=batch) if timed else None
    reports = {source.key: source.analyze(train=train, strict=strict, timing=timing, batch=batch,
                                          optimizer=optimizer if training else None) for source in sources}
    return check_reports(reports, limits_by_source=limit_sources, lock=lock,
                         tolerance=parse_tolerance(tolerance),
                         latency_tolerance=parse_tolerance(latency_tolerance, what="--latency-tolerance"),
                         lock_path=baseline_path or "the baseline", allow_new=allow_new, latency_asked=with_latency)
