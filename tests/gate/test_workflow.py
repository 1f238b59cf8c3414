"""The GitHub Actions workflow docs/ci.md shows is a real file, docs/examples/model-size.yml
(issue 34), and this test holds the two equal and the workflow to what the page promises: one run
per pull request push and per push to main, CPU torch and gcost pinned, a pip cache, one comment
per pull request edited in place, no comment on a fork's pull request. The commands it runs are
run here as written."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from googlenet_cost import __version__

from conftest import ROOT

WORKFLOW = ROOT / "docs" / "examples" / "model-size.yml"
PAGE = ROOT / "docs" / "ci.md"


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def steps(workflow: dict) -> list[dict]:
    (job,) = workflow["jobs"].values()
    return job["steps"]


def step(workflow: dict, name: str) -> dict:
    (found,) = [s for s in steps(workflow) if s.get("name") == name or s.get("id") == name]
    return found


def test_the_page_shows_the_committed_file_exactly():
    blocks = re.findall(r"```yaml\n(.*?)```", PAGE.read_text(encoding="utf-8"), flags=re.S)
    assert WORKFLOW.read_text(encoding="utf-8") in blocks
    assert "docs/examples/model-size.yml" in PAGE.read_text(encoding="utf-8")


def test_it_runs_once_per_pull_request_push_and_on_pushes_to_main(workflow):
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads the key `on` as true
    assert set(triggers) == {"pull_request", "push"} and triggers["push"] == {"branches": ["main"]}
    assert workflow["concurrency"]["cancel-in-progress"] is True


def test_cpu_torch_and_gcost_are_pinned_to_the_versions_gcost_is_tested_with(workflow):
    env = workflow["env"]
    locked = re.search(r"^torch==([\w.]+)\+cpu", (ROOT / "requirements" / "lock.txt").read_text(), flags=re.M)
    assert env["TORCH_VERSION"] == locked.group(1) and env["GCOST_REF"] == f"v{__version__}"
    install = step(workflow, "Install CPU torch and gcost")["run"]
    assert 'pip install --index-url https://download.pytorch.org/whl/cpu "torch==${TORCH_VERSION}"' in install
    assert 'pip install "gcost @ git+${GCOST_REPOSITORY}@${GCOST_REF}"' in install


def test_pips_downloads_are_cached_by_the_pinned_versions(workflow):
    cache = step(workflow, "Cache pip's downloads")
    assert cache["uses"].startswith("actions/cache@") and cache["with"]["path"] == "~/.cache/pip"
    assert "env.TORCH_VERSION" in cache["with"]["key"] and "env.GCOST_REF" in cache["with"]["key"]
    names = [s.get("name") for s in steps(workflow)]
    assert names.index("Cache pip's downloads") < names.index("Install CPU torch and gcost")


def test_one_comment_is_edited_in_place_and_forks_are_skipped(workflow):
    comment = step(workflow, "Comment on the pull request")
    condition = " ".join(comment["if"].split())
    assert "github.event.pull_request.head.repo.full_name == github.repository" in condition  # not a fork
    assert "steps.gate.outputs.passed != ''" in condition and condition.startswith("always()")
    script = comment["run"]
    assert "--method PATCH" in script and 'elif [ "$PASSED" != true ]; then' in script  # a new one only failing
    assert script.count("--method POST") == 1 and "gh pr comment" not in script
    assert "${{" not in script  # expressions reach the script as environment variables only
    (job,) = workflow["jobs"].values()
    assert job["permissions"] == {"contents": "read", "pull-requests": "write"}


def run_as_written(command: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """A workflow's `run:` as the runner runs it (bash -e), with this environment's gcost first on PATH."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return subprocess.run(["bash", "-e", "-c", command], cwd=cwd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PATH": path, **env})


@pytest.mark.slow  # over a second: every shipped spec is analyzed
def test_the_gate_step_as_written_passes_on_this_repository_and_speaks_to_the_runner(workflow, tmp_path):
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs"
    result = run_as_written(step(workflow, "gate")["run"], ROOT, GITHUB_ACTIONS="true",
                            GITHUB_STEP_SUMMARY=str(summary), GITHUB_OUTPUT=str(outputs))
    assert result.returncode == 0, result.stderr
    assert summary.read_text().startswith("### ✅ gcost check: ok")
    assert outputs.read_text() == "passed=true\nfailures=0\n"


@pytest.mark.slow  # over a second: every shipped spec is analyzed
def test_the_pages_baseline_command_as_written_gives_the_committed_lock_byte_for_byte(tmp_path):
    """docs/ci.md: recording the same specs again gives the same bytes; the committed lock is what
    `gcost baseline` writes today (with the versions it names)."""
    command = "gcost baseline specs/*.yaml -o gcost.lock.json"
    assert f"`{command}`" in PAGE.read_text(encoding="utf-8")
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    result = run_as_written(command, tmp_path)
    assert result.returncode == 0, result.stderr
    written, committed = (tmp_path / "gcost.lock.json").read_text(), (ROOT / "gcost.lock.json").read_text()
    recorded_with = json.loads(committed)["torch_version"]  # another torch (make test-latest): that line apart
    written = written.replace(f'"torch_version": "{torch.__version__}"', f'"torch_version": "{recorded_with}"')
    assert written == committed
