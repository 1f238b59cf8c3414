"""Everything the timing code asks of CUDA, behind one small interface (TorchCuda), so the suite
can run every CUDA branch's control flow against a fake backend on a machine without a GPU
(tests/fake_cuda.py), and a test checks each torch name used here against the installed torch.

Read against torch 2.13's torch/cuda/__init__.py, streams.py, graphs.py, memory.py and
torch/backends/{__init__,cuda/__init__,cudnn/__init__}.py. Nothing here has run on a real GPU in
this project's CI (docs/latency.md says what has).
"""
from __future__ import annotations

import contextlib
import time
from typing import Any, Callable, Iterator

import torch

from ..errors import GcostError, first_line
from .loop import Clock, Sample


class TorchCuda:
    """The real backend: each method is one torch.cuda call (torch >= 2.4)."""

    def is_available(self) -> bool:
        return torch.cuda.is_available()

    def device_count(self) -> int:
        return torch.cuda.device_count()

    def device_name(self, device: torch.device) -> str:
        return torch.cuda.get_device_name(device)

    def tensor_device(self, device: torch.device) -> torch.device:
        """Where the model and inputs live (a fake backend keeps them on the CPU)."""
        return device

    def use_device(self, device: torch.device):
        """Make `device` current: streams, events, graphs and allocations then land on it."""
        return torch.cuda.device(device)

    def current_stream(self, device: torch.device):
        return torch.cuda.current_stream(device)

    def new_stream(self, device: torch.device):
        return torch.cuda.Stream(device=device)

    def use_stream(self, stream):
        return torch.cuda.stream(stream)

    def event(self):
        return torch.cuda.Event(enable_timing=True)

    def synchronize(self, device: torch.device) -> None:
        torch.cuda.synchronize(device)

    def new_graph(self):
        return torch.cuda.CUDAGraph()

    def capture(self, graph, pool, stream):
        return torch.cuda.graph(graph, pool=pool, stream=stream)

    def reset_peak_memory(self, device: torch.device) -> None:
        torch.cuda.reset_peak_memory_stats(device)

    def max_memory_allocated(self, device: torch.device) -> int:
        return torch.cuda.max_memory_allocated(device)

    def free_memory(self, device: torch.device) -> int:
        return torch.cuda.mem_get_info(device)[0]

    def empty_cache(self) -> None:
        torch.cuda.empty_cache()

    @property
    def oom_error(self) -> type[BaseException]:
        return torch.cuda.OutOfMemoryError

    def sensors(self, device: torch.device) -> dict[str, float] | None:
        """SM clock, temperature and power through torch's NVML mapping (which honours
        CUDA_VISIBLE_DEVICES); None when NVML (the nvidia-ml-py package) is not at hand."""
        errors: tuple[type[BaseException], ...] = (ImportError, RuntimeError, OSError, AttributeError)
        with contextlib.suppress(ImportError):
            from pynvml import NVMLError

            errors += (NVMLError,)
        try:
            return {"sm_clock_mhz": torch.cuda.clock_rate(device),
                    "temperature_c": torch.cuda.temperature(device),
                    "power_mw": torch.cuda.power_draw(device)}
        except errors:
            return None

    def profiler_activities(self) -> list:
        from torch.profiler import ProfilerActivity

        return [ProfilerActivity.CPU, ProfilerActivity.CUDA]


@contextlib.contextmanager
def cuda_numerics(tf32: bool) -> Iterator[None]:
    """cudnn.benchmark on and TF32 on or off for the timing only; every setting is put back exactly
    as found, through the API the running torch offers (fp32_precision since torch 2.9, else the
    allow_tf32 flags: reading allow_tf32 raises once anything used the newer API)."""
    switches = _tf32_switches()
    saved = [getattr(owner, name) for owner, name, _ in switches]
    benchmark = torch.backends.cudnn.benchmark
    try:
        torch.backends.cudnn.benchmark = True
        for owner, name, values in switches:
            setattr(owner, name, values[tf32])
        yield
    finally:
        torch.backends.cudnn.benchmark = benchmark
        for (owner, name, _), value in zip(switches, saved):
            setattr(owner, name, value)


def _tf32_switches() -> list[tuple[Any, str, dict[bool, Any]]]:
    if hasattr(torch.backends.cudnn, "conv"):  # torch >= 2.9
        return [(torch.backends.cuda.matmul, "fp32_precision", {True: "tf32", False: "ieee"}),
                (torch.backends.cudnn.conv, "fp32_precision", {True: "tf32", False: "ieee"})]
    return [(torch.backends.cuda.matmul, "allow_tf32", {True: True, False: False}),
            (torch.backends.cudnn, "allow_tf32", {True: True, False: False})]


