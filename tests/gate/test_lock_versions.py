"""A lock is committed, so it is deterministic, and it says what recorded it (issue 34): the same
networks recorded again give the same bytes (no timestamp churn in every PR's diff), and a check
against a lock recorded by another gcost or torch says so (a note; --strict-versions: exit 2)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import torch

from googlenet_cost import __version__
from googlenet_cost.gate import lock as lock_module

from conftest import invoke

SPEC = "example_5x5_conv"


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
