"""The spec language past GoogLeNet: nested composites, repeat, squeeze-and-excitation, merge by
product, batch-norm momentum, and compare's variants on modules
written with `branches` (including --factorize). Figures are worked by hand in each test."""
from __future__ import annotations

import json

import pytest

import googlenet_cost as gc
from conftest import invoke
from googlenet_cost.errors import GcostError, SpecError
from googlenet_cost.spec.layers import make_divisible

# Inception v3's InceptionE written small: a branch that splits into 1x3 and 3x1 (nested branches)
NESTED = """
name: nested
input: [16, 8, 8]
layers:
  - name: mix
    type: branches
    branches:
      - [{name: b1x1, type: conv, out: 8, kernel: 1}]
      - - {name: b3x3_1, type: conv, out: 8, kernel: 1}
        - name: b3x3_2
          type: branches
          branches:
            - [{name: a, type: conv, out: 4, kernel: [1, 3], padding: [0, 1]}]
            - [{name: b, type: conv, out: 4, kernel: [3, 1], padding: [1, 0]}]
  - {name: gap, type: global_avgpool}
"""


def _rows(report):
    return {row.name: row for row in report.layers}


def test_nested_branches_are_rows_named_by_path_with_their_direct_parent():
    report = gc.analyze(gc.parse_spec(NESTED))
    rows = _rows(report)
    assert [r.name for r in report.layers] == ["mix", "mix/b1x1", "mix/b3x3_1", "mix/b3x3_2", "mix/b3x3_2/a",
                                               "mix/b3x3_2/b", "gap"]
    assert rows["mix/b3x3_2/a"].parent == "mix/b3x3_2" and rows["mix/b3x3_2"].parent == "mix"
    # by hand: 1x3 conv 8 -> 4 on 8x8: 8*4*3 weights + 4 bias, 8*8*4*8*3 MACs
    assert (rows["mix/b3x3_2/a"].params, rows["mix/b3x3_2/a"].macs) == (100, 6144)
    assert rows["mix/b3x3_2"].output_shape == [8, 8, 8] and rows["mix"].output_shape == [16, 8, 8]
    for parent in ("mix", "mix/b3x3_2"):  # a module row is the sum of its direct children, at every level
        kids = [r for r in report.layers if r.parent == parent]
        assert rows[parent].params == sum(k.params for k in kids)
        assert rows[parent].macs == sum(k.macs for k in kids)
    assert report.warnings == []  # the closed form equals PyTorch's count on every row


@pytest.mark.parametrize("depth,names", [
    ("top", ["mix", "gap"]),
    ("2", ["mix", "mix/b1x1", "mix/b3x3_1", "mix/b3x3_2", "gap"]),
    ("all", ["mix", "mix/b1x1", "mix/b3x3_1", "mix/b3x3_2", "mix/b3x3_2/a", "mix/b3x3_2/b", "gap"]),
])
def test_depth_shows_levels_of_nesting(runner, write_spec, depth, names):
    path = write_spec(NESTED)
    result = invoke(runner, "analyze", str(path), "--no-latency", "--format", "csv", "--depth", depth)
    assert result.exit_code == 0, result.output
    assert [line.split(",")[0] for line in result.stdout.splitlines()[1:]] == names


def test_a_shape_error_deep_inside_names_the_innermost_layer(write_spec):
    bad = NESTED.replace("kernel: [3, 1], padding: [1, 0]", "kernel: [3, 1], padding: [0, 0]")
    with pytest.raises(SpecError) as caught:
        gc.parse_spec(bad)
    assert caught.value.layer == "mix/b3x3_2"  # its branches no longer concatenate: 8x8 and 6x8
    too_big = NESTED.replace("kernel: [1, 3], padding: [0, 1]", "kernel: [1, 30], padding: [0, 1]")
    with pytest.raises(SpecError) as caught:
        gc.parse_spec(too_big)
    assert caught.value.layer == "mix/b3x3_2/a"


def test_duplicate_names_inside_a_nested_module_name_the_module():
    with pytest.raises(SpecError) as caught:
        gc.parse_spec(NESTED.replace("name: b, type: conv", "name: a, type: conv"))
    assert caught.value.layer == "mix/b3x3_2" and "duplicate layer name 'a'" in caught.value.message


