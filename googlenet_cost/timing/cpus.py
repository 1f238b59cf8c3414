"""The CPUs a timing may use, and how busy other work keeps them (no torch).

A shared CPU is the machine most users have. Two readings say how shared it is:
- before timing, `probe()`: the other tasks that are runnable (Linux's procs_running, sampled every
  10 ms, less the probing thread itself), the hypervisor's steal time over the same window, and the
  1-minute load average, against the CPUs this process may use (its affinity mask, and a cgroup's
  CPU quota when one is set);
- while timing, `RunQueueWait`: how long the timing process's threads waited, runnable, for a CPU
  that another task held (each thread's run_delay in /proc/self/task/TID/schedstat), per iteration.
Where Linux does not offer a reading it is None, and the timing says so instead of guessing.
"""
from __future__ import annotations

import contextlib
import math
import os
import platform
import time
from dataclasses import dataclass
from typing import Callable

THREADS_PER_CPU = 4  # --threads at most this many per CPU of the machine
PROBE_S = 0.2  # how long the contention probe samples the run queue
PROBE_EVERY_S = 0.01


def affinity_cpus() -> int:
    """The CPUs this process may run on (its affinity mask), not every CPU of the machine."""
    with contextlib.suppress(AttributeError, OSError):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def cgroup_quota_cpus(root: str = "/sys/fs/cgroup") -> float | None:
    """CPUs' worth of time a cgroup v2 quota allows this process ("200000 100000" in cpu.max: 2.0),
    None without a quota or where it cannot be read."""
    with contextlib.suppress(OSError, ValueError):
        with open(os.path.join(root, "cpu.max"), encoding="ascii") as quota:
            limit, period = quota.read().split()[:2]
        if limit != "max" and int(period) > 0:
            return int(limit) / int(period)
    return None


def usable_cpus() -> int:
    """The CPUs a timing may keep busy: the affinity mask, capped by a cgroup's CPU quota (a
    container given 1.5 CPUs of a 16-CPU machine has 1 to time on, not 16)."""
    cpus = affinity_cpus()
    quota = cgroup_quota_cpus()
    return max(1, min(cpus, math.floor(quota))) if quota is not None else cpus


def max_threads() -> int:
    """The most CPU threads timing may ask for. More only oversubscribes the CPUs, and far more
    (100,000) makes the OpenMP runtime abort the whole process, without a message, when it cannot
    create them; so the bound is checked before torch.set_num_threads."""
    return THREADS_PER_CPU * (os.cpu_count() or 1)


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "CPU"


@dataclass(frozen=True)
class CpuTimes:
    """One reading of /proc/stat: all CPU time and the hypervisor's steal (clock ticks), and how
    many tasks were runnable at that instant (this reader's thread included)."""

    total: int
    steal: int
    running: int


def read_cpu_times(path: str = "/proc/stat") -> CpuTimes | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        total = steal = running = None
        with open(path, encoding="ascii") as stat:
            for line in stat:
                if line.startswith("cpu "):
                    ticks = [int(v) for v in line.split()[1:]]
                    total, steal = sum(ticks[:8]), (ticks[7] if len(ticks) > 7 else 0)
                elif line.startswith("procs_running"):
                    running = int(line.split()[1])
        if total is not None and running is not None:
            return CpuTimes(total, steal, running)
    return None


def load_average() -> float | None:
    with contextlib.suppress(OSError, AttributeError):
        return os.getloadavg()[0]
    return None


@dataclass(frozen=True)
class Contention:
    """How busy other work kept the CPUs this process may use, over a short probe."""

    cpus: int  # usable_cpus()
    others_running: float | None  # mean runnable tasks besides the probe (None: not readable)
    steal: float | None  # share of CPU time the hypervisor gave to other guests
    load1: float | None  # the 1-minute load average (lags: reported, not decided on)

    @property
    def busy_cpus(self) -> float:
        """CPUs' worth of other work: runnable tasks, and steal as the CPUs it took."""
        return (self.others_running or 0.0) + (self.steal or 0.0) * self.cpus

    def to_dict(self) -> dict:
        return {"cpus": self.cpus, "others_running": _rounded(self.others_running),
                "steal": _rounded(self.steal), "load1": _rounded(self.load1)}


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def probe(duration_s: float = PROBE_S, *, read: Callable[[], CpuTimes | None] = read_cpu_times,
          sleep: Callable[[float], None] = time.sleep, cpus: int | None = None) -> Contention:
    """Sample the run queue every 10 ms for `duration_s`, while this process only sleeps between
    readings: every runnable task but the reader is someone else's work."""
    cpus = usable_cpus() if cpus is None else cpus
    first = read()
    if first is None:
        return Contention(cpus, None, None, load_average())
    counts, last = [], first
    for _ in range(max(1, round(duration_s / PROBE_EVERY_S))):
        sleep(PROBE_EVERY_S)
        reading = read()
        if reading is None:
            break
        counts.append(max(0, reading.running - 1))
        last = reading
    ticks = last.total - first.total
    steal = (last.steal - first.steal) / ticks if ticks > 0 else None
    others = sum(counts) / len(counts) if counts else None
    return Contention(cpus, others, steal, load_average())


class RunQueueWait:
    """Milliseconds this process's threads have waited, runnable, for a CPU another task held
    (Linux's schedstat run_delay, summed over the threads that exist when this is made: the
    timing thread and torch's intra-op pool, started by the warm-up). `read()` is None where
    schedstat is not available."""

    def __init__(self, task_root: str = "/proc/self/task"):
        self.files: list[int] = []
        with contextlib.suppress(OSError):
            for task in os.listdir(task_root):
                with contextlib.suppress(OSError):
                    self.files.append(os.open(os.path.join(task_root, task, "schedstat"), os.O_RDONLY))
        if self.files and self.read() is None:
            self.close()

    def read(self) -> float | None:
        if not self.files:
            return None
        total = 0
        try:
            for fd in self.files:
                total += int(os.pread(fd, 128, 0).split()[1])
        except (OSError, ValueError, IndexError):  # a thread that ended: its wait is over, the rest still count
            return None
        return total / 1e6

    def close(self) -> None:
        for fd in self.files:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.files = []

    def __enter__(self) -> RunQueueWait:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
