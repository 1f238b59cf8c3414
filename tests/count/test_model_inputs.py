"""Models with several inputs, keyword inputs and integer or bool inputs (issue 25): `--input`
read and refused, exact counts (expected numbers by formula here), the training step's backward
split exactly per row, fvcore, CPU timing and the fake CUDA backend fed every input, the Python
API read as torchinfo reads it, the lock and compare."""
from __future__ import annotations

import json

import pytest
import torch

import googlenet_cost as gc
from googlenet_cost.count.cross_check import fvcore_count
from googlenet_cost.count.spec_counts import VERIFIED
from googlenet_cost.inputs import Constant, Inputs, TensorInput, parse_inputs
from googlenet_cost.sources import open_source
from googlenet_cost.timing.loop import LoopLimits
from googlenet_cost.timing.measure import TimingOptions, TimingTarget, measure_latency
from tests import input_models
from tests.conftest import invoke
from tests.input_models import ImageText, TwoBranches

IMAGE_TEXT = "3x16x16,77:int64,mask=77:bool"
# ImageText(width 8) on a 16x16 image: the conv's output pixels x channels x kernel volume, the head's
# (2 x 8) x 4 weights; the embedding looks rows up (no MACs). Params: conv 8x27+8, table 100x8, head 16x4+4.
CONV_MACS, HEAD_MACS = 16 * 16 * 8 * 27, 16 * 4
PARAMS = 8 * 27 + 8 + 100 * 8 + 16 * 4 + 4
FAST = LoopLimits(warmup_min_iters=1, warmup_min_s=0.0, min_iters=3, min_time_s=0.0, max_time_s=20.0)


def analyze(factory: str, text: str, **options):
    return open_source(None, f"tests.input_models:{factory}", text).analyze(**options)


def test_input_text_reads_shapes_kinds_keywords_and_round_trips():
    inputs = parse_inputs("3x224x224, 77:INT64 ,mask=77:bool,t=scalar:long")
    assert inputs.items == (TensorInput((3, 224, 224)), TensorInput((77,), "int64"),
                            TensorInput((77,), "bool", "mask"), TensorInput((), "int64", "t"))
    assert inputs.text() == "3x224x224,77:int64,mask=77:bool,t=scalar:int64"
    assert parse_inputs(inputs.text()) == inputs
    assert inputs.shape == (3, 224, 224) and not inputs.plain and parse_inputs("3x224x224").plain
    assert not parse_inputs("scalar").plain  # a lone per-sample number is said and locked as such
    assert inputs.elements == 3 * 224 * 224 + 77 + 77 + 1
    assert inputs.element_bytes(2) == 2 * 3 * 224 * 224 + 8 * 77 + 77 + 8
    call = inputs.make(2, "meta", torch.float16)
    assert [t.shape for t in call.args] == [(2, 3, 224, 224), (2, 77)]
    assert call.args[0].dtype == torch.float16 and call.args[1].dtype == torch.int64
    assert call.kwargs["mask"].dtype == torch.bool and call.kwargs["t"].shape == (2,)
    on_cpu = inputs.make(1, "cpu")
    assert bool(on_cpu.kwargs["mask"].all()) and not on_cpu.args[1].any()  # nothing masked out; token 0


@pytest.mark.parametrize("text, words", [
    ("", "--model needs --input, e.g. --input 3x224x224"),
    ("3x16x16,text=77:int64,3x3", "positional inputs come before keyword ones"),
    ("3x16x16,a=7,a=7", "the keyword input a is given twice"),
    ("3x16x16,7:float16", "unknown kind 'float16' in '7:float16'; use float, int64"),
    ("3x16x16,1a=7", "a keyword input looks like name=77:int64, got '1a=7'"),
    ("3x0", "--input sizes must be at least 1"),
    ("3xx4", "--input must look like 3x224x224"),
    (",".join(["4"] * 17), "lists 17 inputs; at most 16"),
    ("3x16x16,1048576x1024", "is too large: at most 4 sizes of at most 1,048,576 per input"),
    ("1x1x1x1x1", "is too large"),
])
def test_bad_input_text_is_one_line_and_exit_2(runner, text, words):
    result = invoke(runner, "analyze", "--model", "tests.input_models:image_text", "--input", text, "--no-latency")
    assert result.exit_code == 2
    assert words in result.stderr and len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_an_image_text_model_counts_exactly_with_integer_bool_and_keyword_inputs(runner):
    report = analyze("image_text", IMAGE_TEXT, strict=True)
    assert (report.totals.params, report.totals.macs) == (PARAMS, CONV_MACS + HEAD_MACS)
    assert {row.name: row.macs for row in report.layers} == {"conv": CONV_MACS, "embed": 0, "head": HEAD_MACS,
                                                             "(outside submodules)": 0}
    assert report.input_shape == [3, 16, 16]
    data = json.loads(invoke(runner, "analyze", "--model", "tests.input_models:image_text", "--input", IMAGE_TEXT,
                             "--no-latency", "--format", "json").stdout)
    assert data["inputs"] == [{"name": None, "shape": [3, 16, 16], "dtype": "float"},
                              {"name": None, "shape": [77], "dtype": "int64"},
                              {"name": "mask", "shape": [77], "dtype": "bool"}]
    assert data["input_shape"] == [3, 16, 16] and data["totals"]["macs"] == CONV_MACS + HEAD_MACS
    table = invoke(runner, "analyze", "--model", "tests.input_models:image_text", "--input", IMAGE_TEXT, "--no-latency")
    assert "inputs 16x16x3, 77 (int64), mask=77 (bool)." in " ".join(table.stdout.split())


