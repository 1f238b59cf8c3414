"""`make gpu-check` (benchmarks/gpu_check.py), rehearsed on the CPU: the script a GPU session runs
first must work before a GPU is at hand, and a rehearsal must never replace measured tables."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks import gpu_check  # noqa: E402


@pytest.mark.slow  # real processes, and one that runs into the 5 s floor of a step's time limit
def test_a_failing_or_overlong_step_is_reported_and_the_others_still_run(tmp_path, monkeypatch):
    python = sys.executable
    monkeypatch.setattr(gpu_check, "steps", lambda dry_run: [
        gpu_check.Step("fails", [python, "-c", "import sys; print('broken'); sys.exit(3)"], 0.5),
        gpu_check.Step("hangs", [python, "-c", "import time; time.sleep(60)"], 0.01),
        gpu_check.Step("GPU tests", [python, "-c", "print('3 passed, 2 skipped in 1.0s')"], 0.5),
    ])
    code = gpu_check.main(["--dry-run", "--docs", str(tmp_path), "--budget", "500"])
    text = (tmp_path / "benchmarks-gpu.md").read_text()
    assert code == 1 and "a CPU rehearsal, not GPU figures" in text
    assert "| fails | FAILED (exit 3) |" in text and "| hangs | out of time |" in text
    assert "| GPU tests | ok |" in text and "3 passed, 2 skipped" in text


@pytest.mark.slow
def test_the_dry_run_runs_every_step_on_the_cpu_and_leaves_docs_alone(tmp_path):
    measured = ROOT / "docs" / "benchmarks-gpu.md"
    before = measured.read_bytes() if measured.exists() else None
    done = subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--dry-run", "--docs", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    text = (tmp_path / "benchmarks-gpu.md").read_text()
    for step in gpu_check.steps(dry_run=True):
        assert f"| {step.name} | ok |" in text
    assert "## GPU latency" in text and "## Latency harness check" in text  # the steps' tables, included
    assert (measured.read_bytes() if measured.exists() else None) == before
