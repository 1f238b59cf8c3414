"""gate/lock.py: the lock file (`gcost baseline`) as records, written and read back whole.

A lock is committed, so it is deterministic, and it says what recorded it (issue 34): the same
networks recorded again give the same bytes (no timestamp churn in every PR's diff), and a check
against a lock recorded by another gcost or torch says so (a note; --strict-versions: exit 2).

The size gate compares like with like or refuses: no lock file, however damaged or mismatched,
lets `gcost check` pass (exit 0) a network it did not really compare. Each case here once passed."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import torch

import googlenet_cost as gc
from googlenet_cost import __version__
from googlenet_cost.gate import lock as lock_module
from googlenet_cost.gate.lock import LayerCounts, Lock, LockEntry, lock_document, read_lock

from conftest import invoke, recorded_lock, write_lock

SPEC = "example_5x5_conv"  # 760 params: fast to count


# ---- the records ----------------------------------------------------------------------------------

def test_a_lock_read_back_is_the_records_it_was_written_from(tmp_path):
    report = gc.analyze(SPEC)
    text = lock_document({SPEC: report})
    path = tmp_path / "lock.json"
    path.write_text(text)
    lock = read_lock(str(path))
    assert isinstance(lock, Lock) and lock.specs == {SPEC: LockEntry.of(report)}
    entry = lock.specs[SPEC]
    top = [row for row in report.layers if row.parent is None]
    assert entry.layers == {row.name: LayerCounts(row.params, row.macs, row.bytes) for row in top}
    assert (entry.mode, entry.step, entry.batch, entry.input, entry.optimizer) == ("eval", "inference", 1,
                                                                                   tuple(report.input_shape), None)
    assert entry.metrics["params"] == report.totals.params and entry.latency_device_type is None
    assert json.dumps(lock.to_dict(), indent=2) + "\n" == text  # the file again, byte for byte
    assert list(entry.to_dict()) == ["path", "mode", "step", "batch", "input", "dtype", "optimizer", "metrics",
                                     "layers"]  # no inputs (one image), no latency_device_type (not timed)


def test_an_entry_keeps_the_keys_it_records_only_when_they_hold_something():
    entry = LockEntry(path=None, mode="train", step="train", batch=2, input=(3, 8, 8), dtype="fp32",
                      optimizer="adam", metrics={"params": 1}, layers={"c": LayerCounts(1, 2, 3)},
                      inputs="3x8x8,4:int64", latency_device_type="cpu")
    data = entry.to_dict()
    assert list(data) == ["path", "mode", "step", "batch", "input", "dtype", "optimizer", "inputs", "metrics",
                          "layers", "latency_device_type"]
    assert data["layers"] == {"c": {"params": 1, "macs": 2, "bytes": 3}} and data["input"] == [3, 8, 8]
    assert LockEntry.from_dict(json.loads(json.dumps(data))) == entry


# ---- refusals -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A lock recorded today for SPEC (eval, inference) and one recorded with --train."""
    from click.testing import CliRunner

    folder = tmp_path_factory.mktemp("locks")
    runner = CliRunner()
    return {name: recorded_lock(runner, folder / f"{name}.json", SPEC, *extra)
            for name, extra in (("eval", []), ("train", ["--train"]), ("step", ["--step", "train", "--batch", "2"]))}


def check_with(runner, tmp_path, document, *args):
    lock = tmp_path / "lock.json"
    return invoke(runner, "check", SPEC, "--baseline", write_lock(lock, document), *args), lock


def test_the_recorded_lock_passes_as_recorded(runner, tmp_path, recorded):
    result, _ = check_with(runner, tmp_path, recorded["eval"])
    assert result.exit_code == 0, result.output
    entry = recorded["eval"]["specs"][SPEC]
    assert {k: entry[k] for k in ("mode", "step", "batch", "input", "dtype")} == {
        "mode": "eval", "step": "inference", "batch": 1, "input": [3, 32, 32], "dtype": "fp32"}


@pytest.mark.parametrize("lock_name, args, recorded_text, run_text", [
    ("train", [], "mode 'train'", "mode 'eval'"),
    ("eval", ["--train"], "mode 'eval'", "mode 'train'"),
    ("step", [], "step 'train'", "step 'inference'"),
    ("step", ["--step", "train", "--batch", "3"], "batch 2", "batch 3"),
    ("step", ["--step", "train", "--batch", "2", "--optimizer", "adam"], "optimizer 'momentum'", "optimizer 'adam'"),
    ("eval", ["--step", "train"], "step 'inference'", "step 'train'"),
])
def test_a_run_under_other_conditions_than_the_baseline_is_refused_naming_both(
        runner, tmp_path, recorded, lock_name, args, recorded_text, run_text):
    result, lock = check_with(runner, tmp_path, recorded[lock_name], *args)
    assert result.exit_code == 2 and result.stdout == ""
    assert f"{lock}: {SPEC}: the baseline was recorded with {recorded_text}, this run has {run_text}" in result.stderr
    assert result.stderr.count("\n") == 1


