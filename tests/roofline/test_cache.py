"""The cache of this machine's peaks (roofline/cache.py): hit, miss, --remeasure; corrupt, foreign
and hostile files (issue 33: a symlink or FIFO in its place, another user's file); the machine's
identity as its key (issue 32: another machine's entry is never used); the re-probe that catches
figures that no longer hold (an edited file, a machine that changed); concurrent first
measurements taking turns; the same on the fake GPU. Each test fails without what it names."""
from __future__ import annotations

import functools
import json
import os
import stat
import threading
import time
from pathlib import Path

import pytest

from conftest import invoke
from googlenet_cost.roofline import cache as cache_module
from googlenet_cost.roofline import machine, microbench
from googlenet_cost.roofline.cache import cache_folder
from googlenet_cost.roofline.machine import Identity, gpu_identity
from googlenet_cost.roofline.peaks import resolve_peaks
from tests.fake_cuda import FakeCuda, FakeKernels
from tests.roofline.sizes import (BYTES, FAKE_GPU, FAKE_OPS, FLOPS, TINY, TINY_OPS, cache,  # noqa: F401 - fixtures
                                  measurements, probes)


def _only_file(folder: Path, suffix: str = ".json") -> Path:
    (path,) = [p for p in folder.iterdir() if p.suffix == suffix]
    return path


# ---- hit, miss, remeasure ------------------------------------------------------------------------

def test_the_first_use_measures_says_so_and_later_uses_read_the_cache(measurements, probes, cache):
    said: list[str] = []
    first = resolve_peaks(None, device="cpu", threads=1, progress=said.append)
    again = resolve_peaks(None, device="cpu", threads=1, progress=said.append)
    assert len(measurements) == 1 and again == first and len(probes) == 1  # the cached use was re-probed
    assert said[0].startswith(f"measuring this machine's peaks (once, cached in {cache}")
    assert sorted(p.suffix for p in cache.iterdir()) == [".json", ".lock"]  # no temporary file left
    assert stat.S_IMODE(_only_file(cache).stat().st_mode) == 0o600 and stat.S_IMODE(cache.stat().st_mode) == 0o700


def test_remeasure_measures_again_and_replaces_the_cache(measurements):
    resolve_peaks(None, device="cpu", threads=1)
    replaced = resolve_peaks(None, device="cpu", threads=1, remeasure=True)
    assert len(measurements) == 2 and replaced.flops_per_s == 2e9
    assert resolve_peaks(None, device="cpu", threads=1).flops_per_s == 2e9 and len(measurements) == 2


def test_the_cache_keeps_one_entry_per_dtype_and_thread_count(measurements, cache):
    for dtype, threads in (("fp32", 1), ("bf16", 1), ("fp32", 2), ("fp32", 1), ("bf16", 1)):
        resolve_peaks(None, device="cpu", dtype=dtype, threads=threads)
    assert measurements == [("cpu", "fp32", 1), ("cpu", "bf16", 1), ("cpu", "fp32", 2)]
    assert len([p for p in cache.iterdir() if p.suffix == ".json"]) == 3


def test_the_operator_rates_round_trip_through_the_cache(measurements):
    first = resolve_peaks(None, device="cpu", threads=1)
    assert resolve_peaks(None, device="cpu", threads=1).operators == first.operators is not None


# ---- corrupt and foreign entries ----------------------------------------------------------------

def _edited(field: str, value):
    def edit(entry: dict) -> dict:
        entry = json.loads(json.dumps(entry))
        if field in ("torch", "machine"):
            entry["key"][field] = value
        elif field == "recipe":
            entry["recipe"] = value
        else:
            entry["peaks"][field] = value
        return entry
    return edit


