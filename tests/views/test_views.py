"""Output a person can read: tables at any width and piped lose nothing, --columns, CSV's shape
order, check's messages, help text, completion and the compare plot."""
from __future__ import annotations

import json

import pytest

from conftest import invoke

WIDTHS = [60, 80, 100, 120, 200]


def _numbers(report: dict) -> list[str]:
    return [f"{row[key]:,}" for row in report["layers"] for key in ("params", "macs")] + \
           [f"{report['totals'][key]:,}" for key in ("params", "macs")]


@pytest.fixture(scope="module")
def googlenet_json():
    from click.testing import CliRunner

    return json.loads(invoke(CliRunner(), "analyze", "googlenet", "--no-latency", "--format", "json").stdout)


COMPARE = ["compare", "--reduce", "8,16,32", "--no-reduce", "--no-latency"]  # four variants


@pytest.fixture(scope="module")
def compare_json():
    """The JSON of the compare every width's table is checked against: it does not depend on the width."""
    from click.testing import CliRunner

    return json.loads(invoke(CliRunner(), *COMPARE, "--format", "json").stdout)


@pytest.mark.slow
@pytest.mark.parametrize("width", [*WIDTHS, None], ids=[*map(str, WIDTHS), "piped"])
def test_the_analyze_table_never_cuts_a_name_or_a_number(runner, googlenet_json, width):
    env = {"COLUMNS": str(width)} if width else {"COLUMNS": ""}
    result = runner.invoke(__import__("gcost_cli.main", fromlist=["gcost"]).gcost, ["analyze", "googlenet", "--no-latency"],
                           env=env, catch_exceptions=False)
    text = result.stdout
    assert result.exit_code == 0 and "…" not in text
    for number in _numbers(googlenet_json):
        assert number in text, number
    for row in googlenet_json["layers"]:
        assert row["name"].rsplit("/", 1)[-1] in text
    assert "≠" in text  # the paper disagreements survive every width
    table_lines = [line for line in text.splitlines() if line.startswith(("┃", "│", "┏", "└", "┡"))]
    if width and width >= 80:
        assert max(map(len, table_lines)) <= width
    if width and width <= 100:
        assert "Left out to fit" in text and "--columns" in text
    if width is None or width >= 200:
        assert "paper params" in text and "Left out" not in text


@pytest.mark.slow
@pytest.mark.parametrize("width", [*WIDTHS, None], ids=[*map(str, WIDTHS), "piped"])
def test_the_compare_table_is_one_table_at_every_width_with_every_total(runner, compare_json, width):
    """One table, the baseline once: narrower, the variants' absolute columns go first and their
    ratios stay, and every total stays visible (exact, or on its 'value' row); never a cut number."""
    from gcost_cli.main import gcost
    from googlenet_cost.quantity import human

    env = {"COLUMNS": str(width)} if width else {"COLUMNS": ""}
    data = compare_json
    text = runner.invoke(gcost, COMPARE, env=env, catch_exceptions=False).stdout
    assert "…" not in text and text.count("googlenet (baseline)") == 1 and "against the baseline" not in text
    base = data["variants"][0]["totals"]
    assert f"{base['params']:,}" in text and f"{base['macs']:,}" in text
    for variant, entry in zip(data["variants"][1:], data["summary"]):
        totals = variant["totals"]
        exact = f"{totals['params']:,}" in text and f"{totals['macs']:,}" in text
        assert exact or (human(totals["params"]) in text and human(totals["macs"]) in text), variant["label"]
        assert f"{entry['macs_ratio']:.2f}x" in text
    table_lines = [line for line in text.splitlines() if line.startswith(("┃", "│", "┏", "└", "┡"))]
    if width and width >= 100:
        assert max(map(len, table_lines)) <= width  # four variants of googlenet fit in 100 columns
    if width is None or width >= 200:  # room for every column: each variant's exact totals
        assert "Narrow terminal" not in text
        assert all(f"{v['totals']['params']:,}" in text for v in data["variants"])


@pytest.mark.slow
def test_columns_choose_what_the_table_markdown_and_csv_show(runner):
    table = invoke(runner, "analyze", "googlenet", "--no-latency", "--columns", "name,output,params,macs").stdout
    assert "type" not in table.splitlines()[2] and "RF" not in table and "MACs" in table
    csv_text = invoke(runner, "analyze", "googlenet", "--no-latency", "--format", "csv", "--columns", "name,macs").stdout
    assert csv_text.splitlines()[0] == "name,parent,macs"
    bad = invoke(runner, "analyze", "googlenet", "--no-latency", "--columns", "name,mac")
    assert bad.exit_code == 2 and "unknown column 'mac' (did you mean 'macs'?)" in bad.stderr


