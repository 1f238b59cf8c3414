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
from dataclasses import dataclass, replace
from typing import Any, Callable, Protocol, Sequence

from .sample import Sample


class IterationTimer(Protocol):
    def __call__(self, index: int) -> Sample:
        """Run iteration `index` and time it."""


Clock = Callable[[], float]


SETTLE_WINDOW = 3  # the warm-up has settled when this many iterations in a row ...
SETTLE_SPREAD = 0.10  # ... lie within 10% of each other
WARMUP_SHARE = 0.2  # compare: the warm-up of every model together gets at most this share of --max-time


@dataclass(frozen=True)
class LoopLimits:
    warmup_min_iters: int = 2  # the first iteration is cold (allocations, kernel selection)
    warmup_min_s: float = 0.5  # --warmup
    min_iters: int = 30
    min_time_s: float = 1.0
    max_time_s: float = 60.0
    max_iters: int = 100_000
    warmup_max_s: float = 5.0  # the warm-up ends here even if iteration times never settle

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
    """Untimed iterations until both warm-up minimums have passed and iteration times have settled
    (SETTLE_WINDOW in a row within SETTLE_SPREAD of each other, on-CPU times where there are: caches,
    allocator and kernel choice warm), or until warmup_max_s; their count. At least one, and none
    started that the previous one says would end past warmup_max_s or max_time_s."""
    start, times, last = clock(), [], 0.0
    cap = min(limits.warmup_max_s, limits.max_time_s)
    while len(times) < limits.warmup_min_iters or clock() - start < limits.warmup_min_s \
            or not settled(times):
        if times and clock() - start + last > cap:
            break
        begin = clock()
        sample = timer(len(times))
        last = clock() - begin
        times.append(sample.steady_ms if isinstance(sample, Sample) else last * 1000)
    return len(times)


def settled(times_ms: list[float]) -> bool:
    """The last SETTLE_WINDOW iterations lie within SETTLE_SPREAD of each other."""
    window = times_ms[-SETTLE_WINDOW:]
    return len(window) == SETTLE_WINDOW and max(window) <= (1 + SETTLE_SPREAD) * min(window)


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
    min_effect: float = 0.01  # a ratio within +-this of 1.0 is "no meaningful difference"


@dataclass(frozen=True)
class RoundsResult:
    loops: list[LoopResult]  # one per model, sample r of each from round r
    ratios: list[Any]  # paired.RatioEstimate of model k (k >= 1) against model 0
    stopped_by: str  # "precision", "max_time" or "max_rounds"
    elapsed_s: float
    clock: str = "wall"  # the clock every model's figures come from (timing/clocks.py)
    warmup_s: float = 0.0  # the warm-up of every model together

    @property
    def rounds(self) -> int:
        return len(self.loops[0].samples)


Progress = Callable[[float, str], Any]


def run_rounds(timers: Sequence[IterationTimer], plan: RoundsPlan, *, clock: Clock = time.perf_counter,
               progress: Progress | None = None, after_warmup: Callable[[], Any] | None = None,
               device_type: str = "cpu") -> RoundsResult:
    """Time several models interleaved; model 0 is the baseline of every ratio.

    plan.max_time_s is a hard cap, warm-up included: the warm-up of all models together gets at
    most WARMUP_SHARE of it (each model an equal part, ending earlier once its iteration times
    settle), an iteration is not started when the last one of that model says it would end past
    the cap, and a round cut short is dropped (samples stay paired by round). Each round runs every
    model once, rotated so that no model runs twice in a row, across round boundaries too (with two
    models: A B A B ..., each always after the other)."""
    from ..errors import GcostError
    from .paired import paired_ratios

    start = clock()
    count = len(timers)
    longest_s = [0.0] * count  # each model's longest iteration yet (warm-up included): predicts its next

    def run(k: int, index: int) -> Sample:
        begin = clock()
        sample = timers[k](index)
        longest_s[k] = max(longest_s[k], clock() - begin)
        return sample

    def fits(k: int) -> bool:  # with a margin: under load the next iteration may be slower than any yet
        return clock() - start + HARD_CAP_MARGIN * longest_s[k] <= plan.max_time_s

    share = WARMUP_SHARE * plan.max_time_s / count
    warm_limits = replace(plan.limits, warmup_min_s=min(plan.limits.warmup_min_s, share),
                          warmup_max_s=min(plan.limits.warmup_max_s, share), max_time_s=share)
    warm = [warm_up(lambda index, k=k: run(k, index), warm_limits, clock) for k in range(count)]
    warmup_s = clock() - start
    if after_warmup is not None:
        after_warmup()
    samples: list[list[Sample]] = [[] for _ in timers]
    ratios: list[Any] = []
    checked_at, stopped_by, timing_start, previous_last = 0, "", clock(), None
    chosen = "wall"

    def estimate() -> list[Any]:
        nonlocal chosen
        found, chosen = paired_ratios(samples, min_effect=plan.min_effect, device_type=device_type)
        return found

    while not stopped_by:
        rounds = len(samples[0])
        if rounds >= plan.limits.min_iters and rounds - checked_at >= max(10, checked_at // 5):
            checked_at = rounds
            ratios = estimate()
            if all(r.reliable and r.half_width <= plan.precision for r in ratios) \
                    and clock() - timing_start >= plan.limits.min_time_s:
                stopped_by = "precision"
        if not stopped_by and rounds >= plan.limits.max_iters:
            stopped_by = "max_rounds"
        if progress:
            progress(_rounds_fraction(clock() - start, plan, ratios), _rounds_detail(rounds, ratios, plan,
                                                                                     clock() - start))
        if stopped_by:
            break
        order = round_order(rounds, count, previous_last)
        for k in order:
            if not fits(k):
                stopped_by = "max_time"
                break
            samples[k].append(run(k, warm[k] + rounds))
        if stopped_by:
            for model in samples:  # the round cut short: its samples have no partners
                del model[rounds:]
        else:
            previous_last = order[-1]
    if not samples[0]:
        raise GcostError(f"--max-time {plan.max_time_s:g} s left no time for one interleaved round after the warm-up "
                         f"({warmup_s:.1f} s): raise --max-time")
    if checked_at != len(samples[0]):
        ratios = estimate()
    return RoundsResult([LoopResult(s, w) for s, w in zip(samples, warm)], ratios, stopped_by,
                        clock() - start, chosen, warmup_s)


HARD_CAP_MARGIN = 1.5  # an iteration starts only if 1.5 x its model's longest yet still ends within --max-time


def round_order(index: int, count: int, previous_last: int | None) -> list[int]:
    """The models of round `index`: the order rotated by the round (each model starts as often as
    the others), rotated once more when that would run the previous round's last model again."""
    shift = index % count
    if count > 1 and shift == previous_last:
        shift = (shift + 1) % count
    return [(shift + step) % count for step in range(count)]


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