@pytest.mark.parametrize("spoil", [
    pytest.param(lambda entry: "{ not json", id="not-json"),
    pytest.param(lambda entry: b"\xff\xfe\x00garbage", id="not-utf8"),
    pytest.param(lambda entry: "[" * 50_000 + "]" * 50_000, id="nested-too-deep"),
    pytest.param(lambda entry: [], id="a-list"),
    pytest.param(_edited("torch", "1.0.0"), id="foreign-torch"),
    pytest.param(_edited("machine", {"kind": "cpu", "model": "Intel Xeon", "cpus": 64}), id="foreign-machine"),
    pytest.param(lambda entry: {**entry, "schema": "gcost.peaks-cache/1"}, id="other-schema"),
    pytest.param(_edited("peak_flops_per_s", -1.0), id="negative-flops"),
    pytest.param(_edited("peak_bytes_per_s", "fast"), id="text-bandwidth"),
    pytest.param(_edited("cache_bytes", 1.5), id="fractional-cache-size"),
    pytest.param(_edited("source", "datasheet"), id="not-measured"),
    pytest.param(_edited("operator_rates", {"call_s": 1e-6}), id="bad-operator-rates"),
    pytest.param(_edited("recipe", {"flops_kernel": "rm -rf", "matmul_n": 32, "memory_bytes": 1, "mac_scale": 1,
                                     "mac_index": 0, "mac_batch": 1}), id="bad-recipe"),
])
def test_a_corrupt_or_foreign_cache_file_is_ignored_and_measured_again(measurements, cache, spoil):
    resolve_peaks(None, device="cpu", threads=1)
    path = _only_file(cache)
    spoiled = spoil(json.loads(path.read_text()))
    if isinstance(spoiled, bytes):
        path.write_bytes(spoiled)
    else:
        path.write_text(spoiled if isinstance(spoiled, str) else json.dumps(spoiled))
    said: list[str] = []
    remeasured = resolve_peaks(None, device="cpu", threads=1, progress=said.append)
    assert len(measurements) == 2 and remeasured.flops_per_s == 2e9
    assert any(line.startswith(f"ignoring the cache file {path}") for line in said)
    assert json.loads(path.read_text())["peaks"]["peak_flops_per_s"] == 2e9  # replaced by a good entry


def test_another_machines_entry_is_never_read(measurements, cache, monkeypatch):
    """The same "AMD EPYC" name with another cache size or ISA is another machine: its own key,
    its own file, measured on its own (issue 32: 117.5 GFLOP/s of another VM were taken as ours)."""
    resolve_peaks(None, device="cpu", threads=1)
    mine = _only_file(cache)
    real = machine.cpu_identity()
    for other in (Identity(**{**real.__dict__, "cache_bytes": 2 * (real.cache_bytes or 1)}),
                  Identity(**{**real.__dict__, "flags": ("avx2", "fma")}),
                  Identity(**{**real.__dict__, "model": real.model + " 9654 96-Core Processor"})):
        monkeypatch.setattr(machine, "cpu_identity", lambda other=other: other)
        assert resolve_peaks(None, device="cpu", threads=1).flops_per_s == len(measurements) * 1e9
    assert len(measurements) == 4 and len([p for p in cache.iterdir() if p.suffix == ".json"]) == 4
    assert json.loads(mine.read_text())["peaks"]["peak_flops_per_s"] == 1e9  # ours untouched


def test_the_identity_is_the_full_model_name_cores_cache_and_isa(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: AMD EPYC 9B45 96-Core Processor\nflags\t\t: fpu sse4_2 avx "
                    "avx2 fma avx512f hypervisor\ncore id\t\t: 0\nphysical id\t: 0\n\nprocessor\t: 1\n"
                    "model name\t: AMD EPYC 9B45 96-Core Processor\ncore id\t\t: 1\nphysical id\t: 0\n")
    found = machine.cpu_identity(info, tmp_path)
    assert found.model == "AMD EPYC 9B45 96-Core Processor" and found.flags == ("sse4_2", "avx", "avx2", "fma",
                                                                                 "avx512f")
    assert found.cpus == os.cpu_count() and machine.physical_cores(info) == 2


# ---- hostile files in the cache's place (issue 33) ----------------------------------------------

def _cache_path(monkeypatch) -> Path:
    """Where this machine's fp32 1-thread entry lives (as measured_peaks computes it)."""
    import torch

    key = cache_module.cache_key(machine.cpu_identity().to_dict(), 1, torch.__version__, "fp32")
    return cache_module.cache_path(key)


def test_a_symlink_in_the_caches_place_is_replaced_and_its_target_left_untouched(measurements, cache, tmp_path,
                                                                                 monkeypatch):
    target = tmp_path / "system.conf"
    target.write_text("precious\n")
    path = _cache_path(monkeypatch)
    cache.mkdir()
    path.symlink_to(target)
    said: list[str] = []
    assert resolve_peaks(None, device="cpu", threads=1, progress=said.append).flops_per_s == 1e9
    assert target.read_text() == "precious\n" and not path.is_symlink()
    assert stat.S_ISREG(os.lstat(path).st_mode) and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert any("a symlink, not a regular file" in line for line in said)


def test_a_fifo_in_the_caches_place_neither_blocks_the_read_nor_the_write(measurements, cache, monkeypatch):
    path = _cache_path(monkeypatch)
    cache.mkdir()
    os.mkfifo(path)
    done: list = []
    worker = threading.Thread(target=lambda: done.append(resolve_peaks(None, device="cpu", threads=1)), daemon=True)
    worker.start()
    worker.join(20)
    assert done and done[0].flops_per_s == 1e9, "gcost blocked on the FIFO"
    assert stat.S_ISREG(os.lstat(path).st_mode)


