"""Per-row time, and each row's operators, from a separate instrumented profiler pass (never the
headline number).

Each report row gets a `record_function` range, opened and closed by forward hooks that exist only
during this pass, and each profiled forward a range of its own (ITERATION), so every event is
placed in its forward and its rows by the profile's parent links. A row's time is the median over
the profiled forwards of its range's time in that forward (the CPU time inside it; on CUDA the
kernel time of the kernels launched inside it, children included): medians, not means, so one
forward slowed by other work does not move it. On CUDA a range appears twice in the profile, as
the CPU-side range and as a GPU annotation span; only CPU-side entries are read, so a parent's time
is at least the sum of its children's.

A row's operators (`ops`) are the aten operators run inside it as the dispatcher runs them for
this model: the outermost operator on each path that is not a CompositeImplicitAutograd wrapper
(aten::conv2d is a wrapper; its aten::convolution is what runs), with calls and median time per
forward, sorted by time: the names gcost's counting records FLOPs and bytes under.

Coverage compares the top-level rows with the profiled forward (all kernel time on CUDA, the
forward's wall time on the CPU) and with the uninstrumented timed median (`coverage_of_median`):
the rows' sum off from that median by more than 20% is a warning saying by how much.
"""
from __future__ import annotations

import contextlib
import statistics
import time
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Iterable, Iterator

import torch

from .cuda import TorchCuda
from .measure import (Prepared, TimingOptions, TimingTarget, check_options, cuda_backend, out_of_memory, prepare,
                      resolve_device, timing_context, users_errors)

COVERAGE_RANGE = (0.8, 1.2)  # the top-level rows' sum against the profiled forward
MEDIAN_COVERAGE = 0.2  # the rows' sum may differ from the timed median by this much before a warning
ITERATION = "gcost::forward#"  # the range around each profiled forward, numbered


@dataclass(frozen=True)
class OpTime:
    """One operator of a row: calls and median milliseconds per forward (profiled), and the FLOPs
    and bytes gcost's counting gives its calls in that row (None where counting has no operator of
    that name: the join is by name, summed over the row's calls)."""

    name: str  # "aten::convolution", as torch.profiler and gcost's counting name it
    calls: int
    median_ms: float
    flops: int | None = None
    bytes: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "calls": self.calls, "median_ms": self.median_ms, "flops": self.flops,
                "bytes": self.bytes}


@dataclass(frozen=True)
class LayerLatency:
    by_row: dict[str, float]  # median milliseconds per forward
    ops: dict[str, tuple[OpTime, ...]]  # each row's operators, slowest first
    total_ms: float  # the profiled forward: what `coverage` compares with (see coverage_of)
    coverage: float  # top-level rows' sum / total_ms
    coverage_of: str  # "kernel time" (CUDA) or "instrumented wall time" (CPU)
    iterations: int
    activity: str  # "cuda" or "cpu"
    warnings: list[str]
    timed_ms: float | None = None  # the uninstrumented loop's median of the same batch
    coverage_of_median: float | None = None  # top-level rows' sum / timed_ms

    def to_dict(self) -> dict[str, Any]:
        return {"by_row_ms": self.by_row, "total_ms": self.total_ms, "coverage": self.coverage,
                "coverage_of": self.coverage_of, "timed_ms": self.timed_ms,
                "coverage_of_median": self.coverage_of_median, "iterations": self.iterations,
                "activity": self.activity}


