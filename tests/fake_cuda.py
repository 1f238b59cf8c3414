"""A fake CUDA backend: the TorchCuda interface (googlenet_cost/timing/cuda.py) simulated on the
CPU, so every CUDA branch's control flow runs in the normal suite.

The simulation is a host clock plus, per device, streams with a "busy until" time. A model made by
`FakeGpuModel` launches work of a given duration on the current stream of the device its tensors
were placed on; events record when their stream reaches them; synchronizing a device waits for all
its streams. So events on the wrong stream or device time nothing while the wall time still holds
the work, as on a real GPU. Tensors stay on the CPU (tensor_device).

It is as strict as CUDA (torch 2.13, read in torch/cuda/{__init__,graphs,streams,memory}.py and
torch/autograd/profiler.py) where the timing code depends on it:
- work follows the tensors: a model's kernels go to the current stream of the device it was
  placed on, not of the current device;
- events are tied to the device of their first record; elapsed_time needs enable_timing on both,
  one device, both recorded and both completed;
- a synchronize costs host time (SYNC_MS) and, during a capture, fails and invalidates it;
- graphs as torch.cuda.graph makes them: __enter__ synchronizes and empties the cache, makes the
  stream current (torch.cuda.set_stream also makes its device current) and refuses a default
  stream; a shape's first run during a capture (cudnn.benchmark's autotuning synchronizes) or any
  synchronize invalidates the capture, and __exit__'s capture_end then raises *before* the stream
  is restored; static outputs hold NaN until a replay writes them; a replay reads its captured
  input's current contents;
- the caching allocator's statistics per device: allocated, peak and reserved bytes;
  reset_peak_memory makes the peak what is allocated now; what a capture allocates comes from the
  graph's private pool: allocated during the capture, then reserved (not allocated) while a graph
  holds the pool, and replays allocate nothing;
- the profiler: every kernel is a device event whose correlation id links it to the CPU event
  that launched it, joined as torch's profiler joins them, and every record_function range has a
  GPU-side span of the same name;
- sensors read through the real backend's error policy (cuda.read_sensors) from readers that fail
  as NVML does.
The fake cannot see what torch allocates (gcost's inputs, the flush buffer): `allocated_bytes`
stands for it."""
from __future__ import annotations

import contextlib
import itertools
import weakref
from dataclasses import dataclass, field

import torch
from torch import nn

LAUNCH_MS = 0.01  # host time to issue one kernel
REPLAY_MS = 0.002  # host time to replay a whole graph
SYNC_MS = 0.005  # host time to return from a synchronize once the device is idle
LAUNCH_EVENT = "fake::launch#"  # the CPU event of a kernel launch (cudaLaunchKernel), numbered


class FakeOutOfMemory(RuntimeError):
    pass


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance_ms(self, ms: float) -> None:
        self.now += ms / 1000


class FakeStream:
    def __init__(self, device: int):
        self.device = device
        self.busy_until = 0.0

    def wait_stream(self, other: "FakeStream") -> None:
        self.busy_until = max(self.busy_until, other.busy_until)


class FakeEvent:
    def __init__(self, cuda: "FakeCuda", enable_timing: bool = False):  # torch's default: no timing
        self.cuda, self.enable_timing = cuda, enable_timing
        self.device: int | None = None  # fixed by the first record
        self.at: float | None = None

    def record(self, stream: FakeStream | None = None) -> None:
        stream = stream or self.cuda.current_stream(self.cuda.current_device)
        if self.device is not None and self.device != stream.device:
            raise RuntimeError(f"Event device {self.device} does not match recording stream's device {stream.device}.")
        self.cuda.refuse_while_capturing(stream, "recording a timing event")
        self.device = stream.device
        self.cuda.clock.advance_ms(LAUNCH_MS / 10)
        self.at = max(stream.busy_until, self.cuda.clock.now)
        self.cuda.log.append(("record", stream.device))

    def synchronize(self) -> None:
        self.cuda.clock.now = max(self.cuda.clock.now, self.at) + SYNC_MS / 1000

    def elapsed_time(self, end: "FakeEvent") -> float:
        if not (self.enable_timing and end.enable_timing):
            raise RuntimeError("CUDA error: invalid resource handle (an event created without enable_timing=True)")
        if self.at is None or end.at is None:
            raise RuntimeError("Both events must be recorded before calculating elapsed time.")
        if self.device != end.device:
            raise RuntimeError("CUDA error: invalid resource handle (events of two devices)")
        if max(self.at, end.at) > self.cuda.clock.now:
            raise RuntimeError("Both events must be completed before calculating elapsed time.")
        return (end.at - self.at) * 1000