def test_another_users_file_is_not_read(measurements, cache, monkeypatch):
    resolve_peaks(None, device="cpu", threads=1)
    monkeypatch.setattr(os, "geteuid", lambda: os.getuid() + 1)
    said: list[str] = []
    assert resolve_peaks(None, device="cpu", threads=1, progress=said.append).flops_per_s == 2e9
    assert any("owned by another user" in line for line in said)


def test_a_cache_that_cannot_be_written_is_a_warning_and_the_peaks_are_used(measurements, cache):
    resolve_peaks(None, device="cpu", threads=1)
    path = _only_file(cache)
    path.unlink()
    path.mkdir()
    said: list[str] = []
    assert resolve_peaks(None, device="cpu", threads=1, progress=said.append).flops_per_s == 2e9
    assert any(line.startswith(f"warning: could not cache the peaks in {path}") for line in said)


def test_two_concurrent_first_measurements_measure_once(cache, probes, monkeypatch):
    """Issue 33: both measured at once, each under the other's load, and the last writer's depressed
    figures stayed. Now one measures; the other waits on the lock and reads what it wrote."""
    calls: list = []
    real = functools.partial(microbench.measure, sizes=TINY, op_sizes=TINY_OPS)

    def slow(*args, **kwargs):
        calls.append(threading.get_ident())
        time.sleep(0.3)  # both processes are past their cache read by now
        return real(*args, **kwargs)

    monkeypatch.setattr(microbench, "measure", slow)
    results: list = []
    workers = [threading.Thread(target=lambda: results.append(resolve_peaks(None, device="cpu", threads=1)))
               for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert len(calls) == 1 and len(results) == 2 and results[0] == results[1]
    assert len(probes) == 0  # the waiter read an entry written while it waited: no re-probe needed


# ---- the re-probe --------------------------------------------------------------------------------

def test_a_cache_edited_to_four_times_its_figures_is_caught_by_a_real_reprobe(cache, monkeypatch):
    counted: list = []
    real = functools.partial(microbench.measure, sizes=TINY, op_sizes=TINY_OPS)
    monkeypatch.setattr(microbench, "measure", lambda *a, **k: counted.append(1) or real(*a, **k))
    monkeypatch.setattr(microbench, "probe", functools.partial(microbench.probe, sizes=TINY))
    resolve_peaks(None, device="cpu", threads=1)
    path = _only_file(cache)
    entry = json.loads(path.read_text())
    for field in ("peak_flops_per_s", "peak_bytes_per_s"):
        entry["peaks"][field] *= 4
    path.write_text(json.dumps(entry))
    said: list[str] = []
    resolve_peaks(None, device="cpu", threads=1, progress=said.append)
    assert len(counted) == 2
    (line,) = [line for line in said if "re-probe" in line]
    assert line.startswith("the cached peaks no longer hold: a re-probe measured peak FLOP/s 0.")
    assert json.loads(path.read_text())["peaks"]["peak_flops_per_s"] < entry["peaks"]["peak_flops_per_s"]


@pytest.mark.parametrize("ratio, remeasured", [(1.0, False), (0.8, False), (1.2, False), (0.7, True), (1.3, True)])
def test_a_reprobe_more_than_25_percent_off_measures_again(measurements, probes, ratio, remeasured):
    resolve_peaks(None, device="cpu", threads=1)
    probes.ratio = ratio
    said: list[str] = []
    resolve_peaks(None, device="cpu", threads=1, progress=said.append)
    assert (len(measurements) == 2) is remeasured
    assert any("no longer hold" in line for line in said) is remeasured


# ---- a GPU: its name and driver, the re-probe, on the fake backend --------------------------------

def _fake_gpu(monkeypatch, name: str = "NVIDIA H200", flops: float = FLOPS) -> FakeCuda:
    from googlenet_cost.timing import measure

    fake = FakeCuda(name=name)
    kernels = FakeKernels(fake, flops_per_s=flops, bytes_per_s=BYTES)
    monkeypatch.setattr(measure, "cuda_backend", lambda: fake)
    monkeypatch.setattr(microbench, "measure", functools.partial(microbench.measure, kernels=kernels, clock=fake.clock,
                                                                 sizes=FAKE_GPU, op_sizes=FAKE_OPS))
    monkeypatch.setattr(microbench, "probe", functools.partial(microbench.probe, kernels=kernels, clock=fake.clock,
                                                               sizes=FAKE_GPU))
    return fake


def test_a_gpus_identity_is_its_name_driver_and_runtime(tmp_path):
    import torch

    banner = tmp_path / "version"
    banner.write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 22:23:56 UTC 2024\n")
    found = gpu_identity(FakeCuda(name="NVIDIA H100 80GB HBM3"), torch.device("cuda", 0), banner)
    assert (found.kind, found.model, found.driver) == ("cuda", "NVIDIA H100 80GB HBM3", "550.54.15")
    assert found.runtime == torch.version.cuda  # None on a CPU build of torch: a name the installed torch has
    assert machine.nvidia_driver(tmp_path / "none") is None


def test_a_gpu_entry_is_keyed_by_its_driver(cache, monkeypatch, tmp_path):
    _fake_gpu(monkeypatch)
    for driver in ("550.54.15", "560.28.03"):
        banner = tmp_path / driver
        banner.write_text(f"NVRM version: NVIDIA UNIX x86_64 Kernel Module  {driver}  Tue\n")
        monkeypatch.setattr(machine, "NVIDIA_DRIVER", banner)
        resolve_peaks(None, dtype="fp32")
    keys = [json.loads(p.read_text())["key"]["machine"] for p in cache.iterdir() if p.suffix == ".json"]
    assert sorted(key["driver"] for key in keys) == ["550.54.15", "560.28.03"]
    assert {key["model"] for key in keys} == {"NVIDIA H200"}


def test_on_the_fake_gpu_the_cache_is_reprobed_and_an_edited_entry_caught(cache, monkeypatch):
    fake = _fake_gpu(monkeypatch)
    first = resolve_peaks(None)
    assert first.flops_per_s == pytest.approx(FLOPS, rel=0.02) and first.operators is not None
    launches = len(fake.launches)
    said: list[str] = []
    assert resolve_peaks(None, progress=said.append) == first and not said  # re-probed on the device: it holds
    assert len(fake.launches) > launches and ("synchronize", 0) in fake.log
    path = _only_file(cache)
    entry = json.loads(path.read_text())
    entry["peaks"]["peak_flops_per_s"] *= 4
    path.write_text(json.dumps(entry))
    resolve_peaks(None, progress=said.append)
    assert any("no longer hold: a re-probe measured peak FLOP/s 0.2" in line for line in said)
    assert json.loads(path.read_text())["peaks"]["peak_flops_per_s"] == pytest.approx(FLOPS, rel=0.02)


def test_the_fake_gpus_operator_rates_are_what_the_device_does(cache, monkeypatch):
    _fake_gpu(monkeypatch)
    rates = resolve_peaks(None).operators
    size, seconds = rates.ops["aten::add"][-1]
    assert size / seconds == pytest.approx(BYTES, rel=0.05)  # timed by events on the device, not the host
    flops, seconds = rates.macs["conv 1x1"][-1]
    assert flops / seconds == pytest.approx(FLOPS, rel=0.05)


# ---- the command's messages (issue 33) ----------------------------------------------------------

def test_tf32_on_the_cpu_is_one_line_before_any_measurement(runner, measurements):
    result = invoke(runner, "peaks", "--dtype", "tf32", "--device", "cpu")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "measuring" not in result.stderr
    assert "tf32 needs a CUDA device" in result.stderr and not measurements


def test_the_cache_folder_is_gcost_cache_dir_then_xdg_cache_home_then_home(tmp_path, monkeypatch):
    monkeypatch.setenv("GCOST_CACHE_DIR", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_folder() == tmp_path / "mine"
    monkeypatch.delenv("GCOST_CACHE_DIR")
    assert cache_folder() == tmp_path / "xdg" / "gcost"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # the XDG spec: a relative one is ignored
    assert cache_folder() == tmp_path / "home" / ".cache" / "gcost"


def test_the_python_api_measures_with_the_timing_options_threads(measurements):
    """Issue 32: analyze(..., roofline=True) ignored TimingOptions.threads (bounds of 2 threads
    held against a 1-thread latency)."""
    import yaml

    import googlenet_cost as gc
    from googlenet_cost.timing.settings import TimingOptions

    spec = gc.parse_spec(yaml.safe_dump({"name": "t", "input": [3, 8, 8], "layers": [
        {"name": "c", "type": "conv", "out": 4, "kernel": 3}]}))
    from googlenet_cost.api import run_options

    options = run_options(1, timing=TimingOptions(device="cpu", threads=1), roofline=True)
    assert options.roofline.threads == 1 and measurements == [("cpu", "fp32", 1)]
    assert gc.analyze(spec, roofline=True).machine.threads == (os.sched_getaffinity(0).__len__()
                                                                if hasattr(os, "sched_getaffinity") else os.cpu_count())
