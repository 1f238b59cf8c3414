"""Latency statistics of one timed configuration (no torch: plain lists of samples).

Dispersion is robust (median and interquartile range), since timing noise is one-sided and
heavy-tailed; p99 is given only from 100 samples or more (below that it is just the maximum).
"""
from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from .clocks import EVENTS, ON_CPU, choose_clock, contended, values_ms, waited_share
from .loop import LoopResult
from .threads import ThreadChoice

P99_MIN_SAMPLES = 100
UNSTABLE_IQR = 0.05  # interquartile range / median above this: an unstable run (warned)
UNSTEADY_IQR = 0.25  # above this, nothing derived from the median (% of roof) is shown
DRIFT_MIN = 0.01  # halves' medians must also differ by 1% of the median to count as drift
LAUNCH_BOUND_RATIO = 0.8
EVENTS_VS_WALL_RANGE = (0.9, 1.1)


@dataclass(frozen=True)
class Summary:
    median_ms: float
    iqr_ms: float  # p75 - p25
    p10_ms: float
    p90_ms: float
    p99_ms: float | None  # None below P99_MIN_SAMPLES samples
    mean_ms: float
    stdev_ms: float
    iterations: int


def percentile(ordered: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default; statistics.quantiles'
    'inclusive' method)."""
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(samples_ms: list[float]) -> Summary:
    if not samples_ms:
        raise ValueError("no samples")
    ordered = sorted(samples_ms)
    return Summary(median_ms=statistics.median(ordered),
                   iqr_ms=percentile(ordered, 0.75) - percentile(ordered, 0.25),
                   p10_ms=percentile(ordered, 0.10), p90_ms=percentile(ordered, 0.90),
                   p99_ms=percentile(ordered, 0.99) if len(ordered) >= P99_MIN_SAMPLES else None,
                   mean_ms=statistics.fmean(ordered),
                   stdev_ms=statistics.stdev(ordered) if len(ordered) > 1 else 0.0,
                   iterations=len(ordered))


def drift(samples_ms: list[float]) -> tuple[float, float] | None:
    """(first half's median, second half's) when they differ by more than the spread within
    either half (its IQR) and by more than 1% of the median: the machine changed speed while it
    was timed."""
    if len(samples_ms) < 10:
        return None
    half = len(samples_ms) // 2
    first, second = summarize(samples_ms[:half]), summarize(samples_ms[half:])
    shift = abs(second.median_ms - first.median_ms)
    spread = max(first.iqr_ms, second.iqr_ms)
    if shift > spread and shift > DRIFT_MIN * statistics.median(samples_ms):
        return first.median_ms, second.median_ms
    return None


@dataclass(frozen=True)
class LoadSeen:
    """Other work on the CPUs while a CPU timing ran (timing/clocks.py)."""

    contended: int  # samples in which the process waited for a CPU more than 5% of the time
    samples: int
    waited_share: float | None  # the process's wait for a CPU over all wall time

    @property
    def share(self) -> float:
        """The share of samples other work disturbed."""
        return self.contended / self.samples if self.samples else 0.0


def load_seen(samples: list) -> LoadSeen | None:
    """None where the wait could not be read (CUDA, or no schedstat)."""
    share = waited_share(samples)
    if share is None:
        return None
    return LoadSeen(sum(map(contended, samples)), len(samples), round(share, 4))


@dataclass(frozen=True)
class Phases:
    """A training step's parts: the median milliseconds of each over the timed steps (timing/step.py)."""

    forward_ms: float
    backward_ms: float
    optimizer_ms: float

    def parts(self) -> tuple[tuple[str, float], ...]:
        """(part, milliseconds), in the order a step runs them."""
        return ("forward", self.forward_ms), ("backward", self.backward_ms), ("optimizer", self.optimizer_ms)

    @property
    def total_ms(self) -> float:
        return self.forward_ms + self.backward_ms + self.optimizer_ms