def measure_layer_latency(target: TimingTarget, options: TimingOptions, iterations: int = 20,
                          cuda: TorchCuda | None = None, timed_ms: float | None = None) -> LayerLatency:
    """Profile `iterations` forwards with a record_function range per row, named as the rows;
    `timed_ms` (the uninstrumented median) is what the rows' sum is held against. Out of memory is
    the user's size problem (exit 2), as in the timing loop, and PyTorch's cache is emptied
    afterwards (the next batch or variant starts from the same free memory)."""
    cuda = cuda or cuda_backend()
    device = resolve_device(options.device, cuda)
    check_options(options, device, dtype=target.dtype, training=target.training)
    batch = options.batches[0]
    with users_errors([target]), timing_context(options, device, cuda, target), \
            out_of_memory(cuda, device, target.name, batch):
        prepared: Prepared | None = None
        try:
            prepared = prepare(target, replace(options, compile=False, cold_cache=False), device, batch, cuda)
            rows, events, wall_ms = _profile_rows(prepared, target.depth, iterations, device, cuda)
        finally:
            prepared = None
            if device.type == "cuda":
                cuda.empty_cache()
    on_device = device.type == "cuda"
    names = {name for name, _ in rows}
    spent = per_forward(events, names, iterations, on_device)
    by_row = {name: statistics.median(times) for name, times in spent.rows.items()}
    ops = {name: operators_of(found, iterations) for name, found in spent.ops.items()}
    total_ms = kernel_time_us(events) / 1000 / iterations if on_device else wall_ms
    return summarize_rows(by_row, rows, total_ms, iterations, device.type, ops=ops, timed_ms=timed_ms)


@dataclass
class PerForward:
    """What the profile holds, by forward: each row's milliseconds in every forward, and each row's
    operators' (name -> milliseconds and calls in every forward)."""

    rows: dict[str, list[float]]
    ops: dict[str, dict[str, tuple[list[float], list[int]]]]


def per_forward(events: Iterable[Any], names: set[str], iterations: int, on_device: bool) -> PerForward:
    """Each row's and each row's operators' time in every profiled forward (ITERATION ranges), from
    CPU-side events only; a row run twice in one forward (a shared module) adds up."""
    from torch.autograd import DeviceType

    rows: dict[str, list[float]] = {}
    ops: dict[str, dict[str, tuple[list[float], list[int]]]] = {}
    for event in events:
        if event.device_type != DeviceType.CPU:
            continue
        is_row, is_op = event.name in names, event.name.startswith("aten::")
        if not is_row and not is_op:
            continue
        forward, holders, counted = _placement(event, names)
        if forward is None:
            continue
        ms = (event.device_time_total if on_device else event.cpu_time_total) / 1000
        if is_row:
            rows.setdefault(event.name, [0.0] * iterations)[forward] += ms
        if is_op and counted:
            for row in holders:
                times, calls = ops.setdefault(row, {}).setdefault(event.name, ([0.0] * iterations, [0] * iterations))
                times[forward] += ms
                calls[forward] += 1
    return PerForward(rows, ops)


def _placement(event: Any, names: set[str]) -> tuple[int | None, list[str], bool]:
    """The forward an event ran in, the rows holding it, and (for an operator) whether it is the
    one that counts on its path: not a composite wrapper, and inside no other operator that is not."""
    forward, holders = None, []
    counted = event.name.startswith("aten::") and not composite_implicit(event.name)
    parent = event.cpu_parent
    while parent is not None:
        if parent.name.startswith(ITERATION):
            forward = int(parent.name[len(ITERATION):])
            break
        if parent.name in names:
            holders.append(parent.name)
        elif parent.name.startswith("aten::") and not composite_implicit(parent.name):
            counted = False
        parent = parent.cpu_parent
    return forward, holders, counted


@lru_cache(maxsize=None)
def composite_implicit(name: str) -> bool:
    """Whether every overload of the aten operator `name` the dispatcher knows is a
    CompositeImplicitAutograd wrapper (aten::conv2d, aten::linear, aten::max_pool2d): the dispatcher
    runs what it calls instead. (A packet may list overloads the dispatcher does not register, such
    as TorchScript's aten::to.prim_Device: those are skipped.)"""
    packet = getattr(torch.ops.aten, name.removeprefix("aten::"), None)
    found = []
    for overload in packet.overloads() if packet is not None else []:
        try:
            found.append(torch._C._dispatch_has_kernel_for_dispatch_key(
                name if overload == "default" else f"{name}.{overload}", "CompositeImplicitAutograd"))
        except RuntimeError:  # not registered with the dispatcher
            continue
    return bool(found) and all(found)


def operators_of(found: dict[str, tuple[list[float], list[int]]], iterations: int) -> tuple[OpTime, ...]:
    ops = [OpTime(name, round(statistics.median(calls)), statistics.median(times))
           for name, (times, calls) in found.items()]
    return tuple(sorted(ops, key=lambda op: (-op.median_ms, op.name)))


