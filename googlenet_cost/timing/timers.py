"""The per-iteration timers the loops call: the host clock on the CPU, CUDA events on a GPU (eager,
or CUDA-graph replay after its output check)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from .cpus import RunQueueWait
from .cuda import CudaTimer, TorchCuda, capture_graphs, check_graph_outputs
from .loop import Clock, Sample
from .settings import TimingOptions
from .prepare import Prepared
from .step import TrainingStep


@dataclass
class Timer:
    """A timer with what its making found out: with --cuda-graph, the graphs' output check and
    the peak memory allocated while capturing them."""

    run: Callable[[int], Sample]
    graph_check: dict = field(default_factory=dict)
    capture_peak_bytes: int | None = None  # --cuda-graph: the peak allocated while capturing
    arm: Callable[[], Any] = lambda: None  # called once the warm-up is over
    close: Callable[[], Any] = lambda: None

    def __call__(self, index: int) -> Sample:
        return self.run(index)


def make_timer(prepared: Prepared, options: TimingOptions, device: torch.device, cuda: TorchCuda,
               clock: Clock) -> Timer:
    """The per-iteration timer: CUDA events (eager, or CUDA-graph replay after its output check)
    or the host clock."""
    after = prepared.forward.collect if isinstance(prepared.forward, TrainingStep) else None
    if device.type == "cpu":
        timer = CpuTimer(prepared.forward, prepared.inputs, prepared.flush, clock, after,
                         one_thread=torch.get_num_threads() == 1)
        return Timer(timer, arm=timer.arm, close=timer.close)
    inputs = prepared.inputs
    if options.cuda_graph:
        captured = capture_graphs(cuda, device, prepared.forward, inputs)
        graphs = captured.graphs
        worst = check_graph_outputs(cuda, device, prepared.forward, inputs, graphs, captured.outputs, prepared.dtype)
        return Timer(CudaTimer(cuda, device, lambda index: graphs[index % len(graphs)].replay(), prepared.flush,
                               clock),
                     graph_check={"graph_matches_eager": None if worst is None else True,
                                  "graph_max_difference": worst},
                     capture_peak_bytes=captured.peak_bytes)
    return Timer(CudaTimer(cuda, device, lambda index: prepared.forward(inputs[index % len(inputs)]),
                           prepared.flush, clock, after))


class CpuTimer:
    """One forward per call on the host clock. With one thread it also reads the timing thread's
    on-CPU time; once armed (after the warm-up, when torch's thread pool exists), how long the
    process's threads waited for a CPU another task held (timing/clocks.py uses both on a shared
    CPU)."""

    def __init__(self, forward: Callable, inputs: list, flush: torch.Tensor | None, clock: Clock,
                 after: Callable[[], Any] | None = None, *, one_thread: bool = False,
                 cpu_clock: Clock = time.thread_time, waits: Callable[[], RunQueueWait] = RunQueueWait):
        self.forward, self.inputs, self.flush, self.clock, self.after = forward, inputs, flush, clock, after
        self.cpu_clock = cpu_clock if one_thread else None
        self.make_waits, self.waits = waits, None

    def arm(self) -> None:
        self.close()
        self.waits = self.make_waits()

    def close(self) -> None:
        if self.waits is not None:
            self.waits.close()
            self.waits = None

    def __call__(self, index: int) -> Sample:
        if self.flush is not None:
            self.flush.add_(1)
        waited = self.waits.read() if self.waits is not None else None
        cpu = self.cpu_clock() if self.cpu_clock is not None else None
        start = self.clock()
        self.forward(self.inputs[index % len(self.inputs)])
        ms = (self.clock() - start) * 1000
        cpu_ms = (self.cpu_clock() - cpu) * 1000 if cpu is not None else None
        if waited is not None:
            after = self.waits.read()
            waited = None if after is None else max(0.0, after - waited)
        if self.after is not None:
            self.after()
        return Sample(ms, ms, ms, cpu_ms, waited)
