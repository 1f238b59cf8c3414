"""gcost compare: variants are data, and they reproduce the notes' bottleneck arithmetic."""
from __future__ import annotations

import json

import pytest

import googlenet_cost as gc
from googlenet_cost.spec.variants import build_variants
from googlenet_cost.options import RunOptions

from conftest import invoke


def rows(report) -> dict:
    return {row.name: row for row in report.layers}


@pytest.fixture(scope="module")
def reduce_variants():
    variants = build_variants([], [("no-reduce", True), ("reduce", 16), ("naive", True)], None)
    return {v.label: v for v in variants}


@pytest.fixture(scope="module")
def analyzed(reduce_variants):
    """The rows of a variant's report by label, each variant analyzed once for this module (reports are
    plain data: the tests only read them)."""
    reports = {}

    def rows_of(label: str) -> dict:
        if label not in reports:
            reports[label] = rows(gc.analyze(reduce_variants[label].spec))
        return reports[label]

    return rows_of


def test_labels_keep_the_order_given(reduce_variants):
    assert list(reduce_variants) == ["baseline", "no-reduce", "reduce=16", "naive"]


@pytest.mark.slow
def test_5x5_branch_of_4a_costs_5_3m_with_reduce_and_112_9m_without(analyzed):
    base, plain = analyzed("baseline"), analyzed("no-reduce")
    assert base["inception_4a/5x5_reduce"].macs + base["inception_4a/5x5"].macs == 5_268_480
    assert "inception_4a/5x5_reduce" not in plain
    assert plain["inception_4a/5x5"].macs == (14 * 14 * 48) * (5 * 5 * 480) == 112_896_000


@pytest.mark.slow
def test_3x3_branch_of_3a_has_129k_weights_with_reduce_and_221k_without(analyzed):
    base, plain = analyzed("baseline"), analyzed("no-reduce")
    assert base["inception_3a/3x3_reduce"].weights + base["inception_3a/3x3"].weights == 129_024
    assert plain["inception_3a/3x3"].weights == 3 * 3 * 192 * 128 == 221_184


@pytest.mark.slow
def test_no_reduce_keeps_every_module_output_shape(analyzed):
    base, plain = analyzed("baseline"), analyzed("no-reduce")
    top = [name for name, row in base.items() if row.parent is None]
    assert [plain[name].output_shape for name in top] == [base[name].output_shape for name in top]


def test_reduce_n_changes_only_reduce_widths(reduce_variants):
    base = reduce_variants["baseline"].spec
    varied = reduce_variants["reduce=16"].spec
    for before, after in zip(base.layers, varied.layers):
        if before.type_name != "inception":
            assert before == after
            continue
        for column in ("1x1", "3x3", "5x5", "pool_proj"):
            assert after.width(column) == before.width(column)
        assert after.width("3x3_reduce") == after.width("5x5_reduce") == 16


@pytest.mark.slow
def test_naive_module_widths_grow_module_after_module(analyzed):
    base, naive = analyzed("baseline"), analyzed("naive")
    # the pool branch passes its input through, so each module's output is wider than Table 1's
    assert naive["inception_3a"].output_shape[0] == 64 + 128 + 32 + 192
    assert naive["inception_3b"].output_shape[0] > base["inception_3b"].output_shape[0]
    assert naive["inception_5b"].output_shape[0] > naive["inception_3b"].output_shape[0]


@pytest.mark.slow
def test_head_fc_flattens_7x7x1024_into_the_classifier():
    (base, fc) = build_variants([], [("head", "fc")], None)
    report = gc.analyze(fc.spec)
    assert rows(report)["fc"].weights == 7 * 7 * 1024 * 1000
    assert report.totals.params > 50_000_000


def test_module_glob_limits_the_variant():
    _, varied = build_variants([], [("no-reduce", True)], "inception_4*")
    kinds = {layer.name: layer for layer in varied.spec.layers if layer.type_name == "inception"}
    assert kinds["inception_3a"].width("3x3_reduce") == 96
    assert kinds["inception_4a"].width("3x3_reduce") is None


def test_a_loaded_spec_is_never_mutated():
    spec = gc.load_spec("googlenet")
    before = repr(spec)
    from googlenet_cost.spec.variants import apply_change, module_scope, no_reduce

    apply_change(spec, no_reduce(), module_scope(spec, None))
    assert repr(spec) == before


@pytest.mark.parametrize("args,fragment", [
    (["--reduce", "0"], "at least 1"),
    (["--reduce", "x"], "expected whole numbers"),
    (["--reduce-scale", "-1"], "above 0 and at most 1000"),
    (["--no-reduce", "--module", "inception_9*"], "matches no inception or branches module"),
    (["--reduce", "16", "--reduce", "16"], "asked for twice"),
    (["specs/vgg16.yaml", "--no-reduce"], "no inception or branches modules"),
    (["mobilenet_v2", "--reduce", "16"], "its convs' roles: expand, project"),
    (["inception_v3", "--factorize", "--module", "Mixed_6*"], "--factorize could not change Mixed_6a, Mixed_6b"),
    (["torchvision_googlenet", "--factorize"], "no 5x5 conv at stride 1 (an inception 5x5 column with kernel_5x5 5"),
])
def test_bad_variant_arguments_exit_2(runner, args, fragment):
    result = invoke(runner, "compare", *args, "--no-latency")
    assert result.exit_code == 2, result.output
    assert fragment in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_compare_json_contract(runner, tmp_path):
    out = tmp_path / "cmp.json"
    result = invoke(runner, "compare", "--reduce", "16", "--no-reduce", "--no-latency",
                    "--format", "json", "-o", str(out))
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert [v["label"] for v in data["variants"]] == ["baseline", "reduce=16", "no-reduce"]
    assert data["schema"] == 3
    assert all(v["schema"] == 3 and "totals" in v for v in data["variants"])
    summary = {s["label"]: s for s in data["summary"]}
    base_macs = data["variants"][0]["totals"]["macs"]
    assert summary["no-reduce"]["macs_ratio"] == pytest.approx(data["variants"][2]["totals"]["macs"] / base_macs)
    assert summary["no-reduce"]["macs_ratio"] > 1  # removing the bottleneck costs more
    assert summary["no-reduce"]["text"].startswith("no-reduce: ")


