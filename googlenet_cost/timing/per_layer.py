"""Per-row time from a separate, instrumented profiler pass (never the headline number).

Each report row gets a `record_function` range, opened and closed by forward hooks that exist only
during this pass. On CUDA a range appears twice in the profile: the CPU-side range (whose
device_time_total is the kernel time of the kernels launched inside it, children included) and a
GPU user-annotation span of the same name; only CPU-side entries are read, so a parent's time is
at least the sum of its children's. Coverage compares the top-level rows with all kernel time in
the profile (CUDA) or with the instrumented forward's wall time (CPU), and says which.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, replace
from typing import Any, Iterable, Iterator

import torch

from .cuda import TorchCuda
from .measure import (Prepared, TimingOptions, TimingTarget, check_options, cuda_backend, out_of_memory, prepare,
                      resolve_device, timing_context, users_errors)

COVERAGE_RANGE = (0.8, 1.2)


@dataclass(frozen=True)
class LayerLatency:
    by_row: dict[str, float]  # milliseconds per forward
    total_ms: float  # what coverage compares with (see coverage_of)
    coverage: float  # top-level rows' sum / total_ms
    coverage_of: str  # "kernel time" (CUDA) or "instrumented wall time" (CPU)
    iterations: int
    activity: str  # "cuda" or "cpu"
    warnings: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"by_row_ms": self.by_row, "total_ms": self.total_ms, "coverage": self.coverage,
                "coverage_of": self.coverage_of, "iterations": self.iterations, "activity": self.activity}


def row_times_us(events: Iterable[Any], names: set[str], on_device: bool) -> dict[str, float]:
    """Microseconds per row name over the whole profile, from CPU-side events only."""
    from torch.autograd import DeviceType

    totals: dict[str, float] = {}
    for event in events:
        if event.device_type != DeviceType.CPU or event.name not in names:
            continue
        spent = event.device_time_total if on_device else event.cpu_time_total
        totals[event.name] = totals.get(event.name, 0.0) + spent
    return totals


def kernel_time_us(events: Iterable[Any]) -> float:
    """All kernel time in the profile, each kernel counted once (at the CPU event that launched it)."""
    from torch.autograd import DeviceType

    return sum(event.self_device_time_total for event in events if event.device_type == DeviceType.CPU)


def measure_layer_latency(target: TimingTarget, options: TimingOptions, iterations: int = 20,
                          cuda: TorchCuda | None = None) -> LayerLatency:
    """Profile `iterations` forwards with a record_function range per row, named as the rows. Out
    of memory is the user's size problem (exit 2), as in the timing loop, and PyTorch's cache is
    emptied afterwards (the next batch or variant starts from the same free memory)."""
    cuda = cuda or cuda_backend()
    device = resolve_device(options.device, cuda)
    check_options(options, device)
    batch = options.batches[0]
    with users_errors([target]), timing_context(options, device, cuda), \
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
    by_row = {name: us / 1000 / iterations for name, us in row_times_us(events, names, on_device).items()}
    total_ms = kernel_time_us(events) / 1000 / iterations if on_device else wall_ms
    return summarize_rows(by_row, rows, total_ms, iterations, device.type)


def _profile_rows(prepared: Prepared, depth: int | None, iterations: int, device: torch.device,
                  cuda: TorchCuda) -> tuple[list[tuple[str, str | None]], Any, float]:
    """The rows (name, parent), the profile's events and the profiled forward's wall time (ms)."""
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
    try:
        for call in inputs:  # warm-up outside the profile
            call.into(model)
        _sync(cuda, device)
        with _native_stderr_silenced(), profiler as prof:
            start = time.perf_counter()
            for index in range(iterations):
                inputs[index % len(inputs)].into(model)
            _sync(cuda, device)
            wall_ms = (time.perf_counter() - start) * 1000 / iterations
    finally:
        for handle in handles:
            handle.remove()
    return [(name, parent) for name, parent, _ in rows], prof.events(), wall_ms


def summarize_rows(by_row: dict[str, float], rows: list[tuple[str, str | None]], total_ms: float,
                   iterations: int, activity: str) -> LayerLatency:
    """Coverage and the self-checks: top-level rows against the total, children against parents."""
    coverage_of = "kernel time" if activity == "cuda" else "instrumented wall time"
    top = sum(by_row.get(name, 0.0) for name, parent in rows if parent is None)
    coverage = top / total_ms if total_ms else 0.0
    warnings = []
    low, high = COVERAGE_RANGE
    if not low <= coverage <= high:
        warnings.append(f"per-layer times cover {coverage:.0%} of the {coverage_of} of a profiled forward")
    children: dict[str, float] = {}
    for name, parent in rows:
        if parent is not None:
            children[parent] = children.get(parent, 0.0) + by_row.get(name, 0.0)
    over = [parent for parent, spent in children.items() if spent > by_row.get(parent, 0.0) * 1.001 + 1e-6]
    if over:
        warnings.append("per-layer self-check: children take longer than their parent in "
                        + ", ".join(over[:5]) + (" ..." if len(over) > 5 else ""))
    return LayerLatency(by_row, total_ms, coverage, coverage_of, iterations, activity, warnings)


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
