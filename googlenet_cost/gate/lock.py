"""The lock file (`gcost baseline`): today's numbers per network and the conditions they were
measured under, written, read back and validated whole, and a run compared with it condition by
condition. Which metrics an entry must, may or must not record comes from the metric table."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..errors import GcostError, quoted
from ..files import read_text
from ..quantity import MAX_COUNT
from ..report import Report
from ..metrics import METRICS, metric_named, metric_values

LOCK_SCHEMA = 3  # 2: the run's conditions (mode, step, batch, input, dtype, optimizer) recorded and compared; 3: bytes
# The conditions a lock entry's numbers were measured under, each with the option that sets it: a
# check compares like with like (every one equal) or refuses with exit 2.
CONDITIONS = {"step": "--step", "mode": "--train", "batch": "--batch", "optimizer": "--optimizer",
              "input": "--input", "inputs": "--input", "dtype": "dtype"}  # a training step runs in train mode: step is named first
# "inputs" is recorded only for a model with more than one plain floating-point input (its --input
# text, 3x224x224,77:int64); "input" is its first tensor's shape.


def run_conditions(report: Report) -> dict[str, Any]:
    """What a report's gated numbers depend on besides the network itself (see CONDITIONS)."""
    return {"mode": report.mode, "step": "train" if report.training else "inference", "batch": report.batch,
            "input": list(report.input_shape), "dtype": report.dtype,
            "optimizer": report.training.optimizer if report.training else None,
            "inputs": None if report.arguments.plain else report.arguments.text()}


@dataclass(frozen=True)
class LayerCounts:
    """What the lock records of a top-level layer."""
    params: int
    macs: int
    bytes: int  # memory traffic of its forward at the run's batch

    KEYS = ("params", "macs", "bytes")  # in the order sentences name them

    def get(self, key: str) -> int:
        return getattr(self, key)

    def to_dict(self) -> dict[str, int]:
        return {key: self.get(key) for key in self.KEYS}


@dataclass(frozen=True)
class LockEntry:
    """One network's record in a lock file: its numbers, per metric and per top-level layer, and
    the conditions (CONDITIONS) they were measured under. `to_dict()` is its JSON, in this order."""

    path: str | None  # the spec's file; None for a Python model
    mode: str  # "eval" or "train"
    step: str  # "inference" or "train"
    batch: int
    input: tuple[int, ...]  # the first tensor's shape
    dtype: str
    optimizer: str | None  # a training step's; None otherwise
    metrics: dict[str, float] = field(default_factory=dict)  # by metric key (googlenet_cost/metrics.py)
    layers: dict[str, LayerCounts] = field(default_factory=dict)  # top-level rows, by name
    inputs: str | None = None  # the --input text, only for a model with several or non-float inputs
    latency_device_type: str | None = None  # where latency_ms was timed; None: no latency recorded

    @classmethod
    def of(cls, report: Report) -> LockEntry:
        """What a lock records of a report."""
        return cls(path=report.spec.path, **{**run_conditions(report), "input": tuple(report.input_shape)},
                   metrics=metric_values(report),
                   layers={row.name: LayerCounts(row.params, row.macs, row.bytes)
                           for row in report.layers if row.parent is None},
                   latency_device_type=report.timed[0].device_type if report.timed else None)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LockEntry:
        """An entry read back (validated by `lock_problem` first; keys it does not know are ignored)."""
        return cls(path=data.get("path"), mode=data["mode"], step=data["step"], batch=data["batch"],
                   input=tuple(data["input"]), dtype=data["dtype"], optimizer=data.get("optimizer"),
                   metrics=dict(data["metrics"]),
                   layers={name: LayerCounts(*(counts[key] for key in LayerCounts.KEYS))
                           for name, counts in data.get("layers", {}).items()},
                   inputs=data.get("inputs"), latency_device_type=data.get("latency_device_type"))

    def conditions(self) -> dict[str, Any]:
        """The conditions as `run_conditions` gives a run's, to compare key by key."""
        return {"mode": self.mode, "step": self.step, "batch": self.batch, "input": list(self.input),
                "dtype": self.dtype, "optimizer": self.optimizer, "inputs": self.inputs}

    def to_dict(self) -> dict[str, Any]:
        conditions = {key: value for key, value in self.conditions().items() if key != "inputs" or value}
        entry = {"path": self.path, **conditions, "metrics": dict(self.metrics),
                 "layers": {name: counts.to_dict() for name, counts in self.layers.items()}}
        if self.latency_device_type is not None:
            entry["latency_device_type"] = self.latency_device_type
        return entry


