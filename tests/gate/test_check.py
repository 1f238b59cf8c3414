"""gate/check.py: gcost check / baseline: within, over, bad spec, baseline drift, tolerance edges,
atomic write.

What a failing gate tells the person who must act on it (issue 34): each grown layer with the
counts that changed and by how much (a layer grown in bytes alone says bytes alone, never "params
0 -> 0, MACs 0 -> 0"), and the exact `gcost baseline` command that accepts the change: run as
printed, it records a lock that the same check passes."""
from __future__ import annotations

import json
import shlex

import pytest

from googlenet_cost.metrics import parse_tolerance
from googlenet_cost.testing import assert_within_budget

from conftest import ROOT, invoke, recorded_lock, write_lock

TINY = "specs/example_5x5_conv.yaml"  # 760 params, 750 weights, 768,000 MACs
SPEC = TINY
NAME = "example_5x5_conv"


def test_within_limits_is_exit_0(runner):
    result = invoke(runner, "check", TINY, "--max-params", "760", "--max-macs", "0.768M")
    assert result.exit_code == 0, result.output


def test_over_a_limit_is_exit_1_with_value_limit_and_difference(runner):
    result = invoke(runner, "check", TINY, "--max-params", "759", "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False
    (entry,) = data["entries"]
    assert (entry["metric"], entry["value"], entry["limit"], entry["ok"]) == ("params", 760, 759, False)
    assert entry["over_by"] == 1 and entry["over_by_pct"] == pytest.approx(100 / 759)


def test_markdown_summary_names_the_offender(runner):
    result = invoke(runner, "check", "specs/googlenet.yaml", "--max-params", "7.1M", "--max-macs", "1.5G",
                    "--format", "markdown")
    assert result.exit_code == 1
    assert "FAILED, 1 of 2" in result.stdout and "| googlenet | macs |" in result.stdout
    assert "OVER" in result.stdout


@pytest.mark.parametrize("args,fragment", [
    (["tests/bad_specs/negative_size.yaml", "--max-params", "1"], "out must be at least 1"),
    ([TINY, "--max-params", "lots"], "max_params"),
    ([TINY, "--max-params", "1.5"], "whole number"),
    ([TINY, "--baseline", "missing.lock.json"], "cannot read"),
    ([TINY, "--tolerance", "abc"], "--tolerance"),
])
def test_usage_and_spec_errors_are_exit_2(runner, args, fragment):
    result = invoke(runner, "check", *args)
    assert result.exit_code == 2 and fragment in result.stderr, result.output


def test_budgets_file_and_spec_budget_block(runner, tmp_path, write_spec):
    spec = write_spec("""
name: budgeted
input: [3, 32, 32]
budget: {max_params: 700}
layers:
  - {name: c1, type: conv, out: 10, kernel: 5, padding: 2}
""")
    assert invoke(runner, "check", str(spec)).exit_code == 1  # the spec's own budget
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("budgeted: {max_params: 800}\n")
    result = invoke(runner, "check", str(spec), "--budgets", str(budgets), "--format", "json")
    assert result.exit_code == 0 and json.loads(result.stdout)["entries"][0]["source"] == "budgets"
    budgets.write_text("budgetd: {max_params: 800}\n")
    assert invoke(runner, "check", str(spec), "--budgets", str(budgets)).exit_code == 2
    budgets.write_text("budgeted: {max_parms: 800}\n")
    result = invoke(runner, "check", str(spec), "--budgets", str(budgets))
    assert result.exit_code == 2 and "did you mean 'max_params'" in result.stderr


def test_baseline_then_drift_names_the_layers_that_grew(runner, tmp_path, write_spec):
    lock = tmp_path / "gcost.lock.json"
    spec = write_spec("""
name: net
input: [3, 32, 32]
layers:
  - {name: c1, type: conv, out: 10, kernel: 5, padding: 2}
  - {name: c2, type: conv, out: 10, kernel: 3, padding: 1}
""")
    assert invoke(runner, "baseline", str(spec), "-o", str(lock)).exit_code == 0
    data = json.loads(lock.read_text())
    assert data["specs"]["net"]["metrics"]["params"] == 760 + 910
    assert {"gcost_version", "torch_version"} <= set(data)
    assert set(data["specs"]["net"]["layers"]) == {"c1", "c2"}
    assert invoke(runner, "check", str(spec), "--baseline", str(lock)).exit_code == 0
    spec.write_text(spec.read_text().replace("out: 10, kernel: 3", "out: 12, kernel: 3"))
    result = invoke(runner, "check", str(spec), "--baseline", str(lock), "--format", "json")
    assert result.exit_code == 1
    grown = json.loads(result.stdout)["grown_layers"]["net"]
    assert [g["layer"] for g in grown] == ["c2"]


def test_tolerance_edges(runner, tmp_path, write_spec):
    lock = tmp_path / "lock.json"
    spec = write_spec("name: net\ninput: [3, 32, 32]\nlayers:\n  - {name: c1, type: conv, out: 100, kernel: 1}\n")
    invoke(runner, "baseline", str(spec), "-o", str(lock))  # 400 params
    spec.write_text(spec.read_text().replace("out: 100", "out: 101"))  # 404 params: +1.0%
    assert invoke(runner, "check", str(spec), "--baseline", str(lock), "--tolerance", "1%").exit_code == 0
    assert invoke(runner, "check", str(spec), "--baseline", str(lock), "--tolerance", "0.99%").exit_code == 1
    assert invoke(runner, "check", str(spec), "--baseline", str(lock)).exit_code == 1  # default 0%


def test_parse_tolerance():
    assert parse_tolerance("0.5%") == pytest.approx(0.005)
    assert parse_tolerance("0.01") == pytest.approx(0.01)


def test_baseline_write_is_atomic(runner, tmp_path, failing_rename):
    lock = tmp_path / "gcost.lock.json"
    lock.write_text('{"old": true}')
    result = invoke(runner, "baseline", TINY, "-o", str(lock))
    assert result.exit_code == 2
    assert lock.read_text() == '{"old": true}'
    assert [p.name for p in tmp_path.iterdir()] == ["gcost.lock.json"]


def test_python_model_in_check(runner):
    result = invoke(runner, "check", "--model", "tests.pymodels:tiny", "--input", "3x32x32", "--max-params", "20K")
    assert result.exit_code == 1  # 20,714 params


def test_assert_within_budget_helper():
    assert_within_budget("googlenet", max_params="7M", max_macs=1_600_000_000)
    with pytest.raises(AssertionError, match="params 6,998,552 > 6,900,000"):
        assert_within_budget("googlenet", max_params="6.9M")
    with pytest.raises(TypeError):
        assert_within_budget("googlenet", max_parameters=1)


@pytest.mark.slow  # every shipped spec, the full-size networks included
def test_committed_lock_file_matches_shipped_specs(runner):
    from conftest import ROOT, SPECS

    result = invoke(runner, "check", *[str(p) for p in SPECS], "--baseline", str(ROOT / "gcost.lock.json"),
                    "--format", "json")
    assert result.exit_code == 0, result.stdout
    data = json.loads(result.stdout)
    assert data["notes"] == [] and len(data["entries"]) == 5 * len(SPECS)


def test_assert_within_budget_accepts_every_budget_key_but_latency_and_lists_exactly_those():
    from googlenet_cost.metrics import budget_keys
    from googlenet_cost.testing import ACCEPTED

    assert set(ACCEPTED) == set(budget_keys()) - {"max_latency_ms"}
    assert_within_budget("example_5x5_conv", max_step_macs="3M", max_train_bytes="10M", batch=2)
    with pytest.raises(AssertionError, match="step_macs"):
        assert_within_budget("example_5x5_conv", max_step_macs=1)
    with pytest.raises(TypeError) as refused:
        assert_within_budget("example_5x5_conv", max_parameters=1)
    listed = str(refused.value).split("known: ")[1].split(", ")
    assert listed == list(ACCEPTED) and "max_latency_ms" not in listed and "max_train_bytes" in listed


def test_growth_is_shown_against_the_baseline_next_to_the_limit(runner, tmp_path):
    """A spec grown 3% since its lock shows +3.xx% against the baseline; against the limit (the
    baseline plus the tolerance) it is less, and over_by_pct keeps that meaning."""
    lock = tmp_path / "gcost.lock.json"
    assert invoke(runner, "baseline", TINY, "-o", str(lock)).exit_code == 0
    document = json.loads(lock.read_text())
    metrics = document["specs"]["example_5x5_conv"]["metrics"]
    metrics.update({key: round(value * 0.97) for key, value in metrics.items()})  # recorded 3% smaller
    lock.write_text(json.dumps(document))
    result = invoke(runner, "check", TINY, "--baseline", str(lock), "--tolerance", "0.5%", "--format", "json")
    assert result.exit_code == 1
    params = next(e for e in json.loads(result.stdout)["entries"] if e["metric"] == "params")
    growth = 760 / metrics["params"] - 1  # 760 / 737
    assert (params["value"], params["baseline"]) == (760, metrics["params"])
    assert params["growth_pct"] == pytest.approx(growth * 100)
    limit = metrics["params"] * 1.005
    assert params["over_by_pct"] == pytest.approx((760 - limit) / limit * 100)
    markdown = invoke(runner, "check", TINY, "--baseline", str(lock), "--tolerance", "0.5%", "--format", "markdown")
    row = next(line for line in markdown.stdout.splitlines() if line.startswith("| example_5x5_conv | params |"))
    assert f"| {growth:+.2%} |" in row and f"({(760 - limit) / limit:+.2%})" in row
    assert "vs baseline" in markdown.stdout.splitlines()[2]


def test_growth_is_null_without_a_baseline_and_its_column_is_left_out(runner):
    result = invoke(runner, "check", TINY, "--max-params", "759", "--format", "json")
    assert json.loads(result.stdout)["entries"][0]["growth_pct"] is None
    assert "vs baseline" not in invoke(runner, "check", TINY, "--max-params", "759", "--format", "markdown").stdout


def test_a_flag_limit_beside_a_baseline_shows_the_growth_too(runner, tmp_path):
    lock = tmp_path / "gcost.lock.json"
    invoke(runner, "baseline", TINY, "-o", str(lock))
    result = invoke(runner, "check", TINY, "--baseline", str(lock), "--max-params", "1K", "--format", "json")
    params = next(e for e in json.loads(result.stdout)["entries"] if e["metric"] == "params")
    assert (params["source"], params["baseline"], params["growth_pct"]) == ("flag", 760, 0)


def test_a_check_without_any_limit_is_exit_2_unless_allowed(runner):
    refused = invoke(runner, "check", TINY)
    assert refused.exit_code == 2 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and "no limits to check" in refused.stderr
    assert "--allow-empty" in refused.stderr
    allowed = invoke(runner, "check", TINY, "--allow-empty")
    assert allowed.exit_code == 0 and "no limits to check" in allowed.output


@pytest.mark.parametrize("args, line", [
    (["--max-params", "760"], "gcost check: ok, 1 limit within bounds"),
    (["--max-params", "760", "--max-macs", "1M"], "gcost check: ok, 2 limits within bounds"),
    (["--max-params", "759"], "gcost check: FAILED, 1 of 1 limit exceeded"),
    (["--max-params", "759", "--max-macs", "1M"], "gcost check: FAILED, 1 of 2 limits exceeded"),
])
def test_the_summary_counts_limits_in_the_right_number(runner, args, line):
    result = invoke(runner, "check", TINY, *args)
    assert line in result.stdout.splitlines()


MODELS = ("tests.pymodels:tiny", "tests.pymodels:functional_conv")  # 20,714 and 108 params


def test_every_model_given_is_checked_and_recorded_under_its_reference(runner, tmp_path):
    models = [arg for model in MODELS for arg in ("--model", model)]
    result = invoke(runner, "check", *models, "--input", "3x32x32", "--max-params", "20K", "--format", "json")
    assert result.exit_code == 1
    entries = json.loads(result.stdout)["entries"]
    assert [(e["spec"], e["value"], e["ok"]) for e in entries] == [(MODELS[0], 20_714, False), (MODELS[1], 108, True)]
    lock = tmp_path / "gcost.lock.json"
    assert invoke(runner, "baseline", TINY, *models, "--input", "3x32x32", "-o", str(lock)).exit_code == 0
    assert list(json.loads(lock.read_text())["specs"]) == ["example_5x5_conv", *MODELS]
    checked = invoke(runner, "check", TINY, *models, "--input", "3x32x32", "--baseline", str(lock), "--format", "json")
    assert checked.exit_code == 0
    assert {e["spec"] for e in json.loads(checked.stdout)["entries"]} == {"example_5x5_conv", *MODELS}


def test_a_model_given_twice_or_an_input_without_a_model_is_refused(runner):
    twice = invoke(runner, "check", "--model", MODELS[0], "--model", MODELS[0], "--input", "3x32x32",
                   "--max-params", "1M")
    assert twice.exit_code == 2 and f"--model {MODELS[0]} given twice" in twice.stderr
    stray = invoke(runner, "check", TINY, "--input", "3x32x32", "--max-params", "1M")
    assert stray.exit_code == 2 and "--input goes with --model" in stray.stderr


def test_analyze_still_takes_one_model(runner):
    from gcost_cli.analyze import analyze
    from gcost_cli.check import baseline, check

    def multiple(command):
        return next(p.multiple for p in command.params if p.name == "model_ref")

    assert (multiple(analyze), multiple(check), multiple(baseline)) == (False, True, True)


# ---- grown layers and the command that accepts them ----------------------------------------------


def accept_command(stderr: str) -> list[str]:
    (line,) = [line for line in stderr.splitlines() if "accept it as the new baseline" in line]
    return shlex.split(line.split(": ", 1)[1])


def test_a_layer_grown_in_bytes_alone_says_bytes_alone_with_its_percentage(runner, tmp_path):
    document = recorded_lock(runner, tmp_path / "lock.json", SPEC)
    layer = document["specs"][NAME]["layers"]["c1"]
    before, now = layer["bytes"] - 100, layer["bytes"]
    layer["bytes"] = before
    result = invoke(runner, "check", SPEC, "--baseline", write_lock(tmp_path / "lock.json", document))
    assert result.exit_code == 0  # the totals' limits hold: a grown layer is a warning
    (line,) = [line for line in result.stderr.splitlines() if "grew" in line]
    assert line == f"warning: {NAME}: c1 grew: bytes {before:,} -> {now:,} (+{now / before - 1:.2%})"


def test_each_changed_count_is_shown_with_its_percentage_and_a_new_layer_with_all_three(runner, tmp_path):
    document = recorded_lock(runner, tmp_path / "lock.json", SPEC)
    layers = document["specs"][NAME]["layers"]
    layers["c1"]["params"] -= 10  # 760 now
    layers["c1"]["macs"] -= 1000
    layers["c1"]["bytes"] += 50  # shrank since: a change shown as it is
    now = invoke(runner, "analyze", SPEC, "--no-latency", "--format", "json")
    (row,) = [r for r in json.loads(now.stdout)["layers"] if r["name"] == "c1"]
    layers["old_name"] = layers.pop("c1")  # and one the baseline does not name: new
    renamed = write_lock(tmp_path / "renamed.json", document)
    layers["c1"] = layers.pop("old_name")
    result = invoke(runner, "check", SPEC, "--baseline", write_lock(tmp_path / "lock.json", document))
    (line,) = [line for line in result.stderr.splitlines() if "grew" in line]
    assert line == (f"warning: {NAME}: c1 grew: params 750 -> 760 (+1.33%), "
                    f"MACs {row['macs'] - 1000:,} -> {row['macs']:,} (+{row['macs'] / (row['macs'] - 1000) - 1:.2%}), "
                    f"bytes {row['bytes'] + 50:,} -> {row['bytes']:,} ({row['bytes'] / (row['bytes'] + 50) - 1:+.2%})")
    result = invoke(runner, "check", SPEC, "--baseline", renamed)
    assert f"warning: {NAME}: new layer c1 (760 params, {row['macs']:,} MACs, {row['bytes']:,} bytes)" in result.stderr


@pytest.mark.parametrize("args", [[], ["--step", "train", "--batch", "2"], ["--train"]])
def test_the_printed_command_records_a_lock_the_same_check_passes(runner, tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)  # the command is run as printed, from where the check ran
    (tmp_path / "specs").mkdir()
    (tmp_path / SPEC).write_text((ROOT / SPEC).read_text())
    document = recorded_lock(runner, tmp_path / "gcost.lock.json", SPEC, *args)
    document["specs"][NAME]["metrics"]["params"] -= 10
    document["specs"][NAME]["layers"]["c1"]["params"] -= 10
    write_lock(tmp_path / "gcost.lock.json", document)
    failed = invoke(runner, "check", SPEC, *args, "--baseline", "gcost.lock.json")
    assert failed.exit_code == 1
    command = accept_command(failed.stderr)
    assert command[:3] == ["gcost", "baseline", SPEC] and command[-2:] == ["-o", "gcost.lock.json"]
    assert invoke(runner, *command[1:]).exit_code == 0
    assert invoke(runner, "check", SPEC, *args, "--baseline", "gcost.lock.json").exit_code == 0


def test_a_training_limit_is_recorded_as_a_training_step(runner, tmp_path):
    document = recorded_lock(runner, tmp_path / "lock.json", SPEC, "--step", "train")
    document["specs"][NAME]["metrics"]["params"] -= 1
    failed = invoke(runner, "check", SPEC, "--max-step-macs", "10M", "--baseline", write_lock(tmp_path / "lock.json",
                                                                                          document))
    assert failed.exit_code == 1
    assert accept_command(failed.stderr) == ["gcost", "baseline", SPEC, "--step", "train", "--optimizer", "momentum",
                                             "-o", str(tmp_path / "lock.json")]


def test_the_summary_shows_the_command_and_the_networks_it_would_drop(runner, tmp_path, monkeypatch):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    path = tmp_path / "lock.json"
    assert invoke(runner, "baseline", SPEC, "example_5x5_bottleneck", "-o", str(path)).exit_code == 0
    document = json.loads(path.read_text())
    document["specs"][NAME]["metrics"]["macs"] -= 1
    result = invoke(runner, "check", SPEC, "--baseline", write_lock(path, document))
    assert result.exit_code == 1
    text = summary.read_text()
    assert (f"If the growth is intended, accept it as the new baseline (the lock also records "
            f"example_5x5_bottleneck: add them, or they leave the lock):\n\n```sh\n"
            f"gcost baseline {SPEC} -o {path}\n```\n") in text


def test_nothing_to_accept_when_nothing_grew(runner, tmp_path):
    path = tmp_path / "lock.json"
    recorded_lock(runner, path, SPEC)
    result = invoke(runner, "check", SPEC, "--baseline", str(path), "--max-params", "700")
    assert result.exit_code == 1 and "accept" not in result.output  # over a flag's limit: no baseline to move
    result = invoke(runner, "check", SPEC, "--baseline", str(path), "--format", "markdown")
    assert result.exit_code == 0 and "accept" not in result.stdout
