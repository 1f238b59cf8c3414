"""One boundary for the analyzed code: whatever a Python model raises, wherever (import, factory,
forward, backward, the timed forward), is exit 2 in one line naming it, never a traceback, exit 1
(a regression, to `gcost check`) or exit 3 (a gcost bug); valid networks that PyTorch trains or
runs, gcost trains and runs."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, invoke, run_together

FAST_TIMING = ["--device", "cpu", "--warmup", "0", "--min-time", "0.05"]


def one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    return result.stderr


@pytest.mark.parametrize("factory, fragment", [
    ("escape_in_forward", "the model raised Escape: out of forward"),
    ("escape_in_factory", "the model raised Escape: out of the factory (in the factory)"),
    ("generator_exit_in_factory", "the model raised GeneratorExit: closing (in the factory)"),
])
def test_a_base_exception_from_the_model_is_exit_2_in_one_line(runner, factory, fragment):
    result = invoke(runner, "analyze", "--model", f"tests.hostile_models:{factory}", "--input", "3x8x8",
                    "--no-latency")
    assert fragment in one_line_error(result)


def test_a_base_exception_at_import_is_exit_2_in_one_line(runner, tmp_path):
    (tmp_path / "net.py").write_text("class Escape(BaseException):\n    pass\n\nraise Escape('at import')\n")
    result = invoke(runner, "analyze", "--model", f"{tmp_path}/net.py:build", "--input", "3x8x8", "--no-latency")
    assert "Escape: at import" in one_line_error(result)


def test_a_model_failing_only_when_timed_is_the_models_error(runner):
    args = ["analyze", "--model", "tests.hostile_models:only_on_meta", "--input", "3x8x8", *FAST_TIMING]
    assert invoke(runner, *args[:5], "--no-latency").exit_code == 0  # it counts
    for extra in ([], ["--per-layer"]):
        error = one_line_error(invoke(runner, *args, *extra))
        assert "the model raised ValueError: not on a real device (in its timed forward)" in error


@pytest.mark.parametrize("factory", ["returns_int", "returns_generator"])
def test_verify_on_outputs_the_tracer_cannot_follow_is_exit_2(runner, factory):
    result = invoke(runner, "analyze", "--model", f"tests.hostile_models:{factory}", "--input", "3x8x8",
                    "--no-latency", "--verify")
    assert "--verify: fvcore traces the model with torch.jit.trace" in one_line_error(result)


def test_verify_on_a_dict_output_agrees(runner):
    result = invoke(runner, "analyze", "--model", "tests.hostile_models:returns_dict", "--input", "3x8x8",
                    "--no-latency", "--verify", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["totals"]["macs"] == 4 * 3 * 8 * 8


def test_a_model_of_200_nested_sequentials_is_copied_counted_and_verified(runner):
    result = invoke(runner, "analyze", "--model", "tests.hostile_models:nested", "--input", "3x8x8",
                    "--no-latency", "--verify", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["totals"]["params"] == 3 * 3 + 3


def test_a_model_nested_past_the_bound_is_refused_naming_the_depth(runner):
    result = invoke(runner, "analyze", "--model", "tests.hostile_models:nested", "--model-arg", "levels=2100",
                    "--input", "3x8x8", "--no-latency")
    assert "nest more than 2,000 levels deep" in one_line_error(result)


BRANCH_BESIDE_ACTIVATION = """name: t
input: [3, 8, 8]
layers:
  - {name: c0, type: conv, out: 4, kernel: 3, padding: 1}
  - name: blk
    type: branches
    merge: add
    branches:
      - [{type: relu}]
      - [{type: conv, out: 4, kernel: 3, padding: 1}]