@dataclass(frozen=True)
class Lock:
    """A lock file: an entry per network, and the versions (and, with latency, the time) that
    recorded them. `to_dict()` is the file's JSON."""

    specs: dict[str, LockEntry]
    gcost_version: str | None = None
    torch_version: str | None = None
    latency_timed_at: str | None = None  # ISO 8601, only where latency is recorded

    @property
    def timed(self) -> bool:
        """Whether any entry records latency."""
        return any(entry.latency_device_type is not None for entry in self.specs.values())

    def to_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {"schema": LOCK_SCHEMA, "gcost_version": self.gcost_version,
                                    "torch_version": self.torch_version}
        if self.latency_timed_at is not None:
            document["latency_timed_at"] = self.latency_timed_at
        document["specs"] = {name: entry.to_dict() for name, entry in self.specs.items()}
        return document


def versions() -> dict[str, str]:
    """The versions whose counts a lock records: gcost's and torch's (torch's operators and its
    flop counter decide what is counted)."""
    import torch

    from .._version import __version__

    return {"gcost_version": __version__, "torch_version": torch.__version__}


def lock_document(reports: dict[str, Report]) -> str:
    """The lock file: today's numbers per network, with the versions that produced them. The same
    networks recorded again give the same bytes (a lock is committed: no churn in its diffs); the
    one time it holds is `latency_timed_at`, only where latency is recorded (a measurement of that
    day and machine, which re-recording changes anyway)."""
    timed = any(report.timed for report in reports.values())
    lock = Lock({name: LockEntry.of(report) for name, report in reports.items()}, **versions(),
                latency_timed_at=datetime.now(timezone.utc).isoformat(timespec="seconds") if timed else None)
    return json.dumps(lock.to_dict(), indent=2, sort_keys=False) + "\n"


def version_difference(lock: Lock) -> str | None:
    """How the versions a lock was recorded with differ from this run's, as a clause ("torch
    2.99.0+cu999 (this run: 2.13.0+cpu)"), or None when they are the same."""
    now = versions()
    differences = [f"{key.removesuffix('_version')} {str(getattr(lock, key) or 'unknown')[:40]} (this run: {value})"
                   for key, value in now.items() if getattr(lock, key) != value]
    return ", ".join(differences) or None


