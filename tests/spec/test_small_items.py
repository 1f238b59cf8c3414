"""Numbers as YAML 1.2 writes them, the advice of a linear layer on a feature map, and --verify's
one line: small things a new user meets first."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

import googlenet_cost as gc
from conftest import ROOT, invoke
from googlenet_cost.errors import GcostError, SpecError
from googlenet_cost.files import load_yaml


@pytest.mark.parametrize("text,value", [("1e-6", 1e-6), ("1e5", 1e5), ("1E+5", 1e5), ("2.5e3", 2500.0),
                                        ("-.5", -0.5), ("+1.5e-2", 0.015)])
def test_yaml_12_floats_are_numbers(text, value):
    assert load_yaml(f"v: {text}", where="x") == {"v": value}


@pytest.mark.parametrize("text,value", [("12", 12), ("true", True), ("null", None), ("'1e-6'", "1e-6"),
                                        ("1e", "1e"), ("e5", "e5"), ("1.5e-3x", "1.5e-3x"), ("0x1f", 31)])
def test_everything_else_resolves_as_before(text, value):
    assert load_yaml(f"v: {text}", where="x") == {"v": value}


def test_norm_eps_written_as_yaml_12_reads_as_a_number():
    spec = gc.parse_spec("name: e\ninput: [3, 8, 8]\ndefaults: {norm: batchnorm, norm_eps: 1e-6}\nlayers:\n"
                         "  - {name: c, type: conv, out: 4, kernel: 3}\n  - {name: d, type: dropout, p: 5e-1}\n")
    assert spec.layers[0].norm_eps == 1e-6 and spec.layers[1].p == 0.5


@pytest.mark.parametrize("value,fragment", [("1e999", "must be a finite number"), (".nan", "must be a finite number"),
                                            ("yes", "must be a number")])
def test_a_refused_number_stays_refused(value, fragment):
    with pytest.raises(SpecError, match=fragment):
        gc.parse_spec(f"name: e\ninput: [3, 8, 8]\nlayers:\n  - {{name: n, type: batchnorm, eps: {value}}}\n")


def test_a_whole_number_written_with_an_exponent_is_not_a_size():
    with pytest.raises(SpecError, match="out"):
        gc.parse_spec("name: e\ninput: [3, 8, 8]\nlayers:\n  - {name: c, type: conv, out: 1e2, kernel: 3}\n")


def test_a_linear_layer_on_a_map_says_flatten_or_a_1x1_conv():
    with pytest.raises(SpecError) as error:
        gc.parse_spec("name: e\ninput: [96, 7, 7]\nlayers:\n  - {name: fc, type: linear, out: 384}\n")
    assert "add a flatten layer before it" in error.value.message
    assert "write it as a 1x1 conv: {type: conv, out: N, kernel: 1}" in error.value.message


def test_verify_says_in_one_line_how_many_rows_fvcore_agrees_on(runner, write_spec):
    path = write_spec("name: v\ninput: [3, 16, 16]\nlayers:\n  - {name: c, type: conv, out: 8, kernel: 3}\n"
                      "  - {name: pool, type: global_avgpool}\n  - {name: flat, type: flatten}\n"
                      "  - {name: fc, type: linear, out: 10}\n")
    result = invoke(runner, "analyze", str(path), "--verify", "--no-latency", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["notes"] == ["--verify: fvcore's MACs equal gcost's on all 4 rows"] and data["warnings"] == []
    assert result.stderr.strip() == "--verify: fvcore's MACs equal gcost's on all 4 rows"  # said, not warned


@pytest.mark.slow  # a real gcost process
def test_verify_leaks_no_third_party_warning(write_spec):
    """A real process with Python's warnings shown: only gcost's line reaches stderr."""
    path = write_spec("name: v\ninput: [3, 16, 16]\nlayers:\n  - {name: c, type: conv, out: 8, kernel: 3}\n")
    result = subprocess.run([sys.executable, "-W", "default", "-m", "gcost_cli", "analyze", str(path), "--verify",
                             "--no-latency", "--format", "json"], capture_output=True, text=True, cwd=ROOT,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "--verify: fvcore's MACs equal gcost's on its one row"  # said, not warned
