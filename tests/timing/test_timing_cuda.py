"""Every CUDA branch of the timing code, run on the CPU against the fake backend
(tests/fake_cuda.py), plus checks that the real backend calls torch names that exist in the
installed torch with arguments their signatures accept, and that the fake is as strict as CUDA
where the timing code depends on it (issue 24)."""
from __future__ import annotations

import inspect
import json
import math

import pytest
import torch

from googlenet_cost.errors import GcostError
from googlenet_cost.timing import cuda as cuda_module
from googlenet_cost.timing.cuda import TorchCuda
from googlenet_cost.timing.loop import LoopLimits
from googlenet_cost.timing.measure import TimingOptions, measure_interleaved, measure_latency, resolve_device
from googlenet_cost.timing.stats import GpuState, Sensors
from tests.fake_cuda import SYNC_MS, FakeCuda, FakeEvent, FakeGpuModel, FakeOutOfMemory, fake_target

FAST = LoopLimits(warmup_min_iters=3, warmup_min_s=0.0, min_iters=12, min_time_s=0.0)


def time_fake(cuda: FakeCuda, target=None, **options):
    options.setdefault("limits", FAST)
    results = measure_latency(target or fake_target(cuda), TimingOptions(**options), macs=1_000_000,
                              cuda=cuda, clock=cuda.clock)
    return results[0]  # one batch: its stats


# The real backend against the installed torch

def _public(cls) -> dict[str, inspect.Signature]:
    return {name: inspect.signature(member.fget if isinstance(member, property) else member)
            for name, member in vars(cls).items() if not name.startswith("_")}


def test_the_fake_backend_has_exactly_the_real_interface():
    from tests.fake_cuda import FakeCuda as Fake

    real, fake = _public(TorchCuda), _public(Fake)
    assert set(real) <= set(fake)
    for name, signature in real.items():
        assert list(signature.parameters) == list(fake[name].parameters), name


def strict_stub(monkeypatch, owner, name: str, result=None):
    """Replace owner.name (which must exist in the installed torch) by a recorder that accepts
    only calls the real signature binds."""
    real = getattr(owner, name)
    try:
        signature = inspect.signature(real)
    except (TypeError, ValueError):  # a C++ class without a Python signature
        signature = None
    calls = []

    def stub(*args, **kwargs):
        if signature is not None:
            signature.bind(*args, **kwargs)
        calls.append((args, kwargs))
        return result(*args, **kwargs) if callable(result) else result

    monkeypatch.setattr(owner, name, stub)
    return calls


def test_every_torch_cuda_call_of_the_real_backend_exists_and_binds(monkeypatch):
    device = torch.device("cuda", 1)
    stubs = {name: strict_stub(monkeypatch, torch.cuda, name, result)
             for name, result in [("is_available", True), ("device_count", 2), ("get_device_name", "GPU"),
                                  ("device", None), ("current_stream", "stream"), ("Stream", "side"),
                                  ("stream", None), ("Event", "event"), ("synchronize", None),
                                  ("CUDAGraph", "graph"), ("graph", None), ("reset_peak_memory_stats", None),
                                  ("max_memory_allocated", 7), ("memory_allocated", 3), ("mem_get_info", (5, 9)),
                                  ("empty_cache", None), ("clock_rate", 1500), ("temperature", 50),
                                  ("power_draw", 1000)]}
    profiles = strict_stub(monkeypatch, torch.profiler, "profile", "profile")
    backend = TorchCuda()
    assert backend.is_available() and backend.device_count() == 2 and backend.device_name(device) == "GPU"
    backend.use_device(device)
    assert backend.current_stream(device) == "stream" and backend.new_stream(device) == "side"
    backend.use_stream("side")
    assert backend.event() == "event" and stubs["Event"][0] == ((), {"enable_timing": True})
    backend.synchronize(device)
    assert backend.new_graph() == "graph"
    backend.capture("graph", pool=None, stream="side")
    backend.reset_peak_memory(device)
    assert backend.max_memory_allocated(device) == 7 and backend.free_memory(device) == 5
    assert backend.memory_allocated(device) == 3
    backend.empty_cache()
    assert issubclass(backend.oom_error, RuntimeError)
    assert backend.sensors(device) == {"sm_clock_mhz": 1500, "temperature_c": 50, "power_mw": 1000}
    assert backend.profiler() == "profile" and len(profiles[0][1]["activities"]) == 2
    assert all(calls for calls in stubs.values()), [name for name, calls in stubs.items() if not calls]
    assert stubs["device"][0][0] == (device,) and stubs["synchronize"][0][0] == (device,)