class FakePool:
    """A graph's private memory pool: what its captures allocated stays reserved for replays."""

    def __init__(self, device: int):
        self.device, self.in_use, self.reserved = device, 0, 0


@dataclass
class DeviceMemory:
    """The caching allocator's statistics of one device."""

    allocated: int = 0
    peak: int = 0
    cached: int = 0  # freed blocks kept by the allocator: reserved, not allocated
    pools: weakref.WeakSet = field(default_factory=weakref.WeakSet)  # alive while a graph holds them

    @property
    def reserved(self) -> int:
        in_pools = sum(pool.in_use for pool in self.pools)
        return self.allocated - in_pools + self.cached + sum(pool.reserved for pool in self.pools)


class FakeGraph:
    def __init__(self, cuda: "FakeCuda"):
        self.cuda, self.work_ms, self.captured, self.invalidated = cuda, 0.0, False, False
        self.memory_pool: FakePool | None = None
        self.stream: FakeStream | None = None
        self.writes: list = []  # what replays compute into the static outputs

    def pool(self):
        if self.memory_pool is None:
            raise RuntimeError("pool() of a graph that has not been captured")
        return self.memory_pool

    def on_replay(self, write) -> None:
        self.writes.append(write)

    def replay(self) -> None:
        if not self.captured:
            raise RuntimeError("replay of a graph that was never captured")
        cuda = self.cuda
        cuda.clock.advance_ms(REPLAY_MS)
        cuda.run_on(cuda.current_stream(self.stream.device), self.work_ms)  # CUDAGraph::replay guards its device
        with cuda.replaying():
            for write in self.writes:
                write()
        cuda.replays += 1


class FakeCapture:
    """torch.cuda.graph(graph, pool=pool, stream=stream), step by step (torch/cuda/graphs.py)."""

    def __init__(self, cuda: "FakeCuda", graph: FakeGraph, pool: FakePool | None, stream: FakeStream):
        self.cuda, self.graph, self.pool, self.stream = cuda, graph, pool, stream

    def __enter__(self) -> None:
        cuda, graph = self.cuda, self.graph
        cuda.synchronize(torch.device("cuda", cuda.current_device))  # torch.cuda.synchronize()
        cuda.empty_cache()
        self.stream_context = cuda.use_stream(self.stream)
        self.stream_context.__enter__()
        # capture_begin
        if self.stream is cuda.default_stream(self.stream.device):
            raise RuntimeError("CUDA graphs must be captured on a non-default stream. (However, after capture, "
                               "it's ok to replay them on the default stream.)")
        graph.memory_pool = self.pool or FakePool(self.stream.device)
        cuda.memory[self.stream.device].pools.add(graph.memory_pool)
        graph.stream = self.stream
        cuda.capturing = graph
        cuda.log.append(("capture", self.stream.device))

    def __exit__(self, *exc) -> None:
        cuda, graph = self.cuda, self.graph
        # capture_end: raises before the stream is restored
        if cuda.current_stream(cuda.current_device) is not graph.stream:
            raise RuntimeError("Capture must end on the same stream it began on.")
        cuda.capturing = None
        if graph.invalidated:
            raise RuntimeError("CUDA error: operation failed due to a previous error during capture")
        graph.captured = True
        self.stream_context.__exit__(*exc)


class FakeStreamContext:
    """torch.cuda.StreamContext: the stream made current with torch.cuda.set_stream (which makes
    its device current too), the previous streams set back on exit."""

    def __init__(self, cuda: "FakeCuda", stream: FakeStream):
        self.cuda, self.stream = cuda, stream

    def __enter__(self) -> None:
        cuda = self.cuda
        self.source_previous = cuda.current_stream(cuda.current_device)
        if self.source_previous.device != self.stream.device:
            self.destination_previous = cuda.current_stream(self.stream.device)
        cuda.set_stream(self.stream)

    def __exit__(self, *exc) -> None:
        if self.source_previous.device != self.stream.device:
            self.cuda.set_stream(self.destination_previous)
        self.cuda.set_stream(self.source_previous)