def test_a_nested_error_names_the_layer_by_its_path():
    with pytest.raises(SpecError) as caught:
        gc.parse_spec(NESTED.replace("name: a, type: conv, out: 4", "name: a, type: conv, out: 4, kernal: 3"))
    assert caught.value.layer == "mix/b3x3_2/a" and "unknown key 'kernal'" in caught.value.message


REPEAT = """
name: stages
input: [8, 16, 16]
defaults: {bias: false, norm: batchnorm}
layers:
  - name: stage
    type: repeat
    times: 3
    first:
      - type: branches
        merge: add
        activation: relu
        branches:
          - [{name: conv, type: conv, out: 16, kernel: 3, stride: 2, padding: 1, activation: none}]
          - [{name: downsample, type: conv, out: 16, kernel: 1, stride: 2, activation: none}]
    layers:
      - type: branches
        merge: add
        activation: relu
        branches:
          - [{name: conv, type: conv, out: 16, kernel: 3, padding: 1, activation: none}]
          - []
"""


def test_repeat_expands_into_numbered_blocks_the_first_its_own():
    report = gc.analyze(gc.parse_spec(REPEAT))
    rows = _rows(report)
    assert [r.name for r in report.layers if r.parent == "stage"] == ["stage/0", "stage/1", "stage/2"]
    assert rows["stage/0"].output_shape == [16, 8, 8] and rows["stage/2"].output_shape == [16, 8, 8]
    # by hand: block 0 = 3x3/2 8->16 (1,152 weights + 32 BN) + 1x1/2 8->16 (128 + 32) on an 8x8 output
    assert rows["stage/0"].params == 1152 + 32 + 128 + 32
    assert rows["stage/0"].macs == 8 * 8 * 16 * (8 * 9 + 8)
    # blocks 1, 2 = 3x3 16->16 (2,304 weights + 32 BN)
    assert rows["stage/1"].params == rows["stage/2"].params == 2304 + 32
    assert rows["stage"].params == sum(rows[f"stage/{i}"].params for i in range(3))
    assert report.warnings == []


def test_a_repeat_key_on_a_layer_is_a_repeat_of_it():
    keyed = gc.parse_spec("name: k\ninput: [8, 6, 6]\nlayers:\n  - {name: blocks, type: branches, merge: add, "
                          "repeat: 3, branches: [[], [{name: c, type: conv, out: 8, kernel: 3, padding: 1}]]}\n")
    typed = gc.parse_spec("name: k\ninput: [8, 6, 6]\nlayers:\n  - {name: blocks, type: repeat, times: 3, layers: "
                          "[{type: branches, merge: add, branches: [[], [{name: c, type: conv, out: 8, kernel: 3, "
                          "padding: 1}]]}]}\n")
    assert keyed.layers == typed.layers
    assert [r.name for r in gc.analyze(keyed).layers][:3] == ["blocks", "blocks/0", "blocks/0/c"]
    with pytest.raises(SpecError, match="repeat must be at least 1"):
        gc.parse_spec("name: k\ninput: [8, 6, 6]\nlayers:\n  - {name: c, type: conv, out: 8, kernel: 1, repeat: 0}\n")


