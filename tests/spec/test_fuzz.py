"""Fuzzing: valid specs and lock files, mutated at random (deletions, duplications, type swaps,
deep nesting, huge numbers, NaN), must give exit 0 or 2 (check: 0, 1 or 2), at most one line on
stderr and no traceback, and leave every file but the requested output as it was."""
from __future__ import annotations

import copy
import json
import math

import yaml
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from conftest import ROOT, invoke

BASE_SPEC = yaml.safe_load((ROOT / "specs" / "example_3x3_bottleneck.yaml").read_text())
STRANGE = st.sampled_from([None, True, "", "conv", "x" * 200, -1, 0, 10**30, 2**63, 1.5, math.nan, math.inf,
                           [], [1, 2, 3], {}, {"type": "conv"}, "\x1b[2J", "[bold]"])


def _paths(value, prefix=()):
    """Every (path, value) inside a nested structure of dicts and lists."""
    yield prefix, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, prefix + (index,))


def _parent(document, path):
    for step in path[:-1]:
        document = document[step]
    return document


@st.composite
def mutated(draw, base):
    document = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p, _ in _paths(document) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _parent(document, path), path[-1]
        action = draw(st.sampled_from(["delete", "duplicate", "swap", "nest", "huge"]))
        if action == "delete":
            del parent[key]
        elif action == "duplicate" and isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
        elif action == "nest":
            value = parent[key]
            for _ in range(draw(st.integers(1, 200))):
                value = [value]
            parent[key] = value
        elif action == "huge":
            parent[key] = draw(st.sampled_from([10**9, 2**40, 10**300, -(10**9), 1e308]))
        else:
            parent[key] = copy.deepcopy(draw(STRANGE))  # the strategy's own objects must stay as they are
    return document


def _clean_failure(result, codes=(0, 2)):
    assert result.exit_code in codes, (result.exit_code, result.output)
    assert len(result.stderr.strip().splitlines()) <= 1 or result.exit_code == 0, result.stderr
    assert "Traceback" not in result.output and "internal error" not in result.stderr, result.stderr


@given(mutated(BASE_SPEC))
def test_mutated_specs_fail_cleanly_and_touch_nothing(tmp_path_factory, document):
    folder = tmp_path_factory.mktemp("fuzz")
    spec = folder / "spec.yaml"
    spec.write_text(yaml.safe_dump(document, allow_unicode=True))
    before = spec.read_bytes()
    out = folder / "out.json"
    result = invoke(CliRunner(), "analyze", str(spec), "--no-latency", "--format", "json", "-o", str(out))
    _clean_failure(result)
    assert spec.read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == sorted(["spec.yaml"] + (["out.json"] if result.exit_code == 0 else []))


def _base_lock():
    data = json.loads((ROOT / "gcost.lock.json").read_text())
    return {**data, "specs": {"example_5x5_conv": data["specs"]["example_5x5_conv"]}}


@given(mutated(_base_lock()))
def test_mutated_lock_files_fail_cleanly_and_touch_nothing(tmp_path_factory, document):
    folder = tmp_path_factory.mktemp("fuzzlock")
    lock = folder / "lock.json"
    lock.write_text(json.dumps(document))
    before = lock.read_bytes()
    result = invoke(CliRunner(), "check", "example_5x5_conv", "--baseline", str(lock), "--format", "json")
    _clean_failure(result, codes=(0, 1, 2))  # 1: a mutated baseline can make the spec a regression
    assert lock.read_bytes() == before and [p.name for p in folder.iterdir()] == ["lock.json"]
