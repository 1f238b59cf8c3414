"""--set for designers (issue 34): a variant named by the user ('half: GLOB.KEY=VALUE;...'), globs whose
`*` stays within one path segment and whose `**` crosses them, and an edit that matches nothing saying
which paths it could have meant."""
from __future__ import annotations

import json

import pytest

from conftest import invoke
from googlenet_cost.errors import GcostError
from googlenet_cost.spec.plan import plan_rows
from googlenet_cost.spec.tree import glob_matches
from googlenet_cost.spec.variants import build_variants


def _variant(spec: str, text: str, module: str | None = None):
    return build_variants([spec], [("set", text)], module)[1]


@pytest.mark.parametrize("glob,path,matches", [
    ("inception_*", "inception_3a", True),
    ("inception_*", "inception_3a/5x5_reduce", False),  # * stays in its segment
    ("inception_**", "inception_3a/5x5_reduce", True),  # ** crosses
    ("**/expand", "expand", True),
    ("**/expand", "block3/expand", True),
    ("**/expand", "features/3/conv/expand", True),
    ("layer*/*/conv1", "layer2/0/conv1", True),
    ("layer*/*/conv1", "layer2/0/x/conv1", False),
    ("stage[4-6]", "stage5", True),
    ("stage[4-6]", "stage7", False),
    ("stage[!4-6]", "stage7", True),
    ("a?c", "a/c", False),
    ("a/**/b", "a/b", True),
    ("conv1.x", "conv1ax", False),  # a dot is a dot
])
def test_star_matches_within_a_segment_and_double_star_across(glob, path, matches):
    assert glob_matches(glob, path) is matches


def test_a_named_variant_is_labelled_by_its_name(runner):
    result = invoke(runner, "compare", "resnet50", "--set", "half: layer*/*/conv1.out=x0.5;layer*/*/conv2.out=x0.5",
                    "--no-latency", "--format", "json")
    assert result.exit_code == 0, result.output
    labels = [variant["label"] for variant in json.loads(result.stdout)["variants"]]
    assert labels == ["baseline", "half"]
    unnamed = _variant("resnet50", "layer*/*/conv1.out=x0.5;layer*/*/conv2.out=x0.5")
    assert _variant("resnet50", "half: layer*/*/conv1.out=x0.5;layer*/*/conv2.out=x0.5").spec == unnamed.spec


def test_a_named_variants_errors_name_it():
    with pytest.raises(GcostError, match=r"^googlenet: variant half: --set 'conv1\.out=1e3': out must be a whole"):
        _variant("googlenet", "half: conv1.out=1e3")


def test_the_star_of_a_module_glob_no_longer_reaches_its_columns():
    """`inception_*.5x5_reduce=x0.5` sets the modules' 5x5_reduce column: before, `*` crossed `/`, so it
    also matched inception_3a/1x1 ..., which have no such key, and the edit failed."""
    varied = _variant("googlenet", "inception_*.5x5_reduce=x0.5")
    widths = {row.name: row.layer.width("5x5_reduce") for row in plan_rows(varied.spec, train=False)
              if row.type == "inception"}
    assert widths["inception_3a"] == 8 and widths["inception_5b"] == 24 and len(widths) == 9


def test_double_star_reaches_every_depth():
    varied = _variant("mobilenet_v2", "**/project.out=x1")  # every block's project conv, sequence or branches
    assert varied.spec == _variant("mobilenet_v2", "block*/project.out=x1").spec


def test_an_edit_that_matches_only_across_segments_says_what_it_would_match():
    with pytest.raises(GcostError) as raised:
        _variant("googlenet", "inception*5x5_reduce.out=x0.5")
    said = str(raised.value)
    assert "'inception*5x5_reduce' matches no row; `*` stays within one path segment" in said
    assert "across segments ('inception**5x5_reduce') it would match inception_3a/5x5_reduce" in said


def test_an_edit_that_matches_nothing_names_the_closest_paths():
    with pytest.raises(GcostError, match=r"'inception_3a/5x5_reduc' matches no row; did you mean "
                                         r"inception_3a/5x5_reduce"):
        _variant("googlenet", "inception_3a/5x5_reduc.out=1")


def test_module_globs_follow_the_same_rule(runner):
    result = invoke(runner, "compare", "googlenet", "--reduce", "8", "--module", "inception*5x5_reduce",
                    "--no-latency")
    assert result.exit_code == 2
    assert "`*` stays within one path segment: across segments ('inception**5x5_reduce')" in result.stderr