def test_a_changed_input_is_refused(runner, tmp_path, recorded):
    document = json.loads(json.dumps(recorded["eval"]))
    document["specs"][SPEC]["input"] = [3, 16, 16]
    result, _ = check_with(runner, tmp_path, document)
    assert result.exit_code == 2 and "recorded with input 3x16x16, this run has input 3x32x32" in result.stderr


def edited(document, change):
    copy = json.loads(json.dumps(document))
    change(copy["specs"], copy["specs"][SPEC])
    return copy


DAMAGED = {
    "metrics {}": (lambda specs, entry: entry.update(metrics={}), "lacks params, weights, macs, activation_bytes"),
    "one metric missing": (lambda specs, entry: entry["metrics"].pop("macs"), "lacks macs"),
    "specs {}": (lambda specs, entry: specs.clear(), "records no network"),
    "step metrics, step inference": (lambda specs, entry: entry["metrics"].update(step_macs=1, train_bytes=1),
                                     "training-step metrics, but .step is not 'train'"),
    "step train without its metrics": (lambda specs, entry: entry.update(step="train", optimizer="sgd"),
                                       "lacks step_macs, train_bytes"),
    "no step": (lambda specs, entry: entry.pop("step"), ".step must be"),
    "batch 0": (lambda specs, entry: entry.update(batch=0), ".batch must be a positive integer"),
    "10^400 as an integer": (lambda specs, entry: entry["metrics"].update(params=10**400), "from 0 to 10^18"),
}


@pytest.mark.parametrize("change, fragment", list(DAMAGED.values()), ids=list(DAMAGED))
def test_an_empty_partial_or_inconsistent_entry_is_refused(runner, tmp_path, recorded, change, fragment):
    result, lock = check_with(runner, tmp_path, edited(recorded["eval"], change))
    assert result.exit_code == 2 and f"{lock}: not a gcost lock file: " in result.stderr and fragment in result.stderr


@pytest.mark.parametrize("text, fragment", [
    ('{"schema": 3, "specs": {"a": 1, "a": 2}}', "key 'a' appears twice"),
    ('{"schema": 3, "specs": {"x": {"metrics": {"params": 1e400}}}}', "not a gcost lock file"),
    ('{"schema": 3, "specs": {"x": {"metrics": {"params": ' + "9" * 5000 + "}}}}", "not a gcost lock file"),
])
def test_duplicate_keys_and_unreadable_numbers_are_refused(runner, tmp_path, text, fragment):
    result, _ = check_with(runner, tmp_path, text)
    assert result.exit_code == 2 and fragment in result.stderr and "Traceback" not in result.stderr


def test_the_same_spec_recorded_twice_is_refused_whichever_copy_is_smaller(runner, tmp_path, recorded):
    entry = json.dumps(recorded["eval"]["specs"][SPEC])
    grown = json.loads(entry)
    grown["metrics"]["params"] = 10**9
    text = f'{{"schema": 3, "specs": {{"{SPEC}": {entry}, "{SPEC}": {json.dumps(grown)}}}}}'
    result, _ = check_with(runner, tmp_path, text)
    assert result.exit_code == 2 and f"key '{SPEC}' appears twice" in result.stderr


def test_a_spec_missing_from_the_baseline_is_refused_unless_allowed(runner, tmp_path, recorded):
    renamed = edited(recorded["eval"], lambda specs, entry: specs.update(old_name=specs.pop(SPEC)))
    refused, lock = check_with(runner, tmp_path, renamed)
    assert refused.exit_code == 2 and f"{lock}: {SPEC}: not in the baseline" in refused.stderr
    allowed, _ = check_with(runner, tmp_path, renamed, "--allow-new", "--max-params", "700")
    assert allowed.exit_code == 1 and "not in the baseline (--allow-new)" in allowed.stderr


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_a_check_against_a_baseline_that_compares_nothing_is_refused_unless_allow_empty(runner, tmp_path, recorded,
                                                                                      fmt):
    """Issue 33: --allow-new with a lock of other networks and no other limit once passed (exit 0,
    passed=true) while saying "no limits to check"."""
    other = edited(recorded["eval"], lambda specs, entry: specs.update(other_net=specs.pop(SPEC)))
    refused, lock = check_with(runner, tmp_path, other, "--allow-new", "--format", fmt)
    (line,) = refused.stderr.splitlines()
    assert refused.exit_code == 2 and refused.stdout == ""
    assert line.startswith(f"gcost: error: {lock}: no limits to check: the baseline names none of the networks")
    assert "--allow-empty" in line
    accepted, _ = check_with(runner, tmp_path, other, "--allow-new", "--allow-empty", "--format", fmt)
    assert accepted.exit_code == 0 and "no limits to check" in accepted.output


