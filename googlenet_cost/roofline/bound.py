"""The roofline bound of every row (Williams, Waterman, Patterson, CACM 2009), made hierarchical.

A row cannot run faster than its FLOPs at the peak FLOP/s, nor than its bytes at the bandwidth
of the memory they come from. Every byte an operator moves passes through the fastest cache at
most at that cache's bandwidth; only what does not fit in the last-level cache must come from
main memory (at least the row's working set less the cache, a lower bound of it: the row's
output and parameters). So, with a measured cache bandwidth (CPU),

    memory = max(bytes / cache bandwidth, max(0, working set - cache size) / memory bandwidth)

and without one (a GPU, a datasheet) the classic bytes / memory bandwidth. The bound of a row
with children is the sum of its children's (eager execution runs them one after another) and of
what it adds itself (a concat, a residual add). Pure arithmetic: no torch."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ..report import LayerRow

if TYPE_CHECKING:
    from .peaks import Peaks

# A row measured faster than its bound by more than this factor contradicts the model (the bound
# is a bound): a warning, naming the row and what gcost suspects.
NOISE = 1.10
MAX_NAMED = 5  # rows a warning names before "and N more"


@dataclass(frozen=True)
class Bound:
    compute_ms: float  # FLOPs at the peak FLOP/s
    memory_ms: float  # bytes at the bandwidth of where they come from

    @property
    def bound_ms(self) -> float:
        return max(self.compute_ms, self.memory_ms)

    @property
    def roof(self) -> str:
        """"compute" or "memory": which roof the row's bound sits under."""
        return "compute" if self.compute_ms >= self.memory_ms else "memory"


def leaf_bound(flops: float, moved: int, working_set: int, peaks: Peaks) -> Bound:
    """The bound of operators doing `flops` and moving `moved` bytes over `working_set` bytes."""
    compute_s = flops / peaks.flops_per_s
    if peaks.cache_bytes_per_s:
        beyond = max(0, working_set - (peaks.cache_bytes or 0))
        memory_s = max(moved / peaks.cache_bytes_per_s, beyond / peaks.bytes_per_s)
    else:
        memory_s = moved / peaks.bytes_per_s
    if not (math.isfinite(compute_s) and math.isfinite(memory_s)):
        raise ValueError(f"peaks {peaks.flops_per_s!r} FLOP/s, {peaks.bytes_per_s!r} B/s give no finite bound")
    return Bound(1e3 * compute_s, 1e3 * memory_s)


def row_bounds(rows: list[LayerRow], batch: int, itemsize: int, peaks: Peaks) -> dict[str, Bound]:
    """Every row's bound at `batch`: a row without children its own (leaf_bound); a row with
    children the sum of theirs and of what it adds (what it moves and computes beyond them)."""
    children: dict[str, list[LayerRow]] = {}
    for row in rows:
        if row.parent is not None:
            children.setdefault(row.parent, []).append(row)
    bounds: dict[str, Bound] = {}

    def own(row: LayerRow, flops: float, moved: int, params: int) -> Bound:
        """At least its output and the parameters it reads are distinct memory it touches (and
        never more than it moves): a lower bound of its working set keeps the bound a bound."""
        working_set = min(moved, itemsize * (batch * math.prod(row.output_shape) + params))
        return leaf_bound(max(flops, 0), max(moved, 0), working_set, peaks)

    for row in reversed(rows):  # children come after their parent
        flops = 2 * row.macs * batch
        kids = children.get(row.name, [])
        if not kids:
            bounds[row.name] = own(row, flops, row.bytes, row.params)
            continue
        rest_flops = flops - sum(2 * kid.macs * batch for kid in kids)
        rest_bytes = row.bytes - sum(kid.bytes for kid in kids)
        if rest_flops < 0 or rest_bytes < 0:  # a child also called from outside its parent: bound the row alone
            bounds[row.name] = own(row, flops, row.bytes, row.params)
            continue
        extra = [own(row, rest_flops, rest_bytes, 0)] if rest_flops > 0 or rest_bytes > 0 else []
        bounds[row.name] = _summed([bounds[kid.name] for kid in kids] + extra)
    return bounds