def test_a_spec_report_keeps_one_input_in_the_json(runner):
    data = json.loads(invoke(runner, "analyze", "googlenet", "--no-latency", "--format", "json").stdout)
    assert data["inputs"] == [{"name": None, "shape": [3, 224, 224], "dtype": "float"}]


def test_token_ids_given_as_floating_point_say_how_to_fix_it(runner):
    result = invoke(runner, "analyze", "--model", "tests.input_models:token_classifier", "--input", "7",
                    "--no-latency")
    assert result.exit_code == 2 and "token ids need an integer input: --input ...,77:int64" in result.stderr
    fixed = invoke(runner, "analyze", "--model", "tests.input_models:token_classifier", "--input", "7:int64",
                   "--no-latency", "--format", "json")
    assert json.loads(fixed.stdout)["totals"]["macs"] == 7 * 4 * 2


def test_the_training_step_splits_the_backward_exactly_per_row():
    """torch's module tracker gives every backward operator after an embedding of token ids to the
    embedding too (its input needs no gradient, so it is never left), and splits interleaved
    branches wrongly; gcost gives each operator to the rows whose forward made its autograd node."""
    report = analyze("image_text", IMAGE_TEXT, optimizer="sgd")  # an optimizer asks for a training step
    # the image needs no gradient: the conv computes its weight's only; the head both its weight's and input's
    assert {row.name: row.backward_macs for row in report.layers} == {
        "conv": CONV_MACS, "embed": 0, "head": 2 * HEAD_MACS, "(outside submodules)": 0}
    assert report.training.backward_macs == CONV_MACS + 2 * HEAD_MACS
    branches = analyze("two_branches", "3x8x8", optimizer="sgd", depth=None)
    left, squeeze, conv = 8 * 8 * 4 * 27, 8 * 8 * 4 * 3, 8 * 8 * 4 * 36
    assert {row.name: row.backward_macs for row in branches.layers} == {
        "left": left, "right": squeeze + 2 * conv, "right/0": squeeze, "right/1": 2 * conv,
        "(outside submodules)": 0}


def test_fvcore_is_given_every_input_and_agrees(runner):
    count = fvcore_count(ImageText(), parse_inputs(IMAGE_TEXT), batch=2, depth=1)
    assert count.macs == {"conv": CONV_MACS, "embed": 0, "head": HEAD_MACS}
    keywords = Inputs((TensorInput((3, 16, 16), name="image"), TensorInput((77,), "int64", "text"),
                       Constant(3, "heads")))
    assert fvcore_count(ImageText(), keywords, depth=1).macs["head"] == 3 * HEAD_MACS  # the constant reached it
    report = analyze("image_text", IMAGE_TEXT, verify=True)
    assert report.notes == [f"{VERIFIED}all 4 rows"] and report.warnings == []


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_cpu_timing_feeds_every_input_in_its_kind(dtype):
    input_models.SEEN.clear()
    target = TimingTarget("image_text", lambda device: ImageText(), parse_inputs(IMAGE_TEXT), params=PARAMS,
                          activation_sizes=(2048,), dtype=dtype, depth=None, step_optimizer=None)
    [stats] = measure_latency(target, TimingOptions(device="cpu", batches=(2,), limits=FAST), macs=1)
    float_type = torch.float32 if dtype == "fp32" else torch.bfloat16
    assert stats.median_ms > 0 and len(input_models.SEEN) >= FAST.min_iters
    assert set(input_models.SEEN) == {(float_type, torch.int64, torch.bool, True, 2)}


