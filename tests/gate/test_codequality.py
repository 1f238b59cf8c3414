"""`gcost check --format codequality`: GitLab's Code Quality report (a JSON list of issues, as
docs.gitlab.com/ci/testing/code_quality documents it), one issue per limit exceeded and per layer
grown, each with a fingerprint that stays the same while the same thing fails."""
from __future__ import annotations

import json
import re

import pytest

from conftest import ROOT, invoke

SPEC = "specs/example_5x5_conv.yaml"  # 760 params, 768,000 MACs
NAME = "example_5x5_conv"
KEYS = {"description", "check_name", "fingerprint", "severity", "location"}
SEVERITIES = {"info", "minor", "major", "critical", "blocker"}  # GitLab's scale


def issues(runner, *args) -> tuple[int, list[dict]]:
    result = invoke(runner, "check", *args, "--format", "codequality")
    return result.exit_code, json.loads(result.stdout)


@pytest.fixture(scope="module")
def grown_lock(tmp_path_factory):
    """A lock of SPEC whose layer c1 was recorded with 10 params fewer: c1 grew since."""
    from click.testing import CliRunner

    path = tmp_path_factory.mktemp("codequality") / "gcost.lock.json"
    assert invoke(CliRunner(), "baseline", SPEC, "-o", str(path)).exit_code == 0
    document = json.loads(path.read_text())
    document["specs"][NAME]["layers"]["c1"]["params"] -= 10
    path.write_text(json.dumps(document))
    return path


def test_each_limit_exceeded_is_a_major_issue_and_each_grown_layer_a_minor_one(runner, grown_lock):
    code, found = issues(runner, SPEC, "--baseline", str(grown_lock), "--max-params", "759", "--max-macs", "1M")
    assert code == 1
    assert isinstance(found, list) and all(set(issue) == KEYS for issue in found)
    assert all(issue["severity"] in SEVERITIES for issue in found)
    assert [(issue["check_name"], issue["severity"]) for issue in found] == [
        ("gcost/params", "major"), ("gcost/grown_layer", "minor")]  # macs is within its limit: no issue
    assert all(issue["location"] == {"path": SPEC, "lines": {"begin": 1}} for issue in found)
    assert found[0]["description"].startswith(f"{NAME}: params 760 over its limit 759 by +1 (+0.13%)")
    assert "c1 grew" in found[1]["description"]
    assert all(re.fullmatch(r"[0-9a-f]{64}", issue["fingerprint"]) for issue in found)
    assert len({issue["fingerprint"] for issue in found}) == len(found)


def test_a_fingerprint_names_the_spec_and_metric_not_the_numbers(runner, write_spec):
    _, first = issues(runner, SPEC, "--max-params", "759", "--max-macs", "1K")
    _, again = issues(runner, SPEC, "--max-params", "100", "--max-macs", "2K")  # other limits, same failures
    assert [i["fingerprint"] for i in first] == [i["fingerprint"] for i in again]
    assert first[0]["description"] != again[0]["description"]
    other = write_spec((ROOT / SPEC).read_text().replace(f"name: {NAME}\n", "name: other_net\n"))
    _, renamed = issues(runner, str(other), "--max-params", "759")
    assert renamed[0]["fingerprint"] not in {i["fingerprint"] for i in first}


def test_a_passing_check_reports_no_issue(runner):
    assert issues(runner, SPEC, "--max-params", "760") == (0, [])


def test_a_python_model_without_a_file_is_located_by_its_reference(runner):
    code, found = issues(runner, "--model", "tests.pymodels:tiny", "--input", "3x32x32", "--max-params", "1")
    assert code == 1 and found[0]["location"]["path"] == "tests.pymodels:tiny"