@pytest.mark.parametrize("schema", [1, 2])
def test_a_lock_of_an_older_schema_asks_to_be_recorded_again(runner, tmp_path, recorded, schema):
    old = {"schema": schema, "specs": {SPEC: {"mode": "eval", "metrics": {"params": 10**9}}}}
    result, _ = check_with(runner, tmp_path, old)
    assert result.exit_code == 2 and f"schema {schema}" in result.stderr and "record it again" in result.stderr


def test_a_lock_without_bytes_is_refused_and_grown_traffic_fails_the_gate(runner, tmp_path, recorded):
    entry = recorded["eval"]["specs"][SPEC]
    lacking = {**entry, "metrics": {k: v for k, v in entry["metrics"].items() if k != "bytes"}}
    result, _ = check_with(runner, tmp_path, {"schema": 3, "specs": {SPEC: lacking}})
    assert result.exit_code == 2 and "lacks bytes" in result.stderr
    shrunk = {**entry, "metrics": {**entry["metrics"], "bytes": entry["metrics"]["bytes"] - 1}}
    grown, _ = check_with(runner, tmp_path, {"schema": 3, "specs": {SPEC: shrunk}})
    assert grown.exit_code == 1 and "bytes" in grown.stdout


TIMED = ["--latency", "--device", "cpu"]


@pytest.mark.slow  # over a second: the latency is timed before it is compared
def test_latency_asked_against_a_baseline_without_it_is_refused(runner, tmp_path, recorded):
    result, lock = check_with(runner, tmp_path, recorded["eval"], *TIMED)
    assert result.exit_code == 2 and f"{lock}: {SPEC}: --latency, but the baseline records no latency" in result.stderr


def timed_lock(document, device_type):
    return edited(document, lambda specs, entry: (entry["metrics"].update(latency_ms=1000.0),
                                                  entry.update(latency_device_type=device_type)))


@pytest.mark.slow  # over a second: the latency is timed before it is compared
def test_latency_timed_on_another_kind_of_device_is_refused(runner, tmp_path, recorded):
    result, _ = check_with(runner, tmp_path, timed_lock(recorded["eval"], "cuda"), *TIMED)
    assert result.exit_code == 2 and "the baseline's latency was timed on cuda, this run on cpu" in result.stderr


def test_a_recorded_latency_without_its_device_is_a_damaged_lock(runner, tmp_path, recorded):
    damaged = edited(recorded["eval"], lambda specs, entry: entry["metrics"].update(latency_ms=1.0))
    result, _ = check_with(runner, tmp_path, damaged, *TIMED)
    assert result.exit_code == 2 and "latency_device_type must say where latency_ms was timed" in result.stderr


@pytest.mark.parametrize("change, fragment", [
    (lambda document: document.update(schema=2.0), "not a gcost lock file of schema 3"),
    (lambda document: document.update(schema=True), "not a gcost lock file of schema 3"),
    (lambda document: document["specs"][SPEC]["metrics"].update(params=760.5), "params must be an integer"),
])
def test_lock_numbers_of_the_wrong_kind_are_refused(runner, tmp_path, recorded, change, fragment):
    document = json.loads(json.dumps(recorded["eval"]))
    change(document)
    result, _ = check_with(runner, tmp_path, document)
    assert result.exit_code == 2 and fragment in result.stderr


@pytest.mark.parametrize("tolerance", ["1e306%", "100001%"])
def test_a_tolerance_too_large_to_mean_a_limit_is_refused(runner, tmp_path, recorded, tolerance):
    result, _ = check_with(runner, tmp_path, recorded["eval"], "--tolerance", tolerance)
    assert result.exit_code == 2 and "--tolerance must be at most 100,000%" in result.stderr


def test_a_layer_that_moves_more_bytes_is_named_among_the_grown_layers(runner, tmp_path, recorded):
    entry = recorded["eval"]["specs"][SPEC]
    layer = next(iter(entry["layers"]))
    smaller = {**entry, "metrics": {**entry["metrics"], "bytes": entry["metrics"]["bytes"] - 100},
               "layers": {**entry["layers"], layer: {**entry["layers"][layer],
                                                     "bytes": entry["layers"][layer]["bytes"] - 100}}}
    result, _ = check_with(runner, tmp_path, {"schema": 3, "specs": {SPEC: smaller}}, "--format", "json")
    (grown,) = json.loads(result.stdout)["grown_layers"][SPEC]
    assert result.exit_code == 1 and grown["layer"] == layer and grown["bytes"] - grown["bytes_before"] == 100


