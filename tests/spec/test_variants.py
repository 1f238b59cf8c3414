"""compare's variants select by role anywhere in the tree, and --set edits any key: checked against
torchvision models changed by hand (measured live, pinned in tests/data/reference_rows.json), against
hand computations, and for every way a request can fail."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import googlenet_cost as gc
from conftest import invoke
from googlenet_cost.errors import GcostError, SpecError
from googlenet_cost.spec.plan import plan_rows
from googlenet_cost.spec.variants import build_variants

SQUEEZENET = str(Path(__file__).parent / "squeezenet1_1.yaml")
REFERENCE = json.loads((Path(__file__).parents[1] / "data" / "reference_rows.json").read_text())
HAND_CHANGED = REFERENCE.get("variants", [])


def _rows(report) -> dict:
    return {row.name: row for row in report.layers}


def _variant(spec: str, *requested, module: str | None = None):
    return build_variants([spec], list(requested), module)[1]


def _roles(spec) -> dict[str, list[str]]:
    roles: dict[str, list[str]] = {}
    for row in plan_rows(spec, train=True):
        role = getattr(row.layer, "role", None)
        if role:
            roles.setdefault(role, []).append(row.name)
    return roles


# ---- roles -------------------------------------------------------------------------------------------

def test_a_conv_has_the_role_written_else_the_one_its_name_implies():
    spec = gc.parse_spec("""
name: r
input: [8, 6, 6]
layers:
  - {name: squeeze, type: conv, out: 4, kernel: 1, role: reduce}
  - {name: 3x3_reduce, type: conv, out: 4, kernel: 1}
  - {name: b_pool_proj, type: conv, out: 4, kernel: 1}
  - {name: kept_reduce, type: conv, out: 4, kernel: 1, role: none}
  - {name: plain, type: conv, out: 4, kernel: 1}
  - {name: inc, type: inception, 1x1: 2, 3x3_reduce: 2, 3x3: 2, 5x5_reduce: 2, 5x5: 2, pool_proj: 2}
""")
    assert _roles(spec) == {"reduce": ["squeeze", "3x3_reduce", "inc/3x3_reduce", "inc/5x5_reduce"],
                            "pool_proj": ["b_pool_proj", "inc/pool_proj"]}


def test_an_unknown_role_is_refused_naming_the_roles():
    with pytest.raises(SpecError, match="role must be one of none, reduce, pool_proj, expand, project, shortcut"):
        gc.parse_spec("name: r\ninput: [8, 6, 6]\nlayers:\n  - {name: c, type: conv, out: 4, kernel: 1, role: squeze}\n")


def test_a_role_changes_no_count_and_no_build():
    """Equal convs of different roles build one module (the role is not part of a layer's identity)."""
    with_role = gc.parse_spec("name: a\ninput: [8, 6, 6]\nlayers:\n  - {name: c, type: conv, out: 4, kernel: 1, role: expand}\n")
    without = gc.parse_spec("name: a\ninput: [8, 6, 6]\nlayers:\n  - {name: c, type: conv, out: 4, kernel: 1}\n")
    assert with_role.layers == without.layers
    assert plan_rows(with_role, train=False)[0].build_key == plan_rows(without, train=False)[0].build_key


# Each shipped reference spec's roles: (role, rows with it) counts
SHIPPED_ROLES = {
    "resnet50": {"reduce": 16, "project": 16, "shortcut": 4},  # every bottleneck's conv1, conv3; the projections
    "densenet121": {"reduce": 58},  # every dense layer's 1x1 bottleneck conv
    "mobilenet_v2": {"expand": 16, "project": 17},
    "efficientnet_b0": {"expand": 15, "project": 16},
    # Mixed_5b-5d: 2 reduce + pool_proj, 6a: 1, 6b-6e: 2 + pool_proj, 7a: 2, 7b-7c: 2 + pool_proj; AuxLogits' conv0
    "inception_v3": {"reduce": 3 * 2 + 1 + 4 * 2 + 2 + 2 * 2 + 1, "pool_proj": 9},
    "googlenet": {"reduce": 18, "pool_proj": 9},  # the inception columns; conv2's 3x3_reduce is role none
}


@pytest.mark.parametrize("name", sorted(SHIPPED_ROLES))
def test_shipped_specs_carry_their_roles(name):
    roles = _roles(gc.load_spec(name))
    assert {role: len(rows) for role, rows in roles.items()} == SHIPPED_ROLES[name]


def test_resnet_reduce_is_each_bottlenecks_conv1():
    roles = _roles(gc.load_spec("resnet50"))
    assert {row.rsplit("/", 1)[1] for row in roles["reduce"]} == {"conv1"}
    assert roles["shortcut"] == ["layer1/0/downsample", "layer2/0/downsample", "layer3/0/downsample",
                                 "layer4/0/downsample"]


# ---- role variants against torchvision models changed by hand -------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("case", HAND_CHANGED, ids=[f"{c['spec'].rsplit('/', 1)[-1]}-{c['variants'][0][0]}"
                                                    for c in HAND_CHANGED])
