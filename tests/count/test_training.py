"""What a training step costs: backward MACs (closed form = measured, on every row), activation
memory kept for backward (by hand), step memory, and the CLI around them."""
from __future__ import annotations

import json

import pytest
import torch

import googlenet_cost as gc
from googlenet_cost.spec.plan import plan_rows
from googlenet_cost.sources import open_source
from googlenet_cost.optimizers import OPTIMIZER_STATES
from googlenet_cost.options import RunOptions
from tests.conftest import SPEC_PARAMS, invoke


@pytest.fixture(scope="module")
def googlenet_step():
    return gc.analyze(gc.load_spec("googlenet"), optimizer="momentum")


@pytest.mark.slow
def test_googlenet_backward_is_twice_the_forward_minus_conv1s_input_gradient(googlenet_step):
    planned = plan_rows(gc.load_spec("googlenet"), train=True)
    forward = sum(r.cost.macs for r in planned if r.parent is None)  # train mode: aux heads included
    conv1 = next(r for r in planned if r.name == "conv1").cost.macs  # its input (the image) needs no gradient
    closed_form = sum(r.backward_macs for r in planned if r.parent is None)
    assert closed_form == 2 * forward - conv1 == 3_064_074_240
    assert googlenet_step.training.forward_macs == forward == 1_591_044_096
    assert googlenet_step.training.backward_macs == closed_form
    assert googlenet_step.training.step_macs == forward + closed_form
    assert not any("disagree" in w for w in googlenet_step.warnings)  # every row, children included


@pytest.mark.parametrize("path", SPEC_PARAMS)
def test_every_row_of_every_shipped_spec_agrees_with_the_closed_form(path):
    # batch 2: inception_v3's aux head batch-normalizes a 1x1 map, which PyTorch cannot train at batch 1
    report = gc.analyze(gc.load_spec(path), batch=2, optimizer="sgd")
    assert not any("backward_macs disagree" in w for w in report.warnings), report.warnings[:2]
    assert all(row.backward_macs is not None for row in report.layers)


def test_the_seeds_5x5_example_costs_to_train_with_and_without_the_reduce():
    report = gc.analyze(gc.load_spec("example_5x5_bottleneck"), optimizer="sgd")
    rows = {row.name: row for row in report.layers}
    h = w = 14
    direct = 48 * h * w * 5 * 5 * 480  # 112,896,000: the forward; its input (the spec's input) needs no gradient
    reduce = 16 * h * w * 480  # 1x1 reduce: 1,505,280
    after = 48 * h * w * 5 * 5 * 16  # 5x5 on the reduced 16 channels: 3,763,200
    assert rows["paths/direct_5x5"].backward_macs == direct == 112_896_000  # the weight's gradient only
    assert rows["paths/5x5_reduce"].backward_macs == reduce == 1_505_280
    assert rows["paths/5x5"].backward_macs == 2 * after == 7_526_400  # its input comes from a layer: both
    assert rows["paths/5x5_reduce"].backward_macs + rows["paths/5x5"].backward_macs == 9_031_680


def test_saved_bytes_of_conv_relu_conv_by_hand():
    report = open_source(None, "tests.pymodels:conv_relu_conv", "3x8x8").analyze(batch=2, optimizer="adam")
    rows = {row.name: row for row in report.layers}
    image = 2 * 3 * 8 * 8 * 4  # conv 0 keeps its input for its weight's gradient: 1,536 bytes
    relu_out = 2 * 4 * 8 * 8 * 4  # ReLU keeps its output; conv 2 keeps the same tensor as its input: 2,048
    assert rows["0"].saved_bytes == image and rows["1"].saved_bytes == relu_out and rows["2"].saved_bytes == 0
    params = 4 * 3 * 9 + 4 + 5 * 4 * 9 + 5
    t = report.training
    assert t.saved_bytes == image + relu_out == 3_584
    assert t.param_bytes == t.grad_bytes == 4 * params
    assert t.optimizer_bytes == 4 * params * OPTIMIZER_STATES["adam"] == 8 * params
    assert t.train_bytes == 4 * params * 4 + 3_584
    assert rows["0"].backward_macs == 4 * 64 * 27  # the weight's gradient only
    assert rows["2"].backward_macs == 2 * 5 * 64 * 36


