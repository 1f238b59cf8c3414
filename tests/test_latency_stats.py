"""The timing loop and statistics, driven by a fake clock: no real timing in pass/fail tests."""
from __future__ import annotations

import statistics

import pytest

from googlenet_cost.latency_stats import (LoopLimits, known_peak, run_loop, stats_from_loop,
                                          summarize)


class FakeClock:
    """Time advances only when an iteration runs (by `step_s`)."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def fake_timer(clock: FakeClock, durations_ms):
    calls = []

    def iteration(index: int):
        ms = durations_ms[index % len(durations_ms)]
        clock.now += ms / 1000
        calls.append(index)
        return ms, ms / 2

    iteration.calls = calls
    return iteration


def test_warmup_honours_both_minimum_count_and_minimum_time():
    clock = FakeClock()
    timer = fake_timer(clock, [10.0])
    limits = LoopLimits(warmup_min_iters=5, warmup_min_s=0.2, min_iters=3, min_time_s=0.0)
    result = run_loop(timer, limits, clock=clock)
    assert result.warmup_iterations == 20  # 0.2 s of 10 ms iterations, more than 5
    clock = FakeClock()
    limits = LoopLimits(warmup_min_iters=50, warmup_min_s=0.2, min_iters=3, min_time_s=0.0)
    assert run_loop(fake_timer(clock, [10.0]), limits, clock=clock).warmup_iterations == 50


def test_measurement_runs_until_min_time_and_min_iterations():
    clock = FakeClock()
    limits = LoopLimits(warmup_min_iters=0, warmup_min_s=0, min_iters=8, min_time_s=1.0)
    result = run_loop(fake_timer(clock, [125.0]), limits, clock=clock)
    assert len(result.samples_ms) == 8  # 8 x 125 ms = 1 s: both reached together
    clock = FakeClock()
    result = run_loop(fake_timer(clock, [1000 / 1024]), limits, clock=clock)  # 2**-10 s, exact
    assert len(result.samples_ms) == 1024  # time is the binding minimum
    clock = FakeClock()
    result = run_loop(fake_timer(clock, [500.0]), limits, clock=clock)
    assert len(result.samples_ms) == 8  # the count is


def test_max_time_caps_a_slow_model():
    clock = FakeClock()
    limits = LoopLimits(warmup_min_iters=1, warmup_min_s=0, min_iters=1000, min_time_s=0, max_time_s=2.0)
    result = run_loop(fake_timer(clock, [500.0]), limits, clock=clock)
    assert len(result.samples_ms) == 4


def test_warmup_samples_are_not_in_the_statistics():
    clock = FakeClock()
    durations = [1000.0] * 3 + [10.0] * 1000  # autotuning-like slow first calls
    limits = LoopLimits(warmup_min_iters=3, warmup_min_s=0, min_iters=20, min_time_s=0)
    result = run_loop(fake_timer(clock, durations), limits, clock=clock)
    assert max(result.samples_ms) == 10.0


def test_progress_reaches_one():
    clock = FakeClock()
    seen = []
    run_loop(fake_timer(clock, [10.0]), LoopLimits(0, 0, 5, 0.0), clock=clock, progress=seen.append)
    assert seen[-1] == 1.0 and seen == sorted(seen)


@pytest.mark.parametrize("samples", [[1.0], [3.0, 1.0, 2.0], [float(i) for i in range(1, 101)],
                                     [5.0, 5.0, 5.0, 9.0]])
def test_summary_matches_the_statistics_module(samples):
    summary = summarize(samples)
    assert summary.median_ms == statistics.median(samples)
    assert summary.mean_ms == pytest.approx(statistics.fmean(samples))
    assert summary.stdev_ms == pytest.approx(statistics.stdev(samples) if len(samples) > 1 else 0.0)
    assert summary.p10_ms <= summary.median_ms <= summary.p90_ms <= summary.p99_ms <= max(samples)
    if len(samples) > 1:
        q = statistics.quantiles(samples, n=10, method="inclusive")
        assert summary.p10_ms == pytest.approx(q[0]) and summary.p90_ms == pytest.approx(q[-1])


def test_throughput_and_tflops_from_the_median():
    clock = FakeClock()
    loop = run_loop(fake_timer(clock, [4.0]), LoopLimits(0, 0, 10, 0), clock=clock)
    stats = stats_from_loop(loop, macs_per_sample=1_000_000_000, batch=8, peak_tflops=100.0,
                            check_launch_bound=False, device="x", device_type="cuda", dtype="fp16",
                            peak_memory_bytes=None, cuda_graph=False, channels_last=False, compiled=False)
    assert stats.median_ms == 4.0
    assert stats.throughput_per_s == pytest.approx(8 / 0.004)
    assert stats.tflops == pytest.approx(2 * 1e9 * 8 / 0.004 / 1e12)
    assert stats.peak_fraction == pytest.approx(stats.tflops / 100.0)


def test_unstable_and_launch_bound_runs_are_flagged():
    clock = FakeClock()
    loop = run_loop(fake_timer(clock, [1.0, 3.0]), LoopLimits(0, 0, 10, 0), clock=clock)
    stats = stats_from_loop(loop, macs_per_sample=1, batch=1, peak_tflops=None, check_launch_bound=True,
                            device="x", device_type="cuda", dtype="fp32", peak_memory_bytes=None,
                            cuda_graph=False, channels_last=False, compiled=False)
    assert any("coefficient of variation" in w for w in stats.warnings)
    assert not any("--cuda-graph" in w for w in stats.warnings)  # enqueue is half the GPU time
    enqueue_bound = type(loop)(loop.samples_ms, [ms * 0.9 for ms in loop.samples_ms], 0)
    stats = stats_from_loop(enqueue_bound, macs_per_sample=1, batch=1, peak_tflops=None,
                            check_launch_bound=True, device="x", device_type="cuda", dtype="fp32",
                            peak_memory_bytes=None, cuda_graph=False, channels_last=False, compiled=False)
    assert any("launch-bound" in w and "--cuda-graph" in w for w in stats.warnings)
    clock = FakeClock()
    steady = run_loop(fake_timer(clock, [2.0]), LoopLimits(0, 0, 10, 0), clock=clock)
    calm = stats_from_loop(steady, macs_per_sample=1, batch=1, peak_tflops=None, check_launch_bound=False,
                           device="x", device_type="cpu", dtype="fp32", peak_memory_bytes=None,
                           cuda_graph=False, channels_last=False, compiled=False)
    assert calm.warnings == []


def test_known_peaks_pick_the_most_specific_name():
    assert known_peak("NVIDIA H100 80GB HBM3", "bf16") == 989.4
    assert known_peak("NVIDIA H100 PCIe", "fp16") == 756.0
    assert known_peak("Some CPU", "fp32") is None