def test_variants_equal_torchvision_models_changed_by_hand(case):
    spec = case["spec"] if "/" not in case["spec"] else str(Path(__file__).parents[2] / case["spec"])
    variant = _variant(spec, *[tuple(item) for item in case["variants"]])
    report = gc.analyze(variant.spec)
    assert (report.totals.params, report.totals.macs) == (case["params"], case["macs"]), case["changed_by_hand"]
    rows = _rows(report)
    assert {name: (rows[name].output_shape, rows[name].params) for name in case["rows"]} == \
        {name: (row["output_shape"], row["params"]) for name, row in case["rows"].items()}
    assert report.warnings == [] or variant.label == "factorize"  # factorize notes the strided 5x5 convs


def test_the_hand_changed_models_cover_every_role_variant_and_set():
    kinds = {case["variants"][0][0] for case in HAND_CHANGED}
    assert kinds == {"reduce-scale", "set", "factorize", "no-reduce"}


def test_halving_resnets_reduce_halves_conv1_its_batch_norm_and_conv2s_input():
    """layer2/1: conv1 512 -> 128 becomes 512 -> 64 (with BN: 2 x 64), conv2 reads 64 instead of 128."""
    base = _rows(gc.analyze(gc.load_spec("resnet50")))
    half = _rows(gc.analyze(_variant("resnet50", ("reduce-scale", 0.5)).spec))
    assert base["layer2/1/conv1"].params == 512 * 128 + 2 * 128
    assert half["layer2/1/conv1"].params == 512 * 64 + 2 * 64
    assert half["layer2/1/conv2"].params == 64 * 128 * 9 + 2 * 128
    assert half["layer2/1/conv3"].params == base["layer2/1/conv3"].params
    assert half["layer2/1"].output_shape == base["layer2/1"].output_shape


def test_squeezenet_fire_modules_are_varied_through_their_squeeze():
    """The issue's Fire module (sequence [squeeze, branches [expand1x1, expand3x3]]): --no-reduce
    removes the squeeze, so both expand convs read the Fire's input."""
    rows = _rows(gc.analyze(_variant(SQUEEZENET, ("no-reduce", True)).spec))
    assert "fire2/squeeze" not in rows
    assert rows["fire2/expand/expand3x3"].params == 64 * 64 * 9 + 64  # reads conv1's 64 channels


def test_variants_reach_convs_in_sequences_repeats_branches_and_nested_modules(write_spec):
    path = write_spec("""
name: deep
input: [16, 8, 8]
layers:
  - {name: top, type: conv, out: 8, kernel: 1, role: reduce}
  - name: stage
    type: repeat
    times: 2
    layers:
      - type: sequence
        layers:
          - {name: squeeze, type: conv, out: 4, kernel: 1, role: reduce}
          - name: fork
            type: branches
            branches:
              - - {name: inner, type: conv, out: 4, kernel: 1, role: reduce}
                - {name: wide, type: conv, out: 8, kernel: 3, padding: 1}
              - - name: nest
                  type: branches
                  branches: [[{name: deepest, type: conv, out: 2, kernel: 1, role: reduce}]]
                - {name: se, type: se, reduce: 1}
""")
    variant = _variant(str(path), ("reduce", 1))
    widths = {row.name: row.out_shape[0] for row in plan_rows(variant.spec, train=False)
              if getattr(row.layer, "role", None) == "reduce"}
    assert widths == {"top": 1, "stage/0/squeeze": 1, "stage/0/fork/inner": 1, "stage/0/fork/nest/deepest": 1,
                      "stage/1/squeeze": 1, "stage/1/fork/inner": 1, "stage/1/fork/nest/deepest": 1}


