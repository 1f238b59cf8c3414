"""gcost peaks, the roofs of a roofline: the datasheet table, a user's YAML device and each bad
field, the measurement (the CPU at tiny sizes, CUDA on the fake backend), the operators' rates, and
the command. The cache is tests/roofline/test_cache.py's. No test times anything for real beyond a
few milliseconds (PeakSizes and OpSizes shrink every measurement)."""
from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
import torch

from conftest import invoke
from googlenet_cost.errors import GcostError
from googlenet_cost.roofline import microbench
from googlenet_cost.roofline.machine import last_level_cache_bytes
from googlenet_cost.roofline.microbench import PeakSizes
from googlenet_cost.roofline.peaks import resolve_peaks
from googlenet_cost.roofline.readers import datasheet, datasheet_for_device, datasheet_names
from tests.fake_cuda import FakeCuda, FakeKernels, FakeOutOfMemory, matmul_precision
from tests.roofline.sizes import (BYTES, FAKE_GPU, FAKE_OPS, FLOPS, TINY, TINY_OPS, cache,  # noqa: F401 - fixtures
                                 measurements, probes)

measure_peaks = functools.partial(microbench.measure_peaks, op_sizes=TINY_OPS)


# ---- the levels ---------------------------------------------------------------------------------

def test_to_dict_is_the_json_contract():
    keys = {"peak_flops_per_s", "peak_bytes_per_s", "cache_bytes_per_s", "cache_bytes", "source", "measured_at",
            "device", "dtype", "threads", "reference", "ridge_memory_flop_per_byte", "ridge_cache_flop_per_byte",
            "theoretical_flops_per_s", "theoretical_bytes_per_s", "theoretical_reference", "operator_rates"}
    assert set(datasheet("h200", "bf16").to_dict()) == keys


# ---- the datasheets -----------------------------------------------------------------------------

def test_the_table_holds_the_devices_of_issue_22():
    assert datasheet_names() == ["h200", "h100-sxm", "h100-pcie", "a100", "l40s", "a10", "t4", "orin"]


@pytest.mark.parametrize("name", ["h200", "h100-sxm", "h100-pcie", "a100", "l40s", "a10", "t4", "orin"])
def test_every_figure_is_dense_and_cited(name):
    for dtype in ("fp32", "tf32", "bf16", "fp16"):
        if name == "t4" and dtype in ("tf32", "bf16"):
            continue  # Turing has neither
        sheet = datasheet(name, dtype)
        assert sheet.source == "datasheet" and sheet.flops_per_s > sheet.bytes_per_s > 0
        assert sheet.reference and ("datasheet" in sheet.reference or "Technical Brief" in sheet.reference)


@pytest.mark.parametrize("name, dtype, sparse_tflops", [
    ("h100-sxm", "bf16", 1979), ("h100-sxm", "tf32", 989), ("h100-pcie", "fp16", 1513), ("h200", "bf16", 1979),
    ("l40s", "tf32", 366), ("a10", "bf16", 250), ("a100", "fp16", 624)])
def test_tensor_figures_are_half_the_sparse_figures_nvidia_prints(name, dtype, sparse_tflops):
    assert datasheet(name, dtype).flops_per_s == pytest.approx(sparse_tflops * 1e12 / 2, rel=2e-3)


@pytest.mark.parametrize("name, fp32_tflops, bandwidth", [
    ("h200", 67, 4.8e12), ("h100-sxm", 67, 3.35e12), ("h100-pcie", 51, 2.0e12), ("a100", 19.5, 2.039e12),
    ("l40s", 91.6, 864e9), ("a10", 31.2, 600e9), ("t4", 8.1, 320e9), ("orin", 5.3, 204.8e9)])
def test_fp32_and_bandwidth_are_the_printed_figures(name, fp32_tflops, bandwidth):
    sheet = datasheet(name, "fp32")
    assert sheet.flops_per_s == fp32_tflops * 1e12 and sheet.bytes_per_s == bandwidth