class FakeProfile:
    """torch.profiler.profile(activities=[CPU, CUDA]) on the fake device. The CPU side is torch's
    own CPU profiler; each fake kernel launched inside it is a CPU launch event (as cudaLaunchKernel
    is) and a device-side kernel event whose linked correlation id is the launch's id, joined as
    torch's _parse_kineto_results joins them (the kernel appended to the CPU event, so a range's
    device_time_total holds its children's kernels); each record_function range that launched
    kernels also has a GPU-side span of the same name, as kineto's gpu_user_annotation."""

    def __init__(self, cuda: "FakeCuda"):
        self.cuda = cuda
        self.kernels: list[tuple[str, int, float, float]] = []  # launch event name, device, start, end (us)

    def __enter__(self) -> "FakeProfile":
        from torch.profiler import ProfilerActivity, profile

        self._cpu = profile(activities=[ProfilerActivity.CPU])
        self._cpu.__enter__()
        self.cuda.profiling = self
        return self

    def __exit__(self, *exc):
        self.cuda.profiling = None
        return self._cpu.__exit__(*exc)

    def events(self):
        from torch.autograd import DeviceType
        from torch.autograd.profiler_util import EventList, FunctionEvent

        cpu = list(self._cpu.events())
        for event in cpu:
            event.use_device = "cuda"
        launches = {event.name: event for event in cpu if event.name.startswith(LAUNCH_EVENT)}
        ids = itertools.count(max((event.id for event in cpu), default=0) + 1)

        def device_event(name, device, start, end, **extra):
            return FunctionEvent(id=next(ids), name=name, thread=0, start_us=start, end_us=end, use_device="cuda",
                                 device_type=DeviceType.CUDA, device_index=device, **extra)

        kernels = [device_event("fake_kernel", device, start, end, linked_correlation_id=launches[name].id)
                   for name, device, start, end in self.kernels]
        by_correlation = {event.id: event for event in cpu if event.linked_correlation_id == 0}
        for kernel in kernels:
            by_correlation[kernel.linked_correlation_id].append_kernel(kernel.name, kernel.device_index,
                                                                       kernel.time_range.elapsed_us())
        launched = {kernel.linked_correlation_id: kernel for kernel in kernels}
        spans = []
        for event in cpu:
            if event.is_user_annotation and not event.name.startswith(LAUNCH_EVENT):
                inside = [launched[e.id] for e in _descendants(event) if e.id in launched]
                if inside:
                    spans.append(device_event(event.name, inside[0].device_index,
                                              min(k.time_range.start for k in inside),
                                              max(k.time_range.end for k in inside), is_user_annotation=True))
        return EventList(cpu + kernels + spans, use_device="cuda")


def _descendants(event):
    for child in event.cpu_children:
        yield child
        yield from _descendants(child)