def test_factorize_changes_a_5x5_in_a_sequence_block_and_keeps_it_depthwise():
    """The issue's EfficientNet case: stage5's blocks (a sequence first, then residual branches) each
    hold a stride-1 5x5 depthwise conv; every one becomes two 3x3 depthwise convs."""
    variant = _variant("efficientnet_b0", ("factorize", True), module="stage5/*")
    rows = {row.name: row for row in plan_rows(variant.spec, train=False)}
    for block in ("stage5/0", "stage5/1", "stage5/2"):
        first, second = rows[f"{block}/dw/3x3_1"].layer, rows[f"{block}/dw/3x3_2"].layer
        width = rows[f"{block}/dw"].out_shape[0]
        assert (first.kernel, first.groups, second.groups, first.out) == ((3, 3), width, width, width)
        assert rows[f"{block}/dw"].field == rows[f"{block}/dw/3x3_2"].field
    assert not any(name.startswith("stage3/1/dw/") for name in rows)  # outside --module


def test_factorize_names_the_strided_5x5_convs_it_leaves():
    variant = _variant("efficientnet_b0", ("factorize", True))
    assert variant.notes == ("left as they were: 5x5 convs that are strided or dilated (two stacked 3x3 convs would "
                             "not keep their receptive field): stage3/0/dw, stage6/0/dw",)


def test_variants_change_the_aux_heads_too():
    """Inception v3's auxiliary head holds a 1x1 reduce in front of a stride-1 5x5: both are varied."""
    rows = {row.name: row for row in plan_rows(_variant("inception_v3", ("factorize", True)).spec, train=True)}
    assert "AuxLogits/conv1/3x3_2" in rows and "Mixed_5b/branch5x5_2/3x3_1" in rows
    rows = {row.name: row for row in plan_rows(_variant("inception_v3", ("reduce", 16)).spec, train=True)}
    assert rows["AuxLogits/conv0"].out_shape[0] == rows["Mixed_7a/branch7x7x3_1"].out_shape[0] == 16


def test_googlenets_variants_keep_their_figures():
    """Only the inception modules' columns are reduce convs in googlenet (conv2's 3x3_reduce is role
    none): --reduce 16 changes the nine modules and nothing else."""
    base, varied = (gc.load_spec("googlenet"), _variant("googlenet", ("reduce", 16)).spec)
    changed = [a.name for a, b in zip(base.layers, varied.layers) if a != b]
    assert changed == [layer.name for layer in base.layers if layer.type_name == "inception"]


@pytest.mark.parametrize("args,fragment", [
    (["mobilenet_v2", "--reduce", "8"], "--reduce could not change mobilenet_v2: no reduce conv (role: reduce, a conv "
                                        "named *_reduce, or an inception 3x3_reduce/5x5_reduce column) in it (its "
                                        "convs' roles: expand, project)"),
    (["vgg16", "--no-reduce"], "no conv in it has a role: give one, e.g. `role: reduce`, and it has no inception or "
                               "branches modules"),
    (["efficientnet_b0", "--factorize", "--module", "stage6/*"], "--factorize could not change stage6/0: no 5x5 conv "
                                                                 "at stride 1"),
    (["resnet50", "--reduce", "16", "--module", "layer9*"], "--module 'layer9*' matches no inception or branches "
                                                             "module and no other row"),
])
def test_a_variant_that_cannot_do_what_it_says_exits_2_naming_why(runner, args, fragment):
    result = invoke(runner, "compare", *args, "--no-latency")
    assert result.exit_code == 2, result.output
    assert fragment in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_removing_the_only_layer_of_a_sequence_is_an_error_naming_it(write_spec):
    path = write_spec("name: s\ninput: [8, 4, 4]\nlayers:\n  - {name: c, type: conv, out: 4, kernel: 3}\n"
                      "  - {name: seq, type: sequence, layers: [{name: r, type: conv, out: 2, kernel: 1, "
                      "role: reduce}]}\n")
    with pytest.raises(GcostError, match="variant no-reduce removes every layer of seq") as raised:
        _variant(str(path), ("no-reduce", True))
    assert raised.value.file == str(path)  # the file and the variant, in one line (issue 33)