@dataclass(frozen=True)
class Sensors:
    """One reading of a GPU's sensors through NVML (timing/cuda.py: `sensors`); None: not readable."""

    sm_clock_mhz: float | None = None
    temperature_c: float | None = None
    power_mw: float | None = None


@dataclass(frozen=True)
class GpuState:
    """The GPU's sensors after the warm-up (`before` the timed loop) and after it; None without NVML."""

    before: Sensors | None = None
    after: Sensors | None = None

    @classmethod
    def of(cls, readings: dict[str, dict[str, float | None] | None]) -> GpuState:
        """From `cuda.sensors()`' readings by moment ("before", "after")."""
        return cls(*(None if readings.get(when) is None else Sensors(**readings[when]) for when in ("before", "after")))


@dataclass(frozen=True)
class SelfCheck:
    """A CUDA measurement's checks of itself (docs/latency.md): CUDA event time over the host's wall
    time of the same iterations, and with --cuda-graph the replayed output against the eager one."""

    events_vs_wall: float | None
    timer_overhead_ms: float
    graph_matches_eager: bool | None = None  # None without --cuda-graph, or for a model returning no tensors
    graph_max_difference: float | None = None


@dataclass(frozen=True)
class LatencyStats:
    """One timed configuration. `to_dict()` is the "latency" object of the JSON contract."""

    device: str
    device_type: str  # "cuda" or "cpu"
    dtype: str
    batch: int
    median_ms: float
    iqr_ms: float
    p10_ms: float
    p90_ms: float
    p99_ms: float | None
    mean_ms: float
    stdev_ms: float
    iterations: int
    warmup_iterations: int
    throughput_per_s: float
    tflops: float  # achieved, 2 x MACs x batch / median
    peak_fraction: float | None
    peak_memory_bytes: int | None  # during the timed loop, the cold-cache buffer excluded
    cuda_graph: bool
    channels_last: bool
    compiled: bool
    cold_cache: bool = False
    step: str = "inference"  # "train": each sample is a whole training step
    phases: Phases | None = None  # "train": the median forward, backward and optimizer step of a step
    interleaved: bool = False  # timed in turn with other models (compare): L2 is shared with them
    threads: int | None = None
    threads_reason: str | None = None  # CPU: why this many threads (timing/threads.py)
    clock: str = "wall"  # what the figures time: "wall", "on_cpu" (one thread, a shared CPU) or "cuda_events"
    wall_median_ms: float | None = None  # with the on-CPU clock: the wall-clock median beside it
    load: LoadSeen | None = None  # CPU: other work seen while timing
    contention: ThreadChoice | None = None  # CPU: the thread decision and the probes behind it (timing/threads.py)
    enqueue_median_ms: float | None = None
    compile_s: float | None = None  # the first compiled call (compilation), outside the warm-up
    torch_version: str = ""
    gpu_state: GpuState | None = None  # CUDA: the sensors before and after the timed loop, read only
    self_check: SelfCheck | None = None  # CUDA: events_vs_wall and the CUDA-graph output check
    warnings: list[str] = field(default_factory=list)

    @property
    def steady(self) -> bool:
        """Whether the spread is small enough for figures derived from the median (% of roof) to be
        shown: interquartile range at most UNSTEADY_IQR of the median."""
        return self.median_ms > 0 and self.iqr_ms <= UNSTEADY_IQR * self.median_ms

    def to_dict(self) -> dict[str, Any]:
        """Every NaN or infinity is null: JSON has neither, and a NaN would read as a number."""
        data = asdict(self)
        data["contention"] = None if self.contention is None else self.contention.to_dict()
        return _finite(data)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_finite(item) for item in value)
    return value


