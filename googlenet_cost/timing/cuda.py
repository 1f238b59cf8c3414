"""Everything the timing code asks of CUDA, behind one small interface (TorchCuda), so the suite
can run every CUDA branch's control flow against a fake backend on a machine without a GPU
(tests/fake_cuda.py), and a test checks each torch name used here against the installed torch.

Read against torch 2.13's torch/cuda/__init__.py (StreamContext, the NVML sensors), streams.py
(Event), graphs.py (torch.cuda.graph), memory.py, torch/autograd/profiler.py (how kernels are
linked to the CPU events that launched them) and torch/backends/{__init__,cuda/__init__,
cudnn/__init__}.py. Nothing here has run on a real GPU (docs/latency.md says so).
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
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
        """torch.cuda.stream: `stream` current on its device, the previous stream restored on exit
        (also when the block raises)."""
        return torch.cuda.stream(stream)

    def event(self):
        return torch.cuda.Event(enable_timing=True)

    def synchronize(self, device: torch.device) -> None:
        torch.cuda.synchronize(device)

    def new_graph(self):
        return torch.cuda.CUDAGraph()

    def capture(self, graph, pool, stream):
        """torch.cuda.graph. Its __exit__ calls capture_end before it restores the stream, so a
        capture that fails there leaves `stream` current (capture_graphs restores it)."""
        return torch.cuda.graph(graph, pool=pool, stream=stream)

    def reset_peak_memory(self, device: torch.device) -> None:
        """The peak becomes what is allocated now (not zero)."""
        torch.cuda.reset_peak_memory_stats(device)

    def max_memory_allocated(self, device: torch.device) -> int:
        return torch.cuda.max_memory_allocated(device)

    def memory_allocated(self, device: torch.device) -> int:
        return torch.cuda.memory_allocated(device)

    def free_memory(self, device: torch.device) -> int:
        return torch.cuda.mem_get_info(device)[0]

    def empty_cache(self) -> None:
        torch.cuda.empty_cache()

    @property
    def oom_error(self) -> type[BaseException]:
        return torch.cuda.OutOfMemoryError

    def sensors(self, device: torch.device) -> dict[str, float | None] | None:
        """SM clock, temperature and power through torch's NVML mapping (which honours
        CUDA_VISIBLE_DEVICES), read only."""
        return read_sensors({"sm_clock_mhz": lambda: torch.cuda.clock_rate(device),
                             "temperature_c": lambda: torch.cuda.temperature(device),
                             "power_mw": lambda: torch.cuda.power_draw(device)})

    def profiler(self):
        """A profiler of CPU ops and CUDA kernels (each kernel linked to the op that launched it)."""
        from torch.profiler import ProfilerActivity, profile

        return profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA])


def read_sensors(readers: dict[str, Callable[[], float]]) -> dict[str, float | None] | None:
    """Each sensor read on its own: a board may lack one (NVML_ERROR_NOT_SUPPORTED for the power
    of some boards) and keep the others; None when none can be read (no nvidia-ml-py, no driver,
    a device CUDA_VISIBLE_DEVICES hides from NVML)."""
    errors: tuple[type[BaseException], ...] = (ImportError, RuntimeError, OSError, AttributeError, ValueError)
    with contextlib.suppress(ImportError):
        from pynvml import NVMLError

        errors += (NVMLError,)
    values: dict[str, float | None] = {}
    for name, read in readers.items():
        try:
            values[name] = read()
        except errors:
            values[name] = None
    return values if any(value is not None for value in values.values()) else None


def oom_errors(backend: TorchCuda, device: torch.device) -> tuple[type[BaseException], ...]:
    """What an allocation failure raises on `device` (torch.cuda.OutOfMemoryError is a RuntimeError)."""
    errors: tuple[type[BaseException], ...] = (torch.OutOfMemoryError,) if hasattr(torch, "OutOfMemoryError") else ()
    return errors + ((backend.oom_error,) if device.type == "cuda" else ())


def out_of_memory_in(error: BaseException, kinds: tuple[type[BaseException], ...]) -> BaseException | None:
    """The out-of-memory error behind `error`, if one is: itself, or one it was raised from or
    while handling (torch.compile wraps what it meets; torch.cuda.graph's capture_end raises
    while the body's error propagates)."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, kinds):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def _first_raised(error: BaseException) -> BaseException:
    """The first error of a chain (the body's, when capture_end raised while it propagated)."""
    seen = {id(error)}
    while (inner := error.__cause__ or error.__context__) is not None and id(inner) not in seen:
        seen.add(id(inner))
        error = inner
    return error


@contextlib.contextmanager
def cuda_numerics(tf32: bool) -> Iterator[None]:
    """cudnn.benchmark on and TF32 on or off for the timing only; every setting is put back exactly
    as found.

    Since torch 2.9 two APIs hold TF32 state: the legacy one (the float32 matmul precision behind
    torch.set_float32_matmul_precision and cuda.matmul.allow_tf32, and cuDNN's allow_tf32 flag)
    and fp32_precision per backend and operation. A legacy getter raises once the two disagree
    ("mix of the legacy and new APIs"), and inductor reads them while compiling (pytorch#166387),
    so inside the window both are set to agree; cuDNN RNNs follow the dtype as convolutions do."""
    if not hasattr(torch.backends.cudnn, "conv"):  # torch < 2.9: the allow_tf32 flags only
        with _legacy_numerics(tf32):
            yield
        return
    saved = _NewNumerics.save()
    try:
        torch.backends.cudnn.benchmark = True
        value = "tf32" if tf32 else "ieee"
        torch.set_float32_matmul_precision("high" if tf32 else "highest")  # legacy + both matmul maps
        torch.backends.cudnn.allow_tf32 = tf32
        for owner in (torch.backends.cuda.matmul, torch.backends.cudnn.conv, torch.backends.cudnn.rnn):
            owner.fp32_precision = value
        yield
    finally:
        saved.restore()


@contextlib.contextmanager
def _legacy_numerics(tf32: bool) -> Iterator[None]:
    owners = [(torch.backends.cuda.matmul, "allow_tf32"), (torch.backends.cudnn, "allow_tf32"),
              (torch.backends.cudnn, "benchmark")]
    saved = [getattr(owner, name) for owner, name in owners]
    try:
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cudnn.benchmark = True
        yield
    finally:
        for (owner, name), value in zip(owners, saved):
            setattr(owner, name, value)


_RAISES = "raises"


def _read(getter: Callable[[], Any]) -> Any:
    try:
        return getter()
    except RuntimeError:  # the two APIs disagree
        return _RAISES


def _legacy_readings() -> tuple:
    return (_read(torch.get_float32_matmul_precision), _read(lambda: torch.backends.cuda.matmul.allow_tf32),
            _read(lambda: torch.backends.cudnn.allow_tf32))


@dataclass(frozen=True)
class _NewNumerics:
    """torch >= 2.9's TF32 state: the legacy values (read, or where their getter raises, found as
    the value that makes it raise again) and every fp32_precision the legacy setters touch."""

    benchmark: bool
    matmul_precision: str
    cudnn_allow_tf32: bool
    maps: tuple[str, ...]

    @staticmethod
    def owners() -> list:
        """cuda.matmul, mkldnn.matmul (set_float32_matmul_precision sets it), cudnn.conv, cudnn.rnn."""
        return [torch.backends.cuda.matmul, torch.backends.mkldnn.matmul,
                torch.backends.cudnn.conv, torch.backends.cudnn.rnn]

    @classmethod
    def save(cls) -> "_NewNumerics":
        maps = tuple(owner.fp32_precision for owner in cls.owners())
        seen = _legacy_readings()
        matmul = seen[0] if seen[0] != _RAISES else cls._hidden(
            ("highest", "high", "medium"), torch.set_float32_matmul_precision, maps, seen)
        cudnn = seen[2] if seen[2] != _RAISES else cls._hidden(
            (True, False), lambda flag: setattr(torch.backends.cudnn, "allow_tf32", flag), maps, seen)
        return cls(torch.backends.cudnn.benchmark, matmul, cudnn, maps)

    @classmethod
    def _hidden(cls, candidates: tuple, setter: Callable, maps: tuple[str, ...], seen: tuple) -> Any:
        """The legacy value behind a raising getter: the candidate that, with the same
        fp32_precision settings, reads as found (torch 2.13 tells every case apart)."""
        for candidate in candidates:
            setter(candidate)
            cls._set_maps(maps)
            if _legacy_readings() == seen:
                return candidate
        return candidates[0]

    @classmethod
    def _set_maps(cls, maps: tuple[str, ...]) -> None:
        for owner, value in zip(cls.owners(), maps):
            owner.fp32_precision = value

    def restore(self) -> None:
        torch.backends.cudnn.benchmark = self.benchmark
        torch.set_float32_matmul_precision(self.matmul_precision)  # the legacy setters first: they
        torch.backends.cudnn.allow_tf32 = self.cudnn_allow_tf32  # also write fp32_precision
        self._set_maps(self.maps)


class CudaTimer:
    """One forward per call between two CUDA events on the device's current stream, plus the
    host's view of the same iteration: the time to issue it (launch-bound diagnosis) and the wall
    time until the whole device is idle again (events_vs_wall). Waiting for the device, not for the
    end event, is what exposes events on the wrong stream or device: their span would be empty
    while the wall time still holds the work. `after` runs once the device is idle, outside the
    events and the wall time (reading a training step's phase events)."""

    def __init__(self, backend: TorchCuda, device: torch.device, run: Callable[[int], Any],
                 flush: torch.Tensor | None = None, clock: Clock = time.perf_counter,
                 after: Callable[[], Any] | None = None):
        self.backend, self.device, self.run, self.flush, self.clock = backend, device, run, flush, clock
        self.after = after
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
        sample = Sample(self.start.elapsed_time(self.end), enqueue * 1000, wall * 1000)
        if self.after is not None:
            self.after()
        return sample


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


@dataclass
class Captured:
    """CUDA graphs, one per input buffer, their static outputs, and the peak allocated while they
    were captured: what replays use lives in the graphs' private pool, allocated during capture
    and only reserved afterwards, so replays allocate nothing the peak counter could see."""

    graphs: list
    outputs: list
    peak_bytes: int


def capture_graphs(backend: TorchCuda, device: torch.device, forward: Callable, inputs: list,
                   warmup: int = 3) -> Captured:
    """One CUDA graph per input buffer, captured on a side stream of `device` after a warm-up
    there (as CUDA graphs require), sharing one memory pool. A capture that fails (a model that
    synchronizes with the CPU, e.g. .item()) is a GcostError and CUDA stays usable, the device's
    stream as it was; running out of memory is raised as it is (a size problem, not the model's)."""
    stream = backend.new_stream(device)
    stream.wait_stream(backend.current_stream(device))
    with backend.use_stream(stream):
        for _ in range(warmup):
            forward(inputs[0])
    backend.current_stream(device).wait_stream(stream)
    backend.synchronize(device)
    backend.reset_peak_memory(device)  # from here: the weights, the inputs and what the captures allocate
    graphs: list = []
    outputs: list = []
    try:
        with backend.use_stream(stream):  # restores the stream where a failed capture_end does not
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
        oom = out_of_memory_in(e, oom_errors(backend, device))
        if oom is not None:
            raise oom from None
        reason = first_line(_first_raised(e), 200) or type(e).__name__
        raise GcostError(f"--cuda-graph: capture failed ({reason}); the model probably syncs "
                         "with the CPU (.item(), data-dependent shapes): time it without --cuda-graph") from None
    return Captured(graphs, outputs, backend.max_memory_allocated(device))


GRAPH_TOLERANCE = {"fp32": 1e-4, "tf32": 1e-2, "fp16": 1e-2, "bf16": 2e-2}


def output_difference(replayed: torch.Tensor, eager: torch.Tensor) -> float:
    """The largest |replayed - eager| over the eager output's largest finite magnitude (at least
    1); infinite where one holds NaN or an infinity the other does not, or the shapes differ.
    Never NaN: `NaN > tolerance` is False and would pass any check."""
    if replayed.shape != eager.shape:
        return math.inf
    if not eager.numel():
        return 0.0
    a, b = replayed.detach().float(), eager.detach().float()
    same = (a == b) | (a.isnan() & b.isnan())
    difference = (a - b).abs().masked_fill(same, 0.0).nan_to_num(nan=math.inf, posinf=math.inf)
    finite = b[b.isfinite()]
    scale = max(float(finite.abs().max()), 1.0) if finite.numel() else 1.0
    return float(difference.max()) / scale


def check_graph_outputs(backend: TorchCuda, device: torch.device, forward: Callable, inputs: list,
                        graphs: list, outputs: list, dtype: str) -> float | None:
    """Replay each graph and run the same input eagerly; the largest difference relative to the
    output's scale, or None when the model returns no tensors. A mismatch (NaN included) is a
    GcostError: graph timings are reported only for graphs that compute what the model computes."""
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
            difference = output_difference(a, b)
            worst = difference if worst is None else max(worst, difference)
    allowed = GRAPH_TOLERANCE.get(dtype, 1e-2)
    if worst is not None and not worst <= allowed:
        found = ("NaN or infinity where the eager forward has none (or another shape)" if math.isinf(worst)
                 else f"a difference of {worst:.2g} of the output's scale")
        raise GcostError(f"--cuda-graph: the replayed graph's output differs from the eager forward "
                         f"({found}; allowed {allowed:g} for {dtype}): the model is not capturable "
                         "as it is; time it without --cuda-graph")
    return worst
