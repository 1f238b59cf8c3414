"""How many threads a CPU timing uses, decided from evidence (docs/latency.md, "Threads").

torch's intra-op threads meet at a barrier after every operator: when another task holds one of
the CPUs, every operator waits for the descheduled thread, and a forward that takes 46 ms on two
idle CPUs takes 130-2,000 ms with one busy loop beside it, with an interquartile range wider than
its median, while one thread takes 67 ms, as steady as on an idle machine (measured on the
project's 2-CPU machine: docs/benchmarks-load.md). So a timing uses every usable CPU only when the
CPUs are idle and the threads pay off; otherwise one thread, which is what torch.utils.benchmark
defaults to. `--threads N` always wins.

The evidence, gathered once per run before timing (about 0.3 s): the contention probe (other
runnable tasks, steal, load; timing/cpus.py) and a thread-scaling probe (the same matrix product
with one thread and with the candidate count, alternated, best of each)."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

from .cpus import Contention, probe, usable_cpus

IDLE_SLACK = 0.25  # runnable tasks below this (a sampling blip, a daemon waking) leave a CPU idle
MIN_SPEEDUP_PER_THREAD = 0.3  # n threads must run at least 1 + 0.3 (n - 1) times faster than one
SCALING_REPEATS = 4
SCALING_SIZE = 256  # a 256 x 256 fp32 product: ~1 ms on one core, long enough for threads to pay


@dataclass(frozen=True)
class ThreadChoice:
    """The thread count a CPU timing uses and why (the JSON's threads and threads_reason)."""

    threads: int
    reason: str
    contention: Contention | None = None  # the probe's reading (None: --threads given, or one CPU)
    speedup: float | None = None  # the scaling probe: one thread's time over `threads` threads'

    def to_dict(self) -> dict:
        return {"threads": self.threads, "reason": self.reason,
                "contention": None if self.contention is None else self.contention.to_dict(),
                "speedup": None if self.speedup is None else round(self.speedup, 3)}


def choose_threads(requested: int | None, *, measure_contention: Callable[[], Contention] = probe,
                   scaling: Callable[[int], float] | None = None) -> ThreadChoice:
    """`requested` (--threads) if given; otherwise every usable CPU that other work leaves idle,
    when the scaling probe shows that many threads pay off, else one."""
    if requested is not None:
        return ThreadChoice(requested, f"--threads {requested}")
    contention = measure_contention()
    cpus = contention.cpus
    if cpus == 1:
        return ThreadChoice(1, "one CPU usable", contention)
    busy = contention.busy_cpus
    idle = cpus - math.ceil(max(0.0, busy - IDLE_SLACK))
    if idle <= 1:
        return ThreadChoice(1, f"other work kept {busy:.1f} of {cpus} CPUs busy", contention)
    speedup = (scaling or scaling_speedup)(idle)
    if speedup < 1 + MIN_SPEEDUP_PER_THREAD * (idle - 1):
        return ThreadChoice(1, f"{idle} threads ran only {speedup:.2f}x as fast as one", contention, speedup)
    reason = f"{idle} of {cpus} CPUs idle" + (f" (other work kept {busy:.1f} busy)" if idle < cpus else "")
    return ThreadChoice(idle, reason, contention, speedup)


def scaling_speedup(threads: int, clock: Callable[[], float] = time.perf_counter) -> float:
    """One thread's best time for a matrix product over `threads` threads' best, alternated so that
    load that comes and goes touches both."""
    import torch

    saved = torch.get_num_threads()
    a = torch.randn(SCALING_SIZE, SCALING_SIZE)
    best = {1: math.inf, threads: math.inf}
    try:
        with torch.inference_mode():
            for _ in range(SCALING_REPEATS):
                for count in (1, threads):
                    torch.set_num_threads(count)
                    torch.mm(a, a)  # the pool resized and warm before the timed call
                    start = clock()
                    torch.mm(a, a)
                    torch.mm(a, a)
                    best[count] = min(best[count], clock() - start)
    finally:
        torch.set_num_threads(saved)
    return best[1] / best[threads] if best[threads] > 0 else 1.0


def cpu_count_for(choice: ThreadChoice | None) -> int:
    """The threads to set: the choice's, or every usable CPU when no choice was made."""
    return choice.threads if choice is not None else usable_cpus()
