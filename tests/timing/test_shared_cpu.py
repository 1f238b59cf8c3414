"""Timing on a shared CPU (issue 31): the thread count decided from evidence, the contention seen
while timing, the clock chosen from it, disturbed rounds, withheld verdicts and warnings that say
what to do. Driven by fake readings and a fake clock: no real timing is asserted."""
from __future__ import annotations

import os
import random
import threading

import pytest

from googlenet_cost.timing import cpus
from googlenet_cost.timing.clocks import ON_CPU, WALL, choose_clock, contended
from googlenet_cost.timing.cpus import Contention, CpuTimes, RunQueueWait, cgroup_quota_cpus, probe
from googlenet_cost.timing.loop import WARMUP_SHARE, LoopLimits, RoundsPlan, Sample, run_rounds, warm_up
from googlenet_cost.timing.paired import MIN_VERDICT_ROUNDS, TOO_FEW, UNSTABLE, paired_ratios, ratio_of_medians
from googlenet_cost.timing.stats import stats_from_loop
from googlenet_cost.timing.threads import ThreadChoice, choose_threads


def contention(cpus_: int, others: float | None, steal: float | None = 0.0) -> Contention:
    return Contention(cpus_, others, steal, load1=1.5)


# The thread count

def test_threads_given_win_without_probing():
    def never():
        raise AssertionError("no probe when --threads is given")

    assert choose_threads(3, measure_contention=never) == ThreadChoice(3, "--threads 3")


@pytest.mark.parametrize("others, steal, threads, words", [
    (0.0, 0.0, 2, "2 of 2 CPUs idle"),
    (0.2, 0.0, 2, "2 of 2 CPUs idle"),  # a daemon waking now and then leaves the CPUs idle
    (1.0, 0.0, 1, "other work kept 1.0 of 2 CPUs busy"),  # one busy loop: threads would wait at barriers
    (3.0, 0.0, 1, "other work kept 3.0 of 2 CPUs busy"),
    (0.0, 0.5, 1, "other work kept 1.0 of 2 CPUs busy"),  # the hypervisor gave half the time to others
])
def test_a_busy_machine_gets_one_thread_an_idle_one_every_cpu(others, steal, threads, words):
    choice = choose_threads(None, measure_contention=lambda: contention(2, others, steal), scaling=lambda n: 1.9)
    assert (choice.threads, choice.reason) == (threads, words)
    assert choice.to_dict()["contention"]["others_running"] == others


def test_threads_that_do_not_pay_off_are_not_used():
    choice = choose_threads(None, measure_contention=lambda: contention(4, 0.0), scaling=lambda n: 1.4)
    assert choice.threads == 1 and choice.reason == "4 threads ran only 1.40x as fast as one" and choice.speedup == 1.4
    busy_16 = choose_threads(None, measure_contention=lambda: contention(16, 2.0), scaling=lambda n: n * 0.9)
    assert busy_16.threads == 14 and busy_16.reason == "14 of 16 CPUs idle (other work kept 2.0 busy)"


def test_one_usable_cpu_needs_no_scaling_probe():
    choice = choose_threads(None, measure_contention=lambda: contention(1, 0.0), scaling=None)
    assert choice.threads == 1 and choice.reason == "one CPU usable"


def test_the_probe_counts_other_runnable_tasks_and_steal():
    readings = iter([CpuTimes(1000, 10, 1)] + [CpuTimes(1000 + 100 * i, 10 + 5 * i, 3) for i in range(1, 21)])
    found = probe(0.2, read=lambda: next(readings), sleep=lambda s: None, cpus=2)
    assert found.others_running == 2.0  # three runnable, the probe itself one of them
    assert found.steal == pytest.approx(0.05) and found.busy_cpus == pytest.approx(2.1)
    assert probe(read=lambda: None, sleep=lambda s: None, cpus=2).others_running is None  # no /proc: no guess