def test_an_unknown_name_suggests_the_closest_and_lists_them_all():
    with pytest.raises(GcostError, match=r"did you mean 'h200'\?.*h100-sxm, h100-pcie, a100"):
        datasheet("h20", "fp32")


def test_a_dtype_the_datasheet_lacks_is_an_error_naming_what_it_has():
    with pytest.raises(GcostError, match="t4 has no bf16 figure .it has fp32, fp16"):
        datasheet("t4", "bf16")


@pytest.mark.parametrize("cuda_name, dtype, expected", [
    ("NVIDIA H200", "bf16", "NVIDIA H200 SXM"), ("NVIDIA H100 80GB HBM3", "fp32", "NVIDIA H100 SXM"),
    ("NVIDIA H100 PCIe", "fp16", "NVIDIA H100 PCIe"), ("NVIDIA A100-SXM4-80GB", "tf32", "NVIDIA A100 SXM 80GB"),
    ("Tesla T4", "fp16", "NVIDIA T4"), ("Tesla T4", "bf16", None), ("NVIDIA H100 NVL", "fp32", None),
    ("NVIDIA A10G", "fp32", None)])
def test_a_cuda_device_name_finds_its_own_datasheet_only(cuda_name, dtype, expected):
    sheet = datasheet_for_device(cuda_name, dtype)
    assert (sheet.device if sheet else None) == expected


# ---- a user's device ----------------------------------------------------------------------------

def test_a_users_device_file_with_quantities_and_a_cache_level(tmp_path):
    path = tmp_path / "edge.yaml"
    path.write_text("name: My edge box\nflops_per_s: {fp32: 4.8e12, bf16: \"9.6T\"}\nbytes_per_s: 400G\n"
                    "cache_bytes_per_s: 2T\ncache_bytes: 32MiB\nsource: vendor sheet rev 3\n")
    peaks = resolve_peaks(str(path), dtype="bf16")
    assert (peaks.device, peaks.flops_per_s, peaks.bytes_per_s) == ("My edge box", 9.6e12, 4e11)
    assert (peaks.cache_bytes_per_s, peaks.cache_bytes, peaks.source) == (2e12, 32 * 2**20, "file")
    assert peaks.reference == f"{path} (vendor sheet rev 3)"


def test_one_flops_figure_serves_every_dtype(tmp_path):
    path = tmp_path / "box.yml"
    path.write_text("name: box\nflops_per_s: 1000000000000\nbytes_per_s: 1e11\n")
    assert {resolve_peaks(str(path), dtype=d).flops_per_s for d in ("fp32", "fp16")} == {1e12}