def test_sensors_are_none_without_nvml(monkeypatch):
    def missing(device=None):
        raise ModuleNotFoundError("nvidia-ml-py does not seem to be installed")

    for name in ("clock_rate", "temperature", "power_draw"):
        monkeypatch.setattr(torch.cuda, name, missing)
    assert TorchCuda().sensors(torch.device("cuda", 0)) is None


def test_a_sensor_the_board_lacks_is_null_and_the_others_are_read(monkeypatch):
    """NVML answers NOT_SUPPORTED for the power of some boards; the clock and temperature stand."""
    def not_supported(device=None):
        raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")  # pynvml.NVMLError when it is installed

    monkeypatch.setattr(torch.cuda, "clock_rate", lambda device=None: 1500)
    monkeypatch.setattr(torch.cuda, "temperature", lambda device=None: 50)
    monkeypatch.setattr(torch.cuda, "power_draw", not_supported)
    assert TorchCuda().sensors(torch.device("cuda", 0)) == {"sm_clock_mhz": 1500, "temperature_c": 50,
                                                             "power_mw": None}


def _precision_state() -> dict:
    """Every TF32-related setting as read through both APIs (a read that raises is recorded)."""
    state = {}
    readers = {"generic": lambda: torch.backends.fp32_precision,
               "cudnn": lambda: torch.backends.cudnn.fp32_precision,
               "matmul": lambda: torch.backends.cuda.matmul.fp32_precision,
               "conv": lambda: torch.backends.cudnn.conv.fp32_precision,
               "rnn": lambda: torch.backends.cudnn.rnn.fp32_precision,
               "mkldnn_matmul": lambda: torch.backends.mkldnn.matmul.fp32_precision,
               "mkldnn_conv": lambda: torch.backends.mkldnn.conv.fp32_precision,
               "float32_matmul_precision": torch.get_float32_matmul_precision,
               "legacy_matmul": lambda: torch.backends.cuda.matmul.allow_tf32,
               "legacy_cudnn": lambda: torch.backends.cudnn.allow_tf32,
               "benchmark": lambda: torch.backends.cudnn.benchmark}
    for name, read in readers.items():
        try:
            state[name] = read()
        except (RuntimeError, AttributeError) as e:
            state[name] = type(e).__name__
    return state


@pytest.fixture
def precision_restored():
    """Leave torch's global numerics as the test found them, whatever it sets."""
    saved = _precision_state()
    saved_cudnn = torch.backends.cudnn.allow_tf32 if saved["legacy_cudnn"] != "RuntimeError" else True
    yield
    torch.set_float32_matmul_precision(saved["float32_matmul_precision"])
    torch.backends.cudnn.allow_tf32 = saved_cudnn
    for owner, name in ((torch.backends.cuda.matmul, "matmul"), (torch.backends.cudnn.conv, "conv"),
                        (torch.backends.cudnn.rnn, "rnn"), (torch.backends.mkldnn.matmul, "mkldnn_matmul")):
        owner.fp32_precision = saved[name]


USER_SETTINGS = {  # what a user's script or module may have set before gcost runs
    None: [],
    "new api tf32": [(torch.backends.cuda.matmul, "fp32_precision", "tf32")],  # legacy getters then raise
    "legacy allow_tf32": [(torch.backends.cuda.matmul, "allow_tf32", True)],
    "medium, then new ieee": [(torch, "set_float32_matmul_precision", "medium"),
                              (torch.backends.cuda.matmul, "fp32_precision", "ieee")],
    "cudnn conv ieee, rnn tf32": [(torch.backends.cudnn.conv, "fp32_precision", "ieee")],
    "cudnn legacy off, rnn tf32": [(torch.backends.cudnn, "allow_tf32", False),
                                   (torch.backends.cudnn.rnn, "fp32_precision", "tf32")],
    "mkldnn bf16": [(torch.backends.mkldnn.matmul, "fp32_precision", "bf16")],
}


