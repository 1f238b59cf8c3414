"""Every bad spec gives one clear line naming file, layer and problem, exit code 2, no traceback.
The corpus lives in tests/bad_specs; each file's first line says what the error must contain."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import BAD_SPECS, ROOT, invoke


def expected_fragment(path) -> str:
    first = path.read_bytes().split(b"\n", 1)[0].decode("utf-8")
    assert first.startswith("# expect: "), f"{path.name} must start with '# expect: ...'"
    return first[len("# expect: "):]


@pytest.mark.parametrize("path", BAD_SPECS, ids=lambda p: p.stem)
def test_bad_spec_is_one_clear_line_with_exit_2(runner, path):
    result = invoke(runner, "analyze", str(path), "--no-latency")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"gcost: error: {path}")
    assert expected_fragment(path) in lines[0]
    assert "Traceback" not in result.output


def test_missing_file_names_it_and_lists_builtin_specs(runner):
    result = invoke(runner, "analyze", "no/such/spec.yaml", "--no-latency")
    assert result.exit_code == 2
    assert "no/such/spec.yaml" in result.stderr and "googlenet" in result.stderr


def test_a_folder_is_not_a_spec(runner, tmp_path):
    result = invoke(runner, "analyze", str(tmp_path), "--no-latency")
    assert result.exit_code == 2 and "is a folder" in result.stderr


def test_real_process_prints_no_traceback_for_a_bad_spec():
    bad = ROOT / "tests" / "bad_specs" / "kernel_too_large.yaml"
    done = subprocess.run([sys.executable, "-m", "gcost_cli", "analyze", str(bad), "--no-latency"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "layer 'c2'" in done.stderr and done.stdout == ""


def test_a_layer_torch_refuses_to_train_at_batch_1_is_counted_at_batch_2_and_said(runner, tmp_path):
    """The shapes fit, but PyTorch's batch norm cannot train on one value per channel (batch 1
    after global pooling, as Inception v3's auxiliary head): counts are per sample, so training
    mode counts at batch 2 and says so; a training step at batch 1 is refused, naming the layer."""
    path = tmp_path / "bn.yaml"
    path.write_text("name: bn\ninput: [3, 8, 8]\nlayers:\n  - {name: conv, type: conv, out: 4, kernel: 3}\n"
                    "  - {name: gap, type: global_avgpool}\n  - {name: bn, type: batchnorm}\n")
    result = invoke(runner, "analyze", str(path), "--no-latency", "--train", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert any(w.startswith("counted at batch 2: bn batch-normalizes") for w in report["warnings"])
    assert report["totals"]["macs"] == 4 * 6 * 6 * 27 and report["layers"][2]["params"] == 8
    step = invoke(runner, "analyze", str(path), "--no-latency", "--step", "train")
    assert step.exit_code == 2, step.output
    lines = step.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"gcost: error: {path}: layer 'bn': --step train needs --batch 2")
    assert invoke(runner, "analyze", str(path), "--no-latency", "--step", "train", "--batch", "2").exit_code == 0
