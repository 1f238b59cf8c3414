from __future__ import annotations

import gc
import json
import os
import subprocess
from pathlib import Path

# Before torch is first imported, and inherited by every gcost process a test starts: OpenMP
# threads waiting for work sleep instead of spinning. Torch runs a thread per CPU; with more busy
# processes than CPUs (make test's workers, the gcost processes tests start) a spinning thread holds
# a CPU another one needs: on two CPUs the fast lane on two workers took 56 s (107 s of CPU) spinning
# and 33 s (63 s of CPU) sleeping, and a forward pass of example_3x3_bottleneck, 8 ms, sometimes
# 136 ms. It changes no thread count (tests/cli/test_cli.py checks torch's own is restored).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# The tests allocate millions of short-lived objects (torch's dispatch, FX graphs, tables): with
# Python's default threshold (a young collection every 700 net allocations) the cyclic garbage
# collector took 13% of the fast lane (5.9 s), every 10,000 it takes 2.0 s, at the same peak memory.
# Garbage is still collected, in fewer, larger passes; gcost's own processes keep Python's default.
gc.set_threshold(10_000, 10, 10)

import pytest  # noqa: E402
from click.testing import CliRunner  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.yaml"))
BAD_SPECS = sorted((Path(__file__).parent / "bad_specs").glob("*.yaml"))


def _shipped_spec(path: Path):
    """A shipped spec as a test parameter: the full-size networks take seconds each on a CPU (marked
    slow); the worked examples keep every such test in the fast lane."""
    return pytest.param(path, id=path.stem, marks=() if path.stem.startswith("example_") else pytest.mark.slow)


SPEC_PARAMS = [_shipped_spec(path) for path in SPECS]


# What a table's width is read from. A pytest-xdist worker (make test runs one per CPU) starts with
# them set by the readline its start-up imports (COLUMNS=80, LINES=24, with no terminal at all), and
# gcost would then fit its tables to 80 columns where a plain `pytest` run prints them at full width.
TERMINAL_SIZE = ("COLUMNS", "LINES")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """pytest-xdist, in the main process: each worker is told this process's terminal size."""
    node.workerinput["terminal_size"] = {name: os.environ.get(name) for name in TERMINAL_SIZE}


def pytest_configure(config):
    """In a pytest-xdist worker: the terminal size of the main process, so that each test sees the
    environment it sees in a plain `pytest` run."""
    for name, value in getattr(config, "workerinput", {}).get("terminal_size", {}).items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


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
    from gcost_cli.main import gcost

    return runner.invoke(gcost, list(args), catch_exceptions=False)


def recorded_lock(runner: CliRunner, path: Path, spec: str, *args: str) -> dict:
    """`gcost baseline SPEC ARGS -o PATH`, the lock it wrote read back: where every test that edits
    a lock starts."""
    assert invoke(runner, "baseline", spec, *args, "-o", str(path)).exit_code == 0
    return json.loads(path.read_text())


def write_lock(path: Path, document: dict | str) -> str:
    """A lock (a document, edited, or text) written to `path`; the path, for --baseline."""
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return str(path)


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
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