@pytest.mark.parametrize("user_setting", list(USER_SETTINGS))
@pytest.mark.parametrize("dtype", ["fp32", "tf32"])
def test_timing_sets_tf32_readably_through_both_apis_and_leaves_every_setting_as_found(user_setting, dtype,
                                                                                      precision_restored):
    """Inside the window every getter reads (inductor calls the legacy ones while compiling,
    pytorch#166387) and cuDNN's RNNs follow the dtype with its convolutions; afterwards every
    setting reads as before, a getter that raised before included."""
    if not hasattr(torch.backends.cudnn, "conv"):
        pytest.skip("this torch predates fp32_precision")
    for owner, name, value in USER_SETTINGS[user_setting]:
        if callable(getattr(owner, name, None)):
            getattr(owner, name)(value)
        else:
            setattr(owner, name, value)
    before = _precision_state()
    with cuda_module.cuda_numerics(tf32=dtype == "tf32"):
        inside = _precision_state()
    expected = "tf32" if dtype == "tf32" else "ieee"
    assert {inside[name] for name in ("matmul", "conv", "rnn")} == {expected}
    assert inside["legacy_matmul"] is inside["legacy_cudnn"] is (dtype == "tf32")
    assert inside["float32_matmul_precision"] == ("high" if dtype == "tf32" else "highest")
    assert inside["benchmark"] is True
    assert _precision_state() == before


# The fake is as strict as CUDA where the timing code depends on it

def test_fake_work_follows_the_tensors_device_not_the_current_one():
    cuda = FakeCuda(devices=2)
    cuda.tensor_device(torch.device("cuda", 1))
    model = FakeGpuModel(cuda)
    model(torch.zeros(1, 3, 8, 8))  # the current device is still 0
    assert set(cuda.launches) == {1} and cuda.current_stream(1).busy_until > 0 == cuda.current_stream(0).busy_until


def test_fake_events_check_their_device_timing_and_completion():
    cuda = FakeCuda(devices=2)
    start, end = cuda.event(), cuda.event()
    start.record(cuda.current_stream(0))
    with pytest.raises(RuntimeError, match="does not match recording stream's device"):
        start.record(cuda.current_stream(1))
    end.record(cuda.current_stream(1))
    with pytest.raises(RuntimeError, match="invalid resource handle"):
        start.elapsed_time(end)  # two devices
    untimed = FakeEvent(cuda)  # torch.cuda.Event()'s default: enable_timing=False
    untimed.record(cuda.current_stream(0))
    with pytest.raises(RuntimeError, match="enable_timing"):
        start.elapsed_time(untimed)
    cuda.enqueue(5.0, 0)
    late = cuda.event()
    late.record(cuda.current_stream(0))
    with pytest.raises(RuntimeError, match="must be completed"):
        start.elapsed_time(late)
    cuda.synchronize(torch.device("cuda", 0))
    assert start.elapsed_time(late) == pytest.approx(5.0, rel=0.01)


def test_fake_synchronize_costs_host_time():
    cuda = FakeCuda()
    cuda.synchronize(torch.device("cuda", 0))
    assert cuda.clock.now == pytest.approx(SYNC_MS / 1000)


def test_fake_capture_is_strict_as_torch_cuda_graph():
    cuda = FakeCuda()
    device = torch.device("cuda", 0)
    model, x = FakeGpuModel(cuda), torch.randn(1, 3, 8, 8)
    with pytest.raises(RuntimeError, match="non-default stream"):
        with cuda.capture(cuda.new_graph(), pool=None, stream=cuda.current_stream(device)):
            pass
    side = cuda.new_stream(device)
    with pytest.raises(RuntimeError, match="previous error during capture"):
        with cuda.capture(cuda.new_graph(), pool=None, stream=side):
            model(x)  # a shape never run before: cudnn's autotuning synchronizes, invalidating the capture
    assert cuda.current_stream(device) is side and cuda.capturing is None  # capture_end raised before restoring
    cuda.set_stream(cuda.default_stream(0))
    with cuda.use_stream(side):
        eager = model(x)
    graph = cuda.new_graph()
    with cuda.capture(graph, pool=None, stream=side):
        static = model(x)
    assert cuda.current_stream(device) is cuda.default_stream(0)
    assert static.isnan().all()  # nothing has run yet
    graph.replay()
    assert torch.equal(static, eager)
    x.mul_(2)  # a replay reads the captured input's current contents
    graph.replay()
    assert not torch.equal(static, eager)


