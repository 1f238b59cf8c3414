"""gcost sweep through the command line: counts equal `gcost analyze --set EDITS`, the front, the
formats, and bad input as one line, exit 2."""
from __future__ import annotations

import csv
import io
import json

import pytest

from tests.conftest import invoke
from tests.fake_executor import tiny_path  # noqa: F401 (a fixture)

GOOGLENET_GRID = ["--grid", "inception_*/5x5_reduce.out=x0.5|x1|x2", "--grid", "inception_*/3x3_reduce.out=x0.5|x1"]
TOTALS = ("params", "weights", "macs", "bytes", "activations")


def sweep_json(runner, *args):
    result = invoke(runner, "sweep", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def analyzed_totals(runner, spec, edits, *extra):
    result = invoke(runner, "analyze", spec, "--set", edits, "--no-latency", "--format", "json", *extra)
    assert result.exit_code == 0, result.stderr
    return {key: json.loads(result.stdout)["totals"][key] for key in TOTALS}


def brute_force_front(candidates, objectives):
    def better_or_equal(a, b, metric, direction):
        return a[metric] >= b[metric] if direction == "max" else a[metric] <= b[metric]

    pairs = [objective.split(":") for objective in objectives]

    def dominates(a, b):
        return all(better_or_equal(a, b, m, d) for m, d in pairs) and any(a[m] != b[m] for m, _ in pairs)

    return {c["label"] for c in candidates if not any(dominates(o, c) for o in candidates)}


def test_every_candidate_s_counts_are_analyze_set_s_on_a_small_spec(runner, tiny_path):
    data = sweep_json(runner, str(tiny_path), "--grid", "block/reduce.out=4|x2", "--grid", "fc.out=x0.5|10",
                      "--latency", "none", "--batch", "2", "--dtype", "fp16")
    assert len(data["candidates"]) == 4 and all(c["valid"] for c in data["candidates"])
    for c in data["candidates"]:
        assert {key: c[key] for key in TOTALS} == analyzed_totals(runner, str(tiny_path), c["edits"], "--batch", "2",
                                                                    "--dtype", "fp16")


@pytest.mark.slow
def test_a_3x2_googlenet_grid_gives_6_candidates_equal_to_analyze_set_and_the_right_front(runner):
    data = sweep_json(runner, "googlenet", *GOOGLENET_GRID, "--latency", "none", "--pareto", "params:max,macs:min")
    candidates = data["candidates"]
    assert len(candidates) == 6 and data["size"] == 6
    for c in candidates:
        assert {key: c[key] for key in TOTALS} == analyzed_totals(runner, "googlenet", c["edits"])
    front = {c["label"] for c in candidates if c["pareto"]}
    assert front == brute_force_front(candidates, ["params:max", "macs:min"])
    # here every candidate trades params for MACs: each is on the front; bytes:min leaves out none either,
    # while params:max,bytes:max keeps only the largest
    assert len(front) == 6
    largest = max(candidates, key=lambda c: c["params"])["label"]
    data = sweep_json(runner, "googlenet", *GOOGLENET_GRID, "--latency", "none", "--pareto", "params:max,bytes:max")
    assert {c["label"] for c in data["candidates"] if c["pareto"]} == {largest}


def test_a_candidate_that_does_not_build_is_listed_and_analyze_refuses_its_edits_alike(runner, tiny_path):
    data = sweep_json(runner, str(tiny_path), "--grid", "block/b.groups=1|2|3", "--latency", "none")
    reasons = {c["edits"]: c["reason"] for c in data["candidates"]}
    assert [c["valid"] for c in data["candidates"]] == [True, True, False]
    result = invoke(runner, "analyze", str(tiny_path), "--set", "block/b.groups=3", "--no-latency")
    assert result.exit_code == 2
    assert reasons["block/b.groups=3"] in result.stderr
    assert "groups 3 must divide" in reasons["block/b.groups=3"]


def test_the_table_lists_the_front_first_and_says_what_does_not_build(runner, tiny_path):
    result = invoke(runner, "sweep", str(tiny_path), "--grid", "block/b.groups=1|3", "--grid", "fc.out=5|10|20",
                    "--latency", "none", "--max-params", "2.2K")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    rows = [line for line in lines if line.startswith("│")]
    statuses = [row.rsplit("│", 2)[-2].strip() for row in rows]
    first_other = next(i for i, s in enumerate(statuses) if s != "front")
    assert first_other > 0 and "front" not in statuses[first_other:]
    assert any(s.startswith("does not build: layer 'block/b'") for s in statuses)
    words = " ".join(result.stdout.split())
    assert "6 candidates (3 do not build, 1 over budget); 2 on the front" in words
    assert statuses.count("over params") == 1


def test_csv_and_markdown_hold_every_candidate(runner, tiny_path):
    args = [str(tiny_path), "--grid", "fc.out=5|10|20", "--latency", "none"]
    rows = list(csv.DictReader(io.StringIO(invoke(runner, "sweep", *args, "--format", "csv").stdout)))
    assert [row["edits"] for row in rows] == ["fc.out=5", "fc.out=10", "fc.out=20"]
    assert rows[1]["params"] == str(sweep_json(runner, *args)["candidates"][1]["params"])
    markdown = invoke(runner, "sweep", *args, "--format", "markdown").stdout
    assert markdown.count("| fc.out=") == 3


@pytest.mark.slow  # matplotlib's import
def test_output_and_plot_are_written(runner, tiny_path, tmp_path):
    pytest.importorskip("matplotlib")
    out, plot = tmp_path / "sweep.json", tmp_path / "front.png"
    result = invoke(runner, "sweep", str(tiny_path), "--grid", "fc.out=5|10|20", "--latency", "none",
                    "--format", "json", "-o", str(out), "--plot", str(plot))
    assert result.exit_code == 0, result.stderr
    assert len(json.loads(out.read_text())["candidates"]) == 3
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args, words", [
    (["--grid", "nothing_here.out=1|2"], "--grid nothing_here.out=1: "),
    (["--grid", "fc.out=0|10"], "--grid fc.out=0: "),
    ([], "give at least one --grid"),
    (["--grid", "fc.out=5|10", "--measure", "2", "--latency", "none"], "--measure checks the predictor"),
    (["--grid", "fc.out=5|10", "--no-latency", "--latency", "predicted"], "--no-latency and --latency predicted"),
    (["--grid", "fc.out=5|10", "--ray-address", "127.0.0.1:1"], "go with --executor ray"),
    (["--grid", "fc.out=5|10", "--pareto", "latency:min,params:max", "--latency", "none"], "needs timing"),
    (["--grid", "fc.out=5|10", "--max-latency-ms", "5", "--latency", "none"], "needs timing"),
    (["--grid", "fc.out=5|10", "--max-params", "lots", "--latency", "none"], "--max-params"),
    (["--grid", "fc.out=5|10", "--pareto", "params:max", "--latency", "none"], "two or more"),
    (["--grid", "fc.out=5|10", "--device-kinds", "cpu"], "go with --executor ray"),
])
def test_bad_input_is_one_line_exit_2(runner, tiny_path, args, words):
    result = invoke(runner, "sweep", str(tiny_path), *args)
    assert result.exit_code == 2
    assert words in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_store_that_is_a_folder_or_no_database_is_one_line_exit_2(runner, tiny_path, tmp_path):
    not_a_database = tmp_path / "notes.sqlite"
    not_a_database.write_text("these are not tables\n" * 200)
    for store, words in ((tmp_path, "--store"), (not_a_database, "latency store: file is not a database")):
        result = invoke(runner, "sweep", str(tiny_path), "--grid", "fc.out=5|10", "--store", str(store))
        assert result.exit_code == 2 and words in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert not_a_database.read_text() == "these are not tables\n" * 200


def test_an_output_that_is_the_store_is_refused(runner, tiny_path, tmp_path):
    store = tmp_path / "t.sqlite"
    store.write_bytes(b"")
    result = invoke(runner, "sweep", str(tiny_path), "--grid", "fc.out=5|10", "--store", str(store), "-o", str(store))
    assert result.exit_code == 2 and "is also an input" in result.stderr