def test_a_new_network_with_no_other_limit_is_said_to_be_unchecked(runner, tmp_path, recorded):
    spec = tmp_path / "new.yaml"
    spec.write_text("name: new_net\ninput: [3, 8, 8]\nlayers:\n  - {name: c1, type: conv, out: 4, kernel: 3}\n")
    lock = tmp_path / "lock.json"
    lock.write_text(json.dumps(recorded["eval"]))
    result = invoke(runner, "check", SPEC, str(spec), "--baseline", str(lock), "--allow-new")
    assert result.exit_code == 0, result.output
    assert "new_net: not in the baseline (--allow-new): no other limit applies, so none of it is checked" in \
        result.stderr


# ---- versions and time --------------------------------------------------------------------------


class LaterEachCall:
    """A clock that moves a day on at each call: a recording that reads it differs each time."""

    calls = 0

    @classmethod
    def now(cls, tz=None):
        cls.calls += 1
        return datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(days=cls.calls)


def test_recording_the_same_networks_again_gives_the_same_bytes(runner, tmp_path, monkeypatch):
    monkeypatch.setattr(lock_module, "datetime", LaterEachCall, raising=False)
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    for path in (first, second):
        assert invoke(runner, "baseline", SPEC, "--model", "tests.pymodels:tiny", "--input", "3x32x32",
                      "-o", str(path)).exit_code == 0
    assert first.read_bytes() == second.read_bytes()
    document = json.loads(first.read_text())
    assert list(document) == ["schema", "gcost_version", "torch_version", "specs"]  # no time: nothing was timed
    assert (document["gcost_version"], document["torch_version"]) == (__version__, torch.__version__)


@pytest.mark.slow  # over a second: the model is timed
def test_a_lock_with_latency_says_when_it_was_timed(runner, tmp_path):
    path = tmp_path / "timed.json"
    assert invoke(runner, "baseline", SPEC, "--latency", "--device", "cpu", "-o", str(path)).exit_code == 0
    document = json.loads(path.read_text())
    timed_at = datetime.fromisoformat(document["latency_timed_at"])
    assert abs(datetime.now(timezone.utc) - timed_at) < timedelta(minutes=10)
    assert invoke(runner, "check", SPEC, "--baseline", str(path)).exit_code == 0  # read back whole


@pytest.fixture
def lock_of_other_versions(runner, tmp_path):
    path = tmp_path / "gcost.lock.json"
    assert invoke(runner, "baseline", SPEC, "-o", str(path)).exit_code == 0
    document = json.loads(path.read_text())
    document.update(torch_version="2.99.0+cu999", gcost_version="9.9.9")
    path.write_text(json.dumps(document))
    return path


def test_a_lock_recorded_by_other_versions_is_a_note(runner, lock_of_other_versions):
    result = invoke(runner, "check", SPEC, "--baseline", str(lock_of_other_versions))
    assert result.exit_code == 0, result.output
    (note,) = [line for line in result.stderr.splitlines() if "recorded with" in line]
    assert note.startswith(f"warning: the baseline was recorded with gcost 9.9.9 (this run: {__version__}), "
                           f"torch 2.99.0+cu999 (this run: {torch.__version__}): counts can differ for that alone")
    result = invoke(runner, "check", SPEC, "--baseline", str(lock_of_other_versions), "--format", "json")
    assert any("torch 2.99.0+cu999" in note for note in json.loads(result.stdout)["notes"])


def test_strict_versions_makes_it_an_error(runner, lock_of_other_versions):
    result = invoke(runner, "check", SPEC, "--baseline", str(lock_of_other_versions), "--strict-versions")
    (line,) = result.stderr.splitlines()
    assert result.exit_code == 2 and result.stdout == ""
    assert line.startswith(f"gcost: error: {lock_of_other_versions}: --strict-versions: the baseline was recorded "
                           "with gcost 9.9.9")


def test_the_same_versions_say_nothing_even_when_strict(runner, tmp_path):
    path = tmp_path / "gcost.lock.json"
    assert invoke(runner, "baseline", SPEC, "-o", str(path)).exit_code == 0
    result = invoke(runner, "check", SPEC, "--baseline", str(path), "--strict-versions")
    assert result.exit_code == 0 and "recorded with" not in result.stderr


def test_a_version_that_is_not_text_is_a_damaged_lock(runner, lock_of_other_versions):
    document = json.loads(lock_of_other_versions.read_text())
    document["torch_version"] = ["2.13.0"]
    lock_of_other_versions.write_text(json.dumps(document))
    result = invoke(runner, "check", SPEC, "--baseline", str(lock_of_other_versions))
    assert result.exit_code == 2 and "not a gcost lock file: torch_version must be text" in result.stderr