class CudaTimer:
    """One forward per call between two CUDA events on the device's current stream, plus the
    host's view of the same iteration: the time to issue it (launch-bound diagnosis) and the wall
    time until the whole device is idle again (events_vs_wall). Waiting for the device, not for the
    end event, is what exposes events on the wrong stream or device: their span would be empty
    while the wall time still holds the work."""

    def __init__(self, backend: TorchCuda, device: torch.device, run: Callable[[int], Any],
                 flush: torch.Tensor | None = None, clock: Clock = time.perf_counter):
        self.backend, self.device, self.run, self.flush, self.clock = backend, device, run, flush, clock
        self.stream = backend.current_stream(device)
        self.start, self.end = backend.event(), backend.event()

    def __call__(self, index: int) -> Sample:
        if self.flush is not None:
            self.flush.zero_()
            self.backend.synchronize(self.device)  # else the forward's launches hide behind the flush
        host = self.clock()
        self.start.record(self.stream)
        self.run(index)
        enqueue = self.clock() - host
        self.end.record(self.stream)
        self.backend.synchronize(self.device)
        wall = self.clock() - host
        return Sample(self.start.elapsed_time(self.end), enqueue * 1000, wall * 1000)


def timer_overhead_ms(backend: TorchCuda, device: torch.device, clock: Clock = time.perf_counter,
                      count: int = 20) -> float:
    """Host time an empty iteration costs beyond its events (recording, waking from the sync)."""
    import statistics

    empty = CudaTimer(backend, device, lambda index: None, clock=clock)
    return statistics.median(max(0.0, s.wall_ms - s.device_ms) for s in (empty(i) for i in range(count)))


def events_vs_wall(samples: list[Sample], overhead_ms: float) -> float | None:
    """Sum of event times over the host's wall time of the same iterations (less the calibrated
    overhead of an empty iteration): near 1.0 when the events time the work they should."""
    wall = sum(max(s.wall_ms - overhead_ms, 1e-9) for s in samples)
    return sum(s.device_ms for s in samples) / wall if samples else None


def capture_graphs(backend: TorchCuda, device: torch.device, forward: Callable, inputs: list,
                   warmup: int = 3) -> tuple[list, list]:
    """One CUDA graph per input buffer, captured on a side stream of `device` after a warm-up
    there (as CUDA graphs require); the graphs and their static outputs. A capture that fails
    (a model that synchronizes with the CPU, e.g. .item()) is a GcostError, and CUDA stays usable."""
    stream = backend.new_stream(device)
    stream.wait_stream(backend.current_stream(device))
    with backend.use_stream(stream):
        for _ in range(warmup):
            forward(inputs[0])
    backend.current_stream(device).wait_stream(stream)
    graphs: list = []
    outputs: list = []
    try:
        for x in inputs:
            graph = backend.new_graph()
            with backend.capture(graph, pool=graphs[0].pool() if graphs else None, stream=stream):
                outputs.append(forward(x))
            graphs.append(graph)
    except RuntimeError as e:
        graphs.clear()
        outputs.clear()
        with contextlib.suppress(RuntimeError):
            backend.synchronize(device)
        backend.empty_cache()
        reason = first_line(e, 200) or type(e).__name__
        raise GcostError(f"--cuda-graph: capture failed ({reason}); the model probably syncs "
                         "with the CPU (.item(), data-dependent shapes): time it without --cuda-graph") from None
    return graphs, outputs


GRAPH_TOLERANCE = {"fp32": 1e-4, "tf32": 1e-2, "fp16": 1e-2, "bf16": 2e-2}


def check_graph_outputs(backend: TorchCuda, device: torch.device, forward: Callable, inputs: list,
                        graphs: list, outputs: list, dtype: str) -> float | None:
    """Replay each graph and run the same input eagerly; the largest difference relative to the
    output's scale, or None when the model returns no tensors. A mismatch is a GcostError: graph
    timings are reported only for graphs that compute what the model computes."""
    from ..modules import tensor_leaves

    worst = None
    for graph, static, x in zip(graphs, outputs, inputs):
        graph.replay()
        replayed = [t.detach().clone() for t in tensor_leaves(static)]
        eager = tensor_leaves(forward(x))
        backend.synchronize(device)
        if len(replayed) != len(eager):
            raise GcostError("--cuda-graph: the replayed graph returns other outputs than the eager forward")
        for a, b in zip(replayed, eager):
            scale = max(float(b.detach().abs().max()), 1.0) if b.numel() else 1.0
            diff = float((a.float() - b.float()).abs().max()) / scale if b.numel() else 0.0
            worst = diff if worst is None else max(worst, diff)
    if worst is not None and worst > GRAPH_TOLERANCE.get(dtype, 1e-2):
        raise GcostError(f"--cuda-graph: the replayed graph's output differs from the eager forward "
                         f"(largest difference {worst:.2g} of the output's scale, allowed "
                         f"{GRAPH_TOLERANCE.get(dtype, 1e-2):g} for {dtype}): the model is not capturable "
                         "as it is; time it without --cuda-graph")
    return worst