def test_a_variant_never_mutates_the_loaded_spec():
    from googlenet_cost.spec.variants import apply_change, factorize, module_scope

    spec = gc.load_spec("inception_v3")
    before = repr(spec)
    varied = apply_change(spec, factorize(), module_scope(spec, "Mixed_5*"))
    assert repr(spec) == before and varied.spec != spec


# ---- --set -----------------------------------------------------------------------------------------------

def test_set_halves_resnets_bottleneck_width_as_torchvisions_width_per_group_32(runner, tmp_path):
    out = tmp_path / "cmp.json"
    result = invoke(runner, "compare", "resnet50", "--set", "layer*/*/conv1.out=x0.5;layer*/*/conv2.out=x0.5",
                    "--no-latency", "--format", "json", "-o", str(out))
    assert result.exit_code == 0, result.output
    base, half = json.loads(out.read_text())["variants"]
    assert half["label"] == "set layer*/*/conv1.out=x0.5;layer*/*/conv2.out=x0.5"
    # torchvision.models.resnet.ResNet(Bottleneck, [3, 4, 6, 3], width_per_group=32), measured live
    expected = next(c for c in HAND_CHANGED if c["variants"][0][0] == "set") if HAND_CHANGED else None
    if expected:
        assert (half["totals"]["params"], half["totals"]["macs"]) == (expected["params"], expected["macs"])
    rows = {row["name"]: row for row in half["layers"]}
    assert rows["layer3"]["output_shape"] == [1024, 14, 14]


def test_each_set_is_one_variant_and_edits_apply_in_order(write_spec):
    path = write_spec("""
name: s
input: [4, 8, 8]
layers:
  - {name: a, type: conv, out: 8, kernel: 3, padding: 1}
  - {name: b, type: conv, out: 8, kernel: 3, padding: 1}
  - {name: drop, type: dropout, p: 0.5}
  - {name: stage, type: conv, out: 8, kernel: 1, repeat: 2}
""")
    variants = build_variants([str(path)], [("set", "a.out=16; a.out=x0.25"), ("set", "[ab].kernel=5;[ab].padding=2"),
                                            ("set", "drop.p=0.1"), ("set", "stage.times=x2")], None)
    assert [v.label for v in variants] == ["baseline", "set a.out=16;a.out=x0.25", "set [ab].kernel=5;[ab].padding=2",
                                           "set drop.p=0.1", "set stage.times=x2"]
    assert variants[1].spec.layers[0].out == 4
    assert [layer.kernel for layer in variants[2].spec.layers[:2]] == [(5, 5), (5, 5)]
    assert variants[3].spec.layers[2].p == 0.1
    assert [row.name for row in plan_rows(variants[4].spec, train=False)][-4:] == ["stage/0", "stage/1", "stage/2",
                                                                                    "stage/3"]


def test_set_reaches_inception_columns_se_and_repeats(write_spec):
    path = write_spec("""
name: s
input: [16, 8, 8]
layers:
  - {name: inc, type: inception, 1x1: 4, 3x3_reduce: 4, 3x3: 8, 5x5_reduce: 2, 5x5: 4, pool_proj: 4}
  - {name: se, type: se, reduce: 0.25}
  - name: stage
    type: repeat
    times: 1
    first: [{name: c, type: conv, out: 8, kernel: 1}]
    layers: [{name: c, type: conv, out: 24, kernel: 1}]
""")
    variant = _variant(str(path), ("set", "inc/3x3_reduce.out=x2;inc.pool_proj=1;se.reduce=x2;stage.times=3"))
    inc, se, stage = variant.spec.layers
    assert (inc.width("3x3_reduce"), inc.width("pool_proj"), se.reduce) == (8, 1, 0.5)
    assert [block.out for block in stage.layers] == [8, 24, 24]  # new blocks copy the body, not the first block


