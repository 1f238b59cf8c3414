"""CUDA code paths. Skipped without a CUDA device (CI has none); run them on a GPU machine:
PYTHONPATH=. python -m pytest tests/test_gpu.py."""
from __future__ import annotations

import pytest
import torch

import googlenet_cost as gc
from googlenet_cost.latency import TimingOptions, measure_latency, measure_layer_latency, spec_target
from googlenet_cost.latency_stats import LoopLimits

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
FAST = LoopLimits(warmup_min_iters=3, warmup_min_s=0.0, min_iters=10, min_time_s=0.0)


@pytest.mark.parametrize("dtype", ["fp32", "tf32", "fp16", "bf16"])
def test_cuda_timing_per_dtype(dtype):
    spec = gc.load_spec("googlenet")
    stats = measure_latency(spec_target(spec), TimingOptions(device="cuda", dtype=dtype, limits=FAST),
                            macs=gc.analyze(spec).totals.macs)
    assert stats.device_type == "cuda" and stats.dtype == dtype and stats.iterations == 10
    assert stats.peak_memory_bytes and stats.peak_memory_bytes > 0
    assert stats.p10_ms <= stats.median_ms <= stats.p99_ms
    assert torch.backends.cuda.matmul.allow_tf32 is False  # restored after tf32 timing


def test_cuda_graph_and_channels_last():
    spec = gc.load_spec("googlenet")
    options = TimingOptions(device="cuda", cuda_graph=True, channels_last=True, batches=(1, 8), limits=FAST)
    results = measure_latency(spec_target(spec), options, macs=1)
    assert [r.batch for r in results] == [1, 8] and all(r.cuda_graph and r.channels_last for r in results)


def test_per_layer_profile_on_cuda():
    spec = gc.load_spec("googlenet")
    layers = measure_layer_latency(spec_target(spec), TimingOptions(device="cuda"), iterations=5)
    assert layers.activity == "cuda" and layers.by_row["inception_4a"] > 0


def test_memory_check_refuses_an_impossible_batch():
    from googlenet_cost.errors import GcostError

    spec = gc.load_spec("vgg16")
    with pytest.raises(GcostError, match="smaller --batch"):
        measure_latency(spec_target(spec), TimingOptions(device="cuda", batches=(1_000_000,), limits=FAST), macs=1)
