"""The timing loops, statistics and paired intervals, driven by a fake clock: no real timing in
pass/fail tests."""
from __future__ import annotations

import random
import statistics

import pytest

from googlenet_cost.errors import GcostError
from googlenet_cost.timing.loop import LoopLimits, RoundsPlan, Sample, run_loop, run_rounds
from googlenet_cost.timing.paired import ratio_of_medians
from googlenet_cost.timing.stats import SelfCheck, drift, known_peak, stats_from_loop, summarize

STATS_FIELDS = dict(device="x", dtype="fp32", peak_memory_bytes=None, cuda_graph=False, channels_last=False,
                    compiled=False)


class FakeClock:
    """Time advances only when an iteration runs."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def fake_timer(clock: FakeClock, durations_ms, noise: random.Random | None = None, spread: float = 0.0):
    """Iteration i takes durations_ms[i % len] (times 1 + uniform noise of +-spread)."""
    calls = []

    def iteration(index: int) -> Sample:
        ms = durations_ms[index % len(durations_ms)] * (1 + (noise.uniform(-spread, spread) if noise else 0.0))
        clock.now += ms / 1000
        calls.append(index)
        return Sample(ms, ms / 2, ms)

    iteration.calls = calls
    return iteration


def test_warmup_honours_both_minimum_count_and_minimum_time():
    clock = FakeClock()
    limits = LoopLimits(warmup_min_iters=5, warmup_min_s=0.2, min_iters=3, min_time_s=0.0)
    assert run_loop(fake_timer(clock, [10.0]), limits, clock=clock).warmup_iterations == 20
    clock = FakeClock()
    limits = LoopLimits(warmup_min_iters=50, warmup_min_s=0.2, min_iters=3, min_time_s=0.0)
    assert run_loop(fake_timer(clock, [10.0]), limits, clock=clock).warmup_iterations == 50


def test_measurement_runs_until_min_time_and_min_iterations():
    limits = LoopLimits(warmup_min_iters=0, warmup_min_s=0, min_iters=8, min_time_s=1.0)
    clock = FakeClock()
    assert len(run_loop(fake_timer(clock, [125.0]), limits, clock=clock).samples) == 8
    clock = FakeClock()
    assert len(run_loop(fake_timer(clock, [1000 / 1024]), limits, clock=clock).samples) == 1024
    clock = FakeClock()
    assert len(run_loop(fake_timer(clock, [500.0]), limits, clock=clock).samples) == 8


def test_max_time_caps_a_slow_model():
    clock = FakeClock()
    limits = LoopLimits(warmup_min_iters=1, warmup_min_s=0, min_iters=1000, min_time_s=0, max_time_s=2.0)
    assert len(run_loop(fake_timer(clock, [500.0]), limits, clock=clock).samples) == 4


def test_warmup_samples_are_not_in_the_statistics_and_the_hook_runs_between():
    clock = FakeClock()
    timer = fake_timer(clock, [1000.0] * 3 + [10.0] * 1000)  # autotuning-like slow first calls
    seen_at = []
    result = run_loop(timer, LoopLimits(warmup_min_iters=3, warmup_min_s=0, min_iters=20, min_time_s=0),
                      clock=clock, after_warmup=lambda: seen_at.append(len(timer.calls)))
    assert max(result.samples_ms) == 10.0
    assert seen_at == [3]  # after the warm-up, before the first timed iteration


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
    assert summary.p10_ms <= summary.median_ms <= summary.p90_ms <= max(samples)
    if len(samples) > 1:
        q = statistics.quantiles(samples, n=10, method="inclusive")
        assert summary.p10_ms == pytest.approx(q[0]) and summary.p90_ms == pytest.approx(q[-1])
        quartiles = statistics.quantiles(samples, n=4, method="inclusive")
        assert summary.iqr_ms == pytest.approx(quartiles[2] - quartiles[0])


def test_p99_needs_a_hundred_samples():
    assert summarize([float(i) for i in range(99)]).p99_ms is None
    hundred = summarize([float(i) for i in range(100)])
    assert hundred.p99_ms == pytest.approx(statistics.quantiles(range(100), n=100, method="inclusive")[-1])


def test_throughput_and_tflops_from_the_median():
    clock = FakeClock()
    loop = run_loop(fake_timer(clock, [4.0]), LoopLimits(0, 0, 10, 0), clock=clock)
    stats = stats_from_loop(loop, macs_per_sample=1_000_000_000, batch=8, peak_tflops=100.0,
                            check_launch_bound=False, device_type="cuda", **STATS_FIELDS)
    assert stats.median_ms == 4.0 and stats.iqr_ms == 0.0
    assert stats.throughput_per_s == pytest.approx(8 / 0.004)
    assert stats.tflops == pytest.approx(2 * 1e9 * 8 / 0.004 / 1e12)
    assert stats.peak_fraction == pytest.approx(stats.tflops / 100.0)


def _stats(durations, *, batch=1, launch_bound=False, enqueue_share=0.5, self_check=None):
    clock = FakeClock()
    loop = run_loop(fake_timer(clock, durations), LoopLimits(0, 0, len(durations), 0), clock=clock)
    loop = type(loop)([s._replace(enqueue_ms=s.device_ms * enqueue_share) for s in loop.samples], 0)
    return stats_from_loop(loop, macs_per_sample=1, batch=batch, peak_tflops=None, check_launch_bound=launch_bound,
                           device_type="cuda", self_check=self_check, **STATS_FIELDS)


def test_unstable_runs_are_flagged_by_the_interquartile_range_and_name_their_batch():
    noisy = _stats([1.0, 3.0] * 10, batch=8)
    assert any(w.startswith("batch 8: latency varies a lot (interquartile range") for w in noisy.warnings)
    one_outlier = _stats([2.0] * 19 + [50.0])  # a single hiccup is not instability
    assert one_outlier.warnings == []


def test_drift_between_halves_is_a_warning():
    assert drift([10.0] * 20 + [12.0] * 20) == (10.0, 12.0)
    assert drift([10.0, 12.0] * 20) is None  # alternating noise: same median in both halves
    assert drift([10.0] * 20 + [10.05] * 20) is None  # within 1%
    stats = _stats([10.0] * 20 + [12.0] * 20, batch=4)
    assert any(w.startswith("batch 4: latency drifted") and "10.000 ms in the first half" in w for w in stats.warnings)


def test_launch_bound_message_does_not_call_idle_time_gpu_work():
    stats = _stats([2.0] * 10, launch_bound=True, enqueue_share=0.9)
    [message] = [w for w in stats.warnings if "launch-bound" in w]
    assert "CUDA events span 2.000 ms" in message and "idle" in message and "--cuda-graph" in message
    assert not any("launch-bound" in w for w in _stats([2.0] * 10, launch_bound=True).warnings)


@pytest.mark.parametrize("ratio, flagged", [(0.98, False), (1.05, False), (0.5, True), (1.3, True)])
def test_events_vs_wall_outside_range_is_a_warning(ratio, flagged):
    stats = _stats([2.0] * 10, self_check=SelfCheck(events_vs_wall=ratio, timer_overhead_ms=0.01))
    assert any("self-check" in w and f"{ratio:.2f}x" in w for w in stats.warnings) == flagged


def test_known_peaks_match_exact_device_names_in_the_one_datasheet_table():
    from googlenet_cost.roofline.readers import datasheet

    assert known_peak("NVIDIA H100 80GB HBM3", "bf16") == pytest.approx(datasheet("h100-sxm", "bf16").flops_per_s / 1e12)
    assert known_peak("NVIDIA H100 PCIe", "fp16") == pytest.approx(datasheet("h100-pcie", "fp16").flops_per_s / 1e12)
    assert known_peak("NVIDIA H100 80GB HBM3", "bf16") == pytest.approx(989.5)  # dense: half the sparse 1,979
    assert known_peak("NVIDIA H100 NVL", "fp16") is None  # not an H100 SXM
    assert known_peak("NVIDIA A10G", "fp16") is None  # not an A10
    assert known_peak("NVIDIA A10", "fp16") == 125.0
    assert known_peak("Some CPU", "fp32") is None


# Paired intervals and interleaved rounds

def test_ratio_of_medians_matches_the_point_estimate_and_brackets_it():
    rng = random.Random(1)
    base = [10 * (1 + rng.uniform(-0.05, 0.05)) for _ in range(200)]
    other = [8 * (1 + rng.uniform(-0.05, 0.05)) for _ in range(200)]
    estimate = ratio_of_medians(base, other)
    assert estimate.median == pytest.approx(statistics.median(other) / statistics.median(base))
    low, high = estimate.ci95
    assert low < estimate.median < high and high < 1.0
    assert estimate.verdict == "faster" and estimate.rounds == 200
    assert ratio_of_medians(base, other) == estimate  # seeded: the same samples, the same interval


@pytest.mark.parametrize("rounds,verdict", [(3, "too few rounds"), (9, "too few rounds"), (10, "slower")])
def test_no_verdict_from_fewer_than_10_rounds(rounds, verdict):
    """A slow network stopped by the time limit after 3 rounds: a 3-round bootstrap has 10 distinct
    resamples and its "interval" can exclude 1.0 by chance; the verdict waits for 10 rounds."""
    base = [10.0, 30.0, 11.0, 10.5, 12.0, 10.2, 10.8, 11.1, 10.4, 10.6][:rounds]
    other = [b * 1.5 for b in base]
    estimate = ratio_of_medians(base, other)
    data = estimate.to_dict()
    assert estimate.verdict == verdict and data["verdict"] == verdict
    from googlenet_cost.comparison import LatencyRatio
    from googlenet_cost.views.compare import ratio_cell
    from googlenet_cost.views.compare_text import latency_words

    words, cell = latency_words(LatencyRatio(1, estimate)), ratio_cell(LatencyRatio(1, estimate))
    if rounds < 10:  # no ratio and no interval where the verdict is withheld: the raw figures only in JSON
        assert "too few rounds" in words and "raise --max-time" in words and "1.50x" not in words + cell
        assert data["median"] is None and data["ci95"] is None
        assert data["unreliable"]["median"] == pytest.approx(1.5) and len(data["unreliable"]["ci95"]) == 2
    else:
        assert "1.50x the latency" in words and data["median"] == pytest.approx(1.5) and "unreliable" not in data


def test_pairing_cancels_shared_drift():
    """Both models slow down together halfway; their paired ratio stays tight, as it should."""
    base = [10.0 + (5.0 if r >= 50 else 0.0) + 0.01 * (r % 3) for r in range(100)]
    other = [b * 1.1 for b in base]
    estimate = ratio_of_medians(base, other)
    assert estimate.median == pytest.approx(1.1) and estimate.half_width < 0.01
    assert estimate.verdict == "slower"


def _rounds(durations: list[float], *, spread: float, plan: RoundsPlan, seed: int = 7):
    clock, rng = FakeClock(), random.Random(seed)
    timers = [fake_timer(clock, [d], rng, spread) for d in durations]
    return run_rounds(timers, plan, clock=clock), timers


@pytest.mark.slow
def test_a_a_comparisons_find_no_difference_as_often_as_a_95_percent_interval_promises():
    """Identical models with noise: the interval must contain 1.0 in about 95% of runs (adaptive
    stopping may cost a little); 40 seeded runs, so the test is deterministic."""
    plan = RoundsPlan(LoopLimits(2, 0.0, 30, 0.0), precision=0.03, max_time_s=30)
    verdicts = [_rounds([10.0, 10.0], spread=0.1, plan=plan, seed=seed)[0].ratios[0] for seed in range(40)]
    honest = [r for r in verdicts if r.verdict == "no measurable difference"]
    assert all(r.ci95[0] <= 1.0 <= r.ci95[1] for r in honest)
    assert len(honest) >= 34, [r.ci95 for r in verdicts if r not in honest]


@pytest.mark.slow
@pytest.mark.parametrize("variant_ms, verdict", [(11.0, "slower"), (8.5, "faster")])
def test_real_differences_get_a_verdict_and_an_interval_around_the_truth(variant_ms, verdict):
    plan = RoundsPlan(LoopLimits(2, 0.0, 30, 0.0), precision=0.02, max_time_s=30)
    ratios = [_rounds([10.0, variant_ms], spread=0.2, plan=plan, seed=seed)[0].ratios[0] for seed in range(5)]
    assert all(r.verdict == verdict for r in ratios)
    assert sum(r.ci95[0] <= variant_ms / 10 <= r.ci95[1] for r in ratios) >= 4


def test_sampling_stops_at_the_precision_or_the_time_limit_and_says_which():
    quiet, _ = _rounds([10.0, 12.0], spread=0.01, plan=RoundsPlan(LoopLimits(2, 0.0, 30, 0.0), 0.02, 60))
    assert quiet.stopped_by == "precision" and quiet.rounds == 30
    assert quiet.ratios[0].half_width <= 0.02
    noisy, _ = _rounds([10.0, 12.0], spread=0.9, plan=RoundsPlan(LoopLimits(2, 0.0, 30, 0.0), 0.002, 5))
    assert noisy.stopped_by == "max_time" and 4 <= noisy.elapsed_s <= 5  # a hard cap, used to its end
    assert noisy.ratios[0].half_width > 0.002 and noisy.ratios[0].rounds == noisy.rounds


def test_rounds_rotate_the_starting_model_and_warm_each_up_first():
    clock = FakeClock()
    order = []

    def timer(name):
        def iteration(index):
            order.append(name)
            clock.now += 0.01
            return Sample(10.0, 1.0, 10.0)
        return iteration

    plan = RoundsPlan(LoopLimits(2, 0.0, 3, 0.0, max_iters=3), precision=0.5, max_time_s=100)
    result = run_rounds([timer("a"), timer("b"), timer("c")], plan, clock=clock)
    # warm-up, one model after another, each until three iterations in a row agree
    assert order[:9] == ["a", "a", "a", "b", "b", "b", "c", "c", "c"]
    assert order[9:] == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert result.rounds == 3 and [loop.warmup_iterations for loop in result.loops] == [3, 3, 3]


@pytest.mark.parametrize("models", [2, 3, 4])
def test_no_model_runs_twice_in_a_row_across_round_boundaries(models):
    """A model timed right after itself finds its own data warm in the caches, the other cold: the
    rounds are ordered so that never happens (two models: A B A B ...), and with three or more each
    model starts as many rounds as the others."""
    clock, stream = FakeClock(), []

    def timer(name):
        def iteration(index):
            stream.append(name)
            clock.now += 0.01
            return Sample(10.0, 1.0, 10.0)
        return iteration

    plan = RoundsPlan(LoopLimits(1, 0.0, 12, 0.0, max_iters=12), precision=0.5, max_time_s=100)
    result = run_rounds([timer(k) for k in range(models)], plan, clock=clock)
    timed = stream[sum(loop.warmup_iterations for loop in result.loops):]  # after the warm-up
    assert len(timed) == 12 * models
    assert all(a != b for a, b in zip(timed, timed[1:]))
    starts = [timed[r * models] for r in range(12)]
    assert models == 2 or len({starts.count(k) for k in range(models)}) == 1


def test_max_time_is_a_hard_cap_under_load_and_cut_rounds_are_dropped():
    """A machine under load: iterations take 0.3-0.6 s on the fake clock, at random. --max-time 10
    is never passed, warm-up included, and every model keeps the same number of rounds."""
    clock, rng = FakeClock(), random.Random(3)

    def timer(index):
        clock.now += rng.uniform(0.3, 0.6)
        return Sample(10.0, 1.0, 10.0)

    plan = RoundsPlan(LoopLimits(10, 0.0, 1000, 0.0), precision=0.001, max_time_s=10)
    result = run_rounds([timer, timer, timer], plan, clock=clock)
    assert result.stopped_by == "max_time" and result.elapsed_s <= 10 and clock.now <= 10
    assert len({len(loop.samples) for loop in result.loops}) == 1 and result.rounds >= 1
    assert result.ratios[0].rounds == result.rounds


def test_a_time_limit_with_no_room_for_a_round_is_an_error_not_a_verdict():
    clock = FakeClock()

    def timer(index):
        clock.now += 2.0
        return Sample(10.0, 1.0, 10.0)

    with pytest.raises(GcostError, match="no time for one interleaved round"):
        run_rounds([timer, timer], RoundsPlan(LoopLimits(1, 0.0, 10, 0.0), 0.02, max_time_s=5), clock=clock)


@pytest.mark.parametrize("median, ci95, min_effect, verdict", [
    (0.997, (0.995, 0.999), 0.01, "no meaningful difference"),  # measurable, but 0.3% is not an effect
    (0.997, (0.995, 0.999), 0.0, "faster"),
    (0.98, (0.97, 0.99), 0.01, "faster"),
    (1.004, (1.001, 1.007), 0.01, "no meaningful difference"),
    (1.02, (1.01, 1.03), 0.01, "slower"),
    (1.0, (0.99, 1.01), 0.01, "no measurable difference"),
])
def test_a_difference_below_the_minimum_effect_is_no_meaningful_difference(median, ci95, min_effect, verdict):
    from googlenet_cost.comparison import LatencyRatio
    from googlenet_cost.timing.paired import RatioEstimate
    from googlenet_cost.views.compare_text import latency_words

    estimate = RatioEstimate(median=median, ci95=ci95, rounds=100, min_effect=min_effect)
    assert estimate.verdict == verdict
    words = latency_words(LatencyRatio(1, estimate))
    assert ("no meaningful latency difference" in words) == (verdict == "no meaningful difference")
