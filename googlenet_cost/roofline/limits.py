"""What limits each row's time, beyond its roofline bound: the time its operators are expected to
take at this machine's measured rates (`expected_ms`), and one of four limits.

    expected = sum over the row's operators of calls x max(per-call cost, time at its rate for its size)

(oprates.OpRates: bytes/s curves for operators without MACs, FLOP/s curves for each MAC class); a
row with children is the sum of its children's and of the operators it adds itself. It is an
estimate of eager execution, not a bound: bound_ms stays the least time the roofs allow.

`limit`, judged on the row's measured time (--per-layer) or else its expected time T:
- overhead: the per-call cost of its operators explains at least OVERHEAD_SHARE of T (many small
  operators, or one tiny one);
- kernel: T is over 1 / KERNEL_EFFICIENCY times its bound and at least KERNEL_MIN_MS: its operators
  are far from both roofs (slow kernels, not bandwidth: LRN's avg_pool3d and pow); `limit_ops`
  names the operators that take most of it;
- else compute or memory: the roof its bound sits under (`roof`).
Pure arithmetic: no torch."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ..report import LayerRow, OpCount

if TYPE_CHECKING:
    from .oprates import OpRates

KERNEL_EFFICIENCY = 0.10  # a row at under 10% of its roof ...
KERNEL_MIN_MS = 0.05  # ... for 0.05 ms or more (shorter: timer noise) is limited by its kernels, never by a roof
OVERHEAD_SHARE = 0.5  # per-call costs of half the row's time or more: overhead
NAMED_SHARE = 0.8  # limit_ops: the operators taking this share of the row's expected time ...
MAX_NAMED = 3  # ... at most this many


@dataclass(frozen=True)
class Expected:
    ms: float
    call_ms: float  # the part that is the operators' per-call cost
    by_op: dict[str, float]  # operator name -> ms


def expected(operators: tuple[OpCount, ...], rates: OpRates) -> Expected:
    by_op: dict[str, float] = {}
    total = calls = 0.0
    for op in operators:
        seconds, call_seconds, _ = rates.seconds(op.name, op.kind, op.calls, op.flops, op.bytes)
        by_op[op.name] = by_op.get(op.name, 0.0) + 1e3 * seconds
        total += 1e3 * seconds
        calls += 1e3 * call_seconds
    return Expected(total, calls, by_op)


def _less(parent: tuple[OpCount, ...], children: list[tuple[OpCount, ...]]) -> tuple[OpCount, ...] | None:
    """The operators a parent runs itself (its own less its children's), None when a child's
    exceed it (a child also called from outside its parent)."""
    left = {(op.name, op.kind): [op.calls, op.flops, op.bytes] for op in parent}
    for ops in children:
        for op in ops:
            entry = left.get((op.name, op.kind))
            if entry is None:
                return None
            entry[0] -= op.calls
            entry[1] -= op.flops
            entry[2] -= op.bytes
    if any(value < 0 for entry in left.values() for value in entry):
        return None
    return tuple(OpCount(name, calls, flops, moved, kind) for (name, kind), (calls, flops, moved) in left.items()
                 if calls > 0)


def row_expectations(rows: list[LayerRow], rates: OpRates) -> dict[str, Expected]:
    """Every row with operators: a leaf its own; a row with children theirs summed and its own
    operators' (all of its operators when its children's exceed its own)."""
    children: dict[str, list[LayerRow]] = {}
    for row in rows:
        if row.parent is not None:
            children.setdefault(row.parent, []).append(row)
    found: dict[str, Expected] = {}
    for row in reversed(rows):  # children come after their parent
        kids = [kid for kid in children.get(row.name, []) if kid.name in found]
        own = _less(row.operators, [kid.operators for kid in kids]) if kids else None
        if not kids or own is None:
            found[row.name] = expected(row.operators, rates)  # none (a view's row, dropout in eval): 0 ms
            continue
        parts = [found[kid.name] for kid in kids] + [expected(own, rates)]
        by_op: dict[str, float] = {}
        for part in parts:
            for name, ms in part.by_op.items():
                by_op[name] = by_op.get(name, 0.0) + ms
        found[row.name] = Expected(sum(p.ms for p in parts), sum(p.call_ms for p in parts), by_op)
    return found


def limit_of(row: LayerRow, found: Expected | None) -> tuple[str | None, tuple[str, ...]]:
    """(limit, the operators responsible) of a row with its bound and roof set."""
    time_ms = row.latency_ms if row.latency_ms else (found.ms if found else None)
    if row.roof is None or not row.bound_ms or not time_ms:
        return row.roof, ()
    if found is not None and found.call_ms >= OVERHEAD_SHARE * max(time_ms, found.ms):
        return "overhead", _named(found)
    if row.bound_ms < KERNEL_EFFICIENCY * time_ms and time_ms >= KERNEL_MIN_MS:
        return "kernel", _named(found) if found else ()
    return row.roof, ()


def _named(found: Expected) -> tuple[str, ...]:
    """The operators taking most of the row's expected time: by time, until NAMED_SHARE of it."""
    ranked = sorted(found.by_op.items(), key=lambda item: -item[1])
    named, covered = [], 0.0
    for name, ms in ranked[:MAX_NAMED]:
        named.append(name)
        covered += ms
        if covered >= NAMED_SHARE * found.ms:
            break
    return tuple(named)


def with_limits(rows: list[LayerRow], rates: OpRates | None) -> list[LayerRow]:
    """The rows (bounded: bound_ms and roof set) with expected_ms (with `rates`), limit and limit_ops."""
    found = row_expectations(rows, rates) if rates is not None else {}
    result = []
    for row in rows:
        expectation = found.get(row.name)
        limit, named = limit_of(row, expectation)
        result.append(replace(row, expected_ms=expectation.ms if expectation else None, limit=limit,
                              limit_ops=named))
    return result
