"""--depth measures a Python model as deep as it shows it, in compare as in analyze (issue 35: compare
measured every model two levels deep whatever --depth said)."""
from __future__ import annotations

import json

import pytest

from conftest import invoke

NESTED = ["--model", "tests.pymodels:with_own_parameters", "--input", "5x8", "--no-latency", "--format", "json"]


def _analyzed_rows(runner, *depth: str) -> list[str]:
    result = invoke(runner, "analyze", *NESTED, *depth)
    assert result.exit_code == 0, result.output
    return [row["name"] for row in json.loads(result.stdout)["layers"]]


def _compared_rows(runner, *depth: str) -> list[str]:
    result = invoke(runner, "compare", *NESTED, *depth)
    assert result.exit_code == 0, result.output
    [variant] = json.loads(result.stdout)["variants"]
    return [row["name"] for row in variant["layers"]]


@pytest.mark.parametrize("depth", ["all", "branches", "3", "top", "1"])
def test_compare_measures_a_python_model_at_the_depth_analyze_does(runner, depth):
    assert _compared_rows(runner, "--depth", depth) == _analyzed_rows(runner, "--depth", depth)


def test_the_nested_model_has_rows_below_the_default_depth(runner):
    """Without --depth both measure two levels deep; --depth all finds the rows below them."""
    default = _compared_rows(runner)
    assert default == _analyzed_rows(runner) == ["0", "0/block", "0/(own)"]
    assert set(default) < set(_compared_rows(runner, "--depth", "all"))
