"""What a sweep found: plain data, and `to_dict()`, the JSON contract (docs/json.md, `gcost sweep`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from .candidates import Counts
from .grid import Axis
from .latency import TableUse
from .pareto import Objective
from .predict import Calibration, PredictionError
from .table import Conditions

SCHEMA = 1


@dataclass(frozen=True)
class CandidateLatency:
    """One candidate's latency on one device."""

    predicted_ms: float | None = None  # from the table (--latency predicted)
    measured_ms: float | None = None  # timed end to end (--latency measured, or one of --measure K)
    interpolated: int = 0  # its units whose entry was interpolated (--interpolate)

    def to_dict(self) -> dict[str, Any]:
        return {"predicted_ms": self.predicted_ms, "measured_ms": self.measured_ms, "interpolated": self.interpolated}


@dataclass(frozen=True)
class Candidate:
    index: int  # its position in the grid's product
    label: str
    edits: str  # a `gcost analyze --set` string that makes it from the spec
    counts: Counts | None  # None: it does not build
    reason: str | None = None  # why it does not build
    over: tuple[str, ...] = ()  # the gate metrics whose limit it exceeds (params, macs, latency_ms, ...)
    latency: Mapping[str, CandidateLatency] = field(default_factory=dict)  # by device kind, the first the sweep's
    pareto: bool = False

    @property
    def valid(self) -> bool:
        return self.counts is not None

    @property
    def first(self) -> CandidateLatency:
        return next(iter(self.latency.values()), CandidateLatency())

    @property
    def predicted_ms(self) -> float | None:
        return self.first.predicted_ms

    @property
    def measured_ms(self) -> float | None:
        return self.first.measured_ms

    @property
    def latency_ms(self) -> float | None:
        """What budgets and the front read: the prediction, or the measurement (--latency measured)."""
        return self.first.predicted_ms if self.first.predicted_ms is not None else self.first.measured_ms

    def value(self, metric: str) -> float | None:
        if metric == "latency":
            return self.latency_ms
        return None if self.counts is None else getattr(self.counts, metric)

    def to_dict(self) -> dict[str, Any]:
        counts = self.counts
        data = {"label": self.label, "edits": self.edits, "index": self.index,
                **{key: None if counts is None else getattr(counts, key)
                   for key in ("params", "weights", "macs", "bytes", "activations")},
                "valid": self.valid, "reason": self.reason, "over": list(self.over),
                "predicted_ms": self.predicted_ms, "measured_ms": self.measured_ms,
                "interpolated": self.first.interpolated, "pareto": self.pareto}
        if len(self.latency) > 1:
            data["by_device"] = {kind: latency.to_dict() for kind, latency in self.latency.items()}
        return data


@dataclass(frozen=True)
class DeviceSummary:
    """One device's table and predictor."""

    kind: str
    conditions: Conditions
    use: TableUse
    calibration: Calibration | None = None
    prediction: PredictionError | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.conditions.to_dict(),
                "calibration": None if self.calibration is None else self.calibration.to_dict(),
                "prediction": None if self.prediction is None else self.prediction.to_dict(),
                "store": {"reused": self.use.reused, "measured_layers": self.use.measured_layers,
                          "measured_networks": self.use.measured_networks, "interpolated": self.use.interpolated,
                          "unsteady_layers": self.use.unsteady_layers}}


@dataclass(frozen=True)
class SweepResult:
    spec: Mapping[str, Any]  # the swept spec's name, path, input shape (Spec.to_dict)
    axes: tuple[Axis, ...]
    size: int  # candidates in the grid's product
    sample: int | None
    seed: int
    latency: str  # predicted, measured or none
    objectives: tuple[Objective, ...]
    batch: int
    dtype: str
    limits: Mapping[str, float]
    executor: str
    candidates: tuple[Candidate, ...]  # in the grid's order
    devices: tuple[DeviceSummary, ...] = ()
    store_path: str | None = None  # None: no latency, or a store in memory only
    elapsed_s: float = 0.0
    warnings: tuple[str, ...] = ()

    @property
    def prediction(self) -> PredictionError | None:
        return self.devices[0].prediction if self.devices else None

    @property
    def front(self) -> list[Candidate]:
        return [c for c in self.candidates if c.pareto]

    def to_dict(self) -> dict[str, Any]:
        store = None
        if self.latency != "none":
            store = {"path": self.store_path, "reused": sum(d.use.reused for d in self.devices),
                     "measured_layers": sum(d.use.measured_layers for d in self.devices),
                     "measured_networks": sum(d.use.measured_networks for d in self.devices),
                     "interpolated": sum(d.use.interpolated for d in self.devices)}
        return {"schema": SCHEMA, "spec": dict(self.spec),
                "grid": [{"target": axis.target, "values": list(axis.values)} for axis in self.axes],
                "size": self.size, "sample": self.sample, "seed": self.seed, "latency": self.latency,
                "objectives": [objective.text for objective in self.objectives], "batch": self.batch,
                "dtype": self.dtype, "limits": dict(self.limits), "executor": self.executor,
                "candidates": [candidate.to_dict() for candidate in self.candidates],
                "prediction": None if self.prediction is None else self.prediction.to_dict(),
                "devices": [device.to_dict() for device in self.devices], "store": store,
                "elapsed_s": round(self.elapsed_s, 3), "warnings": list(self.warnings)}