def kernel_time_us(events: Iterable[Any]) -> float:
    """All kernel time in the profile, each kernel counted once (at the CPU event that launched it)."""
    from torch.autograd import DeviceType

    return sum(event.self_device_time_total for event in events if event.device_type == DeviceType.CPU)


def _profile_rows(prepared: Prepared, depth: int | None, iterations: int, device: torch.device,
                  cuda: TorchCuda) -> tuple[list[tuple[str, str | None]], Any, float]:
    """The rows (name, parent), the profile's events and the profiled forward's median wall time (ms)."""
    from torch.profiler import ProfilerActivity, profile, record_function

    from ..modules import row_modules

    model, inputs = prepared.model, prepared.inputs
    rows = list(row_modules(model, depth))
    ranges: dict[str, Any] = {}

    def enter(name: str):
        return lambda module, args: ranges.__setitem__(name, record_function(name).__enter__())

    def leave(name: str):
        return lambda module, args, out: ranges.pop(name).__exit__(None, None, None)

    handles = [h for name, _, m in rows
               for h in (m.register_forward_pre_hook(enter(name)), m.register_forward_hook(leave(name)))]
    profiler = cuda.profiler() if device.type == "cuda" else profile(activities=[ProfilerActivity.CPU])
    walls = []
    try:
        for call in inputs:  # warm-up outside the profile
            call.into(model)
        _sync(cuda, device)
        with _native_stderr_silenced(), profiler as prof:
            for index in range(iterations):
                start = time.perf_counter()
                with record_function(f"{ITERATION}{index}"):
                    inputs[index % len(inputs)].into(model)
                _sync(cuda, device)
                walls.append((time.perf_counter() - start) * 1000)
    finally:
        for handle in handles:
            handle.remove()
    return [(name, parent) for name, parent, _ in rows], prof.events(), statistics.median(walls)


def summarize_rows(by_row: dict[str, float], rows: list[tuple[str, str | None]], total_ms: float,
                   iterations: int, activity: str, *, ops: dict[str, tuple[OpTime, ...]] | None = None,
                   timed_ms: float | None = None) -> LayerLatency:
    """Coverage and the self-checks: top-level rows against the profiled forward and the timed
    median, children against parents."""
    coverage_of = "kernel time" if activity == "cuda" else "instrumented wall time"
    top = sum(by_row.get(name, 0.0) for name, parent in rows if parent is None)
    coverage = top / total_ms if total_ms else 0.0
    warnings = []
    low, high = COVERAGE_RANGE
    if not low <= coverage <= high:
        warnings.append(f"per-layer times cover {coverage:.0%} of the {coverage_of} of a profiled forward")
    of_median = top / timed_ms if timed_ms else None
    if of_median is not None and abs(of_median - 1) > MEDIAN_COVERAGE:
        warnings.append(f"per-layer times add up to {top:.3f} ms, {of_median:.0%} of the timed median "
                        f"{timed_ms:.3f} ms: the instrumentation's own cost or other work on the machine; read the "
                        "rows as shares of the forward, not as milliseconds to add")
    children: dict[str, float] = {}
    for name, parent in rows:
        if parent is not None:
            children[parent] = children.get(parent, 0.0) + by_row.get(name, 0.0)
    over = [parent for parent, spent in children.items() if spent > by_row.get(parent, 0.0) * 1.001 + 1e-6]
    if over:
        warnings.append("per-layer self-check: children take longer than their parent in "
                        + ", ".join(over[:5]) + (" ..." if len(over) > 5 else ""))
    return LayerLatency(by_row, ops or {}, total_ms, coverage, coverage_of, iterations, activity, warnings,
                        timed_ms, of_median)


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """The profiler's C++ side logs "profiler_start"/"profiler_stop" lines straight to file
    descriptor 2; they are not gcost's output. Python-level warnings still reach sys.stderr only
    after the block, so nothing of ours is lost."""
    import os
    import sys

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real descriptor 2 (a test runner's buffer)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _sync(cuda: TorchCuda, device: torch.device) -> None:
    if device.type == "cuda":
        cuda.synchronize(device)