@pytest.mark.slow
def test_csv_states_its_shape_order(runner):
    lines = invoke(runner, "analyze", "googlenet", "--no-latency", "--format", "csv").stdout.splitlines()
    assert "output_shape_hwc" in lines[0].split(",")
    assert lines[1].split(",")[4] == "112x112x64"  # H x W x C, as the table and the paper write it


@pytest.mark.slow
def test_check_without_limits_says_so_once(runner):
    result = invoke(runner, "check", "googlenet", "--allow-empty")
    assert result.exit_code == 0 and result.output.count("no limits to check") == 1 and "┏" not in result.output
    refused = invoke(runner, "check", "googlenet")
    assert refused.exit_code == 2 and "--allow-empty" in refused.stderr  # a gate that checks nothing passes nothing


@pytest.mark.slow
def test_check_table_title_names_the_spec(runner):
    assert "gcost check: googlenet" in invoke(runner, "check", "googlenet", "--max-params", "7.1M").stdout


def test_help_shows_whole_first_sentences(runner):
    text = invoke(runner, "--help").stdout
    commands = text.split("Commands:")[1]
    assert "..." not in commands and "List the built-in specs, usable by name; export one to edit." in commands


def test_shell_completion_offers_builtin_specs_and_yaml_files(tmp_path, monkeypatch):
    from gcost_cli.flags import complete_spec

    (tmp_path / "mine.yaml").write_text("")
    (tmp_path / "notes.txt").write_text("")
    monkeypatch.chdir(tmp_path)
    assert [item.value for item in complete_spec(None, None, "goo")] == ["googlenet"]
    assert [item.value for item in complete_spec(None, None, "mi")] == ["mine.yaml"]
    assert [item.value for item in complete_spec(None, None, "mo")] == ["mobilenet_v2"]
    assert [item.value for item in complete_spec(None, None, "no")] == []


@pytest.mark.slow
def test_the_plot_has_a_title_intervals_values_and_a_scatter(runner, tmp_path):
    pytest.importorskip("matplotlib")
    from googlenet_cost.comparison import compare
    from googlenet_cost.options import RunOptions
    from googlenet_cost.views.compare_plot import build_figure, plot
    from googlenet_cost.timing.loop import LoopLimits
    from googlenet_cost.timing.measure import TimingOptions
    from googlenet_cost.spec.variants import build_variants

    variants = build_variants(["example_5x5_bottleneck", "example_5x5_conv"], [], None)
    timing = TimingOptions(device="cpu", limits=LoopLimits(1, 0.0, 5, 0.0), max_time_s=2, precision=0.5)
    result = compare(variants, RunOptions(timing=timing))
    figure = build_figure(result)
    assert "example_5x5_bottleneck" in figure._suptitle.get_text() and "CPU timing" in figure._suptitle.get_text()
    assert figure.get_size_inches().tolist() == [12, 8] and figure.dpi == 100
    latency_axis, scatter_axis = figure.axes[2], figure.axes[3]
    assert "95% CI" in latency_axis.get_title() and "CPU timing" in latency_axis.get_title()
    assert latency_axis.containers and any(t.get_text().endswith("x") for t in latency_axis.texts)
    assert len(scatter_axis.collections[0].get_offsets()) == 2 and "latency" in scatter_axis.get_ylabel()
    out = tmp_path / "cmp.svg"
    plot(result, str(out))
    assert out.read_text().lstrip().startswith("<?xml") and "example_5x5_bottleneck" in out.read_text()


@pytest.mark.slow
def test_per_layer_profiling_leaks_nothing_to_stderr():
    import subprocess
    import sys

    from conftest import ROOT

    done = subprocess.run([sys.executable, "-m", "gcost_cli", "analyze", "example_3x3_bottleneck", "--per-layer",
                           "--format", "json", "--min-time", "0", "--min-iters", "3", "--warmup", "0"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "profiler" not in done.stderr
    assert all(line.startswith("warning: ") for line in done.stderr.splitlines())  # only gcost's own
    assert json.loads(done.stdout)["layer_latency"]["iterations"] == 20
