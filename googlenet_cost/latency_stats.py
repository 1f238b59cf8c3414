"""Latency statistics and the timing loop, independent of torch (a fake clock can drive them).

The loop warms up until both a minimum count and a minimum time have passed, then measures
each iteration separately until a minimum count and a minimum total time have passed (or a cap).
"""
from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Protocol


class IterationTimer(Protocol):
    def __call__(self, index: int) -> tuple[float, float]:
        """Run iteration `index`; return (device milliseconds, host enqueue milliseconds)."""


@dataclass(frozen=True)
class LoopLimits:
    warmup_min_iters: int = 10
    warmup_min_s: float = 0.5
    min_iters: int = 30
    min_time_s: float = 1.0
    max_time_s: float = 60.0
    max_iters: int = 100_000

    def finished(self, count: int, elapsed_s: float, time_scale: float = 1.0) -> bool:
        """Both minimums reached, or a cap hit. `time_scale` stretches the minimum time when one
        clock is shared by several interleaved models."""
        done = count >= self.min_iters and elapsed_s >= self.min_time_s * time_scale
        return done or (elapsed_s >= self.max_time_s and count >= 3) or count >= self.max_iters

    def progress(self, count: int, elapsed_s: float, time_scale: float = 1.0) -> float:
        """How far towards both minimums, 0 to 1."""
        return min(1.0, _fraction(elapsed_s, self.min_time_s * time_scale), _fraction(count, self.min_iters))


@dataclass(frozen=True)
class LoopResult:
    samples_ms: list[float]
    enqueue_ms: list[float]
    warmup_iterations: int


def run_loop(timer: IterationTimer, limits: LoopLimits, *,
             clock: Callable[[], float] = time.perf_counter,
             progress: Callable[[float], Any] | None = None) -> LoopResult:
    start, warmup = clock(), 0
    while warmup < limits.warmup_min_iters or clock() - start < limits.warmup_min_s:
        timer(warmup)
        warmup += 1
        if clock() - start > limits.max_time_s:
            break
    samples: list[float] = []
    enqueue: list[float] = []
    start = clock()
    while True:
        elapsed = clock() - start
        if progress:
            progress(limits.progress(len(samples), elapsed))
        if limits.finished(len(samples), elapsed):
            break
        device_ms, host_ms = timer(warmup + len(samples))
        samples.append(device_ms)
        enqueue.append(host_ms)
    return LoopResult(samples, enqueue, warmup)


def _fraction(done: float, needed: float) -> float:
    return done / needed if needed > 0 else 1.0


@dataclass(frozen=True)
class Summary:
    median_ms: float
    mean_ms: float
    p10_ms: float
    p90_ms: float
    p99_ms: float
    stdev_ms: float
    iterations: int

    @property
    def cv(self) -> float:
        """Coefficient of variation (stdev / mean)."""
        return self.stdev_ms / self.mean_ms if self.mean_ms else 0.0


def summarize(samples_ms: list[float]) -> Summary:
    """Percentiles with linear interpolation between closest ranks (numpy's default)."""
    if not samples_ms:
        raise ValueError("no samples")
    ordered = sorted(samples_ms)

    def percentile(q: float) -> float:
        position = (len(ordered) - 1) * q
        low = int(position)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (position - low)

    return Summary(median_ms=statistics.median(ordered), mean_ms=statistics.fmean(ordered),
                   p10_ms=percentile(0.10), p90_ms=percentile(0.90), p99_ms=percentile(0.99),
                   stdev_ms=statistics.stdev(ordered) if len(ordered) > 1 else 0.0,
                   iterations=len(ordered))


UNSTABLE_CV = 0.05
LAUNCH_BOUND_RATIO = 0.8


@dataclass(frozen=True)
class LatencyStats:
    """One timed configuration. `to_dict()` is the "latency" object of the JSON contract."""

    device: str
    device_type: str  # "cuda" or "cpu"
    dtype: str
    batch: int
    median_ms: float
    mean_ms: float
    p10_ms: float
    p90_ms: float
    p99_ms: float
    stdev_ms: float
    iterations: int
    warmup_iterations: int
    throughput_per_s: float
    tflops: float  # achieved, 2 x MACs x batch / median
    peak_fraction: float | None
    peak_memory_bytes: int | None
    cuda_graph: bool
    channels_last: bool
    compiled: bool
    cold_cache: bool = False
    threads: int | None = None
    enqueue_median_ms: float | None = None
    torch_version: str = ""
    gpu_state: dict | None = None  # clocks / temperature as read, never set
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def stats_from_loop(loop: LoopResult, *, macs_per_sample: int, batch: int, peak_tflops: float | None,
                    check_launch_bound: bool, **fields: Any) -> LatencyStats:
    summary = summarize(loop.samples_ms)
    seconds = summary.median_ms / 1000
    tflops = 2 * macs_per_sample * batch / seconds / 1e12 if seconds > 0 else 0.0
    enqueue = statistics.median(loop.enqueue_ms) if loop.enqueue_ms else None
    warnings = []
    if summary.cv > UNSTABLE_CV:
        warnings.append(f"latency varies a lot (coefficient of variation {summary.cv:.1%} > "
                        f"{UNSTABLE_CV:.0%}): clocks or other load make this run unstable; "
                        "treat the numbers with care")
    if check_launch_bound and enqueue is not None and enqueue >= LAUNCH_BOUND_RATIO * summary.median_ms:
        warnings.append(f"launch-bound: the host needs {enqueue:.3f} ms to enqueue a forward that "
                        f"runs {summary.median_ms:.3f} ms on the GPU; try --cuda-graph")
    return LatencyStats(
        **asdict(summary), warmup_iterations=loop.warmup_iterations, batch=batch,
        throughput_per_s=batch / seconds if seconds > 0 else 0.0, tflops=tflops,
        peak_fraction=tflops / peak_tflops if peak_tflops else None, enqueue_median_ms=enqueue,
        warnings=warnings, **fields)


# Dense datasheet peaks in TFLOP/s, by a substring of torch.cuda.get_device_name().
PEAK_TFLOPS: dict[str, dict[str, float]] = {
    "H200": {"fp32": 67.0, "tf32": 494.7, "fp16": 989.4, "bf16": 989.4},
    "H100 PCIe": {"fp32": 51.2, "tf32": 378.0, "fp16": 756.0, "bf16": 756.0},
    "H100": {"fp32": 67.0, "tf32": 494.7, "fp16": 989.4, "bf16": 989.4},
    "A100": {"fp32": 19.5, "tf32": 156.0, "fp16": 312.0, "bf16": 312.0},
    "L40S": {"fp32": 91.6, "tf32": 183.0, "fp16": 362.0, "bf16": 362.0},
    "A10": {"fp32": 31.2, "tf32": 62.5, "fp16": 125.0, "bf16": 125.0},
}


def known_peak(device_name: str, dtype: str) -> float | None:
    for key, peaks in PEAK_TFLOPS.items():  # most specific names come first
        if key in device_name:
            return peaks.get(dtype)
    return None