BAD_FILES = [
    ("name: x\nflops_per_s: 1T\n", "'bytes_per_s'"),
    ("name: x\nbytes_per_s: 1T\n", "'flops_per_s'"),
    ("flops_per_s: 1T\nbytes_per_s: 1T\n", "'name'"),
    ("name: ''\nflops_per_s: 1T\nbytes_per_s: 1T\n", "'name'"),
    ("name: [a]\nflops_per_s: 1T\nbytes_per_s: 1T\n", "'name'"),
    ("name: x\nflops_per_s: -1\nbytes_per_s: 1T\n", "'flops_per_s'"),
    ("name: x\nflops_per_s: .nan\nbytes_per_s: 1T\n", "'flops_per_s'"),
    ("name: x\nflops_per_s: fast\nbytes_per_s: 1T\n", "'flops_per_s'"),
    ("name: x\nflops_per_s: 1e30\nbytes_per_s: 1T\n", "'flops_per_s'"),
    ("name: x\nflops_per_s: 4.8P\nbytes_per_s: 1T\n", "'flops_per_s'"),
    ("name: x\nflops_per_s: {fp8: 1T}\nbytes_per_s: 1T\n", "'flops_per_s': unknown dtype 'fp8'"),
    ("name: x\nflops_per_s: {bf16: 1T}\nbytes_per_s: 1T\n", "'flops_per_s' has no fp32 figure (it has bf16)"),
    ("name: x\nflops_per_s: {fp32: zero}\nbytes_per_s: 1T\n", "'flops_per_s.fp32'"),
    ("name: x\nflops_per_s: 1T\nbytes_per_s: 0\n", "'bytes_per_s'"),
    ("name: x\nflops_per_s: 1T\nbytes_per_s: true\n", "'bytes_per_s'"),
    ("name: x\nflops_per_s: 1T\nbytes_per_s: 1T\ncache_bytes_per_s: 2T\n", "'cache_bytes_per_s' needs 'cache_bytes'"),
    ("name: x\nflops_per_s: 1T\nbytes_per_s: 1T\ncache_bytes: 32MiB\n", "'cache_bytes' needs 'cache_bytes_per_s'"),
    ("name: x\nflops_per_s: 1T\nbytes_per_s: 1T\ncache_bytes_per_s: 2T\ncache_bytes: 1.5\n", "'cache_bytes'"),
    ("name: x\nflops_per_s: 1T\nbytes_per_s: 1T\ncache_bytes_per_s: 2T\ncache_bytes: 32MB\n", "'cache_bytes'"),
    ("name: x\nflops_per_s: 1T\nbytes_per_s: 1T\ncache_bytes_per_s: 2T\ncache_bytes: 0.1KiB\n", "'cache_bytes'"),
    ("name: x\nflops_per_s: 1T\nbytes_per_s: 1T\ncache_bytes_per_s: 2G\ncache_bytes: 1024\n", "'cache_bytes_per_s'"),
    ("name: x\nflops_per_s: 1T\nbytes_per_sec: 1T\n", "'bytes_per_sec' (did you mean 'bytes_per_s'?)"),
    ("name: x\nflops_per_s: 1T\nbytes_per_s: 1T\nsource: 5\n", "'source'"),
    ("- a\n- b\n", "must be a mapping with keys name, flops_per_s and bytes_per_s"),
    ("name: [x\n", "malformed YAML"),
    ("name: x\nname: y\nflops_per_s: 1T\nbytes_per_s: 1T\n", "appears twice"),
    ('name: "My\\nbox"\nflops_per_s: 1T\nbytes_per_s: 1T\n', "'name' must be one line"),  # issue 33: two titles
    ('name: "box\\e[31m"\nflops_per_s: 1T\nbytes_per_s: 1T\n', "'name' must be one line"),
]


@pytest.mark.parametrize("text, expected", BAD_FILES, ids=[f"{i}-{e[:24]}" for i, (_, e) in enumerate(BAD_FILES)])
def test_each_bad_field_of_a_device_file_is_one_line_naming_the_file_and_key(runner, tmp_path, text, expected):
    path = tmp_path / "device.yaml"
    path.write_text(text)
    result = invoke(runner, "peaks", "--peaks", str(path))
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(f"gcost: error: {path}: ") and result.stderr.count("\n") == 1
    assert expected in result.stderr and "Traceback" not in result.stderr


def test_a_missing_device_file_is_a_usage_error(runner, tmp_path):
    result = invoke(runner, "peaks", "--peaks", str(tmp_path / "none.yaml"))
    assert result.exit_code == 2 and "none.yaml: cannot read" in result.stderr


# ---- measuring: the CPU for real (tiny), CUDA on the fake backend -------------------------------