class FakeCuda:
    """The same methods as TorchCuda (a test checks the signatures match)."""

    def __init__(self, devices: int = 1, name: str = "NVIDIA H100 80GB HBM3", free_bytes: int = 80 * 2**30,
                 allocated_bytes: dict[int, int] | None = None, sensors: dict | None = None,
                 sensor_errors: dict[str, BaseException] | None = None):
        self.clock = FakeClock()
        self.devices, self.name, self.free_bytes = devices, name, free_bytes
        self._sensors = sensors if sensors is not None else {"sm_clock_mhz": 1980, "temperature_c": 40,
                                                             "power_mw": 300_000}
        self.nvml = True  # False: nvidia-ml-py is not installed
        self.sensor_errors = sensor_errors or {}  # a sensor's name -> what reading it raises
        self.current_device = 0
        self.placement: int | None = None  # the device tensors were last placed on (tensor_device)
        self._default = {d: FakeStream(d) for d in range(devices)}
        self._current = dict(self._default)
        self._streams = list(self._default.values())  # every stream made, for device-wide syncs
        self.memory = {d: DeviceMemory() for d in range(devices)}
        for device, size in (allocated_bytes or {}).items():
            self.allocate(device, size)
        self.capturing: FakeGraph | None = None
        self.profiling: FakeProfile | None = None
        self._replaying = False
        self._launch_numbers = itertools.count()
        self.log: list = []  # (what, device) in call order
        self.launches: list[int] = []  # the device of every launch
        self.replays = 0
        self.empty_cache_calls = 0

    # what fake models and kernels call
    def launch(self, ms: float, device: int | None = None) -> None:
        """Issue one kernel of `ms` on the current stream of `device` (default: the device tensors
        were placed on, else the current one)."""
        if self._replaying:
            return  # a replay runs the captured kernels, not the Python that launched them
        device = self._device_of_work(device)
        self.clock.advance_ms(LAUNCH_MS)
        if self.profiling is None:
            self.enqueue(ms, device)
            return
        from torch.profiler import record_function

        name = f"{LAUNCH_EVENT}{next(self._launch_numbers)}"
        with record_function(name):
            start = self.enqueue(ms, device)
        if start is not None:
            self.profiling.kernels.append((name, device, start * 1e6, start * 1e6 + ms * 1000))

    def enqueue(self, ms: float, device: int | None = None) -> float | None:
        """`ms` of work on the current stream of `device`: into the graph being captured on that
        stream, else run; when it starts (seconds), None when captured."""
        stream = self._current[self._device_of_work(device)]
        if self.capturing is not None and self.capturing.stream is stream:
            self.capturing.work_ms += ms
            return None
        return self.run_on(stream, ms)

    def run_on(self, stream: FakeStream, ms: float) -> float:
        start = max(stream.busy_until, self.clock.now)
        stream.busy_until = start + ms / 1000
        self.launches.append(stream.device)
        return start

    def capturing_on(self, device: int) -> FakeGraph | None:
        """The graph that work on `device`'s current stream goes into, if a capture is running there."""
        graph = self.capturing
        return graph if graph is not None and self._current[device] is graph.stream else None

    def refuse_while_capturing(self, stream: FakeStream | None, what: str) -> None:
        """What CUDA forbids during a capture (global mode) fails and invalidates it."""
        if self.capturing is not None and (stream is None or stream is self.capturing.stream):
            self.capturing.invalidated = True
            raise RuntimeError(f"CUDA error: operation not permitted when stream is capturing ({what})")

    def allocate(self, device: int, size: int, pool: FakePool | None = None) -> None:
        memory = self.memory[device]
        memory.allocated += size
        memory.peak = max(memory.peak, memory.allocated)
        if pool is not None:
            pool.in_use += size
            pool.reserved = max(pool.reserved, pool.in_use)
        else:
            memory.cached = max(0, memory.cached - size)

    def free(self, device: int, size: int, pool: FakePool | None = None) -> None:
        memory = self.memory[device]
        memory.allocated -= size
        if pool is not None:
            pool.in_use -= size
        else:
            memory.cached += size

    def set_stream(self, stream: FakeStream) -> None:
        """torch.cuda.set_stream: the stream's device becomes current too."""
        self.current_device = stream.device
        self._current[stream.device] = stream

    def default_stream(self, device: int) -> FakeStream:
        return self._default[device]

    @contextlib.contextmanager
    def replaying(self):
        self._replaying = True
        try:
            yield
        finally:
            self._replaying = False

    def _device_of_work(self, device: int | None) -> int:
        if device is not None:
            return device
        return self.placement if self.placement is not None else self.current_device

    # the TorchCuda interface
    def is_available(self) -> bool:
        return True

    def device_count(self) -> int:
        return self.devices

    def device_name(self, device: torch.device) -> str:
        return self.name

    def tensor_device(self, device: torch.device) -> torch.device:
        self.placement = device.index
        return torch.device("cpu")

    @contextlib.contextmanager
    def use_device(self, device: torch.device):
        previous, self.current_device = self.current_device, device.index
        try:
            yield
        finally:
            self.current_device = previous

    def current_stream(self, device: torch.device | int):
        return self._current[device if isinstance(device, int) else device.index]

    def new_stream(self, device: torch.device):
        self._streams.append(FakeStream(device.index))
        return self._streams[-1]

    def use_stream(self, stream: FakeStream):
        return FakeStreamContext(self, stream)

    def event(self):
        self.log.append(("event", self.current_device))
        return FakeEvent(self, enable_timing=True)

    def synchronize(self, device: torch.device) -> None:
        self.refuse_while_capturing(None, "synchronize")
        index = device.index
        self.clock.now = max([self.clock.now] + [s.busy_until for s in self._streams if s.device == index])
        self.clock.advance_ms(SYNC_MS)
        self.log.append(("synchronize", index))

    def new_graph(self):
        return FakeGraph(self)

    def capture(self, graph: FakeGraph, pool, stream: FakeStream):
        return FakeCapture(self, graph, pool, stream)

    def reset_peak_memory(self, device: torch.device) -> None:
        memory = self.memory[device.index]
        memory.peak = memory.allocated
        self.log.append(("reset_peak", device.index))

    def max_memory_allocated(self, device: torch.device) -> int:
        return self.memory[device.index].peak

    def memory_allocated(self, device: torch.device) -> int:
        return self.memory[device.index].allocated

    def free_memory(self, device: torch.device) -> int:
        return self.free_bytes - self.memory[device.index].reserved

    def empty_cache(self) -> None:
        for memory in self.memory.values():
            memory.cached = 0
        self.empty_cache_calls += 1

    @property
    def oom_error(self) -> type[BaseException]:
        return FakeOutOfMemory

    def sensors(self, device: torch.device) -> dict[str, float | None] | None:
        from googlenet_cost.timing.cuda import read_sensors

        self.log.append(("sensors", device.index))
        return read_sensors({name: self._sensor_reader(name) for name in ("sm_clock_mhz", "temperature_c", "power_mw")})

    def _sensor_reader(self, name: str):
        def read():
            if name in self.sensor_errors:
                raise self.sensor_errors[name]
            if not self.nvml:
                raise ModuleNotFoundError("nvidia-ml-py does not seem to be installed or it can't be imported.")
            return self._sensors[name]

        return read

    def profiler(self):
        return FakeProfile(self)


