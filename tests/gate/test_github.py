"""gate/github.py: what `gcost check` writes for a CI system.

Under GitHub Actions it writes the job summary, the annotations and the step outputs itself (and
nothing of the kind anywhere else), with GitHub's escaping.

`gcost check --format codequality`: GitLab's Code Quality report (a JSON list of issues, as
docs.gitlab.com/ci/testing/code_quality documents it), one issue per limit exceeded and per layer
grown, each with a fingerprint that stays the same while the same thing fails."""
from __future__ import annotations

import json
import re

import pytest

from googlenet_cost.gate.github import Annotation, escape_data, escape_property

from conftest import ROOT, invoke, recorded_lock, write_lock

SPEC = "specs/example_5x5_conv.yaml"  # 760 params: fast to count
NAME = "example_5x5_conv"


@pytest.fixture(scope="module")
def shrunk_lock(tmp_path_factory):
    """A lock of SPEC edited as if SPEC had grown 3% since: every metric 3% smaller, and its layer
    c1 recorded with 10 params fewer (a grown layer)."""
    from click.testing import CliRunner

    path = tmp_path_factory.mktemp("github") / "gcost.lock.json"
    document = recorded_lock(CliRunner(), path, SPEC)
    entry = document["specs"][NAME]
    entry["metrics"] = {key: round(value * 0.97) for key, value in entry["metrics"].items()}
    entry["layers"]["c1"]["params"] -= 10
    write_lock(path, document)
    return path


@pytest.fixture
def actions(monkeypatch, tmp_path):
    """The environment of a GitHub Actions step: its summary and output files, each already
    holding an earlier step's lines."""
    summary, outputs = tmp_path / "step_summary.md", tmp_path / "github_output"
    summary.write_text("## an earlier step\n")
    outputs.write_text("earlier=kept\n")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    monkeypatch.delenv("GITHUB_WORKSPACE", raising=False)
    return summary, outputs


def lines_starting(text: str, prefix: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(prefix)]


def test_a_failing_check_appends_its_summary_annotates_each_limit_and_sets_the_outputs(runner, actions, shrunk_lock):
    summary, outputs = actions
    result = invoke(runner, "check", SPEC, "--baseline", str(shrunk_lock))
    assert result.exit_code == 1
    text = summary.read_text()
    assert text.startswith("## an earlier step\n")  # appended, never truncated
    assert "### ❌ gcost check: FAILED, 5 of 5 limits exceeded" in text
    assert f"| {NAME} | params | 760 | 737 |" in text
    errors = lines_starting(result.stdout, "::error ")
    assert len(errors) == 5
    assert errors[0].startswith(f"::error file={SPEC},title={NAME} params over its limit::{NAME}: params 760 over")
    assert all("%25" in line and "%)" not in line for line in errors)  # "(+3.12%)" escaped as GitHub reads it
    (warning,) = lines_starting(result.stdout, "::warning ")
    assert warning.startswith(f"::warning file={SPEC},title={NAME} layer c1 grew::") and "750 -> 760" in warning
    assert "gcost check: FAILED" in result.stdout and "┏" in result.stdout  # the log still has the table
    assert outputs.read_text() == "earlier=kept\npassed=false\nfailures=5\n"


def test_a_passing_check_creates_missing_files_and_annotates_nothing(runner, actions, tmp_path, monkeypatch):
    summary, outputs = tmp_path / "new_summary.md", tmp_path / "new_output"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    result = invoke(runner, "check", SPEC, "--max-params", "760")
    assert result.exit_code == 0, result.output
    assert summary.read_text().startswith("### ✅ gcost check: ok, 1 limit within bounds\n")
    assert outputs.read_text() == "passed=true\nfailures=0\n"
    assert "::" not in result.stdout


@pytest.mark.parametrize("value", [None, "false", "1"])
def test_outside_github_actions_nothing_of_it_is_written(runner, monkeypatch, tmp_path, value, shrunk_lock):
    summary, outputs = tmp_path / "summary.md", tmp_path / "output"
    if value is None:
        monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    else:
        monkeypatch.setenv("GITHUB_ACTIONS", value)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    result = invoke(runner, "check", SPEC, "--baseline", str(shrunk_lock))
    assert result.exit_code == 1
    assert not summary.exists() and not outputs.exists()
    assert "::error" not in result.output and "::warning" not in result.output


def test_a_summary_that_cannot_be_written_is_a_warning_and_the_verdict_stands(runner, actions, tmp_path, monkeypatch):
    _, outputs = actions
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path))  # a folder: opening it to append fails
    result = invoke(runner, "check", SPEC, "--max-params", "759")
    assert result.exit_code == 1
    (line,) = [line for line in result.stderr.splitlines() if "GITHUB_STEP_SUMMARY" in line]
    assert line.startswith("warning: could not write $GITHUB_STEP_SUMMARY")
    assert outputs.read_text().endswith("passed=false\nfailures=1\n")


