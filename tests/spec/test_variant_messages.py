"""Every error a variant finds is one line naming the spec's file and the variant (issue 33: `compare
onlyrep.yaml --no-reduce` said "the variant removes every layer of rep", naming neither)."""
from __future__ import annotations

import pytest

from conftest import invoke

ONLY_REDUCE = ("name: onlyrep\ninput: [8, 4, 4]\nlayers:\n  - {name: c, type: conv, out: 4, kernel: 3}\n"
               "  - {name: rep, type: sequence, layers: [{name: r, type: conv, out: 2, kernel: 1, role: reduce}]}\n")
AUX = ("name: auxrep\ninput: [8, 4, 4]\nlayers:\n  - {name: c, type: conv, out: 4, kernel: 3}\n"
       "  - {name: f, type: flatten}\n  - {name: fc, type: linear, out: 2}\n"
       "aux:\n  - {name: head, attach: c, layers: [{name: r, type: conv, out: 2, kernel: 1, role: reduce}]}\n")
ONLY = "name: only\ninput: [8, 4, 4]\nlayers:\n  - {name: r, type: conv, out: 2, kernel: 1, role: reduce}\n"
WIDE = "name: wide\ninput: [8, 4, 4]\nlayers:\n  - {name: r, type: conv, out: 600000, kernel: 1, role: reduce}\n"


@pytest.mark.parametrize("text,args,words", [
    (ONLY_REDUCE, ["--no-reduce"], "variant no-reduce removes every layer of rep"),
    (ONLY_REDUCE, ["--naive"], "variant naive removes every layer of rep"),
    (AUX, ["--no-reduce"], "variant no-reduce removes every layer of head"),
    (ONLY, ["--no-reduce"], "variant no-reduce leaves no layers"),
    (WIDE, ["--reduce-scale", "2"], "--reduce-scale 2 makes reduce convs 1,200,000 wide"),
    (ONLY_REDUCE, ["--set", "rep/r.out=0"], "--set rep/r.out=0: rep/r.out must be"),
], ids=["sequence", "naive", "aux head", "whole spec", "reduce-scale", "set"])
def test_a_variant_error_is_one_line_naming_the_file_and_the_variant(runner, write_spec, text, args, words):
    path = write_spec(text)
    result = invoke(runner, "compare", str(path), *args, "--no-latency")
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"gcost: error: {path}: ") and words in lines[0], lines


def test_an_inception_column_changed_beyond_its_width_names_the_edit(runner):
    result = invoke(runner, "compare", "googlenet", "--set", "inception_3a/3x3.kernel=5", "--no-latency")
    assert result.exit_code == 2
    assert "--set 'inception_3a/3x3.kernel=5' would change more than the width of inception_3a/3x3" in result.stderr


SMALL = "name: small\ninput: [3, 8, 8]\nlayers:\n  - {name: c1, type: conv, out: 10, kernel: 3}\n"


@pytest.mark.parametrize("value", ["1e6", "1e2", "10.0", "2.5E+1"])
@pytest.mark.parametrize("key", ["out", "kernel"])
def test_a_size_in_set_is_read_as_the_spec_reads_it(runner, write_spec, key, value):
    """`out: 1e2` in a spec is not a size (YAML 1.2 reads a float); neither is --set c1.out=1e6."""
    spec = write_spec(SMALL.replace("out: 10", f"out: {value}") if key == "out" else
                      SMALL.replace("kernel: 3", f"kernel: {value}"), "as_yaml.yaml")
    in_yaml = invoke(runner, "analyze", str(spec), "--no-latency")
    assert in_yaml.exit_code == 2 and f"{key} must be a whole number" in in_yaml.stderr
    path = write_spec(SMALL)
    result = invoke(runner, "compare", str(path), "--set", f"c1.{key}={value}", "--no-latency")
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [f"gcost: error: {path}: --set 'c1.{key}={value}': {key} must be a whole "
                                          f"number, got '{value}'"]


@pytest.mark.parametrize("value", ["20", "+20", "x0.5", "x1.5"])
def test_whole_numbers_and_factors_are_still_sizes(runner, write_spec, value):
    result = invoke(runner, "compare", str(write_spec(SMALL)), "--set", f"c1.out={value}", "--no-latency",
                    "--format", "json")
    assert result.exit_code == 0, result.output
