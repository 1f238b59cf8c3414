"""The timing loops, independent of any device: a clock and a per-iteration timer drive them, so
tests run them with a fake clock.

`run_loop` times one model: warm-up until a minimum count and time have passed, then one sample
per iteration until a minimum count and total time have passed (or a cap). `run_rounds` times
several models interleaved (round r runs every model once, starting with model r mod k), warm-up
first for each, and stops adaptively once every ratio's 95% interval is narrow enough, or when its
time budget is spent.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple, Protocol, Sequence


class Sample(NamedTuple):
    """One timed iteration, in milliseconds."""

    device_ms: float  # CUDA events (or the host clock on the CPU): the headline figure
    enqueue_ms: float  # host time to issue the forward
    wall_ms: float  # host time from before issuing to after the device finished


class IterationTimer(Protocol):
    def __call__(self, index: int) -> Sample:
        """Run iteration `index` and time it."""


Clock = Callable[[], float]


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
    samples: list[Sample]
    warmup_iterations: int

    @property
    def samples_ms(self) -> list[float]:
        return [s.device_ms for s in self.samples]


def warm_up(timer: IterationTimer, limits: LoopLimits, clock: Clock = time.perf_counter) -> int:
    """Untimed iterations until both warm-up minimums have passed (or max_time_s); their count."""
    start, count = clock(), 0
    while count < limits.warmup_min_iters or clock() - start < limits.warmup_min_s:
        timer(count)
        count += 1
        if clock() - start > limits.max_time_s:
            break
    return count


def run_loop(timer: IterationTimer, limits: LoopLimits, *, clock: Clock = time.perf_counter,
             progress: Callable[[float], Any] | None = None,
             after_warmup: Callable[[], Any] | None = None) -> LoopResult:
    """Warm up, call `after_warmup` (e.g. reset the peak-memory counter), then time iterations."""
    warmup = warm_up(timer, limits, clock)
    if after_warmup is not None:
        after_warmup()
    samples: list[Sample] = []
    start = clock()
    while True:
        elapsed = clock() - start
        if progress:
            progress(limits.progress(len(samples), elapsed))
        if limits.finished(len(samples), elapsed):
            break
        samples.append(timer(warmup + len(samples)))
    return LoopResult(samples, warmup)


@dataclass(frozen=True)
class RoundsPlan:
    """When interleaved timing stops: after `limits`' minimums, as soon as every ratio's 95%
    interval is within +-precision of its median, or when max_time_s (warm-up included) is spent."""

    limits: LoopLimits = LoopLimits()
    precision: float = 0.02
    max_time_s: float = 30.0


@dataclass(frozen=True)
class RoundsResult:
    loops: list[LoopResult]  # one per model, sample r of each from round r
    ratios: list[Any]  # paired.RatioEstimate of model k (k >= 1) against model 0
    stopped_by: str  # "precision", "max_time" or "max_rounds"
    elapsed_s: float

    @property
    def rounds(self) -> int:
        return len(self.loops[0].samples)


Progress = Callable[[float, str], Any]


def run_rounds(timers: Sequence[IterationTimer], plan: RoundsPlan, *, clock: Clock = time.perf_counter,
               progress: Progress | None = None) -> RoundsResult:
    """Time several models interleaved; model 0 is the baseline of every ratio."""
    from .paired import ratio_of_medians

    start = clock()
    warm_limits = LoopLimits(plan.limits.warmup_min_iters, plan.limits.warmup_min_s,
                             max_time_s=plan.max_time_s / (2 * len(timers)))
    warm = [warm_up(timer, warm_limits, clock) for timer in timers]
    samples: list[list[Sample]] = [[] for _ in timers]
    ratios: list[Any] = []
    checked_at, stopped_by, timing_start = 0, "", clock()
    while not stopped_by:
        rounds = len(samples[0])
        if rounds >= plan.limits.min_iters and rounds - checked_at >= max(10, checked_at // 5):
            checked_at = rounds
            ratios = [ratio_of_medians([s.device_ms for s in samples[0]], [s.device_ms for s in other])
                      for other in samples[1:]]
            if all(r.half_width <= plan.precision for r in ratios) \
                    and clock() - timing_start >= plan.limits.min_time_s:
                stopped_by = "precision"
        if not stopped_by and clock() - start >= plan.max_time_s and rounds >= 3:
            stopped_by = "max_time"
        if not stopped_by and rounds >= plan.limits.max_iters:
            stopped_by = "max_rounds"
        if progress:
            progress(_rounds_fraction(clock() - start, plan, ratios), _rounds_detail(rounds, ratios, plan,
                                                                                     clock() - start))
        if stopped_by:
            break
        for step in range(len(timers)):
            k = (rounds + step) % len(timers)
            samples[k].append(timers[k](warm[k] + rounds))
    if checked_at != len(samples[0]):
        ratios = [ratio_of_medians([s.device_ms for s in samples[0]], [s.device_ms for s in other])
                  for other in samples[1:]]
    return RoundsResult([LoopResult(s, w) for s, w in zip(samples, warm)], ratios, stopped_by,
                        clock() - start)


def _rounds_fraction(elapsed_s: float, plan: RoundsPlan, ratios: list[Any]) -> float:
    by_time = _fraction(elapsed_s, plan.max_time_s)
    if not ratios:
        return min(1.0, by_time)
    widest = max(r.half_width for r in ratios)
    return min(1.0, max(by_time, _fraction(plan.precision, widest)))


def _rounds_detail(rounds: int, ratios: list[Any], plan: RoundsPlan, elapsed_s: float) -> str:
    width = f", widest interval ±{max(r.half_width for r in ratios):.1%}" if ratios else ""
    left = max(0.0, plan.max_time_s - elapsed_s)
    return f"round {rounds}{width} (target ±{plan.precision:.0%}), {left:.0f} s left of {plan.max_time_s:g} s"


def _fraction(done: float, needed: float) -> float:
    return done / needed if needed > 0 else 1.0
