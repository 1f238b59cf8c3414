"""The CLI end to end: formats, files written atomically, built-in specs, Python models."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import ROOT, SPECS, invoke


@pytest.mark.slow
def test_analyze_json_to_file(runner, tmp_path):
    out = tmp_path / "report.json"
    result = invoke(runner, "analyze", "specs/googlenet.yaml", "--no-latency", "--format", "json", "-o", str(out))
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["totals"]["params"] == 6_998_552 and data["mode"] == "eval" and data["latency"] is None
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temp file left behind


def test_builtin_spec_by_name_with_train_and_batch(runner):
    result = invoke(runner, "analyze", "googlenet", "--train", "--batch", "8", "--no-latency", "--format", "json")
    data = json.loads(result.stdout)
    assert data["mode"] == "train" and data["batch"] == 8
    assert data["totals"]["params"] == 13_378_280 and data["totals"]["macs"] == 1_591_044_096


@pytest.mark.slow
def test_table_shows_rows_paper_flags_and_conventions(runner):
    result = invoke(runner, "analyze", "googlenet", "--no-latency")
    assert result.exit_code == 0
    for text in ("inception_4a", "└ 5x5_reduce", "2.7K ≠", "1,582,671,872", "multiply-accumulates"):
        assert text in result.stdout


@pytest.mark.slow
def test_verify_cross_checks_with_fvcore_without_warnings(runner):
    result = invoke(runner, "analyze", "googlenet", "--verify", "--no-latency", "--format", "json")
    data = json.loads(result.stdout)
    (verified,) = data["notes"]  # the agreement is a note; nothing is a warning
    assert result.exit_code == 0 and verified.startswith("--verify:") and "equal gcost's on all" in verified
    assert data["warnings"] == []


@pytest.mark.slow
def test_failed_write_keeps_the_previous_file(runner, tmp_path, failing_rename):
    out = tmp_path / "report.json"
    out.write_text("previous")
    result = invoke(runner, "analyze", "googlenet", "--no-latency", "--format", "json", "-o", str(out))
    assert result.exit_code == 2 and "No space left" in result.stderr
    assert out.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


@pytest.mark.slow
def test_output_into_a_missing_folder_is_a_clear_error(runner, tmp_path):
    result = invoke(runner, "analyze", "googlenet", "--no-latency", "-o", str(tmp_path / "no" / "r.json"))
    assert result.exit_code == 2 and "does not exist" in result.stderr


def test_specs_command_lists_builtins(runner):
    result = invoke(runner, "specs")
    assert result.exit_code == 0
    for name in ("googlenet", "torchvision_googlenet", "vgg16", "resnet50"):
        assert name in result.stdout


@pytest.mark.parametrize("spec", SPECS, ids=lambda path: path.stem)
def test_specs_export_prints_each_shipped_spec_byte_for_byte(runner, spec):
    result = invoke(runner, "specs", "--export", spec.stem)
    assert result.exit_code == 0 and result.stdout_bytes == spec.read_bytes()


def test_specs_path_names_the_file_the_export_reads(runner):
    result = invoke(runner, "specs", "--path", "googlenet")
    assert result.exit_code == 0
    assert Path(result.stdout.strip()).read_bytes() == (ROOT / "specs" / "googlenet.yaml").read_bytes()


@pytest.mark.parametrize("args, fragment", [
    (["--export", "googlnet"], "no built-in spec 'googlnet' (did you mean 'googlenet'?)"),
    (["--path", "specs/googlenet.yaml"], "no built-in spec 'specs/googlenet.yaml'"),
    (["--export", "googlenet", "--path", "vgg16"], "give --export or --path, not both"),
])
def test_specs_export_and_path_take_only_one_built_in_name(runner, args, fragment):
    result = invoke(runner, "specs", *args)
    assert result.exit_code == 2 and result.stdout == "" and fragment in result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA error")
def test_device_cuda_without_cuda_is_exit_2(runner):
    result = invoke(runner, "analyze", "specs/example_5x5_conv.yaml", "--device", "cuda")
    assert result.exit_code == 2 and "no CUDA device" in result.stderr


@pytest.mark.parametrize("flag", [["--cuda-graph"], ["--dtype", "tf32"]])
def test_cuda_only_options_on_the_cpu_are_exit_2(runner, flag):
    result = invoke(runner, "analyze", "specs/example_5x5_conv.yaml", "--device", "cpu", *flag)
    assert result.exit_code == 2 and "needs a CUDA device" in result.stderr


def test_cpu_latency_is_labelled_and_in_the_json(runner):
    result = invoke(runner, "analyze", "specs/example_5x5_conv.yaml", "--device", "cpu", "--format", "json",
                    "--min-time", "0", "--min-iters", "5", "--warmup", "0", "--batch", "1,2", "--threads", "1")
    assert result.exit_code == 0, result.output
    latency = json.loads(result.stdout)["latency"]
    assert [entry["batch"] for entry in latency] == [1, 2]
    for entry in latency:
        assert entry["device_type"] == "cpu" and entry["threads"] == 1 and entry["iterations"] == 5
        assert entry["p10_ms"] <= entry["median_ms"] <= entry["p90_ms"] and entry["iqr_ms"] >= 0
        assert entry["p99_ms"] is None  # 5 samples cannot say what a p99 is
        assert entry["peak_memory_bytes"] is None and entry["peak_fraction"] is None
        assert set(entry) >= {"device", "dtype", "mean_ms", "stdev_ms", "warmup_iterations",
                              "throughput_per_s", "tflops", "cuda_graph", "channels_last", "compiled"}
    assert torch.get_num_threads() != 1 or os.cpu_count() == 1  # thread count restored


def test_cpu_table_says_plainly_it_is_not_gpu_latency(runner):
    result = invoke(runner, "analyze", "specs/example_5x5_conv.yaml", "--device", "cpu",
                    "--min-time", "0", "--min-iters", "3", "--warmup", "0")
    assert "NOT GPU latency" in result.stdout


@pytest.mark.slow
def test_per_layer_latency_is_a_separate_pass(runner):
    result = invoke(runner, "analyze", "specs/example_3x3_bottleneck.yaml", "--device", "cpu", "--per-layer",
                    "--format", "json", "--min-time", "0", "--min-iters", "3", "--warmup", "0")
    data = json.loads(result.stdout)
    rows = {row["name"]: row["latency_ms"] for row in data["layers"]}
    assert all(value is not None and value >= 0 for value in rows.values())
    assert data["layer_latency"]["total_ms"] > 0
    assert data["layer_latency"]["coverage_of"] == "instrumented wall time"
    assert data["latency"]["iterations"] == 3  # the headline comes from the uninstrumented loop


def test_python_model(runner):
    result = invoke(runner, "analyze", "--model", "tests.pymodels:tiny", "--input", "3x32x32", "--no-latency",
                    "--format", "json")
    data = json.loads(result.stdout)
    from tests.pymodels import tiny

    model = tiny()
    assert data["totals"]["params"] == sum(p.numel() for p in model.parameters())
    assert data["totals"]["macs"] == 8 * 32 * 32 * 3 * 9 + 8 * 16 * 16 * 10
    assert [r["name"] for r in data["layers"] if r["parent"] is None] == ["features", "head"]


def test_python_model_functional_ops_are_counted_outside_submodules(runner):
    result = invoke(runner, "analyze", "--model", "tests.pymodels:functional_conv", "--input", "3x8x8",
                    "--no-latency", "--format", "json")
    data = json.loads(result.stdout)
    assert data["totals"]["macs"] == 4 * 6 * 6 * 3 * 9 and data["totals"]["params"] == 108


def test_python_model_uncounted_ops_are_listed_and_strict_fails(runner):
    args = ["analyze", "--model", "tests.pymodels:with_fft", "--input", "3x8x8", "--no-latency", "--format", "json"]
    listed = invoke(runner, *args)
    assert listed.exit_code == 0 and "fft" in listed.stderr  # the operator is named (torch names it)
    strict = invoke(runner, *args, "--strict")
    assert strict.exit_code == 2 and "fft" in strict.stderr


@pytest.mark.parametrize("args,fragment", [
    (["--model", "tests.pymodels:broken", "--input", "3x8x8"],
     "tests.pymodels:broken: the model raised ValueError: no weights here (in the factory)"),
    (["--model", "tests.pymodels:not_a_module", "--input", "3x8x8"], "not a torch.nn.Module"),
    (["--model", "tests.pymodels:wrong_view", "--input", "3x8x8"],
     "gcost: error: tests.pymodels:wrong_view: the model raised RuntimeError: "),
    (["--model", "tests.nowhere:f", "--input", "3x8x8"], "cannot import"),
    (["--model", "tests.pymodels", "--input", "3x8x8"], "package.module:factory"),
    (["--model", "tests.pymodels:tiny"], "needs --input"),
    (["--model", "tests.pymodels:tiny", "--input", "3xAx8"], "--input must look like"),
    (["googlenet", "--input", "3x8x8"], "--input goes with --model"),
])
def test_python_model_errors_are_exit_2(runner, args, fragment):
    result = invoke(runner, "analyze", *args, "--no-latency")
    assert result.exit_code == 2 and fragment in result.stderr, result.output


@pytest.mark.slow
def test_installed_command_runs_in_a_real_process(tmp_path):
    out = tmp_path / "r.csv"
    done = subprocess.run([sys.executable, "-m", "gcost_cli", "analyze", "googlenet", "--no-latency", "--format", "csv",
                           "-o", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert out.read_text().splitlines()[0].startswith("name,parent,type")


def test_output_to_a_pipe_is_refused_without_blocking_and_never_replaced(runner, tmp_path):
    """Issue 33: gcost writes regular files only: a FIFO (or /dev/stdout, a device) named by -o is
    refused at once, by its name (no reader is waiting: opening it would block forever)."""
    import stat

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    result = invoke(runner, "analyze", "specs/example_5x5_conv.yaml", "--no-latency", "--format", "json",
                    "-o", str(fifo))
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert f"{fifo}: cannot write: is a FIFO" in result.stderr
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_auto_device_falls_back_to_the_cpu_without_cuda():
    from googlenet_cost.timing.measure import resolve_device

    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu").type == "cpu"


@pytest.mark.parametrize("dtype", ["bf16", "fp16"])
def test_reduced_precision_timing_on_the_cpu(runner, dtype):
    result = invoke(runner, "analyze", "specs/example_5x5_conv.yaml", "--device", "cpu", "--dtype", dtype,
                    "--format", "json", "--min-time", "0", "--min-iters", "3", "--warmup", "0")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["latency"]["dtype"] == dtype


def test_a_disagreement_between_counts_is_warned_loudly(runner, monkeypatch):
    from googlenet_cost.spec.layers import ConvSpec, Cost

    real = ConvSpec.cost
    monkeypatch.setattr(ConvSpec, "cost", lambda self, shape: real(self, shape) + Cost(macs=1))
    result = invoke(runner, "analyze", "specs/example_5x5_conv.yaml", "--no-latency", "--format", "json")
    assert "warning: macs disagree on c1" in result.stderr
    assert json.loads(result.stdout)["warnings"]


def test_a_network_too_large_to_time_is_refused_before_allocating(runner, write_spec):
    spec = write_spec("name: huge\ninput: [3, 60000, 60000]\nlayers:\n  - {name: c1, type: conv, out: 1000000, kernel: 3}\n")
    counted = invoke(runner, "analyze", str(spec), "--no-latency", "--format", "json")
    assert counted.exit_code == 0 and json.loads(counted.stdout)["totals"]["params"] == 1_000_000 * 28
    timed = invoke(runner, "analyze", str(spec), "--device", "cpu")
    assert timed.exit_code == 2 and "too large to time here" in timed.stderr


def test_python_model_that_cannot_run_on_meta_is_measured_on_the_cpu(runner):
    result = invoke(runner, "analyze", "--model", "tests.pymodels:data_dependent", "--input", "3x8x8",
                    "--no-latency", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["totals"]["macs"] == 4 * 6 * 6 * 3 * 9


@pytest.mark.slow
def test_cli_table_of_a_large_spec_leaves_branch_rows_out_only_by_default(runner, tmp_path):
    module = ("  - {{name: m{i}, type: inception, 1x1: 2, 3x3_reduce: 1, 3x3: 2, 5x5_reduce: 1, 5x5: 2, "
              "pool_proj: 1}}\n")
    path = tmp_path / "big.yaml"
    path.write_text("name: big\ninput: [4, 4, 4]\nlayers:\n" + "".join(module.format(i=i) for i in range(300)))
    default = invoke(runner, "analyze", str(path), "--no-latency")
    assert default.exit_code == 0, default.output
    assert "m299" in default.stdout and "└ 1x1" not in default.stdout
    assert "Showing the 300 top-level rows of 2,400" in default.stdout
    every = invoke(runner, "analyze", str(path), "--no-latency", "--depth", "branches")
    assert every.stdout.count("└ 1x1") == 300 and "Showing" not in every.stdout
