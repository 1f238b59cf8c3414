"""Python models (--model): exact counts on small hand-written models (expected numbers derived
by formula here), operator classification in both directions, attention on every device, weights
by use, loading forms, user errors, and no side effects on a model the caller holds."""
from __future__ import annotations

import json

import pytest
import torch

from googlenet_cost.count.counting import might_hide_macs
from googlenet_cost.sources import open_source
from tests.conftest import invoke


def analyze(ref: str, shape: str, **options):
    return open_source(None, f"tests.pymodels:{ref}", shape).analyze(**options)


L, E, H = 5, 8, 2  # tokens, features, heads
CASES = {
    # name: (input, params, weights, MACs), each derived from the layer formulas
    "functional_conv": ("3x8x8", 4 * 3 * 3 * 3, 4 * 3 * 3 * 3, 4 * 6 * 6 * 3 * 3 * 3),
    "token_attention": (f"{L}x{E}", 3 * E * E + 3 * E + E * E + E, 3 * E * E + E * E,
                        L * E * 3 * E + 2 * H * L * L * (E // H) + L * E * E),
    "scaled_dot_product": ("6x8", 3 * E * E, 3 * E * E, 3 * 6 * E * E + 2 * 6 * 6 * E),
    "recurrent": ("5x4", 4 * 3 * (4 + 3) + 2 * 4 * 3, 4 * 3 * (4 + 3), 5 * 4 * 3 * (4 + 3)),
    "einsum_projection": ("5x8", 8 * 4, 8 * 4, 5 * 8 * 4),
    "in_place_activations": ("3x8x8", 4 * 27 + 4, 4 * 27, 4 * 64 * 27),
}


@pytest.mark.parametrize("name", list(CASES))
def test_exact_counts_of_hand_written_models(name):
    shape, params, weights, macs = CASES[name]
    report = analyze(name, shape, strict=True)
    assert (report.totals.params, report.totals.weights, report.totals.macs) == (params, weights, macs)
    assert report.totals.params == sum(p.numel() for p in
                                       __import__("tests.pymodels", fromlist=[name]).__dict__[name]().parameters())


def test_attention_counts_the_same_on_meta_and_on_real_cpu_tensors():
    from googlenet_cost.count.counting import measure_rows
    from tests.pymodels import ScaledDotProduct, TokenAttention

    for model, shape in ((TokenAttention(), (L, E)), (ScaledDotProduct(), (6, E))):
        on_cpu = measure_rows(model, shape, depth=2)
        with torch.device("meta"):
            on_meta = measure_rows(type(model)(), shape, depth=2)
        assert sum(r.macs for r in on_cpu if r.parent is None) == sum(r.macs for r in on_meta if r.parent is None)
    assert torch.backends.mha.get_fastpath_enabled()  # the fast path is back on afterwards


def _op(name: str):
    packet = getattr(torch.ops.aten, name)
    return getattr(packet, packet.overloads()[0])


@pytest.mark.parametrize("name", ["hardswish_", "as_strided_", "_safe_softmax", "unbind", "eq", "ne", "masked_fill",
                                  "roll", "scalar_tensor", "addcmul", "linalg_vector_norm", "sigmoid_", "tanh_",
                                  "unsafe_split", "native_layer_norm", "max_pool2d_with_indices", "cat", "gather"])
def test_operators_that_cannot_multiply_accumulate_are_not_reported(name):
    assert not might_hide_macs(_op(name))


@pytest.mark.parametrize("name", ["mv", "dot", "_fft_c2c", "_native_multi_head_attention",
                                  "_scaled_dot_product_flash_attention_for_cpu", "tensordot", "_cdist_forward"])
def test_operators_that_might_hide_macs_are_reported(name):
    assert might_hide_macs(_op(name))


def test_a_custom_operator_is_reported_and_fails_strict(runner):
    result = invoke(runner, "analyze", "--model", "tests.pymodels:with_fft", "--input", "3x8x8", "--no-latency", "--strict")
    assert result.exit_code == 2 and "_fft_c2c" in result.stderr
    clean = invoke(runner, "analyze", "--model", "tests.pymodels:in_place_activations", "--input", "3x8x8",
                   "--no-latency", "--strict")
    assert clean.exit_code == 0, clean.output


def test_verify_says_what_fvcore_cannot_count_instead_of_a_disagreement():
    report = analyze("token_attention", f"{L}x{E}", verify=True)
    assert not any("disagree" in w for w in report.warnings)
    assert any(w.startswith("fvcore cannot count aten::scaled_dot_product_attention") for w in report.warnings)
    functional = analyze("functional_conv", "3x8x8", verify=True)
    # fvcore counts the root's own conv too: every row agrees, said in the one line
    assert functional.notes == ["--verify: fvcore's MACs equal gcost's on its one row"] and functional.warnings == []


def test_the_rule_text_names_matrix_products_and_attention(runner):
    data = json.loads(invoke(runner, "analyze", "--model", "tests.pymodels:tiny", "--input", "3x32x32",
                             "--no-latency", "--format", "json").stdout)
    assert "matrix and vector products" in data["counting"]["macs"] and "cdist" in data["counting"]["macs"] and "attention" in data["counting"]["macs"]
    assert "matrix or kernel" in data["counting"]["weights"]


def test_models_load_from_a_file_with_arguments(runner, tmp_path):
    (tmp_path / "helper.py").write_text("WIDTH = 6\n")
    (tmp_path / "net.py").write_text("from torch import nn\nfrom helper import WIDTH\n"
                                     "def build(width: int = WIDTH, bias: bool = True):\n"
                                     "    return nn.Conv2d(3, width, 1, bias=bias)\n")
    result = invoke(runner, "analyze", "--model", f"{tmp_path}/net.py:build", "--model-arg", "width=8",
                    "--model-arg", "bias=false", "--input", "3x8x8", "--no-latency", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["totals"]["params"] == 8 * 3
    bad = invoke(runner, "analyze", "--model", f"{tmp_path}/net.py:build", "--model-arg", "widht=8",
                 "--input", "3x8x8", "--no-latency")
    assert bad.exit_code == 2 and "'widht'" in bad.stderr
    assert "build(width: int = 6, bias: bool = True)" in bad.stderr


def test_an_unimportable_module_says_where_it_looked(runner):
    result = invoke(runner, "analyze", "--model", "nosuchpkg.models:f", "--input", "3x8x8", "--no-latency")
    assert result.exit_code == 2 and "current folder" in result.stderr and "path/to/file.py:factory" in result.stderr


def test_an_exception_in_the_users_forward_names_the_row(runner):
    result = invoke(runner, "check", "--model", "tests.pymodels:fails_in_a_block", "--input", "3x8x8",
                    "--max-params", "1M")
    assert result.exit_code == 2
    assert "the model raised AssertionError: expected 5 channels (in block)" in result.stderr
    assert "internal error" not in result.stderr


def test_analysis_and_timing_leave_a_held_model_exactly_as_it_was():
    from googlenet_cost.timing.loop import LoopLimits
    from googlenet_cost.timing.measure import TimingOptions
    from tests import pymodels

    held = pymodels.HELD.train()
    hook = held.register_forward_hook(lambda *args: None)
    state = {k: v.clone() for k, v in held.state_dict().items()}
    timing = TimingOptions(device="cpu", limits=LoopLimits(1, 0.0, 2, 0.0))
    analyze("held", "3x8x8", train=True, timing=timing, dtype="bf16")
    analyze("held", "3x8x8", train=False)
    assert held.training and all(m.training for m in held.modules())
    assert all(torch.equal(v, state[k]) for k, v in held.state_dict().items())  # BN stats, num_batches_tracked
    assert held[0].weight.dtype == torch.float32 and held[0].weight.device.type == "cpu"
    assert list(held._forward_hooks) == [hook.id] and not held[0]._forward_hooks
    hook.remove()


def test_a_parent_with_its_own_parameters_gets_an_own_row_so_children_sum_to_it():
    report = analyze("with_own_parameters", "5x8")
    rows = {row.name: row for row in report.layers}
    assert [r.name for r in report.layers] == ["0", "0/block", "0/(own)"]
    assert rows["0/(own)"].params == 5 * 8 and rows["0/(own)"].weights == 0  # pos: added, not multiplied
    assert rows["0/(own)"].macs == 0 and rows["0/(own)"].activations == 5 * 8  # x + pos writes 5x8
    kids = [r for r in report.layers if r.parent == "0"]
    assert sum(k.params for k in kids) == rows["0"].params == 8 * 8 + 8 + 5 * 8
    assert sum(k.macs for k in kids) == rows["0"].macs == 5 * 8 * 8


def test_own_rows_hold_parameters_a_parents_forward_uses_itself():
    report = analyze("token_attention", f"{L}x{E}")
    rows = {row.name: row for row in report.layers}
    assert rows["attn/(own)"].params == 3 * E * E + 3 * E  # in_proj_weight and in_proj_bias
    assert rows["attn/(own)"].weights == 3 * E * E
    assert sum(r.params for r in report.layers if r.parent == "attn") == rows["attn"].params
    assert sum(r.macs for r in report.layers if r.parent == "attn") == rows["attn"].macs


def test_activations_come_from_operator_outputs_so_functional_work_counts(runner):
    report = analyze("functional_conv", "3x8x8")
    assert report.totals.activations == 4 * 6 * 6  # the F.conv2d output, with no module to hook
    result = invoke(runner, "check", "--model", "tests.pymodels:functional_conv", "--input", "3x8x8",
                    "--max-activation-bytes", "500")
    assert result.exit_code == 1  # 576 bytes in fp32: over the limit


def test_depth_n_measures_and_shows_deeper_rows(runner):
    shallow = invoke(runner, "analyze", "--model", "tests.pymodels:fails_in_a_block", "--input", "3x8x8",
                     "--no-latency", "--format", "json")
    assert shallow.exit_code == 2  # (its forward fails: a model with depth is needed)
    deep = json.loads(invoke(runner, "analyze", "--model", "tests.pymodels:tiny", "--input", "3x32x32",
                             "--no-latency", "--format", "json", "--depth", "1").stdout)
    assert [row["name"] for row in deep["layers"]] == ["features", "head"]
    table = invoke(runner, "analyze", "--model", "tests.pymodels:tiny", "--input", "3x32x32", "--no-latency",
                   "--depth", "all").stdout
    assert "  └ 0" in table and "Paper figures" not in table


def test_token_shapes_are_not_called_images(runner):
    table = invoke(runner, "analyze", "--model", "tests.pymodels:token_attention", "--input", f"{L}x{E}",
                   "--no-latency").stdout
    assert "output HxWxC" not in table and "5x8" in table