def stats_from_loop(loop: LoopResult, *, macs_per_sample: int, batch: int, peak_tflops: float | None,
                    check_launch_bound: bool, self_check: SelfCheck | None = None, clock: str | None = None,
                    **fields: Any) -> LatencyStats:
    """The loop's statistics on `clock` (chosen from its samples when None: clocks.choose_clock)."""
    device_type = fields.get("device_type", "cpu")
    clock = clock or choose_clock(loop.samples, device_type)
    timed = values_ms(loop.samples, clock)
    summary = summarize(timed)
    seconds = summary.median_ms / 1000
    tflops = 2 * macs_per_sample * batch / seconds / 1e12 if seconds > 0 else 0.0
    enqueue = statistics.median(s.enqueue_ms for s in loop.samples) if loop.samples else None
    load = load_seen(loop.samples) if device_type == "cpu" else None
    wall = statistics.median(s.wall_ms for s in loop.samples) if clock == ON_CPU else None
    warnings = _warnings(timed, summary, enqueue if check_launch_bound else None, self_check, load,
                         fields.get("threads"), clock)
    return LatencyStats(
        **asdict(summary), warmup_iterations=loop.warmup_iterations, batch=batch,
        throughput_per_s=batch / seconds if seconds > 0 else 0.0, tflops=tflops,
        peak_fraction=tflops / peak_tflops if peak_tflops else None, enqueue_median_ms=enqueue,
        self_check=self_check, warnings=[f"batch {batch}: {w}" for w in warnings],
        clock=clock if device_type == "cpu" else EVENTS, wall_median_ms=wall, load=load, **fields)


def remedy(load: LoadSeen | None, threads: int | None, clock: str) -> str:
    """What to do about a spread or a drift, in a few words: the first that applies."""
    if load is not None and load.share >= 0.2:
        held = f"other work held the CPUs in {load.share:.0%} of the iterations"
        if threads and threads > 1:
            return f"{held}: use --threads 1 (or stop the other work)"
        if clock == ON_CPU:
            return f"{held} (on-CPU time is reported): stop the other work for steadier figures"
        return f"{held}: stop the other work"
    if load is not None:
        return "no other work was seen: the CPU's own speed changed (frequency scaling, a VM's neighbours); " \
               "raise --min-time for more samples"
    return "clocks or other load changed: stop other work, or raise --min-time for more samples"


def _warnings(timed: list[float], summary: Summary, enqueue: float | None, self_check: SelfCheck | None,
              load: LoadSeen | None, threads: int | None, clock: str) -> list[str]:
    warnings = []
    spread = summary.iqr_ms / summary.median_ms if summary.median_ms else 0.0
    if spread > UNSTABLE_IQR:
        warnings.append(f"latency varies a lot (interquartile range {spread:.1%} of the median > "
                        f"{UNSTABLE_IQR:.0%}): {remedy(load, threads, clock)}")
    shifted = drift(timed)
    if shifted:
        warnings.append(f"latency drifted while timing: median {shifted[0]:.3f} ms in the first half, "
                        f"{shifted[1]:.3f} ms in the second (more than the spread): {remedy(load, threads, clock)}")
    if enqueue is not None and enqueue >= LAUNCH_BOUND_RATIO * summary.median_ms:
        warnings.append(f"launch-bound: the host needs {enqueue:.3f} ms to issue a forward whose CUDA "
                        f"events span {summary.median_ms:.3f} ms (GPU work plus the GPU's idle time "
                        "waiting for the host); try --cuda-graph")
    ratio = self_check.events_vs_wall if self_check is not None else None
    low, high = EVENTS_VS_WALL_RANGE
    if ratio is not None and not low <= ratio <= high:
        warnings.append(f"self-check: CUDA event time is {ratio:.2f}x the host's wall time of the same "
                        f"iterations (expected {low}-{high}): events may be on the wrong stream or "
                        "device; do not trust these numbers")
    return warnings


def known_peak(device_name: str, dtype: str) -> float | None:
    """The datasheet's dense peak in TFLOP/s of a CUDA device by its exact name (googlenet_cost/datasheets.yaml)."""
    from ..datasheets import dense_flops

    flops = dense_flops(device_name, dtype)
    return None if flops is None else flops / 1e12
