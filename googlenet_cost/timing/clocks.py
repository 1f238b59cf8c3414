"""Which clock a CPU timing's figures come from, and which iterations other work disturbed.

Each CPU sample holds its wall time and, with one thread, the timing thread's on-CPU time, and the
time the process's threads waited, runnable, for a CPU another task held (timing/cpus.py). With
one thread, wall time = on-CPU time + that wait: on a shared CPU the wait is the other work's turn,
not the model's cost, and it comes and goes with their load. Measured on the project's 2-CPU
machine with two busy loops holding both CPUs, googlenet's wall time at one thread had an
interquartile range of 52% of its median, its on-CPU time 3% (1.5% above the idle machine's): so a
run where other work held the CPU in at least ON_CPU_SHARE of the iterations reports on-CPU time,
and says so. With several threads there is no such clock (a barrier waits for the slowest thread),
and the timing says to use --threads 1 instead. docs/latency.md, "A shared CPU".
"""
from __future__ import annotations

from typing import Iterable, Sequence

from .sample import Sample

WALL, ON_CPU, EVENTS = "wall", "on_cpu", "cuda_events"
CONTENDED = 0.05  # a sample waited for a CPU more than 5% of its wall time: other work took its turn
ON_CPU_SHARE = 0.2  # contended in at least this share of samples (one thread): on-CPU time is reported


def contended(sample: Sample) -> bool:
    return sample.waited_ms is not None and sample.waited_ms > CONTENDED * sample.wall_ms


def choose_clock(samples: Iterable[Sample], device_type: str = "cpu") -> str:
    """EVENTS on a GPU; ON_CPU when every sample has an on-CPU time and other work held the CPU in
    at least ON_CPU_SHARE of them; else WALL."""
    if device_type == "cuda":
        return EVENTS
    samples = list(samples)
    if not samples or any(s.cpu_ms is None for s in samples):
        return WALL
    return ON_CPU if sum(map(contended, samples)) >= ON_CPU_SHARE * len(samples) else WALL


def value_ms(sample: Sample, clock: str) -> float:
    return sample.cpu_ms if clock == ON_CPU and sample.cpu_ms is not None else sample.device_ms


def values_ms(samples: Sequence[Sample], clock: str) -> list[float]:
    return [value_ms(s, clock) for s in samples]


def waited_share(samples: Sequence[Sample]) -> float | None:
    """The process's wait for a CPU over all wall time (None where it could not be read)."""
    if not samples or any(s.waited_ms is None for s in samples):
        return None
    wall = sum(s.wall_ms for s in samples)
    return sum(s.waited_ms for s in samples) / wall if wall > 0 else 0.0
