"""One timed iteration, as every timer returns it and every statistic reads it (no torch)."""
from __future__ import annotations

from typing import NamedTuple


class Sample(NamedTuple):
    """One timed iteration, in milliseconds."""

    device_ms: float  # CUDA events (or the host clock on the CPU): the headline figure
    enqueue_ms: float  # host time to issue the forward
    wall_ms: float  # host time from before issuing to after the device finished
    cpu_ms: float | None = None  # CPU, one thread: the timing thread's on-CPU time (None otherwise)
    waited_ms: float | None = None  # CPU: the process's threads' wait for a CPU another task held

    @property
    def steady_ms(self) -> float:
        """The figure that says whether iterations have settled: on-CPU time where there is one
        (load that comes and goes does not move it), else the headline."""
        return self.device_ms if self.cpu_ms is None else self.cpu_ms