def test_json_carries_the_training_fields(runner):
    data = json.loads(invoke(runner, "analyze", "example_5x5_conv", "--step", "train", "--optimizer", "sgd",
                             "--no-latency", "--format", "json").stdout)
    assert data["mode"] == "train" and data["training"]["optimizer"] == "sgd" and data["training"]["batch"] == 1
    assert {"backward_macs", "step_macs", "saved_bytes", "train_bytes"} <= set(data["totals"])
    assert data["totals"]["step_macs"] == data["totals"]["macs"] + data["totals"]["backward_macs"]
    assert all({"backward_macs", "saved_bytes"} <= set(row) for row in data["layers"])


@pytest.mark.slow
def test_the_table_shows_backward_and_the_step_in_words(runner):
    text = invoke(runner, "analyze", "googlenet", "--step", "train", "--no-latency", "--depth", "top").stdout
    assert "backward MACs" in text and "3,064,074,240" in text and "1.93x" in text
    assert "Training step (momentum SGD, batch 1, fp32)" in text and "Not counted" in text


def test_check_gates_training_memory_and_records_it_in_baselines(runner, tmp_path):
    over = invoke(runner, "check", "example_5x5_conv", "--max-train-bytes", "10K", "--batch", "2")
    assert over.exit_code == 1 and "train_bytes" in over.stdout
    ok = invoke(runner, "check", "example_5x5_conv", "--max-step-macs", "2M")
    assert ok.exit_code == 0
    lock = tmp_path / "lock.json"
    invoke(runner, "baseline", "example_5x5_conv", "--step", "train", "--batch", "2", "-o", str(lock))
    recorded = json.loads(lock.read_text())["specs"]["example_5x5_conv"]
    assert (recorded["step"], recorded["batch"], recorded["optimizer"]) == ("train", 2, "momentum")
    assert "train_bytes" in recorded["metrics"]
    same = invoke(runner, "check", "example_5x5_conv", "--baseline", str(lock), "--step", "train", "--batch", "2")
    assert same.exit_code == 0 and "train_bytes" in same.stdout
    other = invoke(runner, "check", "example_5x5_conv", "--baseline", str(lock), "--step", "train", "--batch", "4")
    assert other.exit_code == 2 and "recorded with batch 2, this run has batch 4" in other.stderr


@pytest.mark.slow
def test_training_step_timing_and_compare(runner):
    result = invoke(runner, "compare", "example_5x5_bottleneck", "example_5x5_conv", "--step", "train",
                    "--format", "json", "--min-time", "0", "--min-iters", "5", "--warmup", "0", "--max-time", "3",
                    "--precision", "50%")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    [line] = data["summary"]
    assert line["step_macs_ratio"] > 0 and line["train_bytes_ratio"] > 0
    assert all(v["latency"]["step"] == "train" for v in data["variants"])
    assert "training-step latency" in line["text"]


def test_a_timed_training_step_leaves_a_held_model_untouched():
    import torch

    from googlenet_cost.timing.loop import LoopLimits
    from googlenet_cost.timing.measure import TimingOptions
    from tests import pymodels

    before = {k: v.clone() for k, v in pymodels.HELD.state_dict().items()}
    timing = TimingOptions(device="cpu", limits=LoopLimits(1, 0.0, 3, 0.0))
    open_source(None, "tests.pymodels:held", "3x8x8").analyze(timing=timing, optimizer="momentum")
    assert all(torch.equal(v, before[k]) for k, v in pymodels.HELD.state_dict().items())
    assert all(p.grad is None for p in pymodels.HELD.parameters())


@pytest.mark.parametrize("flag", ["--cuda-graph", "--compile", "--per-layer"])
def test_inference_only_timing_modes_are_refused_with_a_training_step(runner, flag):
    result = invoke(runner, "analyze", "example_5x5_conv", "--step", "train", "--device", "cpu", flag)
    assert result.exit_code == 2 and "--step train" in result.stderr


