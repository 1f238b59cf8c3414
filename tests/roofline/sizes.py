"""What the roofline tests share: measurement sizes shrunk to milliseconds, and the fixtures of the
peaks cache (a cache folder of the test's own; the measurement and the re-probe replaced by
stand-ins that count their calls). Imported by the test modules that use them."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from googlenet_cost.roofline import microbench
from googlenet_cost.roofline.microbench import Measurement, PeakSizes, Recipe
from googlenet_cost.roofline.opbench import OpSizes
from googlenet_cost.roofline.oprates import OpRates
from googlenet_cost.roofline.peaks import Peaks

TINY = PeakSizes(matmul_n=32, matmul_min_n=16, matmul_s=0.003, memory_bytes=64 * 2**10, memory_s=0.003,
                 cache_sets=(16 * 2**10,), cache_s=0.002, iteration_s=0.0005, probe_matmul_n=32, probe_s=0.003)
TINY_OPS = OpSizes(maps=((8, 4, 4), (8, 8, 8)), point_s=0.001, iteration_s=0.0002, calls_s=0.001, mac_scale=0.05,
                   rotation_bytes=64 * 2**10)
FAKE_GPU = PeakSizes(matmul_n=32, matmul_min_n=32, matmul_s=0.02, memory_bytes=64 * 2**10, memory_s=0.01,
                     probe_matmul_n=32, probe_s=0.01)
FAKE_OPS = OpSizes(maps=((8, 8, 8), (16, 8, 8)), point_s=0.002, iteration_s=0.001, calls_s=0.002, mac_scale=0.05,
                   rotation_bytes=64 * 2**10)
FLOPS, BYTES = 1e7, 1e8  # the fake GPU's simulated peaks: slow enough that its launch latency is < 2%
RATES = OpRates(call_s=2e-6, view_s=1e-6, ops={"aten::add": ((1e3, 3e-6), (1e6, 1e-4))},
                macs={"conv kxk": ((1e6, 1e-5), (1e8, 1e-3))})


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("GCOST_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def probes(monkeypatch) -> list:
    """microbench.probe replaced: it measures the figures of the entry it probes back (a machine
    unchanged; `measurements` numbers its entries by their recipe's n) and counts its calls; a test
    sets `probes.ratio` to make the machine look faster or slower."""
    calls = _Calls()

    def probe(where, dtype, threads, recipe, cuda=None, **_):
        calls.append(recipe)
        return (recipe.matmul_n - 32) * 1e9 * calls.ratio, 1e10 * calls.ratio

    monkeypatch.setattr(microbench, "probe", probe)
    return calls


class _Calls(list):
    ratio = 1.0


@pytest.fixture
def measurements(cache, monkeypatch, probes) -> list:
    """microbench.measure replaced by a stand-in that counts its calls; the n-th call measures n
    GFLOP/s (its recipe's n is 32 + n, which `probes` reads back)."""
    from googlenet_cost.timing.measure import device_label

    calls: list = []

    def measure(device, dtype, threads, cuda=None, progress=None, **_):
        calls.append((device, dtype, threads))
        peaks = Peaks(device=device_label(torch.device("cpu"), threads), dtype=dtype, threads=threads,
                      flops_per_s=len(calls) * 1e9, bytes_per_s=1e10, cache_bytes_per_s=5e10, cache_bytes=2**25,
                      measured_at="2026-11-30T00:00:00Z", reference="stand-in", operators=RATES)
        return Measurement(peaks, Recipe("mm", 32 + len(calls), 2**16))

    monkeypatch.setattr(microbench, "measure", measure)
    return calls
