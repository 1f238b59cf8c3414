"""Every CUDA branch of the timing code, run on the CPU against the fake backend
(tests/fake_cuda.py), plus checks that the real backend calls torch names that exist in the
installed torch with arguments their signatures accept."""
from __future__ import annotations

import inspect

import pytest
import torch

from googlenet_cost.errors import GcostError
from googlenet_cost.timing import cuda as cuda_module
from googlenet_cost.timing.cuda import TorchCuda
from googlenet_cost.timing.loop import LoopLimits
from googlenet_cost.timing.measure import TimingOptions, measure_interleaved, measure_latency, resolve_device
from tests.fake_cuda import FakeCuda, FakeGpuModel, fake_target

FAST = LoopLimits(warmup_min_iters=3, warmup_min_s=0.0, min_iters=12, min_time_s=0.0)


def time_fake(cuda: FakeCuda, target=None, **options):
    options.setdefault("limits", FAST)
    return measure_latency(target or fake_target(cuda), TimingOptions(**options), macs=1_000_000,
                           cuda=cuda, clock=cuda.clock)


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
                                  ("max_memory_allocated", 7), ("mem_get_info", (5, 9)), ("empty_cache", None),
                                  ("clock_rate", 1500), ("temperature", 50), ("power_draw", 1000)]}
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
    backend.empty_cache()
    assert issubclass(backend.oom_error, RuntimeError)
    assert backend.sensors(device) == {"sm_clock_mhz": 1500, "temperature_c": 50, "power_mw": 1000}
    assert all(calls for calls in stubs.values()), [name for name, calls in stubs.items() if not calls]
    assert stubs["device"][0][0] == (device,) and stubs["synchronize"][0][0] == (device,)


def test_sensors_are_none_without_nvml(monkeypatch):
    def missing(device=None):
        raise ModuleNotFoundError("nvidia-ml-py does not seem to be installed")

    monkeypatch.setattr(torch.cuda, "clock_rate", missing)
    assert TorchCuda().sensors(torch.device("cuda", 0)) is None


def _precision_state() -> dict:
    """Every TF32-related setting as read through both APIs (a read that raises is recorded)."""
    state = {}
    readers = {"generic": lambda: torch.backends.fp32_precision,
               "cudnn": lambda: torch.backends.cudnn.fp32_precision,
               "matmul": lambda: torch.backends.cuda.matmul.fp32_precision,
               "conv": lambda: torch.backends.cudnn.conv.fp32_precision,
               "rnn": lambda: torch.backends.cudnn.rnn.fp32_precision,
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
    yield
    torch.backends.cuda.matmul.fp32_precision = saved["matmul"]
    torch.backends.cudnn.conv.fp32_precision = saved["conv"]


@pytest.mark.parametrize("user_setting", [None, "new api tf32", "legacy allow_tf32"])
@pytest.mark.parametrize("dtype", ["fp32", "tf32"])
def test_timing_leaves_every_precision_setting_as_found(user_setting, dtype, precision_restored):
    if not hasattr(torch.backends.cudnn, "conv"):
        pytest.skip("this torch predates fp32_precision")
    if user_setting == "new api tf32":
        torch.backends.cuda.matmul.fp32_precision = "tf32"  # as a user's module might, at import
    elif user_setting == "legacy allow_tf32":
        torch.backends.cuda.matmul.allow_tf32 = True
    before = _precision_state()
    seen = {}
    with cuda_module.cuda_numerics(tf32=dtype == "tf32"):
        seen["matmul"] = torch.backends.cuda.matmul.fp32_precision
        seen["conv"] = torch.backends.cudnn.conv.fp32_precision
        seen["benchmark"] = torch.backends.cudnn.benchmark
    assert seen == {"matmul": "tf32" if dtype == "tf32" else "ieee",
                    "conv": "tf32" if dtype == "tf32" else "ieee", "benchmark": True}
    assert _precision_state() == before


# Devices

def test_cuda_n_runs_everything_on_device_n():
    cuda = FakeCuda(devices=2)
    stats = time_fake(cuda, device="cuda:1")
    assert set(cuda.launches) == {1}
    assert {device for what, device in cuda.log if what in ("record", "synchronize")} == {1}
    assert stats.median_ms == pytest.approx(5.0, rel=0.05)  # the model's 5 ms of device work
    assert 0.9 <= stats.self_check["events_vs_wall"] <= 1.1
    assert cuda.current_device == 0  # the current device is restored


@pytest.mark.parametrize("name, message", [("cuda:2", "has 2 CUDA devices (cuda:0 to cuda:1)"),
                                           ("mps", "not supported"), ("tpu", "unknown device"), ("cuda:x", "unknown device")])
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
    assert graphed.self_check["graph_matches_eager"] is True
    assert graphed.self_check["graph_max_difference"] == 0.0
    assert graphed.median_ms < eager.median_ms  # the host's launches no longer delay the device
    assert ("capture", 0) in cuda.log


def test_a_capture_failure_is_a_usage_error_and_cuda_stays_usable():
    cuda = FakeCuda()
    with pytest.raises(GcostError, match="capture failed.*time it without --cuda-graph"):
        time_fake(cuda, target=fake_target(cuda, sync_in_forward=True), cuda_graph=True)
    assert cuda.capturing is None
    assert time_fake(cuda).median_ms == pytest.approx(5.0, rel=0.05)  # the next measurement works


def test_a_graph_that_computes_something_else_is_refused():
    cuda = FakeCuda()
    with pytest.raises(GcostError, match="differs from the eager forward"):
        time_fake(cuda, target=fake_target(cuda, drift_output=True), cuda_graph=True)


# Memory

def test_peak_memory_is_reset_after_warm_up_and_excludes_the_flush_buffer():
    cuda = FakeCuda(peak_bytes=1_000_000_000)
    stats = time_fake(cuda, cold_cache=True)
    resets = [i for i, (what, _) in enumerate(cuda.log) if what == "reset_peak"]
    records = [i for i, (what, _) in enumerate(cuda.log) if what == "record"]
    assert len(resets) == 1
    assert 2 * FAST.warmup_min_iters < sum(r < resets[0] for r in records)  # warm-up (and calibration) before
    assert sum(r > resets[0] for r in records) == 2 * stats.iterations  # every timed iteration after
    assert stats.peak_memory_bytes == 1_000_000_000 - 256 * 2**20


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


def test_sensors_are_read_before_and_after_the_loop():
    stats = time_fake(FakeCuda())
    assert stats.gpu_state == {"before": {"sm_clock_mhz": 1980, "temperature_c": 40, "power_mw": 300_000},
                               "after": {"sm_clock_mhz": 1980, "temperature_c": 40, "power_mw": 300_000}}
    assert time_fake(FakeCuda(sensors={})).gpu_state["before"] == {}


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
    assert all(s.interleaved and 0.9 <= s.self_check["events_vs_wall"] <= 1.1 for s in run.stats)


def test_per_layer_pass_on_the_fake_device_removes_its_hooks():
    from googlenet_cost.timing.per_layer import measure_layer_latency

    cuda = FakeCuda()
    models = []

    def make(device):
        models.append(FakeGpuModel(cuda))
        return models[-1]

    from googlenet_cost.timing.measure import TimingTarget

    target = TimingTarget("fake", make, (3, 8, 8), 0, (256,))
    layers = measure_layer_latency(target, TimingOptions(device="cuda"), iterations=3, cuda=cuda)
    assert layers.activity == "cuda" and layers.coverage_of == "kernel time"
    assert not any(m._forward_hooks or m._forward_pre_hooks for model in models for m in model.modules())


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