def test_the_fake_cuda_backend_captures_and_profiles_a_model_of_several_inputs():
    from tests.fake_cuda import FakeCuda, FakeGpuModel

    class Wrapped(torch.nn.Module):
        def __init__(self, cuda):
            super().__init__()
            self.inner = FakeGpuModel(cuda)
            self.seen = []

        def forward(self, x, text, *, mask):
            self.seen.append((x.dtype, text.dtype, mask.dtype, tuple(text.shape)))
            return self.inner(x)

    from googlenet_cost.timing.per_layer import measure_layer_latency

    cuda = FakeCuda()
    models = []
    target = TimingTarget("fake", lambda device: models.append(Wrapped(cuda)) or models[-1],
                          parse_inputs("3x8x8,5:int64,mask=5:bool"), params=0, activation_sizes=(256,),
                          dtype="fp32", depth=None, step_optimizer=None)
    limits = LoopLimits(warmup_min_iters=3, warmup_min_s=0.0, min_iters=12, min_time_s=0.0)
    [graphed] = measure_latency(target, TimingOptions(device="cuda", cuda_graph=True, limits=limits), macs=1,
                              cuda=cuda, clock=cuda.clock)
    assert graphed.cuda_graph and graphed.self_check.graph_matches_eager is True
    assert {seen for model in models for seen in model.seen} == {(torch.float32, torch.int64, torch.bool, (1, 5))}
    layers = measure_layer_latency(target, TimingOptions(device="cuda"), iterations=3, cuda=cuda)
    assert "inner" in layers.by_row


def test_the_python_api_reads_several_inputs_as_torchinfo_does():
    model = ImageText()
    image, text = torch.zeros(2, 3, 16, 16), torch.zeros(2, 77, dtype=torch.long)
    by_data = gc.summary(model, input_data=(image, text))
    by_size = gc.summary(model, input_size=[(2, 3, 16, 16), (2, 77)], dtypes=[torch.float, torch.long])
    by_keywords = gc.summary(model, input_data={"image": image, "text": text, "mask": text > 0})
    for report in (by_data, by_size, by_keywords):
        assert report.batch == 2 and report.totals.macs == CONV_MACS + HEAD_MACS
    assert by_keywords.arguments.text() == "image=3x16x16,text=77:int64,mask=77:bool"
    heads = gc.summary(model, input_data={"image": image, "text": text, "heads": 3})
    assert heads.totals.macs == CONV_MACS + 3 * HEAD_MACS  # a plain value is passed as it is
    assert "heads=3" in str(heads)
    with pytest.raises(AssertionError, match="over budget"):
        gc.testing.assert_within_budget(model, [(1, 3, 16, 16), (1, 77)], dtypes=[torch.float, torch.long],
                                        max_macs=CONV_MACS)


def test_the_lock_records_several_inputs_and_a_check_with_others_is_refused(runner, tmp_path):
    lock = tmp_path / "lock.json"
    model = ("--model", "tests.input_models:image_text")
    assert invoke(runner, "baseline", *model, "--input", IMAGE_TEXT, "-o", str(lock)).exit_code == 0
    entry = json.loads(lock.read_text())["specs"]["tests.input_models:image_text"]
    assert entry["inputs"] == IMAGE_TEXT and entry["input"] == [3, 16, 16]
    same = invoke(runner, "check", *model, "--input", IMAGE_TEXT, "--baseline", str(lock))
    assert same.exit_code == 0
    other = invoke(runner, "check", *model, "--input", "3x16x16,50:int64,mask=50:bool", "--baseline", str(lock))
    assert other.exit_code == 2 and "recorded with inputs '3x16x16,77:int64,mask=77:bool'" in other.stderr


def test_compare_takes_python_models_of_several_inputs(runner):
    result = invoke(runner, "compare", "--model", "tests.input_models:image_text", "--model",
                    "tests.input_models:image_text_wide", "--input", IMAGE_TEXT, "--no-latency", "--format", "json")
    assert result.exit_code == 0, result.stderr
    wide = 16 * 16 * 16 * 27 + 32 * 4
    data = json.loads(result.stdout)
    assert [report["totals"]["macs"] for report in data["variants"]] == [CONV_MACS + HEAD_MACS, wide]
    assert data["variants"][1]["inputs"][2] == {"name": "mask", "shape": [77], "dtype": "bool"}