@pytest.mark.slow
def test_a_training_step_reports_its_forward_backward_and_optimizer_shares():
    from googlenet_cost.timing.loop import LoopLimits
    from googlenet_cost.timing.measure import TimingOptions, measure_latency
    from googlenet_cost.sources import spec_target

    [stats] = measure_latency(spec_target(gc.load_spec("example_3x3_bottleneck"), RunOptions(step="train")),
                            TimingOptions(device="cpu", limits=LoopLimits(1, 0.0, 5, 0.0)), macs=1)
    assert stats.step == "train" and [name for name, _ in stats.phases.parts()] == ["forward", "backward", "optimizer"]
    assert all(ms > 0 for _, ms in stats.phases.parts())


def test_training_step_phases_on_the_fake_gpu_come_from_events_on_its_stream():
    from googlenet_cost.timing.loop import LoopLimits
    from googlenet_cost.timing.measure import TimingOptions, measure_latency
    from tests.fake_cuda import FakeCuda, fake_target

    cuda = FakeCuda(devices=2)
    [stats] = measure_latency(fake_target(cuda, ms=5.0, step_optimizer="momentum"),
                            TimingOptions(device="cuda:1", limits=LoopLimits(2, 0.0, 5, 0.0)),
                            macs=1, cuda=cuda, clock=cuda.clock)
    assert stats.phases.forward_ms == pytest.approx(5.0, rel=0.05)  # the fake model's device work
    assert stats.phases.backward_ms == pytest.approx(0.0, abs=0.01)  # its backward runs no device work
    assert {device for what, device in cuda.log if what == "record"} == {1}


@pytest.mark.parametrize("groups,transposed", [(1, False), (2, False), (8, False), (2, True)])
@pytest.mark.parametrize("input_grad", [False, True])
def test_grouped_conv_backward_costs_its_forward_per_gradient(groups, transposed, input_grad):
    """The weight gradient of a conv costs its forward MACs (every output x weight product once),
    and so does the input gradient: torch's own formula counts a grouped conv's weight gradient
    `groups` times over (pytorch/pytorch#183405); gcost's counter does not."""
    from googlenet_cost.count.counting import flop_counter_mode

    make = torch.nn.ConvTranspose2d if transposed else torch.nn.Conv2d
    conv = make(8, 16, 3, groups=groups, bias=False)
    x = torch.zeros(2, 8, 6, 6, requires_grad=input_grad)
    out_hw = 8 if transposed else 4
    forward_macs = 2 * (8 * 6 * 6 if transposed else 16 * out_hw * out_hw) * (16 if transposed else 8) // groups * 9
    with flop_counter_mode() as counter:
        conv(x).sum().backward()
    counts = {str(op): flops // 2 for op, flops in counter.get_flop_counts()["Global"].items()}
    assert counts["aten.convolution"] == forward_macs
    assert counts["aten.convolution_backward"] == forward_macs * (2 if input_grad else 1)


@pytest.mark.slow
def test_depthwise_specs_training_closed_form_equals_measured():
    report = gc.analyze(gc.load_spec("mobilenet_v2"), optimizer="sgd")
    assert report.warnings == []
    dw = next(row for row in report.layers if row.name == "block2/dw")
    assert dw.backward_macs == 2 * dw.macs  # its input (block2/expand's output) needs a gradient


@pytest.mark.parametrize("command", ["baseline", "check"])
def test_the_gate_times_the_training_step_it_records_at_its_batch(runner, tmp_path, monkeypatch, command):
    """check/baseline --step train --latency time a training step at --batch, as the lock says."""
    from googlenet_cost.timing import measure

    timed = []

    def record(target, options, **kwargs):
        timed.append((target, options))
        raise measure.GcostError("stop here: the options are what this test reads")

    monkeypatch.setattr(measure, "measure_latency", record)
    args = ["-o", str(tmp_path / "lock.json")] if command == "baseline" else []
    invoke(runner, command, "example_5x5_conv", "--latency", "--device", "cpu", "--step", "train",
           "--batch", "2", "--optimizer", "adam", *args)
    [(target, options)] = timed
    assert (target.step_optimizer, options.batches) == ("adam", (2,))
