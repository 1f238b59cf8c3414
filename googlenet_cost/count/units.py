"""The measurement plan: which layers of a spec are built and measured alone, once each.

Counts are a pure function of a layer's structure and input shape, and networks repeat their
blocks, so counting, `--verify`, the training step, the choice of device and the memory check
all read the same list of units made once from the planned rows, and measure each distinct unit
once. A UnitCache keeps the measurements for as long as its owner wants: one analyze, or a whole
compare, whose variants share most of their layers (a reduce variant changes a few convs).
No torch here: the plan is arithmetic on the spec."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Hashable

from ..spec.layers import numel, passes_through
from ..spec.plan import PlannedRow

# Counting runs on the meta device, except for networks small enough that a real CPU pass is
# cheaper: in torch 2.x, meta tensors send elementwise ops (cat, add, dropout) through Python
# reference kernels whose first calls import torch._dynamo and sympy (about a second; so does
# Module.to_empty from meta). Both devices give the same counts; the tests check that.
# Only distinct layers are run, one at a time, so the limits are on their total work and on the
# largest one's memory.
CPU_COUNTING_MAX_MACS = 4_000_000_000
CPU_COUNTING_MAX_BYTES = 1 << 30
# A training step's units run forward and backward (about three times the forward's work): on real
# tensors only while that stays cheaper than the meta device's one-time start (GoogLeNet's step:
# 4.3 s on two CPU cores, 3.8 s on meta with its start, a fraction of a second once started).
CPU_TRAINING_MAX_MACS = 300_000_000


@dataclass(frozen=True)
class MeasurementPlan:
    """The units of one spec's planned rows, for every consumer: each unit is a planned row whose
    layer is built and measured alone (PlannedRow.build_key: equal keys measure the same).

    - counted: what counting builds (top-level layers and, inside a sequence or repeat, its
      children: identical blocks of a repeat are one unit);
    - whole: every top-level layer whole (--verify runs fvcore on these, on real tensors);
    - trained: every row that is no sequence or repeat, children of modules included (autograd
      interleaves a module's branches, so each child's backward is measured alone)."""

    rows: tuple[PlannedRow, ...]
    counted: tuple[PlannedRow, ...]
    whole: tuple[PlannedRow, ...]
    trained: tuple[PlannedRow, ...]

    @classmethod
    def of(cls, rows: list[PlannedRow] | tuple[PlannedRow, ...]) -> MeasurementPlan:
        expanded: set[str | None] = {None}
        counted = []
        for row in rows:
            if row.parent in expanded:
                if passes_through(row.layer):
                    expanded.add(row.name)
                else:
                    counted.append(row)
        return cls(rows=tuple(rows), counted=tuple(counted),
                   whole=tuple(row for row in rows if row.parent is None),
                   trained=tuple(row for row in rows if not passes_through(row.layer)))

    def counting_device(self, batch: int) -> str:
        """cpu for a network whose distinct units are small enough to run for real, else meta."""
        distinct = {unit.build_key: unit for unit in self.counted}
        macs = batch * sum(unit.cost.macs for unit in distinct.values())
        fits = self.largest_unit_bytes(batch) <= CPU_COUNTING_MAX_BYTES
        return "cpu" if macs <= CPU_COUNTING_MAX_MACS and fits else "meta"

    def training_device(self, batch: int) -> str:
        """cpu for a training step whose distinct units are cheap to run forward and backward for
        real, else meta (the same counts either way)."""
        distinct = {(unit.build_key, unit.input_needs_grad): unit for unit in self.trained}
        macs = batch * sum(unit.cost.macs for unit in distinct.values())
        return self.counting_device(batch) if macs <= CPU_TRAINING_MAX_MACS else "meta"

    def largest_unit_bytes(self, batch: int, *, whole: bool = False) -> int:
        """fp32 bytes of the largest unit run alone on real tensors (with `whole`, as --verify
        runs fvcore: every top-level layer whole): its parameters, its input and every output
        inside it."""
        units = {unit.name: unit for unit in (self.whole if whole else self.counted)}
        unit_of: dict[str, str] = {}
        elements: dict[str, int] = {}
        for row in self.rows:
            unit = row.name if row.name in units else unit_of.get(row.parent or "")
            if unit is not None:
                unit_of[row.name] = unit
                elements[unit] = elements.get(unit, 0) + batch * numel(row.out_shape)
        return 4 * max((row.cost.params + batch * numel(row.in_shape) + elements[name]
                        for name, row in units.items()), default=0)


@dataclass
class UnitCache:
    """Measurements of units by (what was measured, the unit's key, the conditions): shared by
    every spec of a compare. `built` counts the measurements actually made (a test reads it)."""

    results: dict[Hashable, Any] = field(default_factory=dict)
    built: int = 0

    def get(self, key: Hashable, measure: Callable[[], Any]) -> Any:
        if key not in self.results:
            self.results[key] = measure()
            self.built += 1
        return self.results[key]


def require_cpu_memory(need_bytes: int, what: str) -> None:
    """Refuse work on real CPU tensors that would not fit in what this process may use."""
    from ..errors import GcostError
    from ..timing.memory import cpu_available_bytes, too_large

    free = cpu_available_bytes()
    if too_large(need_bytes, free):
        raise GcostError(f"{what} needs about {need_bytes / 2**30:,.1f} GiB of memory, only "
                         f"{free / 2**30:,.1f} GiB are free to this process")