def test_fake_work_on_another_device_than_the_capture_is_not_captured():
    """As on CUDA: the model's kernels go to its own device's stream, which is not capturing."""
    cuda = FakeCuda(devices=2)
    cuda.tensor_device(torch.device("cuda", 1))
    model, x = FakeGpuModel(cuda), torch.randn(1, 3, 8, 8)
    model(x)
    graph = cuda.new_graph()
    with cuda.capture(graph, pool=None, stream=cuda.new_stream(torch.device("cuda", 0))):
        static = model(x)  # ran eagerly on device 1: nothing captured, nothing to replay
    graph.replay()
    assert graph.work_ms == 0 and not static.isnan().any() and cuda.current_device == 0


def test_fake_allocator_resets_the_peak_to_what_is_allocated_and_keeps_graph_pools_reserved():
    cuda = FakeCuda(allocated_bytes={0: 1000})
    device = torch.device("cuda", 0)
    cuda.tensor_device(device)
    model, x = FakeGpuModel(cuda, activation_bytes=500), torch.randn(1, 3, 8, 8)
    model(x)
    assert cuda.max_memory_allocated(device) == 1500 and cuda.memory_allocated(device) == 1000
    cuda.reset_peak_memory(device)
    assert cuda.max_memory_allocated(device) == 1000  # what is allocated now, not zero
    side = cuda.new_stream(device)
    graph = cuda.new_graph()
    with cuda.capture(graph, pool=None, stream=side):
        model(x)
    assert cuda.max_memory_allocated(device) == 1500  # the capture allocated from the graph's pool
    cuda.reset_peak_memory(device)
    graph.replay()
    assert cuda.max_memory_allocated(device) == 1000  # a replay allocates nothing
    assert cuda.memory[0].reserved == 1500  # the pool stays reserved while the graph lives
    del graph
    cuda.empty_cache()
    assert cuda.memory[0].reserved == 1000


def test_fake_profile_links_kernels_to_their_launch_by_correlation_id_and_has_gpu_side_spans():
    from torch.autograd import DeviceType
    from torch.profiler import record_function

    cuda = FakeCuda()
    model = FakeGpuModel(cuda, ms=4.0)
    with cuda.profiler() as profile:
        with record_function("whole"):
            model(torch.randn(1, 3, 8, 8))
    events = profile.events()
    kernels = [e for e in events if e.device_type == DeviceType.CUDA and e.name == "fake_kernel"]
    launches = {e.id: e for e in events if e.device_type == DeviceType.CPU and e.name.startswith("fake::launch#")}
    assert len(kernels) == 2 and {k.linked_correlation_id for k in kernels} == set(launches)
    [whole] = [e for e in events if e.name == "whole" and e.device_type == DeviceType.CPU]
    assert whole.device_time_total == pytest.approx(4000)  # its children's kernels, in microseconds
    [span] = [e for e in events if e.name == "whole" and e.device_type == DeviceType.CUDA]
    assert span.device_time_total == pytest.approx(4000)  # the same range on the GPU side


def test_fake_sensors_fail_as_nvml_does():
    device = torch.device("cuda", 0)
    without = FakeCuda()
    without.nvml = False
    assert without.sensors(device) is None
    lacking = FakeCuda(sensor_errors={"power_mw": RuntimeError("NVML_ERROR_NOT_SUPPORTED")})
    assert lacking.sensors(device) == {"sm_clock_mhz": 1980, "temperature_c": 40, "power_mw": None}


# Devices

def test_cuda_n_runs_everything_on_device_n():
    cuda = FakeCuda(devices=2)
    stats = time_fake(cuda, device="cuda:1")
    assert set(cuda.launches) == {1}
    assert {device for what, device in cuda.log if what in ("record", "synchronize")} == {1}
    assert stats.median_ms == pytest.approx(5.0, rel=0.05)  # the model's 5 ms of device work
    assert 0.9 <= stats.self_check.events_vs_wall <= 1.1
    assert cuda.current_device == 0  # the current device is restored
    # a GPU's figures are its events': no thread decision, no CPU contention, no on-CPU clock
    assert stats.clock == "cuda_events" and stats.threads is None and stats.threads_reason is None
    assert stats.load is None and stats.contention is None and stats.wall_median_ms is None


