"""CUDA code paths on a real GPU. Skipped without a CUDA device (CI has none); run them on a GPU
machine: PYTHONPATH=. python -m pytest tests/timing/test_gpu.py. They assert relations that wrong numbers
break, not timings. Needs torch, click, rich, pyyaml (no fvcore)."""
from __future__ import annotations

import pytest
import torch

import googlenet_cost as gc
from googlenet_cost.errors import GcostError
from googlenet_cost.timing.cuda import TorchCuda
from googlenet_cost.timing.loop import LoopLimits
from googlenet_cost.timing.measure import TimingOptions, measure_interleaved, measure_latency
from googlenet_cost.options import RunOptions
from googlenet_cost.sources import spec_target
from googlenet_cost.timing.per_layer import measure_layer_latency

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]
FAST = LoopLimits(warmup_min_iters=5, warmup_min_s=0.2, min_iters=30, min_time_s=0.5)
MACS = 1_582_671_872  # googlenet, eval (tests/spec/test_googlenet_golden.py)


def _googlenet(dtype: str = "fp32", **options):
    """The stats of each batch timed (options' batches) at `dtype`, one entry each."""
    options.setdefault("limits", FAST)
    return measure_latency(spec_target(gc.load_spec("googlenet"), RunOptions(dtype=dtype)),
                           TimingOptions(device="cuda", **options), macs=MACS)


def _googlenet_one(**options):
    [stats] = _googlenet(**options)
    return stats


@pytest.mark.parametrize("dtype", ["fp32", "tf32", "fp16", "bf16"])
def test_cuda_timing_per_dtype_passes_its_self_check(dtype):
    stats = _googlenet_one(dtype=dtype)
    assert stats.device_type == "cuda" and stats.dtype == dtype and stats.iterations >= 30
    assert stats.peak_memory_bytes and stats.peak_memory_bytes > 0
    assert stats.p10_ms <= stats.median_ms <= stats.p90_ms
    assert 0.9 <= stats.self_check.events_vs_wall <= 1.1


def test_graph_replay_is_not_slower_than_eager_at_batch_1():
    eager, graph = _googlenet_one(), _googlenet_one(cuda_graph=True)
    assert graph.self_check.graph_matches_eager is True
    assert graph.median_ms <= eager.median_ms * 1.05


def test_graph_peak_memory_holds_the_activations_as_eager_does():
    """Replays allocate nothing (the activations sit in the graph's pool): the peak comes from the
    capture, so it is near the eager peak rather than weights and inputs alone."""
    eager, graph = _googlenet_one(batches=(64,)), _googlenet_one(batches=(64,), cuda_graph=True)
    assert graph.peak_memory_bytes >= 0.8 * eager.peak_memory_bytes


def test_fp16_is_faster_than_fp32_at_batch_64():
    assert _googlenet_one(dtype="fp16", batches=(64,)).median_ms < _googlenet_one(dtype="fp32", batches=(64,)).median_ms


def test_cuda_graph_and_channels_last_per_batch():
    results = _googlenet(cuda_graph=True, channels_last=True, batches=(1, 8))
    assert [r.batch for r in results] == [1, 8] and all(r.cuda_graph and r.channels_last for r in results)


def test_per_layer_children_do_not_exceed_their_parent():
    spec = gc.load_spec("googlenet")
    layers = measure_layer_latency(spec_target(spec, RunOptions()), TimingOptions(device="cuda"), iterations=10)
    assert layers.activity == "cuda" and layers.coverage_of == "kernel time"
    assert layers.by_row["inception_4a"] > 0
    children = sum(ms for name, ms in layers.by_row.items() if name.startswith("inception_4a/"))
    assert children <= layers.by_row["inception_4a"] * 1.001
    assert 0.8 <= layers.coverage <= 1.2


def test_interleaved_compare_on_the_gpu():
    spec = gc.load_spec("googlenet")
    [run] = measure_interleaved([spec_target(spec, RunOptions()), spec_target(spec, RunOptions())],
                                TimingOptions(device="cuda", limits=FAST, max_time_s=20), macs=[MACS, MACS])
    assert run.ratios[0].ci95[0] <= run.ratios[0].median <= run.ratios[0].ci95[1]
    assert all(0.9 <= s.self_check.events_vs_wall <= 1.1 for s in run.stats)


def allocates_nothing_on(backend, device: torch.device, run):
    """Run `run` and check it allocated nothing on `device`; its result. The peak is reset to what
    is allocated now, not to zero: earlier runs leave cuBLAS workspaces and the like allocated on
    device 0, so the peak is compared with that (tests/timing/test_timing_cuda.py runs this on the fake)."""
    before = backend.memory_allocated(device)
    backend.reset_peak_memory(device)
    result = run()
    peak = backend.max_memory_allocated(device)
    assert peak == before, f"{peak - before:,} bytes allocated on {device}"
    return result


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA devices")
def test_cuda_1_times_on_device_1():
    stats = allocates_nothing_on(TorchCuda(), torch.device("cuda", 0), lambda: measure_latency(
        spec_target(gc.load_spec("googlenet"), RunOptions()), TimingOptions(device="cuda:1", limits=FAST), macs=MACS)[0])
    assert 0.9 <= stats.self_check.events_vs_wall <= 1.1


def test_memory_check_refuses_an_impossible_batch():
    with pytest.raises(GcostError, match="smaller --batch"):
        measure_latency(spec_target(gc.load_spec("vgg16"), RunOptions()),
                        TimingOptions(device="cuda", batches=(1_000_000,), limits=FAST), macs=1)
