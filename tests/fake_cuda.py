"""A fake CUDA backend: the TorchCuda interface (googlenet_cost/timing/cuda.py) simulated on the
CPU, so every CUDA branch's control flow runs in the normal suite.

The simulation is a host clock plus, per device, streams with a "busy until" time. A model made by
`FakeGpuModel` launches work of a given duration on the current stream of the current device;
events record when their stream reaches them; synchronizing a device waits for all its streams.
So events on the wrong stream or device time nothing while the wall time still holds the work,
as on a real GPU. Tensors stay on the CPU (tensor_device)."""
from __future__ import annotations

import contextlib
import itertools

import torch
from torch import nn

LAUNCH_MS = 0.01  # host time to issue one kernel
REPLAY_MS = 0.002  # host time to replay a whole graph


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
    def __init__(self, cuda: "FakeCuda"):
        self.cuda, self.at = cuda, None

    def record(self, stream: FakeStream | None = None) -> None:
        stream = stream or self.cuda.current_stream(self.cuda.current_device)
        self.cuda.clock.advance_ms(LAUNCH_MS / 10)
        self.at = max(stream.busy_until, self.cuda.clock.now)
        self.cuda.log.append(("record", stream.device))

    def synchronize(self) -> None:
        self.cuda.clock.now = max(self.cuda.clock.now, self.at)

    def elapsed_time(self, end: "FakeEvent") -> float:
        if self.at is None or end.at is None or end.at > self.cuda.clock.now:
            raise RuntimeError("elapsed_time on an event that has not completed")
        return (end.at - self.at) * 1000


class FakeGraph:
    def __init__(self, cuda: "FakeCuda"):
        self.cuda, self.work_ms, self.captured = cuda, 0.0, False

    def pool(self):
        return ("pool", id(self))

    def replay(self) -> None:
        if not self.captured:
            raise RuntimeError("replay of a graph that was never captured")
        self.cuda.clock.advance_ms(REPLAY_MS)
        self.cuda.enqueue(self.work_ms)
        self.cuda.replays += 1


class FakeCuda:
    """The same methods as TorchCuda (a test checks the signatures match)."""

    def __init__(self, devices: int = 1, name: str = "NVIDIA H100 80GB HBM3", free_bytes: int = 80 * 2**30,
                 peak_bytes: int = 3 * 2**30, sensors: dict | None = None):
        self.clock = FakeClock()
        self.devices, self.name, self.free_bytes, self.peak_bytes = devices, name, free_bytes, peak_bytes
        self._sensors = sensors if sensors is not None else {"sm_clock_mhz": 1980, "temperature_c": 40,
                                                             "power_mw": 300_000}
        self.current_device = 0
        self._default = {d: FakeStream(d) for d in range(devices)}
        self._current = dict(self._default)
        self._streams = list(self._default.values())  # every stream made, for device-wide syncs
        self.capturing: FakeGraph | None = None
        self.log: list = []  # (what, device) in call order
        self.launches: list[int] = []  # the device of every launch
        self.replays = 0
        self.empty_cache_calls = 0

    # what FakeGpuModel calls
    def enqueue(self, ms: float) -> None:
        if self.capturing is not None:
            self.capturing.work_ms += ms
            return
        stream = self._current[self.current_device]
        stream.busy_until = max(stream.busy_until, self.clock.now) + ms / 1000
        self.launches.append(self.current_device)

    def launch(self, ms: float) -> None:
        self.clock.advance_ms(LAUNCH_MS)
        self.enqueue(ms)

    # the TorchCuda interface
    def is_available(self) -> bool:
        return True

    def device_count(self) -> int:
        return self.devices

    def device_name(self, device: torch.device) -> str:
        return self.name

    def tensor_device(self, device: torch.device) -> torch.device:
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

    @contextlib.contextmanager
    def use_stream(self, stream: FakeStream):
        previous, self._current[stream.device] = self._current[stream.device], stream
        try:
            yield
        finally:
            self._current[stream.device] = previous

    def event(self):
        return FakeEvent(self)

    def synchronize(self, device: torch.device) -> None:
        if self.capturing is not None:
            raise RuntimeError("CUDA error: operation not permitted when stream is capturing")
        index = device.index
        self.clock.now = max([self.clock.now] + [s.busy_until for s in self._streams if s.device == index])
        self.log.append(("synchronize", index))

    def new_graph(self):
        return FakeGraph(self)

    @contextlib.contextmanager
    def capture(self, graph: FakeGraph, pool, stream: FakeStream):
        self.log.append(("capture", stream.device))
        with self.use_stream(stream):
            self.capturing = graph
            try:
                yield
            finally:
                self.capturing = None
        graph.captured = True

    def reset_peak_memory(self, device: torch.device) -> None:
        self.log.append(("reset_peak", device.index))

    def max_memory_allocated(self, device: torch.device) -> int:
        return self.peak_bytes

    def free_memory(self, device: torch.device) -> int:
        return self.free_bytes

    def empty_cache(self) -> None:
        self.empty_cache_calls += 1

    @property
    def oom_error(self) -> type[BaseException]:
        return FakeOutOfMemory

    def sensors(self, device: torch.device) -> dict[str, float] | None:
        return None if self._sensors is None else dict(self._sensors)

    def profiler_activities(self) -> list:
        from torch.profiler import ProfilerActivity

        return [ProfilerActivity.CPU]


class FakeGpuModel(nn.Module):
    """A tiny real network whose every forward also launches `ms` of simulated GPU work (one
    kernel per conv), on whatever stream and device is current."""

    def __init__(self, cuda: FakeCuda, ms: float = 5.0, *, sync_in_forward: bool = False,
                 drift_output: bool = False, oom_at_batch: int | None = None):
        super().__init__()
        self.cuda, self.ms = cuda, ms
        self.sync_in_forward, self.drift_output, self.oom_at_batch = sync_in_forward, drift_output, oom_at_batch
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1))
        self.calls = itertools.count()

    def forward(self, x):
        if self.oom_at_batch is not None and x.shape[0] >= self.oom_at_batch:
            raise FakeOutOfMemory("CUDA out of memory. Tried to allocate 20.00 GiB")
        for _ in range(2):
            self.cuda.launch(self.ms / 2)
        if self.sync_in_forward:
            self.cuda.synchronize(torch.device("cuda", self.cuda.current_device))
        y = self.features(x)
        return y + next(self.calls) if self.drift_output else y


def fake_target(cuda: FakeCuda, **model_options):
    from googlenet_cost.timing.measure import TimingTarget

    return TimingTarget(name="fake", make_model=lambda device: FakeGpuModel(cuda, **model_options),
                        input_shape=(3, 8, 8), params=0, activation_sizes=(256,))


def matmul_precision() -> str:
    """torch's TF32 setting for float32 matrix products as "tf32" or "ieee" (either API)."""
    if hasattr(torch.backends.cudnn, "conv"):  # torch >= 2.9
        return torch.backends.cuda.matmul.fp32_precision
    return "tf32" if torch.backends.cuda.matmul.allow_tf32 else "ieee"


class FakeKernels:
    """The peaks measurement's kernels (googlenet_cost/roofline/peaks.py Kernels) on the fake GPU:
    each runs the real operation on the CPU and launches, on the current stream of the current
    device, the simulated work a device of `flops_per_s` and `bytes_per_s` would need for it. So
    a measurement that times the wrong stream or device, or reads events before synchronizing,
    reports other peaks than these. It records torch's TF32 setting during every product."""

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

    def _rate(self, kernel: str) -> float:
        return self.bytes_per_s / 2 if kernel == self.slow else self.bytes_per_s
