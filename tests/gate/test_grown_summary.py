"""What a failing gate tells the person who must act on it (issue 34): each grown layer with the
counts that changed and by how much (a layer grown in bytes alone says bytes alone, never "params
0 -> 0, MACs 0 -> 0"), and the exact `gcost baseline` command that accepts the change: run as
printed, it records a lock that the same check passes."""
from __future__ import annotations

import json
import shlex

import pytest

from conftest import ROOT, invoke

SPEC = "specs/example_5x5_conv.yaml"
NAME = "example_5x5_conv"


def record(runner, path, *args) -> dict:
    assert invoke(runner, "baseline", SPEC, *args, "-o", str(path)).exit_code == 0
    return json.loads(path.read_text())


def write(path, document) -> str:
    path.write_text(json.dumps(document))
    return str(path)


def accept_command(stderr: str) -> list[str]:
    (line,) = [line for line in stderr.splitlines() if "accept it as the new baseline" in line]
    return shlex.split(line.split(": ", 1)[1])


def test_a_layer_grown_in_bytes_alone_says_bytes_alone_with_its_percentage(runner, tmp_path):
    document = record(runner, tmp_path / "lock.json")
    layer = document["specs"][NAME]["layers"]["c1"]
    before, now = layer["bytes"] - 100, layer["bytes"]
    layer["bytes"] = before
    result = invoke(runner, "check", SPEC, "--baseline", write(tmp_path / "lock.json", document))
    assert result.exit_code == 0  # the totals' limits hold: a grown layer is a warning
    (line,) = [line for line in result.stderr.splitlines() if "grew" in line]
    assert line == f"warning: {NAME}: c1 grew: bytes {before:,} -> {now:,} (+{now / before - 1:.2%})"


def test_each_changed_count_is_shown_with_its_percentage_and_a_new_layer_with_all_three(runner, tmp_path):
    document = record(runner, tmp_path / "lock.json")
    layers = document["specs"][NAME]["layers"]
    layers["c1"]["params"] -= 10  # 760 now
    layers["c1"]["macs"] -= 1000
    layers["c1"]["bytes"] += 50  # shrank since: a change shown as it is
    now = invoke(runner, "analyze", SPEC, "--no-latency", "--format", "json")
    (row,) = [r for r in json.loads(now.stdout)["layers"] if r["name"] == "c1"]
    layers["old_name"] = layers.pop("c1")  # and one the baseline does not name: new
    renamed = write(tmp_path / "renamed.json", document)
    layers["c1"] = layers.pop("old_name")
    result = invoke(runner, "check", SPEC, "--baseline", write(tmp_path / "lock.json", document))
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
    document = record(runner, tmp_path / "gcost.lock.json", *args)
    document["specs"][NAME]["metrics"]["params"] -= 10
    document["specs"][NAME]["layers"]["c1"]["params"] -= 10
    write(tmp_path / "gcost.lock.json", document)
    failed = invoke(runner, "check", SPEC, *args, "--baseline", "gcost.lock.json")
    assert failed.exit_code == 1
    command = accept_command(failed.stderr)
    assert command[:3] == ["gcost", "baseline", SPEC] and command[-2:] == ["-o", "gcost.lock.json"]
    assert invoke(runner, *command[1:]).exit_code == 0
    assert invoke(runner, "check", SPEC, *args, "--baseline", "gcost.lock.json").exit_code == 0


def test_a_training_limit_is_recorded_as_a_training_step(runner, tmp_path):
    document = record(runner, tmp_path / "lock.json", "--step", "train")
    document["specs"][NAME]["metrics"]["params"] -= 1
    failed = invoke(runner, "check", SPEC, "--max-step-macs", "10M", "--baseline", write(tmp_path / "lock.json",
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
    result = invoke(runner, "check", SPEC, "--baseline", write(path, document))
    assert result.exit_code == 1
    text = summary.read_text()
    assert (f"If the growth is intended, accept it as the new baseline (the lock also records "
            f"example_5x5_bottleneck: add them, or they leave the lock):\n\n```sh\n"
            f"gcost baseline {SPEC} -o {path}\n```\n") in text


def test_nothing_to_accept_when_nothing_grew(runner, tmp_path):
    path = tmp_path / "lock.json"
    record(runner, path)
    result = invoke(runner, "check", SPEC, "--baseline", str(path), "--max-params", "700")
    assert result.exit_code == 1 and "accept" not in result.output  # over a flag's limit: no baseline to move
    result = invoke(runner, "check", SPEC, "--baseline", str(path), "--format", "markdown")
    assert result.exit_code == 0 and "accept" not in result.stdout