def test_timing_cuda_1_allocates_nothing_on_device_0_that_holds_memory_already():
    """tests/timing/test_gpu.py's check, on the fake: device 0 holds a cuBLAS workspace from an
    earlier run, so its peak after a reset is that workspace, not zero (issue 24, #6)."""
    from tests.timing.test_gpu import allocates_nothing_on

    cuda = FakeCuda(devices=2, allocated_bytes={0: 8 * 2**20})
    device_0 = torch.device("cuda", 0)
    stats = allocates_nothing_on(cuda, device_0, lambda: time_fake(cuda, device="cuda:1"))
    assert stats.median_ms == pytest.approx(5.0, rel=0.05) and cuda.max_memory_allocated(device_0) > 0
    with pytest.raises(AssertionError, match="allocated on cuda:0"):
        allocates_nothing_on(cuda, device_0, lambda: time_fake(cuda, device="cuda:0"))


@pytest.mark.parametrize("name, message", [("cuda:2", "has 2 CUDA devices (cuda:0 to cuda:1)"), ("mps", "not supported"),
                                           ("tpu", "unknown device"), ("cuda:x", "unknown device")])
def test_bad_devices_are_usage_errors(name, message):
    with pytest.raises(GcostError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve_device(name, FakeCuda(devices=2))


def test_events_on_the_wrong_stream_fail_the_self_check():
    """What the self-check exists for: events that time nothing while the device is busy."""
    cuda = FakeCuda()
    device = torch.device("cuda", 0)
    side = cuda.new_stream(device)
    model = FakeGpuModel(cuda)

    def on_another_stream(index):
        with cuda.use_stream(side):
            model(torch.zeros(1, 3, 8, 8))

    timer = cuda_module.CudaTimer(cuda, device, on_another_stream, clock=cuda.clock)
    samples = [timer(i) for i in range(10)]
    overhead = cuda_module.timer_overhead_ms(cuda, device, cuda.clock)
    assert cuda_module.events_vs_wall(samples, overhead) < 0.5


# Graphs

def test_cuda_graph_replays_checked_graphs_without_launch_overhead():
    eager = time_fake(FakeCuda())
    cuda = FakeCuda()
    graphed = time_fake(cuda, cuda_graph=True)
    assert cuda.replays >= FAST.min_iters and graphed.cuda_graph
    assert graphed.self_check.graph_matches_eager is True
    assert graphed.self_check.graph_max_difference == 0.0
    assert graphed.median_ms < eager.median_ms  # the host's launches no longer delay the device
    assert ("capture", 0) in cuda.log


def test_a_capture_failure_is_a_usage_error_and_leaves_the_devices_stream_as_it_was():
    """torch.cuda.graph's __exit__ raises from capture_end before it restores the stream: gcost's
    side stream must not stay current for the next measurement (issue 24, #4)."""
    cuda = FakeCuda()
    with pytest.raises(GcostError, match=r"capture failed \(CUDA error: operation not permitted when stream is "
                                         r"capturing.*time it without --cuda-graph"):
        time_fake(cuda, target=fake_target(cuda, sync_in_forward=True), cuda_graph=True)
    assert cuda.capturing is None
    assert cuda.current_stream(0) is cuda.default_stream(0) and cuda.current_device == 0
    stats = time_fake(cuda)  # the next measurement works, its events on the device's stream
    assert stats.median_ms == pytest.approx(5.0, rel=0.05) and 0.9 <= stats.self_check.events_vs_wall <= 1.1


def test_out_of_memory_during_capture_is_out_of_memory_not_a_capture_failure():
    cuda = FakeCuda()
    with pytest.raises(GcostError, match="batch 1: out of memory on cuda:0.*smaller --batch"):
        time_fake(cuda, target=fake_target(cuda, oom_in_capture=True), cuda_graph=True)
    assert cuda.current_stream(0) is cuda.default_stream(0) and cuda.empty_cache_calls >= 3


def test_out_of_memory_during_compile_is_out_of_memory_not_a_compile_failure(monkeypatch):
    """torch.compile wraps what it meets (BackendCompilerFailed from the original)."""
    import torch._dynamo

    def compiled(model, dynamic):
        def first_call(x):
            try:
                raise FakeOutOfMemory("CUDA out of memory. Tried to allocate 8.00 GiB")
            except FakeOutOfMemory as e:
                raise RuntimeError("backend='inductor' raised: OutOfMemoryError") from e
        return first_call

    monkeypatch.setattr(torch, "compile", compiled)
    monkeypatch.setattr(torch._dynamo, "reset", lambda: None)
    cuda = FakeCuda()
    with pytest.raises(GcostError, match="batch 1: out of memory on cuda:0"):
        time_fake(cuda, compile=True)


def test_a_graph_that_computes_something_else_is_refused():
    cuda = FakeCuda()
    with pytest.raises(GcostError, match="differs from the eager forward"):
        time_fake(cuda, target=fake_target(cuda, drift_output=True), cuda_graph=True)


def test_a_graph_whose_replay_leaves_nan_is_refused():
    """NaN > tolerance is False: a graph reading uninitialized memory passed as matching (issue 24, #2)."""
    cuda = FakeCuda()
    with pytest.raises(GcostError, match="NaN or infinity where the eager forward has none"):
        time_fake(cuda, target=fake_target(cuda, uninitialized_read=True), cuda_graph=True)


@pytest.mark.parametrize("replayed, eager, expected", [
    ([1.0, float("nan")], [1.0, 2.0], math.inf), ([1.0, 2.0], [1.0, float("nan")], math.inf),
    ([float("nan"), 2.0], [float("nan"), 2.0], 0.0), ([float("inf"), 2.0], [float("inf"), 2.0], 0.0),
    ([float("inf"), 2.0], [3.0, 2.0], math.inf), ([1.0, 2.5], [1.0, 2.0], 0.25), ([1.0], [1.0, 2.0], math.inf)])
def test_the_graph_output_difference_is_never_nan(replayed, eager, expected):
    assert cuda_module.output_difference(torch.tensor(replayed), torch.tensor(eager)) == expected


def test_latency_json_never_holds_nan():
    from dataclasses import replace

    stats = time_fake(FakeCuda())
    odd = replace(stats, self_check=replace(stats.self_check, graph_max_difference=float("nan")), tflops=math.inf)
    data = json.loads(json.dumps(odd.to_dict(), allow_nan=False))
    assert data["self_check"]["graph_max_difference"] is None and data["tflops"] is None


# Memory

def test_peak_memory_is_reset_after_warm_up_and_excludes_the_flush_buffer():
    cuda = FakeCuda(allocated_bytes={0: 1_000_000_000})  # stands for the inputs and the flush buffer
    stats = time_fake(cuda, target=fake_target(cuda, activation_bytes=3_000_000, weight_bytes=2_000_000),
                      cold_cache=True)
    resets = [i for i, (what, _) in enumerate(cuda.log) if what == "reset_peak"]
    records = [i for i, (what, _) in enumerate(cuda.log) if what == "record"]
    assert len(resets) == 1
    assert 2 * FAST.warmup_min_iters < sum(r < resets[0] for r in records)  # warm-up (and calibration) before
    assert sum(r > resets[0] for r in records) == 2 * stats.iterations  # every timed iteration after
    assert stats.peak_memory_bytes == 1_000_000_000 + 2_000_000 + 3_000_000 - 256 * 2**20


def test_cuda_graph_peak_memory_holds_the_activations_like_eager():
    """Replays allocate nothing: the graph's activations sit in its private pool, allocated during
    the capture and reserved since; a peak read from the timed loop alone omits them (issue 24, #1)."""
    peaks = {}
    for graph in (False, True):
        cuda = FakeCuda(allocated_bytes={0: 100_000_000})
        target = fake_target(cuda, activation_bytes=64 * 2**20, weight_bytes=2_000_000)
        peaks[graph] = time_fake(cuda, target=target, cuda_graph=graph).peak_memory_bytes
    assert peaks[True] == peaks[False] == 100_000_000 + 2_000_000 + 64 * 2**20


@pytest.mark.slow
def test_cold_cache_synchronizes_after_each_flush():
    cuda = FakeCuda()
    stats = time_fake(cuda, cold_cache=True)
    plain = FakeCuda()
    time_fake(plain)
    syncs = sum(what == "synchronize" for what, _ in cuda.log)
    assert syncs - sum(what == "synchronize" for what, _ in plain.log) == stats.iterations + stats.warmup_iterations


def test_out_of_memory_is_a_usage_error_with_advice():
    cuda = FakeCuda()
    with pytest.raises(GcostError, match="batch 64: out of memory on cuda:0.*smaller --batch"):
        time_fake(cuda, target=fake_target(cuda, oom_at_batch=64), batches=(1, 64))
    assert cuda.empty_cache_calls >= 2  # before each batch, and after the failure


def test_the_memory_guard_counts_the_flush_buffer_and_workspace():
    cuda = FakeCuda(free_bytes=400 * 2**20)
    time_fake(cuda)  # 256 MiB workspace allowance fits in 90% of 400 MiB
    with pytest.raises(GcostError, match="needs about 0.5 GiB on cuda:0, only 0.4 GiB are free"):
        time_fake(cuda, cold_cache=True)


def test_sensors_are_read_after_the_warm_up_and_after_the_loop():
    """"Before" describes the warm device the timed loop starts on (issue 24, #9)."""
    cuda = FakeCuda()
    stats = time_fake(cuda)
    assert stats.gpu_state == GpuState(Sensors(sm_clock_mhz=1980, temperature_c=40, power_mw=300_000),
                                       Sensors(sm_clock_mhz=1980, temperature_c=40, power_mw=300_000))
    reads = [i for i, (what, _) in enumerate(cuda.log) if what == "sensors"]
    [reset] = [i for i, (what, _) in enumerate(cuda.log) if what == "reset_peak"]
    records = [i for i, (what, _) in enumerate(cuda.log) if what == "record"]
    assert len(reads) == 2 and reset < reads[0]  # after the warm-up's last iteration
    assert sum(reads[0] < r < reads[1] for r in records) == 2 * stats.iterations
    without = FakeCuda()
    without.nvml = False
    assert time_fake(without).gpu_state == GpuState(None, None)


# Training steps on the fake device

def test_a_training_step_creates_no_cuda_event_while_timed():
    """Four events per step were created inside the timed window (issue 24, #9): they are made
    once, recorded every step and read after the device synchronized."""
    made = {}
    for iterations in (6, 24):
        cuda = FakeCuda()
        limits = LoopLimits(warmup_min_iters=2, warmup_min_s=0.0, min_iters=iterations, min_time_s=0.0)
        stats = time_fake(cuda, fake_target(cuda, step_optimizer="momentum"), limits=limits)
        made[iterations] = sum(what == "event" for what, _ in cuda.log)
        assert stats.phases.forward_ms == pytest.approx(5.0, rel=0.05)
    assert made[6] == made[24] == 2 + 2 + 4  # calibration's, the timer's, the step's marks


# Interleaved timing and per-layer profiles on the fake device

@pytest.mark.slow
def test_interleaved_cuda_timing_gives_paired_ratios():
    cuda = FakeCuda(devices=2)
    targets = [fake_target(cuda, ms=4.0), fake_target(cuda, ms=2.0), fake_target(cuda, ms=4.0)]
    [run] = measure_interleaved(targets, TimingOptions(device="cuda:1", limits=FAST, max_time_s=10),
                                macs=[1, 1, 1], cuda=cuda, clock=cuda.clock)
    assert run.stopped_by == "precision" and set(cuda.launches) == {1}
    assert run.ratios[0].verdict == "faster" and run.ratios[0].median == pytest.approx(0.5, rel=0.05)
    assert run.ratios[1].verdict == "no measurable difference"
    assert all(s.interleaved and 0.9 <= s.self_check.events_vs_wall <= 1.1 for s in run.stats)
    assert run.clock == "cuda_events" and all(r.dropped_rounds == r.contended_rounds == 0 for r in run.ratios)


def _per_layer(cuda: FakeCuda, **model_options):
    from googlenet_cost.timing.measure import TimingTarget
    from googlenet_cost.timing.per_layer import measure_layer_latency

    models = []

    def make(device):
        models.append(FakeGpuModel(cuda, **model_options))
        return models[-1]

    target = TimingTarget("fake", make, (3, 8, 8), 0, (256,), dtype="fp32", depth=None, step_optimizer=None)
    return measure_layer_latency(target, TimingOptions(device="cuda"), iterations=3, cuda=cuda), models


def test_per_layer_pass_on_the_fake_device_removes_its_hooks():
    layers, models = _per_layer(FakeCuda())
    assert layers.activity == "cuda" and layers.coverage_of == "kernel time"
    assert not any(m._forward_hooks or m._forward_pre_hooks for model in models for m in model.modules())


def test_per_layer_kernel_time_goes_to_the_rows_that_launched_it():
    """Kernels reach a row through the profiler's correlation ids; the GPU-side spans of the same
    names are not counted again."""
    layers, _ = _per_layer(FakeCuda(), ms=4.0)
    assert layers.by_row["features/0"] == pytest.approx(2.0) == layers.by_row["features/2"]
    assert layers.by_row["features"] == pytest.approx(4.0) and layers.total_ms == pytest.approx(4.0)
    assert layers.coverage == pytest.approx(1.0) and layers.warnings == []
    # each forward's kernels are placed in it: three profiled forwards, the same time in each
    assert layers.iterations == 3


def test_out_of_memory_in_the_per_layer_pass_is_a_usage_error_and_empties_the_cache():
    cuda = FakeCuda()
    with pytest.raises(GcostError, match="batch 1: out of memory on cuda:0.*smaller --batch"):
        _per_layer(cuda, oom_at_batch=1)
    assert cuda.empty_cache_calls >= 2  # before the pass, and after the failure


def _users_target(cuda: FakeCuda, **model_options):
    """A Python model's target on the fake GPU whose forward fails once it runs there."""
    from dataclasses import replace

    def failing(device):
        model = FakeGpuModel(cuda, **model_options)
        model.register_forward_pre_hook(lambda module, args: (_ for _ in ()).throw(ValueError("no kernel for this")))
        return model

    return replace(fake_target(cuda), name="net.py:build", make_model=failing, user_code=True)


def test_a_python_model_failing_on_the_gpu_is_the_models_error_in_either_timing():
    cuda = FakeCuda()
    with pytest.raises(GcostError, match=r"net.py:build: the model raised ValueError: no kernel for this "
                                         r"\(in its timed forward\)"):
        time_fake(cuda, _users_target(cuda), device="cuda")
    with pytest.raises(GcostError, match="the model raised ValueError"):
        measure_interleaved([fake_target(cuda), _users_target(cuda)],
                            TimingOptions(device="cuda", limits=FAST), macs=[1, 1], cuda=cuda, clock=cuda.clock)


def test_a_spec_models_failure_on_the_gpu_stays_an_internal_error():
    from dataclasses import replace

    cuda = FakeCuda()
    with pytest.raises(ValueError, match="no kernel for this"):
        time_fake(cuda, replace(_users_target(cuda), user_code=False), device="cuda")


def test_out_of_memory_in_a_python_model_is_still_reported_as_out_of_memory():
    from dataclasses import replace

    cuda = FakeCuda()
    target = replace(fake_target(cuda, oom_at_batch=1), user_code=True)
    with pytest.raises(GcostError, match="batch 1: out of memory on cuda:0"):
        time_fake(cuda, target, device="cuda")


# The progress bar

def test_the_progress_bar_is_drawn_only_between_iterations(monkeypatch):
    """rich's refresh thread drew 10 times a second, during timed iterations too (issue 24, #9):
    the bar is drawn only when the loops report, between iterations, and at most every REDRAW_S."""
    import io

    from rich.console import Console

    from gcost_cli import render

    screen = io.StringIO()
    monkeypatch.setattr(render, "console", lambda stderr=False: Console(file=screen, force_terminal=True, width=80))
    drawn = []
    with render.Progress(enabled=True) as progress:
        assert progress._bar.live._refresh_thread is None
        monkeypatch.setattr(progress._bar, "refresh", lambda: drawn.append(1))
        for step in range(50):
            progress("timing batch 1 (fp32) on cuda", step / 50)
    assert len(drawn) <= 2  # fifty reports within a fraction of a second