class FakeConv(nn.Conv2d):
    """A convolution that also launches `ms` of simulated GPU work on its model's device."""

    def __init__(self, cuda: FakeCuda, device: int, ms: float, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.cuda, self.device_index, self.ms = cuda, device, ms

    def forward(self, x):
        self.cuda.launch(self.ms, self.device_index)
        return super().forward(x)


class FakeGpuModel(nn.Module):
    """A tiny real network whose every forward also launches `ms` of simulated GPU work (one
    kernel per conv) on the current stream of the device it was placed on, allocating
    `activation_bytes` there while it runs (`weight_bytes` for as long as it lives)."""

    def __init__(self, cuda: FakeCuda, ms: float = 5.0, *, sync_in_forward: bool = False,
                 drift_output: bool = False, oom_at_batch: int | None = None, oom_in_capture: bool = False,
                 uninitialized_read: bool = False, activation_bytes: int = 2**20, weight_bytes: int = 0):
        super().__init__()
        self.cuda, self.ms = cuda, ms
        self.device_index = cuda.placement if cuda.placement is not None else cuda.current_device
        self.sync_in_forward, self.drift_output, self.oom_at_batch = sync_in_forward, drift_output, oom_at_batch
        self.oom_in_capture, self.uninitialized_read = oom_in_capture, uninitialized_read
        self.activation_bytes = activation_bytes
        self.features = nn.Sequential(FakeConv(cuda, self.device_index, ms / 2, 3, 4, 3, padding=1), nn.ReLU(),
                                      FakeConv(cuda, self.device_index, ms / 2, 4, 4, 3, padding=1))
        self.calls = itertools.count()
        self.warmed: set[tuple[int, ...]] = set()  # input shapes run outside a capture (autotuned)
        if weight_bytes:
            cuda.allocate(self.device_index, weight_bytes)
            weakref.finalize(self, cuda.free, self.device_index, weight_bytes)

    def forward(self, x):
        cuda, device = self.cuda, self.device_index
        if self.oom_at_batch is not None and x.shape[0] >= self.oom_at_batch:
            raise FakeOutOfMemory("CUDA out of memory. Tried to allocate 20.00 GiB")
        graph = cuda.capturing_on(device)
        if graph is not None and self.oom_in_capture:
            raise FakeOutOfMemory("CUDA out of memory. Tried to allocate 2.00 GiB")
        if graph is not None and tuple(x.shape) not in self.warmed:
            cuda.refuse_while_capturing(None, "cudnn.benchmark autotuning a shape not run before the capture")
        if self.sync_in_forward:
            cuda.synchronize(torch.device("cuda", device))
        pool = None if graph is None else graph.memory_pool
        cuda.allocate(device, self.activation_bytes, pool)
        try:
            y = self._compute(x)
        finally:
            cuda.free(device, self.activation_bytes, pool)
        if graph is None:
            self.warmed.add(tuple(x.shape))
            return y
        static = torch.full_like(y, float("nan"))  # the captured kernels have not written it yet
        if not self.uninitialized_read:
            graph.on_replay(lambda: self._write(static, x))
        return static

    def _compute(self, x):
        y = self.features(x)
        return y + next(self.calls) if self.drift_output else y

    def _write(self, static, x) -> None:
        with torch.inference_mode():
            static.copy_(self._compute(x))


def fake_target(cuda: FakeCuda, *, dtype: str = "fp32", step_optimizer: str | None = None, **model_options):
    """The fake model to time at `dtype`: its forward, or a training step with `step_optimizer`."""
    from googlenet_cost.timing.measure import TimingTarget

    return TimingTarget(name="fake", make_model=lambda device: FakeGpuModel(cuda, **model_options),
                        inputs=(3, 8, 8), params=0, activation_sizes=(256,), dtype=dtype, depth=None,
                        step_optimizer=step_optimizer)


def matmul_precision() -> str:
    """torch's TF32 setting for float32 matrix products as "tf32" or "ieee" (either API)."""
    if hasattr(torch.backends.cudnn, "conv"):  # torch >= 2.9
        return torch.backends.cuda.matmul.fp32_precision
    return "tf32" if torch.backends.cuda.matmul.allow_tf32 else "ieee"


class FakeKernels:
    """The peaks measurement's kernels (googlenet_cost/roofline/peaks.py Kernels) on the fake GPU:
    each runs the real operation on the CPU and launches, on the current stream of the device the
    tensors were placed on, the simulated work a device of `flops_per_s` and `bytes_per_s` would
    need for it. So a measurement that times the wrong stream or device, or reads events before
    synchronizing, reports other peaks than these. It records torch's TF32 setting during every product."""

    def __init__(self, cuda: FakeCuda, flops_per_s: float, bytes_per_s: float, slow: str | None = None):
        self.cuda, self.flops_per_s, self.bytes_per_s = cuda, flops_per_s, bytes_per_s
        self.slow = slow  # "copy" or "triad": that kernel moves its bytes at half bytes_per_s
        self.precisions: list[str] = []  # matmul_precision() during each product
        self.calls: list[str] = []

    def matmul(self, a, b, out) -> None:
        torch.mm(a, b, out=out)
        self.precisions.append(matmul_precision())
        self.calls.append("matmul")
        self.cuda.launch(2 * a.shape[0] * a.shape[1] * b.shape[1] / self.flops_per_s * 1000)

    def copy(self, out, a) -> None:
        out.copy_(a)
        self.calls.append("copy")
        self.cuda.launch(2 * a.numel() * a.element_size() / self._rate("copy") * 1000)

    def triad(self, out, a, b, scalar: float) -> None:
        torch.add(a, b, alpha=scalar, out=out)
        self.calls.append("triad")
        self.cuda.launch(3 * a.numel() * a.element_size() / self._rate("triad") * 1000)

    def operator(self, call, flops: float, moved: float) -> None:
        """One operator of the operator rates (opbench): run for real, and the simulated device busy
        for its FLOPs at flops_per_s or its bytes at bytes_per_s, whichever is longer."""
        call()
        self.calls.append("operator")
        self.cuda.launch(max(flops / self.flops_per_s, moved / self.bytes_per_s) * 1000)

    def _rate(self, kernel: str) -> float:
        return self.bytes_per_s / 2 if kernel == self.slow else self.bytes_per_s