@pytest.mark.parametrize("dtype", ["fp32", "bf16", "fp16"])
def test_a_tiny_cpu_measurement_fills_every_roof_and_restores_the_thread_count(dtype):
    before = torch.get_num_threads()
    said: list[str] = []
    peaks = measure_peaks("cpu", dtype, 1, progress=said.append, sizes=TINY)
    assert torch.get_num_threads() == before
    assert peaks.device.endswith("(1 thread)") and (peaks.threads, peaks.dtype, peaks.source) == (1, dtype, "measured")
    assert peaks.flops_per_s > 0 and peaks.cache_bytes_per_s >= peaks.bytes_per_s > 0
    assert peaks.cache_bytes == (last_level_cache_bytes() or 16 * 2**10)
    assert peaks.measured_at.endswith("Z") and [line.split(":")[0].strip() for line in said] == \
        ["peak FLOP/s", "memory bandwidth", "cache-resident bandwidth", "operators"]


def test_the_thread_count_is_restored_after_measuring():
    before = torch.get_num_threads()
    measure_peaks("cpu", "fp32", 2 if before == 1 else 1, sizes=TINY)
    assert torch.get_num_threads() == before


def test_the_cpu_refuses_tf32_and_too_many_threads():
    with pytest.raises(GcostError, match="tf32 needs a CUDA device"):
        measure_peaks("cpu", "tf32", 1, sizes=TINY)
    with pytest.raises(GcostError, match="threads must be from 1 to"):
        measure_peaks("cpu", "fp32", 100_000, sizes=TINY)


def test_the_last_level_cache_is_read_from_sysfs(tmp_path):
    for index, (level, kind, size) in enumerate([(1, "Data", "32K"), (1, "Instruction", "32K"),
                                                 (2, "Unified", "512K"), (3, "Unified", "32768K")]):
        folder = tmp_path / f"index{index}"
        folder.mkdir()
        for name, value in (("level", level), ("type", kind), ("size", size)):
            (folder / name).write_text(f"{value}\n")
    (tmp_path / "index9").mkdir()  # unreadable: skipped
    assert last_level_cache_bytes(tmp_path) == 32 * 2**20
    assert last_level_cache_bytes(tmp_path / "nothing") is None


def _fake_gpu(dtype: str = "fp32", device: str = "cuda:1", **options):
    fake = FakeCuda(devices=2, name="NVIDIA H200", **options)
    kernels = FakeKernels(fake, flops_per_s=FLOPS, bytes_per_s=BYTES)
    return fake, kernels


def test_cuda_peaks_are_timed_by_events_on_the_measured_devices_stream():
    fake, kernels = _fake_gpu()
    before = matmul_precision()
    peaks = measure_peaks("cuda:1", "fp32", None, cuda=fake, kernels=kernels, clock=fake.clock, sizes=FAKE_GPU,
                          op_sizes=FAKE_OPS)
    assert 0.98 * FLOPS <= peaks.flops_per_s <= FLOPS * (1 + 1e-9)  # what the simulated device does, not more
    assert 0.98 * BYTES <= peaks.bytes_per_s <= BYTES * (1 + 1e-9)
    assert set(fake.launches) == {1} and ("synchronize", 1) in fake.log and ("record", 0) not in fake.log
    assert {"matmul", "copy", "triad"} <= set(kernels.calls)
    assert (peaks.device, peaks.threads) == ("NVIDIA H200", None)
    assert peaks.cache_bytes_per_s is None and peaks.cache_bytes is None  # no cache level on a GPU
    assert set(kernels.precisions) == {"ieee"} and matmul_precision() == before  # TF32 off for fp32, then restored


@pytest.mark.parametrize("slow", ["copy", "triad"])
def test_the_bandwidth_is_the_best_of_copy_and_triad_each_counting_its_own_bytes(slow):
    fake = FakeCuda(devices=2)
    kernels = FakeKernels(fake, flops_per_s=FLOPS, bytes_per_s=BYTES, slow=slow)
    peaks = measure_peaks("cuda:1", "fp32", None, cuda=fake, kernels=kernels, clock=fake.clock, sizes=FAKE_GPU)
    assert peaks.bytes_per_s == pytest.approx(BYTES, rel=0.02)