@dataclass(frozen=True)
class _Summed(Bound):
    """A sum of bounds: its bound is the sum of theirs (each part runs under its own roof), its
    limit the roof under which most of that time sits."""

    total_ms: float = 0.0
    compute_share_ms: float = 0.0

    @property
    def bound_ms(self) -> float:
        return self.total_ms

    @property
    def roof(self) -> str:
        return "compute" if self.compute_share_ms >= self.total_ms - self.compute_share_ms else "memory"


def _summed(parts: list[Bound]) -> Bound:
    return _Summed(sum(p.compute_ms for p in parts), sum(p.memory_ms for p in parts),
                   sum(p.bound_ms for p in parts), sum(p.bound_ms for p in parts if p.roof == "compute"))


def with_bounds(rows: list[LayerRow], batch: int, itemsize: int, peaks: Peaks) -> list[LayerRow]:
    """The rows with bound_ms, roof (limits.with_limits then judges each row's limit) and,
    where a per-layer latency was measured, efficiency = bound / measured: 1.0 is a row running
    at its roof."""
    bounds = row_bounds(rows, batch, itemsize, peaks)
    result = []
    for row in rows:
        bound = bounds[row.name]
        if bound.bound_ms <= 0:  # nothing computed, nothing moved (a view, dropout in eval): no roof to sit under
            result.append(replace(row, bound_ms=0.0, roof=None, efficiency=None))
            continue
        efficiency = bound.bound_ms / row.latency_ms if row.latency_ms else None
        result.append(replace(row, bound_ms=bound.bound_ms, roof=bound.roof, efficiency=efficiency))
    return result


def model_bound_ms(rows: list[LayerRow]) -> float:
    """The model's bound: the sum of its top-level rows' (None-free: rows carry bounds)."""
    return sum(row.bound_ms or 0.0 for row in rows if row.parent is None)


def contradictions(rows: list[LayerRow], model_bound: float, median_ms: float | None, peaks: Peaks,
                   on_gpu: bool) -> list[str]:
    """Warnings where a measurement beats its bound beyond noise, each saying what gcost suspects:
    for a compute-bound row the peak FLOP/s (too low: measured under load? `gcost peaks
    --remeasure`), for a memory-bound one the traffic model (a fused or cache-resident kernel moves
    less than eager operators) or the bandwidth; on a GPU a timer that reads too low as well."""
    fast = [row for row in rows if row.efficiency is not None and row.efficiency > NOISE]
    warnings = []
    timer = "; or the timer reads too low" if on_gpu else ""
    source = f"{peaks.source} peaks of {peaks.device}"
    if fast:
        named = ", ".join(f"{row.name} ({row.latency_ms:.3f} ms < bound {row.bound_ms:.3f} ms, {row.roof})"
                          for row in fast[:MAX_NAMED])
        more = f" and {len(fast) - MAX_NAMED} more" if len(fast) > MAX_NAMED else ""
        suspects = []
        if any(row.roof == "compute" for row in fast):
            suspects.append(f"compute-bound rows: the peak FLOP/s ({source}) is too low (measured under load? "
                            "gcost peaks --remeasure)")
        if any(row.roof == "memory" for row in fast):
            suspects.append("memory-bound rows: the traffic model counts more bytes than the kernels move (fused "
                            f"or cache-resident execution), or the bandwidth ({source}) is too low")
        warnings.append(f"roofline: measured faster than the bound: {named}{more}. Suspect the "
                        + "; ".join(suspects) + timer)
    if median_ms is not None and median_ms * NOISE < model_bound:
        warnings.append(f"roofline: the model's median {median_ms:.3f} ms is faster than its bound "
                        f"{model_bound:.3f} ms: the {source} are too low, or the traffic model overstates "
                        f"what the kernels move{timer}")
    return warnings
