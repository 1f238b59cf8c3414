from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.yaml"))
BAD_SPECS = sorted((Path(__file__).parent / "bad_specs").glob("*.yaml"))


def _shipped_spec(path: Path):
    """A shipped spec as a test parameter: the full-size networks take seconds each on a CPU (marked
    slow); the worked examples keep every such test in the fast lane."""
    return pytest.param(path, id=path.stem, marks=() if path.stem.startswith("example_") else pytest.mark.slow)


SPEC_PARAMS = [_shipped_spec(path) for path in SPECS]


@pytest.fixture(autouse=True)
def outside_github_actions(monkeypatch):
    """The suite may run under GitHub Actions: gcost check would then write to the job's real step
    summary and outputs. Tests that want it set these themselves (tests/gate/test_github.py)."""
    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def write_spec(tmp_path):
    def write(text: str, name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def failing_rename(monkeypatch):
    """Every rename fails, as a crash or a full disk would fail one mid-write."""
    import os

    def fail(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)


def invoke(runner: CliRunner, *args: str):
    from cli.main import gcost

    return runner.invoke(gcost, list(args), catch_exceptions=False)


def run_together(*commands: list[str], timeout: float = 120, **popen) -> list[subprocess.CompletedProcess]:
    """Run each command as its own real process, all at the same time, and return their results in
    order (text output). A gcost process spends seconds importing torch on one core; started
    together, they use every core instead of waiting for one another."""
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)
                 for command in commands]
    try:
        return [_finished(process, timeout) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def _finished(process: subprocess.Popen, timeout: float) -> subprocess.CompletedProcess:
    out, err = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


from hypothesis import HealthCheck, settings  # noqa: E402

# A fixed example budget keeps the property tests to seconds in CI; raise it locally with
# HYPOTHESIS_PROFILE=thorough.
settings.register_profile("ci", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=500, deadline=None)
import os  # noqa: E402

settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