def read_lock(path: str) -> Lock:
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
    if schema == 2:
        raise GcostError("a lock file of schema 2 (an older gcost) does not record bytes moved: record it again "
                         "with gcost baseline", file=path)
    if not isinstance(data, dict) or data.get("schema") != LOCK_SCHEMA:
        raise GcostError(f"not a gcost lock file of schema {LOCK_SCHEMA}", file=path)
    problem = lock_problem(data)
    if problem:
        raise GcostError(f"not a gcost lock file: {problem}", file=path)
    return Lock({str(name): LockEntry.from_dict(entry) for name, entry in data["specs"].items()},
                gcost_version=data.get("gcost_version"), torch_version=data.get("torch_version"),
                latency_timed_at=data.get("latency_timed_at"))


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
    for key in ("gcost_version", "torch_version", "latency_timed_at"):
        if data.get(key) is not None and not isinstance(data[key], str):
            return f"{key} must be text, got {quoted(data[key])}"
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
    if not (isinstance(shape, list) and len(shape) <= 4 and all(_is_count(d) for d in shape)):
        return f".input must list up to 4 positive sizes, got {quoted(shape)}"
    training = entry["step"] == "train"
    if not isinstance(entry.get("dtype"), str) or (training and not isinstance(entry.get("optimizer"), str)):
        return ".dtype must be text, and so must .optimizer for a training step"
    problem = _metrics_problem(entry.get("metrics"), training)
    if problem:
        return problem
    layers = entry.get("layers", {})
    if not isinstance(layers, dict):
        return ".layers must be a mapping"
    for layer, counts in layers.items():
        if not isinstance(counts, dict) or not all(_is_number(counts.get(k)) for k in LayerCounts.KEYS):
            return f".layers.{str(layer)[:40]} must hold params, macs and bytes numbers"
    for key in ("path", "latency_device_type", "inputs"):
        if entry.get(key) is not None and not isinstance(entry[key], str):
            return f".{key} must be text"
    timed = any(metric_named(key).timed for key in entry["metrics"])
    if timed and not isinstance(entry.get("latency_device_type"), str):
        return ".latency_device_type must say where latency_ms was timed"
    return None


def _metrics_problem(metrics: Any, training: bool) -> str | None:
    """What is wrong with an entry's metrics (by the metric table), or None: each a known metric
    of its kind (whole or not), every one a run measures present (training ones for a training
    step), and no training one without a training step."""
    if not isinstance(metrics, dict):
        return ".metrics must be a mapping"
    known = {metric.key: metric for metric in METRICS}
    for key, value in metrics.items():
        metric = known.get(key)
        if metric is None:
            return f".metrics: unknown metric {quoted(key)}"
        if not _is_number(value) or (metric.whole and not isinstance(value, int)):
            kind = "an integer" if metric.whole else "a number"
            return f".metrics.{key} must be {kind} from 0 to 10^18, got {quoted(value)}"
    required = [metric.key for metric in METRICS if not metric.timed and (training or not metric.training)]
    missing = [key for key in required if key not in metrics]
    if missing:
        return f".metrics lacks {', '.join(missing)}: a metric not recorded could grow unnoticed"
    if not training and any(known[key].training for key in metrics):
        return ".metrics holds training-step metrics, but .step is not 'train'"
    return None


def compare_conditions(name: str, report: Report, locked: LockEntry, where: str) -> None:
    """Refuse (exit 2) a check whose run differs from the baseline's in any condition its numbers
    depend on: train-mode numbers include the auxiliary heads, a training step's memory its batch,
    and so on, so comparing across them could hide growth."""
    now, recorded = run_conditions(report), locked.conditions()
    for key, option in CONDITIONS.items():
        if recorded[key] != now[key]:
            raise GcostError(f"{name}: the baseline was recorded with {key} {_shown(recorded[key])}, this run "
                             f"has {key} {_shown(now[key])}: check with the same {option} as the baseline, or "
                             "record the baseline again (gcost baseline)", file=where)


def compare_latency(name: str, report: Report, locked: LockEntry, where: str, asked: bool) -> None:
    """A timed run against a baseline: refuse (exit 2) what cannot be compared, so that no latency
    the user asked to compare (--latency) passes uncompared."""
    if not report.timed:
        return
    if not any(metric_named(key).timed for key in locked.metrics):
        if asked:
            raise GcostError(f"{name}: --latency, but the baseline records no latency: record it with "
                             "gcost baseline --latency, or check without --latency", file=where)
        return
    recorded, now = locked.latency_device_type, report.timed[0].device_type
    if recorded != now:
        raise GcostError(f"{name}: the baseline's latency was timed on {recorded}, this run on {now}: check on the "
                         "same kind of device, or without --latency", file=where)


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return "x".join(str(size) for size in value)
    return "none" if value is None else quoted(value)
