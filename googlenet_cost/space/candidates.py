"""Every candidate of a sweep counted by the closed forms (spec/plan.py), without building a model.

A candidate is the spec with its `--set` edits made (spec/edits.set_keys, as `gcost analyze --set`
makes them) and planned in eval mode. Its totals are the report's (report.totals_of): params,
weights and MACs of the top-level rows; activations, the outputs of every row that makes a tensor;
bytes, the forward's memory traffic at the batch and dtype. A candidate whose shapes do not fit
(channels not divisible by groups, a map too small for a kernel) is invalid, with the planner's
reason; it is listed, not fatal. Its timing units are the measurement plan's (count/units.py): the
rows built and timed alone, which together make the whole network. No torch here."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..count.units import MeasurementPlan
from ..errors import GcostError
from ..spec.edits import set_keys
from ..spec.layers import Layer, Shape, numel, passes_through
from ..spec.model import Spec
from ..spec.plan import plan_rows
from ..spec.tree import Scope

Unit = tuple[Layer, Shape]  # a layer built and timed alone, and its input (PlannedRow.build_key)


@dataclass(frozen=True)
class Counts:
    params: int
    weights: int
    macs: int  # per sample
    activations: int  # elements per sample
    bytes: int  # at the sweep's batch and dtype

    def metric(self, key: str) -> float | None:
        """Its value of a gate metric (googlenet_cost/metrics.py's keys); None for one it does not count."""
        values = {"params": self.params, "weights": self.weights, "macs": self.macs, "bytes": self.bytes,
                  "activation_bytes": 4 * self.activations}  # fp32, as the gate's metric reads it
        return values.get(key)


@dataclass(frozen=True)
class Counted:
    """One candidate counted: its counts and timing units, or why it does not build."""

    index: int  # its position in the grid's product
    label: str
    edits: str
    counts: Counts | None
    reason: str | None = None  # why it does not build (counts None)
    units: tuple[Unit, ...] = ()  # with latency: the measurement plan's units, in order


def edited(spec: Spec, edits: str) -> Spec:
    """The spec with a candidate's edits made, as `gcost analyze --set EDITS` makes them."""
    return set_keys(spec, edits, Scope(None))[1]


def count_candidate(spec: Spec, index: int, label: str, edits: str, *, batch: int, itemsize: int,
                    units: bool) -> Counted:
    try:
        varied = edited(spec, edits)
        rows = plan_rows(varied, train=False)
    except GcostError as e:
        return Counted(index, label, edits, None, str(GcostError(e.message, layer=e.layer)))
    top = [row for row in rows if row.parent is None]
    counts = Counts(params=sum(row.cost.params for row in top), weights=sum(row.cost.weights for row in top),
                    macs=sum(row.cost.macs for row in top),
                    activations=sum(numel(row.out_shape) for row in rows if not passes_through(row.layer)),
                    bytes=sum(row.layer.traffic(row.in_shape, batch, False).bytes(itemsize) for row in top))
    timed = tuple(row.build_key for row in MeasurementPlan.of(rows).counted) if units else ()
    return Counted(index, label, edits, counts, units=timed)


def count_all(spec: Spec, items: Sequence[tuple[int, str, str]], *, batch: int, itemsize: int,
              units: bool) -> list[Counted]:
    """count_candidate of each (index, label, edits): what one executor task runs."""
    return [count_candidate(spec, index, label, edits, batch=batch, itemsize=itemsize, units=units)
            for index, label, edits in items]


def network_units(spec: Spec) -> tuple[Unit, ...]:
    """The timing units of a spec as it is (the sweep's base network, which calibrates)."""
    return tuple(row.build_key for row in MeasurementPlan.of(plan_rows(spec, train=False)).counted)