@pytest.mark.slow
def test_compare_two_networks_adds_a_column_each(runner):
    result = invoke(runner, "compare", "specs/googlenet.yaml", "specs/resnet50.yaml", "--no-latency",
                    "--format", "csv")
    assert result.exit_code == 0, result.output
    header = result.stdout.splitlines()[0].split(",")
    assert header[:3] == ["layer", "googlenet (baseline) params", "googlenet (baseline) MACs"]
    assert "resnet50 MACs" in header
    total = next(line for line in result.stdout.splitlines() if line.startswith("total,"))
    assert "25,557,032" in total


@pytest.mark.slow
def test_compare_times_variants_interleaved_on_the_cpu():
    from googlenet_cost.comparison import compare
    from googlenet_cost.timing.measure import TimingOptions
    from googlenet_cost.timing.loop import LoopLimits

    variants = build_variants(["example_3x3_bottleneck"], [], None)
    variants += build_variants(["example_5x5_conv"], [], None)[:1]
    variants[1] = type(variants[1])("tiny", variants[1].spec)
    limits = LoopLimits(warmup_min_iters=2, warmup_min_s=0, min_iters=5, min_time_s=0)
    # No precision is asserted: a +-100% target stops at the first check (10 rounds) instead of
    # waiting out the default +-2% (30 s on a busy CPU); the time budget stays as the backstop.
    timing = TimingOptions(device="cpu", limits=limits, precision=1.0)
    result = compare(variants, RunOptions(timing=timing))
    first, second = (r.timed[0].iterations for r in result.reports)
    assert first == second >= 5  # one sample of each per round
    [ratio] = result.summary[0].latency
    if ratio.estimate.dropped_rounds == 0:  # every round in the ratio: it is the ratio of the two medians
        assert ratio.estimate.median == pytest.approx(
            result.reports[1].timed[0].median_ms / result.reports[0].timed[0].median_ms)


@pytest.mark.slow
def test_plot_needs_matplotlib_or_writes_a_png(runner, tmp_path):
    out = tmp_path / "cmp.png"
    result = invoke(runner, "compare", "--no-reduce", "--no-latency", "--plot", str(out), "--format", "json")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert result.exit_code == 2 and "pip install 'gcost[plot]'" in result.stderr
        assert result.stdout == ""  # refused before any analysis
        return
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_needs_png_or_svg(runner, tmp_path):
    result = invoke(runner, "compare", "--no-reduce", "--no-latency", "--plot", str(tmp_path / "cmp.gif"))
    assert result.exit_code == 2 and ".png, .svg or .pdf" in result.stderr and result.stdout == ""


def test_compare_counts_at_the_batch_given_without_timing_too(runner):
    """--batch sets the counting batch with --no-latency as well (it was 1 whatever was given): a
    training step's memory is at that batch."""
    result = invoke(runner, "compare", "example_5x5_bottleneck", "example_5x5_conv", "--no-latency", "--step", "train",
                    "--batch", "4", "--format", "json")
    assert result.exit_code == 0, result.output
    variants = json.loads(result.stdout)["variants"]
    assert [(v["batch"], v["training"]["batch"]) for v in variants] == [(4, 4), (4, 4)]
    one = json.loads(invoke(runner, "compare", "example_5x5_bottleneck", "example_5x5_conv", "--no-latency", "--step",
                            "train", "--format", "json").stdout)["variants"]
    assert variants[0]["training"]["saved_bytes"] == 4 * one[0]["training"]["saved_bytes"]


def test_each_reduce_path_is_a_row_counting_what_the_variant_removed(runner):
    """The seeds' question, without hand arithmetic: the 5x5 path of inception_3a (reduce to 16, then
    the 5x5 conv) costs 2,408,448 + 10,035,200 = 12,443,648 MACs; without the reduce the 5x5 conv
    alone reads all 192 channels: 28 x 28 x 192 x 32 x 25 = 120,422,400, 9.68x."""
    import csv
    import io

    result = invoke(runner, "compare", "--no-reduce", "--module", "inception_3a", "--depth", "branches",
                    "--no-latency", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = {r[0]: r for r in csv.reader(io.StringIO(result.stdout))}
    path = rows["inception_3a/5x5 path (5x5_reduce + 5x5)"]
    assert path[2] == f"{28 * 28 * 192 * 16 + 28 * 28 * 16 * 32 * 25:,}" == "12,443,648"
    assert path[4] == f"{28 * 28 * 192 * 32 * 25:,}" == "120,422,400" and path[5] == "9.68x"
    three = rows["inception_3a/3x3 path (3x3_reduce + 3x3)"]
    assert three[5] == f"{(28 * 28 * 192 * 128 * 9) / (28 * 28 * 192 * 96 + 28 * 28 * 96 * 128 * 9):.2f}x"
    from gcost_cli.main import gcost

    table = runner.invoke(gcost, ["compare", "--no-reduce", "--module", "inception_3a", "--depth", "branches",
                                  "--no-latency"], env={"COLUMNS": "200"}, catch_exceptions=False)
    assert "└ 5x5 path (5x5_reduce + 5x5)" in table.stdout and "A path row sums a reduce conv" in table.stdout