def test_a_cgroup_quota_caps_the_usable_cpus(tmp_path, monkeypatch):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_quota_cpus(str(tmp_path)) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_quota_cpus(str(tmp_path)) is None
    monkeypatch.setattr(cpus, "cgroup_quota_cpus", lambda: 1.5)
    monkeypatch.setattr(cpus, "affinity_cpus", lambda: 16)
    assert cpus.usable_cpus() == 1


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="Linux's schedstat")
def test_run_queue_wait_grows_while_another_thread_holds_the_cpu():
    """Against this kernel: two busy threads pinned to one CPU wait for each other."""
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    except (AttributeError, OSError):
        pytest.skip("cannot pin to one CPU")
    stop = threading.Event()
    spinner = threading.Thread(target=lambda: [None for _ in iter(stop.is_set, True)])
    try:
        with RunQueueWait() as waits:
            before = waits.read()
            assert before is not None
            spinner.start()
            deadline = sum(range(3_000_000))  # busy too, in this thread
            after = waits.read()
        assert deadline and after > before
    finally:
        stop.set()
        spinner.join()
        os.sched_setaffinity(0, range(os.cpu_count() or 1))


# The clock

def sample(wall: float, cpu: float | None = None, waited: float | None = 0.0) -> Sample:
    return Sample(wall, wall, wall, cpu, waited)


def test_on_cpu_time_is_chosen_when_other_work_held_the_cpu_often_with_one_thread():
    quiet = [sample(10.0, 10.0, 0.1)] * 10
    shared = [sample(15.0, 10.0, 5.0)] * 3 + [sample(10.0, 10.0, 0.0)] * 7
    assert not contended(quiet[0]) and contended(shared[0])
    assert choose_clock(quiet) == WALL and choose_clock(shared) == ON_CPU
    assert choose_clock([sample(15.0, None, 5.0)] * 10) == WALL  # several threads: no on-CPU clock
    assert choose_clock(shared, "cuda") == "cuda_events"


def test_stats_on_the_on_cpu_clock_say_so_and_keep_the_wall_median():
    from googlenet_cost.timing.loop import LoopResult

    rng = random.Random(3)
    samples = [sample(10.0 * (1 + rng.uniform(0, 1)), 10.0 * (1 + rng.uniform(-0.01, 0.01)), 4.0) for _ in range(40)]
    stats = stats_from_loop(LoopResult(samples, 3), macs_per_sample=1, batch=1, peak_tflops=None,
                            check_launch_bound=False, device="x", device_type="cpu", dtype="fp32",
                            peak_memory_bytes=None, cuda_graph=False, channels_last=False, compiled=False, threads=1)
    assert stats.clock == ON_CPU and stats.median_ms == pytest.approx(10.0, rel=0.02)
    assert stats.wall_median_ms > 14 and stats.load.contended == 40 and stats.steady
    assert stats.to_dict()["clock"] == "on_cpu"


@pytest.mark.parametrize("threads, load_share, words", [
    (2, 0.6, "use --threads 1"),
    (1, 0.6, "stop the other work"),
    (2, 0.0, "no other work was seen"),
])
def test_an_unstable_run_says_what_to_do(threads, load_share, words):
    from googlenet_cost.timing.loop import LoopResult

    count = 40
    busy = round(load_share * count)
    samples = [sample(10.0 if i % 2 else 14.0, None, 3.0 if i < busy else 0.0) for i in range(count)]
    stats = stats_from_loop(LoopResult(samples, 3), macs_per_sample=1, batch=4, peak_tflops=None,
                            check_launch_bound=False, device="x", device_type="cpu", dtype="fp32",
                            peak_memory_bytes=None, cuda_graph=False, channels_last=False, compiled=False,
                            threads=threads)
    [warning] = [w for w in stats.warnings if "varies a lot" in w]
    assert warning.startswith("batch 4: ") and words in warning and "\n" not in warning


# Rounds: disturbed ones, withheld verdicts