"""


def test_an_activation_path_beside_a_conv_path_reads_the_blocks_input_unchanged():
    from googlenet_cost.build.builder import build_model
    from googlenet_cost.spec.load import parse_spec

    model = build_model(parse_spec(BRANCH_BESIDE_ACTIVATION, where="t.yaml"), train=False).eval()
    block = model.layers[1]
    x = torch.randn(1, 4, 8, 8)
    expected = torch.relu(x) + block.paths[1](x.clone())
    assert torch.equal(block(x.clone()), expected)


@pytest.mark.slow
@pytest.mark.parametrize("text", [
    BRANCH_BESIDE_ACTIVATION,
    "name: t\ninput: [3, 8, 8]\nlayers:\n  - {name: p, type: maxpool, kernel: 2, stride: 2}\n  - {name: r, type: relu}\n",
], ids=["activation-beside-conv", "nothing-to-train"])
def test_a_training_step_runs_on_every_valid_network(runner, write_spec, text):
    result = invoke(runner, "analyze", str(write_spec(text)), "--step", "train", *FAST_TIMING, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["latency"]["median_ms"] > 0 and report["training"]["step_macs"] >= 0


def test_a_network_without_trainable_parameters_costs_no_optimizer_state(runner, write_spec):
    text = "name: t\ninput: [3, 8, 8]\nlayers:\n  - {name: p, type: maxpool, kernel: 2, stride: 2}\n"
    result = invoke(runner, "analyze", str(write_spec(text)), "--step", "train", "--no-latency", "--format", "json")
    training = json.loads(result.stdout)["training"]
    assert training["param_bytes"] == training["grad_bytes"] == training["step_macs"] == 0


# Each of these runs a real gcost process (a process's ending, its signal state, Python's hooks); they
# start together once for the module, so their seconds of importing torch overlap.
REAL_PROCESS_RUNS = {
    "leaves_a_thread": ["analyze", "--model", "tests.hostile_models:leaves_a_thread", "--input", "3x8x8",
                        "--no-latency", "--format", "csv"],
    "keyboard_interrupt_in_factory": ["analyze", "--model", "tests.hostile_models:keyboard_interrupt_in_factory",
                                      "--input", "3x8x8", "--no-latency"],
    "noisy_thread_and_del": ["analyze", "--model", "tests.hostile_models:noisy_thread_and_del", "--input", "3x8x8",
                             "--no-latency", "--format", "csv"],
}


@pytest.fixture(scope="module")
def real_process() -> dict[str, subprocess.CompletedProcess]:
    names = list(REAL_PROCESS_RUNS)
    done = run_together(*([sys.executable, "-m", "gcost_cli", *REAL_PROCESS_RUNS[name]] for name in names), cwd=ROOT)
    return dict(zip(names, done))


@pytest.mark.slow
def test_a_thread_left_running_by_the_model_does_not_keep_gcost_alive(real_process):
    done = real_process["leaves_a_thread"]
    assert done.returncode == 0 and done.stdout.startswith("name,")
    # one thread per call of the factory: a small model is built for the meta device and for the CPU
    assert "left 2 thread(s) running (never-ends, never-ends)" in done.stderr


def test_an_exception_that_cannot_print_itself_is_still_the_models_error(runner):
    result = invoke(runner, "analyze", "--model", "tests.hostile_models:unprintable_in_forward", "--input", "3x8x8",
                    "--no-latency")
    assert "the model raised Unprintable: <Unprintable whose message cannot be printed>" in one_line_error(result)


@pytest.mark.slow
def test_a_keyboard_interrupt_raised_by_the_model_without_ctrl_c_is_exit_2(real_process):
    done = real_process["keyboard_interrupt_in_factory"]
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "raised KeyboardInterrupt without a Ctrl-C: raised by the model, no Ctrl-C" in done.stderr


@pytest.mark.slow
def test_errors_python_cannot_pass_on_become_one_line_warnings_not_tracebacks(real_process):
    done = real_process["noisy_thread_and_del"]
    assert done.returncode == 0 and done.stdout.startswith("name,") and "Traceback" not in done.stderr
    assert "worker (started by the analyzed code) raised ValueError: in a thread" in done.stderr
    assert "ignored SystemExit in <function NoisyThreadAndDel.__del__" in done.stderr


@pytest.mark.parametrize("depth", ["3", "all"])
def test_per_layer_latency_of_a_python_model_fills_every_row_at_any_depth(runner, depth):
    result = invoke(runner, "analyze", "--model", "tests.hostile_models:nested", "--model-arg", "levels=4",
                    "--input", "3x8x8", "--depth", depth, "--per-layer", *FAST_TIMING, "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["layers"]
    assert len(rows) == (3 if depth == "3" else 4) and all(row["latency_ms"] is not None for row in rows)