def test_cuda_tf32_is_measured_with_tf32_on():
    fake, kernels = _fake_gpu()
    measure_peaks("cuda:1", "tf32", None, cuda=fake, kernels=kernels, clock=fake.clock, sizes=FAKE_GPU)
    assert set(kernels.precisions) == {"tf32"}


@pytest.mark.parametrize("matmul_s, n", [(0.02, 32), (0.2, 64)])
def test_the_product_grows_while_the_next_one_stays_under_half_the_budget(matmul_s, n):
    fake, kernels = _fake_gpu()
    sizes = PeakSizes(matmul_n=64, matmul_min_n=8, matmul_s=matmul_s, memory_bytes=4096, memory_s=0.001)
    peaks = measure_peaks("cuda:1", "fp32", None, cuda=fake, kernels=kernels, clock=fake.clock, sizes=sizes)
    # at 1e7 FLOP/s a 32x32 product takes 6.6 ms: a 64x64 one (8x) exceeds half of 0.02 s, not half of 0.2 s
    assert f"torch.mm {n}x{n}" in peaks.reference
    assert peaks.flops_per_s == pytest.approx(FLOPS, rel=0.02)


def test_cuda_arrays_shrink_to_the_free_memory():
    fake, kernels = _fake_gpu(free_bytes=8 * 4096)
    peaks = measure_peaks("cuda:1", "fp32", None, cuda=fake, kernels=kernels, clock=fake.clock, sizes=FAKE_GPU)
    assert "copy and triad on 4 KiB arrays" in peaks.reference


def test_cuda_out_of_memory_is_a_usage_error_and_the_cache_is_emptied():
    fake, kernels = _fake_gpu()

    def fail(a, b, out):
        raise FakeOutOfMemory("CUDA out of memory. Tried to allocate 1.00 GiB")

    kernels.matmul = fail
    with pytest.raises(GcostError, match="out of memory on cuda:1 while measuring its peaks"):
        measure_peaks("cuda:1", "fp32", None, cuda=fake, kernels=kernels, clock=fake.clock, sizes=FAKE_GPU)
    assert fake.empty_cache_calls >= 2


def test_threads_on_cuda_are_refused():
    fake, kernels = _fake_gpu()
    with pytest.raises(GcostError, match="threads set the CPU's thread count"):
        measure_peaks("cuda:0", "fp32", 2, cuda=fake, kernels=kernels, clock=fake.clock, sizes=FAKE_GPU)


# ---- the command --------------------------------------------------------------------------------

def test_peaks_measures_once_then_prints_table_and_json_from_the_cache(runner, measurements):
    first = invoke(runner, "peaks", "--device", "cpu", "--threads", "1")
    assert first.exit_code == 0 and "measuring this machine's peaks (once, cached in" in first.stderr
    for text in ("peak FLOP/s", "1 GFLOP/s", "10 GB/s", "50 GB/s", "32 MiB", "(1 thread)"):
        assert text in first.stdout
    again = invoke(runner, "peaks", "--device", "cpu", "--threads", "1", "--format", "json")
    assert again.exit_code == 0 and again.stderr == "" and len(measurements) == 1
    data = json.loads(again.stdout)
    assert data["schema"] == 1 and [p["source"] for p in data["peaks"]] == ["measured"]
    assert data["peaks"][0]["peak_flops_per_s"] == 1e9 and data["peaks"][0]["threads"] == 1


def test_peaks_of_a_datasheet_by_name(runner):
    result = invoke(runner, "peaks", "--peaks", "a100", "--dtype", "bf16", "--format", "json")
    (sheet,) = json.loads(result.stdout)["peaks"]
    assert (sheet["peak_flops_per_s"], sheet["peak_bytes_per_s"], sheet["source"]) == (312e12, 2.039e12, "datasheet")