def test_disturbed_rounds_are_left_out_on_the_wall_clock_while_enough_remain():
    rounds = 40
    base = [sample(10.0, None, 3.0 if r % 5 == 0 else 0.0) for r in range(rounds)]  # every 5th disturbed
    other = [sample(12.0 if r % 5 else 30.0, None, 0.0) for r in range(rounds)]
    [ratio], clock = paired_ratios([base, other])
    assert clock == WALL and ratio.contended_rounds == 8 and ratio.dropped_rounds == 8
    assert ratio.rounds == 32 and ratio.median == pytest.approx(1.2)
    mostly = [sample(10.0, None, 3.0 if r % 5 else 0.0) for r in range(rounds)]  # too few undisturbed: keep all
    [kept], _ = paired_ratios([mostly, other])
    assert kept.dropped_rounds == 0 and kept.rounds == rounds


def test_on_the_on_cpu_clock_every_round_is_kept_and_the_waits_leave_the_ratio():
    base = [sample(10.0 + (20.0 if r % 2 else 0.0), 10.0, 6.0 if r % 2 else 0.0) for r in range(30)]
    other = [sample(13.0 + (20.0 if r % 3 else 0.0), 13.0, 6.0 if r % 3 else 0.0) for r in range(30)]
    [ratio], clock = paired_ratios([base, other])
    assert clock == ON_CPU and ratio.dropped_rounds == 0 and ratio.median == pytest.approx(1.3)
    assert ratio.verdict == "slower" and ratio.clock == ON_CPU


def test_pairs_that_disagree_withhold_the_verdict():
    rng = random.Random(1)
    base = [10.0 * rng.choice([1, 4]) for _ in range(40)]
    other = [11.0 * rng.choice([1, 4]) for _ in range(40)]
    estimate = ratio_of_medians(base, other)
    assert estimate.pair_spread > 0.5 and estimate.verdict == UNSTABLE and not estimate.reliable
    data = estimate.to_dict()
    assert data["median"] is None and data["ci95"] is None and data["unreliable"]["median"] == estimate.median
    assert ratio_of_medians(base[:MIN_VERDICT_ROUNDS - 1], other[:MIN_VERDICT_ROUNDS - 1]).verdict == TOO_FEW


# The warm-up

class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def timer_of(clock: Clock, times_ms):
    times = iter(times_ms)

    def run(index: int) -> Sample:
        ms = next(times, 10.0)
        clock.now += ms / 1000
        return sample(ms, ms)

    return run


def test_the_warm_up_ends_when_iteration_times_settle_not_after_a_count():
    clock = Clock()
    settled_at = warm_up(timer_of(clock, [90.0, 40.0, 12.0, 10.0, 10.5, 10.2, 10.1]),
                         LoopLimits(warmup_min_iters=2, warmup_min_s=0.0), clock)
    assert settled_at == 6  # 10.0, 10.5, 10.2: three in a row within 10%
    never = Clock()
    count = warm_up(timer_of(never, [10.0, 20.0] * 1000), LoopLimits(warmup_min_iters=2, warmup_min_s=0.0,
                                                                     warmup_max_s=1.0), never)
    assert never.now <= 1.0 + 0.02 and count < 100  # never settles: it stops at its cap


def test_the_warm_up_of_every_model_together_takes_at_most_its_share_of_max_time():
    """--max-time 5 with three slow models (about 200 ms a forward, as googlenet under load): the
    warm-up yields to the cap, the rounds fill the rest, and nothing runs past 5 s."""
    clock = Clock()
    timers = [timer_of(clock, [400.0, 260.0] + [200.0 * (1 + 0.3 * ((i * 7 + k) % 3)) for i in range(1000)])
              for k in range(3)]
    result = run_rounds(timers, RoundsPlan(LoopLimits(), precision=0.02, max_time_s=5.0), clock=clock)
    assert result.warmup_s <= WARMUP_SHARE * 5.0 + 0.4  # one iteration may end past its model's share
    assert clock.now <= 5.0 and result.stopped_by == "max_time" and result.rounds >= 4
    assert all(r.verdict == TOO_FEW for r in result.ratios)  # an honest "too few rounds", exit 0