@pytest.mark.parametrize("edit,fragment", [
    ("layer*/*/conv9.out=x0.5", "'layer*/*/conv9' matches no row"),
    ("layer1/*.out=x0.5", "no key 'out' on layer1/0, layer1/1, layer1/2 (layer1/0 is a branches: its keys are none)"),
    ("avgpool.kernel=3", "no key 'kernel' on avgpool (avgpool is a global_avgpool: its keys are none)"),
    ("conv1.colour=3", "'colour' is not a key --set can change"),
    ("conv1.out", "write GLOB.KEY=VALUE"),
    ("conv1.out=;", "--set needs edits like"),
    ("conv1.out=many", "must be a number, or xF for F times the layer's own"),
    ("conv1.out=x-1", "must be a number or xF with F above 0"),
    ("conv1.out=2.5", "out must be a whole number, got '2.5'"),
    ("conv1.out=0", "conv1.out must be at least 1, got 0"),
    ("layer1/0/conv3.out=x2", "variant set layer1/0/conv3.out=x2: branches merged by add must have equal shapes"),
])
def test_a_set_that_cannot_be_made_exits_2_naming_the_rows(runner, edit, fragment):
    result = invoke(runner, "compare", "resnet50", "--set", edit, "--no-latency")
    assert result.exit_code == 2, result.output
    assert fragment in result.stderr, result.stderr
    assert "Traceback" not in result.output


def test_set_on_a_part_of_a_module_says_to_set_the_module(write_spec):
    path = write_spec("name: s\ninput: [8, 6, 6]\nlayers:\n  - {name: se, type: se, reduce: 2}\n"
                      "  - {name: inc, type: inception, 1x1: 4, 3x3_reduce: 4, 3x3: 8, 5x5_reduce: 2, 5x5: 4, "
                      "pool_proj: 4}\n")
    with pytest.raises(GcostError, match=r"no key 'out' on se/fc1 \(se/fc1 is made by the module that holds it"):
        _variant(str(path), ("set", "se/fc1.out=3"))
    with pytest.raises(GcostError, match="width of inc/3x3, a column of an inception module: only its width"):
        _variant(str(path), ("set", "inc/3x3.kernel=5"))


def test_set_inside_module_limits_it_and_each_chosen_row_must_change():
    variant = _variant("resnet50", ("set", "layer*/*/conv1.out=x0.5"), module="layer2")
    rows = {row.name: row for row in plan_rows(variant.spec, train=False)}
    assert rows["layer2/0/conv1"].out_shape[0] == 64 and rows["layer1/0/conv1"].out_shape[0] == 64
    assert rows["layer3/0/conv1"].out_shape[0] == 256
    with pytest.raises(GcostError, match="changes nothing in layer1, layer3, layer4, which --module 'layer.' matches"):
        _variant("resnet50", ("set", "layer2/*/conv1.out=x0.5"), module="layer?")
    with pytest.raises(GcostError, match="'fc' matches no row inside the rows --module 'layer2' matches"):
        _variant("resnet50", ("set", "fc.out=10"), module="layer2")


def test_module_limits_the_rows_shown_counting_depth_from_the_rows_it_chose(runner):
    import csv

    args = ("compare", "resnet50", "--reduce-scale", "0.5", "--module", "layer2/*", "--no-latency")
    table = list(csv.reader(invoke(runner, *args, "--depth", "2", "--format", "csv").stdout.splitlines()))
    rows = {cells[0]: cells[1:] for cells in table[1:]}
    blocks = [f"layer2/{k}" for k in range(4)]
    expected = [row for block in blocks for row in [block, f"{block}/conv1", f"{block}/conv2", f"{block}/conv3"]
                + (["layer2/0/downsample"] if block == "layer2/0" else [])]
    assert [cells[0] for cells in table[1:len(expected) + 1]] == expected
    assert not any(name.startswith(("layer1", "layer3", "conv1", "fc")) for name in rows)
    assert rows["layer2/1/conv1"][-1] == "0.50x" and rows["layer2/1/conv3"][-1] == "1.00x"
    assert rows["total"][1] == "4,089,184,256"  # the whole network's, not the shown rows'
    top_only = invoke(runner, *args, "--format", "markdown").stdout
    assert "layer2/0" in top_only and "conv1" not in top_only and "layer1" not in top_only
    drawn = invoke(runner, *args).stdout
    assert "Rows: those inside --module layer2/*; the totals are the whole network's." in " ".join(drawn.split())
    every = json.loads(invoke(runner, *args, "--format", "json").stdout)
    assert {"layer1", "fc", "layer2/0/conv1"} <= {row["name"] for row in every["variants"][0]["layers"]}