def test_an_unknown_datasheet_is_exit_2_with_did_you_mean(runner):
    result = invoke(runner, "peaks", "--peaks", "h100")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "did you mean 'h100-sxm' or 'h100-pcie'?" in result.stderr and "h200, h100-sxm, h100-pcie" in result.stderr


@pytest.mark.parametrize("extra", [["--remeasure"], ["--threads", "2"], ["--device", "cpu"]])
def test_peaks_of_another_device_refuses_this_machines_options(runner, extra):
    result = invoke(runner, "peaks", "--peaks", "h200", *extra)
    assert result.exit_code == 2 and "leave out --device, --threads and --remeasure" in result.stderr


def _fake_gpu_machine(monkeypatch, name: str) -> None:
    """This machine with one fake GPU called `name`, measured through the real path at fake sizes."""
    from googlenet_cost.timing import measure

    fake = FakeCuda(name=name)
    monkeypatch.setattr(measure, "cuda_backend", lambda: fake)
    monkeypatch.setattr(microbench, "measure", functools.partial(
        microbench.measure, kernels=FakeKernels(fake, flops_per_s=FLOPS, bytes_per_s=BYTES), clock=fake.clock,
        sizes=FAKE_GPU, op_sizes=FAKE_OPS))
    monkeypatch.setattr(microbench, "probe", functools.partial(
        microbench.probe, kernels=FakeKernels(fake, flops_per_s=FLOPS, bytes_per_s=BYTES), clock=fake.clock,
        sizes=FAKE_GPU))


def test_on_a_gpu_measured_and_datasheet_peaks_stand_side_by_side(runner, cache, monkeypatch):
    _fake_gpu_machine(monkeypatch, "NVIDIA H200")
    result = invoke(runner, "peaks", "--format", "json")
    measured, sheet = json.loads(result.stdout)["peaks"]
    assert (measured["source"], measured["device"], measured["threads"]) == ("measured", "NVIDIA H200", None)
    assert measured["peak_flops_per_s"] == pytest.approx(FLOPS, rel=0.02)
    assert (sheet["source"], sheet["device"], sheet["peak_bytes_per_s"]) == ("datasheet", "NVIDIA H200 SXM", 4.8e12)
    table = invoke(runner, "peaks").stdout
    assert "measured / datasheet" in table and "67 TFLOP/s" in table and "MFLOP/s" in table


def test_a_gpu_without_a_datasheet_says_so(runner, cache, monkeypatch):
    _fake_gpu_machine(monkeypatch, "NVIDIA Mystery 9000")
    result = invoke(runner, "peaks")
    assert result.exit_code == 0 and "no datasheet for 'NVIDIA Mystery 9000' at fp32" in result.stdout


def test_an_operators_rate_is_timed_on_copies_in_turn_past_the_cache():
    """opbench times copies of an operator in turn (their data as large as the last-level cache),
    not the hot data of one call repeated: a network's operator finds its data evicted."""
    from googlenet_cost.roofline import opbench

    sizes = opbench.OpSizes(rotation_bytes=3000)
    made = opbench._instances(lambda: (object(), 1000.0), sizes)
    assert len(made) == 3 and len({id(call) for call, _ in made}) == 3
    assert opbench.rotation_bytes(opbench.OpSizes()) == max(8 * 2**20, last_level_cache_bytes() or 0)
    seen: list = []

    class Kernels:
        def operator(self, call, flops, moved):
            seen.append(call)

    bench = microbench.Bench(torch.device("cpu"), "fp32", TINY, Kernels(),
                             lambda run: microbench.HostTimer(run, lambda: len(seen) * 1e-3), lambda: len(seen) * 1e-3,
                             lambda text: None)
    calls = ["a", "b", "c"]
    assert opbench._time(bench, calls, 0.0, 1000.0, opbench.OpSizes(point_s=0.001, iteration_s=0.005)) > 0
    assert seen[:6] == ["a", "b", "c", "a", "b", "c"]
