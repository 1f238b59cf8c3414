"""summary(model, input_size=...) on a model object: the same numbers as `gcost analyze --model`,
torchinfo's reading of input_size (batch first), input_data, the model left as it was, and a
one-line error for every wrong argument."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

import googlenet_cost as gc
from conftest import invoke
from googlenet_cost.api import timing_options
from googlenet_cost.timing.loop import LoopLimits
from googlenet_cost.timing.settings import TimingOptions
from resnet_like import ResNetLike

RESNET_FILE = Path(__file__).parent / "resnet_like.py"
SIZE = (1, 3, 32, 32)
# The paper's arithmetic for ResNetLike on 32x32 (output pixels x output channels x kernel volume):
# stem, layer1's two convs, layer2's two convs and its 1x1 downsample, fc.
RESNET_MACS = (16 * 16 * 8 * 27 + 2 * 16 * 16 * 8 * 72 + 8 * 8 * 16 * 72 + 8 * 8 * 16 * 144 + 8 * 8 * 16 * 8
               + 16 * 10)


@pytest.fixture(scope="module")
def model() -> nn.Module:
    torch.manual_seed(0)
    return ResNetLike()


@pytest.fixture(scope="module")
def report(model):
    return gc.summary(model, input_size=SIZE)


def test_summary_equals_the_cli_on_the_same_model_given_as_a_file(runner, report):
    result = invoke(runner, "analyze", "--model", f"{RESNET_FILE}:resnet_like", "--input", "3x32x32",
                    "--no-latency", "--format", "json")
    assert result.exit_code == 0, result.output
    cli = json.loads(result.stdout)
    ours = report.to_dict()
    fields = ("name", "parent", "type", "output_shape", "params", "weights", "macs", "activations", "bytes")
    assert [[row[f] for f in fields] for row in ours["layers"]] == [[row[f] for f in fields] for row in cli["layers"]]
    assert ours["totals"] == cli["totals"]
    assert ours["totals"]["macs"] == RESNET_MACS
    assert ours["totals"]["params"] == sum(p.numel() for p in ResNetLike().parameters())


def test_the_users_model_is_left_as_it_was_after_a_training_step(model):
    model.train()
    seen = []
    handle = model.layer1.register_forward_hook(lambda module, args, output: seen.append(output.shape))
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    hooks = dict(model.layer1._forward_hooks)
    try:
        report = gc.summary(model, input_size=(2, 3, 32, 32), step="train", optimizer="adam")
        assert report.training is not None and report.training.optimizer == "adam"
        assert report.mode == "train"
        after = model.state_dict()
        assert before.keys() == after.keys()
        assert all(torch.equal(before[name], after[name]) for name in before)  # batch-norm statistics too
        assert all(module.training for module in model.modules())
        assert dict(model.layer1._forward_hooks) == hooks
        assert all(p.grad is None and p.device.type == "cpu" and p.dtype == torch.float32
                   for p in model.parameters())
    finally:
        handle.remove()
    model.eval()
    gc.summary(model, input_size=SIZE, train=True)
    assert not any(module.training for module in model.modules())


def test_input_size_is_read_as_torchinfo_reads_it_the_batch_first(model, report):
    four = gc.summary(model, input_size=(4, 3, 32, 32))
    assert four.batch == 4 and report.batch == 1
    assert four.input_shape == [3, 32, 32]
    assert [row.macs for row in four.layers] == [row.macs for row in report.layers]  # per sample
    assert four.totals.macs == report.totals.macs == RESNET_MACS
    assert four.totals.bytes > report.totals.bytes  # bytes are moved at the batch
    assert gc.summary(model, input_size=torch.Size([4, 3, 32, 32]), batch=4).to_dict() == four.to_dict()


def test_input_data_gives_its_shape(model):
    x = torch.randn(2, 3, 32, 32)
    from_data = gc.summary(model, input_data=x)
    assert from_data.batch == 2
    assert from_data.to_dict() == gc.summary(model, input_size=tuple(x.shape)).to_dict()


def test_depth_chooses_how_deep_the_rows_go(model, report):
    top = gc.summary(model, input_size=SIZE, depth=1)
    assert all(row.parent is None for row in top.layers)
    assert any(row.parent is not None for row in report.layers)
    assert top.totals.macs == report.totals.macs


def test_an_optimizer_alone_asks_for_a_training_step_as_analyze_reads_it(model):
    assert gc.summary(model, input_size=SIZE, optimizer="sgd").training.optimizer == "sgd"
    assert gc.summary(model, input_size=SIZE, step="train").training.optimizer == "momentum"
    assert gc.summary(model, input_size=SIZE).training is None


def test_timing_measures_latency_on_a_copy(model):
    quick = TimingOptions(device="cpu", limits=LoopLimits(warmup_min_iters=1, warmup_min_s=0.0, min_iters=3,
                                                          min_time_s=0.0, max_time_s=5.0))
    timed = gc.summary(model, input_size=SIZE, timing=quick, dtype="bf16")
    assert len(timed.timed) == 1 and timed.timed[0].dtype == "bf16" and timed.timed[0].median_ms > 0
    assert "CPU timing" in str(timed) and "<pre>" in timed._repr_html_()
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_timing_true_false_and_a_device():
    assert timing_options(True) == TimingOptions()
    assert timing_options(True, "cpu") == TimingOptions(device="cpu")
    assert timing_options(True, torch.device("cpu")) == TimingOptions(device="cpu")
    assert timing_options(TimingOptions(batches=(1, 8)), "cpu") == TimingOptions(device="cpu", batches=(1, 8))
    assert timing_options(False, "cuda") is None and timing_options(None) is None
    with pytest.raises(gc.GcostError, match="contradicts"):
        timing_options(TimingOptions(device="cuda"), "cpu")


WRONG = [
    ({"input_size": None}, TypeError, "needs its input: input_size=(1, 3, 224, 224)"),
    ({"input_size": "3x32x32"}, TypeError, "input_size must be a tuple of sizes"),
    ({"input_size": (1, 3, 32.0, 32)}, TypeError, "input_size must hold whole numbers, got float 32.0"),
    ({"input_size": (1, True, 32, 32)}, TypeError, "whole numbers, got True"),
    ({"input_size": ("1", "3", "32", "32")}, TypeError, "whole numbers, got str '1'"),
    ({"input_size": [(1, 3, 32, 32), (2, 10)]}, gc.GcostError, "the inputs' first sizes (the batch) differ: 1, 2"),
    ({"input_size": [(1, 3, 32, 32), 10]}, TypeError, "or a list of them, got a mix of both"),
    ({"dtypes": [torch.float, torch.long]}, TypeError, "dtypes must list one tensor type per input (1)"),
    ({"dtypes": ["long"]}, TypeError, "an input's type must be a torch.dtype like torch.long, got str"),
    ({"input_size": None, "input_data": {1: torch.zeros(1, 3, 32, 32)}}, TypeError,
     "input_data's keys are keyword argument names, got int"),
    ({"input_size": None, "input_data": {"x": torch.zeros(1, 3, 32, 32)}, "dtypes": [torch.long]}, TypeError,
     "dtypes goes with input_size"),
    ({"input_size": None, "input_data": "x"}, TypeError, "input_data holds no tensor, got str 'x'"),
    ({"input_size": None, "input_data": (torch.zeros(1, 3, 32, 32), [torch.zeros(1, 2)])}, gc.GcostError,
     "input_data holds tensors inside a list: give each tensor as an argument of its own"),
    ({"input_size": None, "input_data": (torch.zeros(1, 3, 32, 32), torch.tensor(2.0))}, gc.GcostError,
     "a 0-d tensor has none"),
    ({"input_size": None, "input_data": torch.zeros(1, 3, 32, 32, dtype=torch.complex64)}, gc.GcostError,
     "inputs of type torch.complex64 are not supported"),
    ({"input_data": torch.zeros(1, 3, 32, 32)}, TypeError, "give input_size or input_data, not both"),
    ({"input_size": (3,)}, gc.GcostError, "needs a batch and a sample shape"),
    ({"input_size": (0, 3, 32, 32)}, gc.GcostError, "at least 1"),
    ({"input_size": (1, 3, 2**21, 2)}, gc.GcostError, "is too large"),
    ({"input_size": (1, 1, 1, 1, 1, 1)}, gc.GcostError, "at most 4 sizes"),
    ({"batch": 2}, gc.GcostError, "batch=2 disagrees with the input's first size 1"),
    ({"timing": 1}, TypeError, "timing must be True, False, None or a TimingOptions, got int 1"),
    ({"timing": "cpu"}, TypeError, "timing must be True"),
    ({"device": 3}, TypeError, "device must be 'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device"),
    ({"depth": "top"}, TypeError, "depth must be a number of levels"),
    ({"depth": 0}, gc.GcostError, "depth must be at least 1"),
    ({"step": "training"}, ValueError, "step must be one of inference, train"),
    ({"optimizer": "rmsprop"}, ValueError, "optimizer must be one of sgd, momentum, adam"),
    ({"step": "inference", "optimizer": "adam"}, TypeError, "give step='train'"),
    ({"dtype": "fp64"}, ValueError, "dtype must be one of fp32, tf32, fp16, bf16"),
    ({"dtype": 16}, TypeError, "dtype must be a name"),
    ({"verify": "yes"}, TypeError, "verify must be True or False"),
    ({"roofline": 3}, TypeError, "roofline must be True, a datasheet name"),
    ({"progress": "bar"}, TypeError, "progress must be a callable"),
]


@pytest.mark.parametrize("keywords, error, words", WRONG, ids=[w[2][:40] for w in WRONG])
def test_a_wrong_argument_is_a_one_line_error_saying_what_is_expected(model, keywords, error, words):
    keywords = {"input_size": SIZE, **keywords}
    with pytest.raises(error) as raised:
        gc.summary(model, **keywords)
    assert type(raised.value) is error
    assert words in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.parametrize("network, words", [("googlenet", "summary takes a torch.nn.Module, got str 'googlenet'"),
                                            (ResNetLike, "the class ResNetLike (an instance is made by calling it"),
                                            (None, "summary takes a torch.nn.Module, got NoneType")])
def test_summary_takes_a_model_object(network, words):
    with pytest.raises(TypeError) as raised:
        gc.summary(network, input_size=SIZE)
    assert words in str(raised.value)


def test_the_models_own_error_names_its_class():
    class Broken(nn.Module):
        def forward(self, x):
            raise ValueError("no weights here")

    with pytest.raises(gc.GcostError, match="Broken: the model raised ValueError: no weights here"):
        gc.summary(Broken(), input_size=SIZE)


def test_the_factory_hands_out_the_model_where_it_lives_and_a_moved_copy_elsewhere():
    from googlenet_cost.factories import _same_device, module_factory

    model = ResNetLike()
    factory = module_factory(model)
    assert factory() is model  # on the default device (cpu): ModuleSource deep-copies what it is handed
    with torch.device("meta"):
        moved = factory()
    assert moved is not model and {p.device.type for p in moved.parameters()} == {"meta"}
    assert {p.device.type for p in model.parameters()} == {"cpu"}
    cuda0, cuda1 = torch.device("cuda", 0), torch.device("cuda", 1)
    assert _same_device(cuda0, torch.device("cuda")) and _same_device(cuda0, cuda0)
    assert not _same_device(cuda0, cuda1) and not _same_device(torch.device("cpu"), torch.device("meta"))