@pytest.mark.parametrize("times,fragment", [
    (0, "times must be at least 1"),
    (60_000, "too large (at most 50000)"),
])
def test_repeat_bounds(times, fragment):
    with pytest.raises(SpecError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        gc.parse_spec(REPEAT.replace("times: 3", f"times: {times}"))


def test_repeats_of_repeats_are_refused_before_they_are_expanded():
    """40 x 40 x 40 blocks would be 64,000 rows: refused when the outer repeat is read."""
    text = """
name: bomb
input: [1, 4, 4]
layers:
  - name: a
    type: repeat
    times: 40
    layers:
      - type: repeat
        times: 40
        layers:
          - type: repeat
            times: 40
            layers: [{type: relu}]
"""
    with pytest.raises(SpecError, match="more than 50,000: too large to analyze"):
        gc.parse_spec(text)


SE = """
name: se
input: [64, 8, 8]
layers:
  - {name: se, type: se, reduce: 0.25, activation: silu, gate: hardsigmoid}
  - {name: se8, type: se, reduce: 0.25, divisor: 8}
  - {name: fixed, type: se, reduce: 5}
"""


def test_squeeze_and_excitation_by_hand():
    report = gc.analyze(gc.parse_spec(SE))
    rows = _rows(report)
    assert [r.name for r in report.layers if r.parent == "se"] == ["se/pool", "se/fc1", "se/fc2"]
    # 64 -> 16 -> 64 1x1 convs with biases on the pooled 1x1 map
    assert rows["se/fc1"].params == 64 * 16 + 16 and rows["se/fc2"].params == 16 * 64 + 64
    assert rows["se"].macs == 64 * 16 * 2 and rows["se"].output_shape == [64, 8, 8]
    assert rows["se/fc2"].output_shape == [64, 1, 1]
    assert rows["fixed/fc1"].output_shape == [5, 1, 1]
    assert report.warnings == []


@pytest.mark.parametrize("value,expected", [(16, 16), (15, 16), (12, 16), (20, 24), (3, 8), (36, 40)])
def test_make_divisible_is_torchvisions(value, expected):
    """torchvision.models._utils._make_divisible(v, 8): nearest multiple, never 10% below."""
    assert make_divisible(value, 8) == expected


@pytest.mark.parametrize("paths,fragment", [
    ("[[], [{type: global_avgpool}, {type: flatten}]]", "of one rank"),
    ("[[], [{type: conv, out: 3, kernel: 1}]]", "equal sizes or 1 in each dimension"),
])
def test_merge_mul_needs_broadcastable_shapes(paths, fragment):
    with pytest.raises(SpecError, match=fragment):
        gc.parse_spec(f"name: m\ninput: [4, 5, 5]\nlayers:\n  - {{name: m, type: branches, merge: mul, branches: {paths}}}\n")


def test_batchnorm_momentum_is_read_and_bounded():
    spec = gc.parse_spec("name: b\ninput: [4, 5, 5]\nlayers:\n  - {name: bn, type: batchnorm, momentum: 0.01, eps: 0.001}\n")
    assert (spec.layers[0].momentum, spec.layers[0].eps) == (0.01, 0.001)
    with pytest.raises(SpecError, match="momentum 2 is out of range"):
        gc.parse_spec("name: b\ninput: [4, 5, 5]\nlayers:\n  - {name: bn, type: batchnorm, momentum: 2}\n")


def test_backward_closed_form_equals_the_measured_backward_on_nested_rows():
    spec = gc.parse_spec(NESTED.replace("type: global_avgpool}", "type: global_avgpool}\n  - {name: f, type: flatten}\n"
                                        "  - {name: fc, type: linear, out: 3}"))
    report = gc.analyze(spec, optimizer="sgd")
    assert report.warnings == []  # every row: closed form = FlopCounterMode over a real backward
    rows = _rows(report)
    # mix is the first layer with weights: its convs compute no input gradient (the input needs none),
    # except those after another conv: b3x3_2's convs do, so their backward is twice their forward
    assert rows["mix/b1x1"].backward_macs == rows["mix/b1x1"].macs
    assert rows["mix/b3x3_2/a"].backward_macs == 2 * rows["mix/b3x3_2/a"].macs
    assert rows["mix/b3x3_2"].backward_macs == rows["mix/b3x3_2/a"].backward_macs + rows["mix/b3x3_2/b"].backward_macs


# GoogLeNet's inception modules: (input H = W, 5x5_reduce width, 5x5 width), from Table 1
GOOGLENET_5X5 = {"inception_3a": (28, 16, 32), "inception_3b": (28, 32, 96), "inception_4a": (14, 16, 48),
                 "inception_4b": (14, 24, 64), "inception_4c": (14, 24, 64), "inception_4d": (14, 32, 64),
                 "inception_4e": (14, 32, 128), "inception_5a": (7, 32, 128), "inception_5b": (7, 48, 128)}


@pytest.mark.slow
def test_factorize_matches_a_hand_computation_on_googlenet(runner, tmp_path):
    """Each 5x5 (r -> o, with bias) becomes 3x3 r -> o then 3x3 o -> o (with biases): params change
    by 9ro + 9oo + o - 25ro, MACs by HW(9ro + 9oo - 25ro); receptive fields stay the same."""
    out = tmp_path / "cmp.json"
    result = invoke(runner, "compare", "--factorize", "--no-latency", "--format", "json", "-o", str(out))
    assert result.exit_code == 0, result.output
    base, varied = json.loads(out.read_text())["variants"]
    assert varied["label"] == "factorize"
    d_params = sum(9 * r * o + 9 * o * o + o - 25 * r * o for _, r, o in GOOGLENET_5X5.values())
    d_macs = sum(h * h * (9 * r * o + 9 * o * o - 25 * r * o) for h, r, o in GOOGLENET_5X5.values())
    assert varied["totals"]["params"] - base["totals"]["params"] == d_params == 285_680
    assert varied["totals"]["macs"] - base["totals"]["macs"] == d_macs == 57_050_112
    rows = {row["name"]: row for row in varied["layers"]}
    base_rows = {row["name"]: row for row in base["layers"]}
    h, r, o = GOOGLENET_5X5["inception_3a"]
    assert rows["inception_3a/5x5/3x3_1"]["macs"] == h * h * o * r * 9 == 3_612_672
    assert rows["inception_3a/5x5/3x3_2"]["params"] == o * o * 9 + o == 9_248
    for module in GOOGLENET_5X5:
        assert rows[f"{module}/5x5"]["receptive_field"] == base_rows[f"{module}/5x5"]["receptive_field"]
        assert rows[module]["output_shape"] == base_rows[module]["output_shape"]
    assert "RF" in invoke(runner, "compare", "--factorize", "--no-latency").stdout


BRANCHES_INCEPTION = """
name: written
input: [192, 28, 28]
layers:
  - name: stage
    type: repeat
    times: 1
    layers:
      - type: branches
        branches:
          - [{name: 1x1, type: conv, out: 64, kernel: 1}]
          - - {name: 3x3_reduce, type: conv, out: 96, kernel: 1}
            - {name: 3x3, type: conv, out: 128, kernel: 3, padding: 1}
          - - {name: 5x5_reduce, type: conv, out: 16, kernel: 1}
            - {name: 5x5, type: conv, out: 32, kernel: 5, padding: 2}
          - - {name: pool, type: maxpool, kernel: 3, stride: 1, padding: 1}
            - {name: pool_proj, type: conv, out: 32, kernel: 1}
"""


@pytest.mark.slow
@pytest.mark.parametrize("option", [["--reduce", "16"], ["--no-reduce"], ["--naive"], ["--factorize"],
                                    ["--reduce-scale", "0.5"]])
def test_variants_on_a_branches_written_module_equal_those_on_the_inception_type(runner, write_spec, tmp_path, option):
    """inception_3a written with `branches` (inside a repeat) varies exactly as the inception type."""
    written = write_spec(BRANCHES_INCEPTION, "written.yaml")
    typed = write_spec("name: typed\ninput: [192, 28, 28]\nlayers:\n  - {name: m, type: inception, 1x1: 64, "
                       "3x3_reduce: 96, 3x3: 128, 5x5_reduce: 16, 5x5: 32, pool_proj: 32}\n", "typed.yaml")
    totals = []
    for path in (written, typed):
        out = tmp_path / f"{path.stem}.json"
        result = invoke(runner, "compare", str(path), *option, "--no-latency", "--format", "json", "-o", str(out))
        assert result.exit_code == 0, result.output
        totals.append([v["totals"] for v in json.loads(out.read_text())["variants"]])
    assert totals[0] == totals[1] and totals[0][0] != totals[0][1]


@pytest.mark.slow
def test_factorize_runs_with_the_other_variants_in_one_compare(runner, tmp_path):
    out = tmp_path / "cmp.json"
    result = invoke(runner, "compare", "--reduce", "16", "--factorize", "--naive", "--module", "inception_4*",
                    "--no-latency", "--format", "json", "-o", str(out))
    assert result.exit_code == 0, result.output
    variants = {v["label"]: v for v in json.loads(out.read_text())["variants"]}
    assert list(variants) == ["baseline", "reduce=16", "factorize", "naive"]
    base = variants["baseline"]["totals"]["macs"]
    d_macs = sum(h * h * (9 * r * o + 9 * o * o - 25 * r * o) for name, (h, r, o) in GOOGLENET_5X5.items()
                 if name.startswith("inception_4"))
    assert variants["factorize"]["totals"]["macs"] - base == d_macs
    rows = {row["name"] for row in variants["factorize"]["layers"]}
    assert "inception_4a/5x5/3x3_1" in rows and "inception_3a/5x5/3x3_1" not in rows


def test_a_module_glob_that_matches_unchangeable_modules_names_them(runner, write_spec):
    path = write_spec(BRANCHES_INCEPTION.replace("name: 5x5, type: conv, out: 32, kernel: 5, padding: 2",
                                                 "name: 5x5, type: conv, out: 32, kernel: 3, padding: 1"))
    result = invoke(runner, "compare", str(path), "--factorize", "--module", "stage/*", "--no-latency")
    assert result.exit_code == 2
    assert "--factorize could not change stage/0: no 5x5 conv at stride 1" in result.stderr


def test_a_loaded_spec_is_not_mutated_by_factorize():
    from googlenet_cost.spec.variants import apply_change, factorize, module_scope

    spec = gc.load_spec("inception_v3")
    before = repr(spec)
    varied = apply_change(spec, factorize(), module_scope(spec, "Mixed_5*"))
    assert repr(spec) == before and varied.spec != spec


def test_gcost_error_for_parse_errors_is_spec_error():
    assert issubclass(SpecError, GcostError)


@pytest.mark.slow
def test_a_repeat_of_identical_blocks_is_measured_once(monkeypatch):
    """50 copies of a residual block: counting builds and measures one block (and the training
    step measures one per gradient need); the repeat's row is the sum of its 50 blocks."""
    from googlenet_cost.count import counting
    from googlenet_cost.count import training

    calls = {"forward": 0, "backward": 0}
    real_rows, real_training = counting.measure_rows, training.measure_training

    def count(kind, real):
        def wrapped(*args, **kwargs):
            calls[kind] += 1
            return real(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(counting, "measure_rows", count("forward", real_rows))
    monkeypatch.setattr(training, "measure_training", count("backward", real_training))
    spec = gc.parse_spec(REPEAT.replace("times: 3", "times: 50"))
    report = gc.analyze(spec, optimizer="sgd")
    assert calls["forward"] == 2  # the first block and one copy of the body
    rows = _rows(report)
    assert rows["stage"].macs == rows["stage/0"].macs + 49 * rows["stage/1"].macs
    assert rows["stage"].backward_macs == rows["stage/0"].backward_macs + 49 * rows["stage/49"].backward_macs
    assert report.warnings == []
    # per distinct (layer, input, gradient): the two blocks, their convs and BN-less children, the whole
    # model once for saved bytes; never 50 copies
    assert calls["backward"] < 15


def test_an_inception_module_nests_inside_other_composites():
    spec = gc.parse_spec("""
name: n
input: [16, 8, 8]
layers:
  - name: stage
    type: sequence
    layers:
      - {name: inc, type: inception, 1x1: 4, 3x3_reduce: 4, 3x3: 8, 5x5_reduce: 2, 5x5: 4, pool_proj: 4}
      - {name: se, type: se, reduce: 0.25}
""")
    report = gc.analyze(spec)
    rows = _rows(report)
    assert rows["stage/inc/5x5"].parent == "stage/inc" and rows["stage/inc"].output_shape == [20, 8, 8]
    # by hand: 5x5 from a 2-wide reduce to 4 maps on 8x8: 2*4*25 weights + 4 biases, 8*8*4*2*25 MACs
    assert (rows["stage/inc/5x5"].params, rows["stage/inc/5x5"].macs) == (204, 12_800)
    assert rows["stage/se/fc1"].output_shape == [5, 1, 1]  # floor(20 x 0.25)
    assert rows["stage"].macs == rows["stage/inc"].macs + rows["stage/se"].macs
    assert report.warnings == []


@pytest.mark.slow
def test_a_repeat_counts_on_the_device_its_one_measured_block_needs():
    """1,000 copies of inception 4b: as top-level layers or as one `repeat: 1000` layer, counting
    runs one module, so both take the same device (the small-layer CPU path, not the meta device
    that the whole repeat's 1,000 modules would need); --verify, which runs fvcore on every top-level
    layer whole, sizes its memory check by the whole repeat."""
    from googlenet_cost.count.units import MeasurementPlan
    from googlenet_cost.spec.plan import plan_rows

    module = "{name: m, type: inception, 1x1: 160, 3x3_reduce: 112, 3x3: 224, 5x5_reduce: 24, 5x5: 64, pool_proj: 64"
    repeat = gc.parse_spec(f"name: r\ninput: [512, 14, 14]\nlayers:\n  - {module}, repeat: 1000}}\n")
    copies = gc.parse_spec("name: c\ninput: [512, 14, 14]\nlayers:\n"
                           + "".join(f"  - {module.replace('name: m', f'name: m{i}')}}}\n" for i in range(1000)))
    plan = MeasurementPlan.of(plan_rows(repeat, train=False))
    assert plan.counting_device(1) == MeasurementPlan.of(plan_rows(copies, train=False)).counting_device(1) == "cpu"
    one = plan.largest_unit_bytes(1)
    assert plan.largest_unit_bytes(1, whole=True) > 800 * one