def test_annotations_leave_a_json_report_on_stdout_whole(runner, actions):
    result = invoke(runner, "check", SPEC, "--max-params", "759", "--format", "json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["ok"] is False  # no workflow command mixed into the JSON
    assert len(lines_starting(result.stderr, "::error ")) == 1  # the runner reads stderr's commands too


def test_an_absolute_spec_path_is_annotated_relative_to_the_workspace(runner, actions, monkeypatch):
    monkeypatch.setenv("GITHUB_WORKSPACE", str(ROOT))
    result = invoke(runner, "check", str(ROOT / SPEC), "--max-params", "759")
    (error,) = lines_starting(result.stdout, "::error ")
    assert error.startswith(f"::error file={SPEC},title=")


def test_a_python_model_from_a_file_is_annotated_on_that_file(runner, actions, tmp_path, monkeypatch):
    model = tmp_path / "net.py"
    model.write_text("from torch import nn\n\ndef build():\n    return nn.Conv2d(3, 4, 3)\n")
    monkeypatch.chdir(tmp_path)
    result = invoke(runner, "check", "--model", "net.py:build", "--input", "3x8x8", "--max-params", "1")
    (error,) = lines_starting(result.stdout, "::error ")
    assert error.startswith("::error file=net.py,title=net.py%3Abuild params over its limit::")


def test_escaping_follows_githubs_rules():
    assert escape_data("50% done\r\nnext: a, b") == "50%25 done%0D%0Anext: a, b"
    assert escape_property("a:b,c%d\ne") == "a%3Ab%2Cc%25d%0Ae"
    command = Annotation("error", "net, v2: params", "grew 3%\nsee the summary", "specs/a,b.yaml").command()
    assert command == "::error file=specs/a%2Cb.yaml,title=net%2C v2%3A params::grew 3%25%0Asee the summary"
    assert Annotation("warning", "t", "m").command() == "::warning title=t::m"  # no file: no file=


def test_two_models_are_annotated_each(runner, actions):
    result = invoke(runner, "check", "--model", "tests.pymodels:tiny", "--model", "tests.pymodels:functional_conv",
                    "--input", "3x32x32", "--max-params", "100")
    assert result.exit_code == 1
    titles = [line.split("title=")[1].split("::")[0] for line in lines_starting(result.stdout, "::error ")]
    assert titles == ["tests.pymodels%3Atiny params over its limit",
                      "tests.pymodels%3Afunctional_conv params over its limit"]
    assert actions[1].read_text().endswith("passed=false\nfailures=2\n")


@pytest.mark.parametrize("case", ["new spec", "bad spec", "output is the lock"])
def test_a_check_that_cannot_run_still_writes_the_summary_and_an_error(runner, actions, shrunk_lock, tmp_path, case):
    """Issue 34: an exit 2 once left the job summary empty and printed no ::error."""
    summary, outputs = actions
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ninput: [3, 8, 8]\nlayers:\n  - {name: c1, type: conv, out: 4, kernel: 99}\n")
    args = {"new spec": [SPEC, "example_5x5_bottleneck", "--baseline", str(shrunk_lock)],
            "bad spec": [str(bad), "--max-params", "1"],
            "output is the lock": [SPEC, "--baseline", str(shrunk_lock), "-o", str(shrunk_lock)]}[case]
    problem = {"new spec": "example_5x5_bottleneck: not in the baseline", "bad spec": f"{bad}: layer 'c1'",
               "output is the lock": "-o"}[case]
    result = invoke(runner, "check", *args)
    assert result.exit_code == 2
    (error,) = lines_starting(result.stdout + result.stderr, "::")
    assert error.startswith("::error title=gcost check could not run::") and problem in error
    assert result.stderr.splitlines()[-1].startswith("gcost: error: ")  # the log's one line, as before
    text = summary.read_text()
    assert text.startswith("## an earlier step\n### ❌ gcost check could not run (exit 2)\n") and problem in text
    assert outputs.read_text() == "earlier=kept\npassed=false\nfailures=0\n"


def test_outside_github_actions_a_check_that_cannot_run_prints_its_one_line_only(runner, shrunk_lock):
    result = invoke(runner, "check", SPEC, "example_5x5_bottleneck", "--baseline", str(shrunk_lock))
    assert result.exit_code == 2 and result.stdout == "" and len(result.stderr.splitlines()) == 1


# ---- GitLab's code quality report ----------------------------------------------------------------
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
    document = recorded_lock(CliRunner(), path, SPEC)
    document["specs"][NAME]["layers"]["c1"]["params"] -= 10
    write_lock(path, document)
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
