"""Hostile numbers (issue 20, classes 4 and 5): every number gcost reads, from a spec, a budgets
file, a command-line option or an environment variable, goes through one bounded parser
(googlenet_cost.quantity). Too many digits, huge magnitudes, NaN and infinities, other scripts'
digits and composites that multiply work are each one line on stderr and exit 2: never a
traceback, never exit 3 (an internal error), never exit 1 (a `gcost check` regression)."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import ROOT, invoke

TINY = "name: t\ninput: [3, 8, 8]\nlayers:\n  - {name: c1, type: conv, out: 4, kernel: 3, padding: 1}\n"
DIGITS_5000 = "9" * 5000  # more than Python's int() reads from text (4,300 digits)
HEX_5000 = "0x" + "f" * 5000  # YAML's hex: a 6,021-digit int from one short line, which str() refuses

@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("numbers") / "tiny.yaml"
    path.write_text(TINY)
    return str(path)


def refused(result, *named: str) -> str:
    """The one line a refusal prints, checked: exit 2, nothing else on stderr, no traceback, and
    each of `named` (the file, the layer, the option) in it."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("gcost: error: ") and "Traceback" not in result.output
    for name in named:
        assert name in lines[0], lines[0]
    return lines[0]


def run(*args: str, env: dict | None = None):
    from click.testing import CliRunner

    from gcost_cli.main import gcost

    return CliRunner().invoke(gcost, list(args), env=env, catch_exceptions=False)


def spec_with(tmp_path, layer: str) -> str:
    path = tmp_path / "spec.yaml"
    path.write_text(f"name: t\ninput: [3, 8, 8]\nlayers:\n  - {layer}\n", encoding="utf-8")
    return str(path)


# 1. Integers past Python's 4,300-digit limit, and magnitudes past any count

@pytest.mark.parametrize("value, message", [
    pytest.param(DIGITS_5000, "an integer of 5,000 characters is too large", id="decimal-yaml-int"),
    pytest.param(HEX_5000, "out (a number of 6,021 digits) is too large", id="hex-yaml-int"),
    pytest.param(f"'{DIGITS_5000}'", "out must be a whole number", id="quoted"),
    pytest.param("1.0e+400", "out must be a whole number, got inf", id="float-overflow"),
])
def test_a_huge_integer_in_a_spec_is_refused_naming_file_and_layer(runner, tmp_path, value, message):
    spec = spec_with(tmp_path, f"{{name: c1, type: conv, out: {value}, kernel: 3}}")
    refused(invoke(runner, "analyze", spec, "--no-latency"), spec, "layer 'c1'", message)


@pytest.mark.parametrize("figure", ["9" * 400, HEX_5000, f"'{'9' * 400}K'", "'1000000T'"])
def test_a_paper_figure_past_ten_to_the_eighteen_is_refused(runner, tmp_path, figure):
    spec = spec_with(tmp_path, f"{{name: c1, type: conv, out: 4, kernel: 3, paper: {{params: {figure}}}}}")
    refused(invoke(runner, "analyze", spec, "--no-latency"), spec, "layer 'c1'", "paper:")


@pytest.mark.parametrize("value, where", [
    pytest.param(DIGITS_5000, "line 1, column 17", id="decimal-yaml-int"),  # refused while read: by place
    pytest.param(HEX_5000, "max_params", id="hex-yaml-int"),
    pytest.param(f"'{DIGITS_5000}'", "max_params", id="quoted"),
    pytest.param("'99999999999999999999'", "max_params", id="past-10^18"),
])
def test_a_huge_budget_in_a_budgets_file_is_a_usage_error_not_a_regression(runner, tmp_path, tiny, value, where):
    budgets = tmp_path / "b.yaml"
    budgets.write_text(f"t: {{max_params: {value}}}\n")
    refused(invoke(runner, "check", tiny, "--budgets", str(budgets)), str(budgets), where)


@pytest.mark.parametrize("option", ["--max-params", "--max-macs", "--max-latency-ms"])
@pytest.mark.parametrize("value", [DIGITS_5000, "99999999999999999999", "1" + "0" * 39 + "K"])
def test_a_huge_limit_flag_is_a_usage_error_not_a_regression(runner, tiny, option, value):
    refused(invoke(runner, "check", tiny, option, value), option.lstrip("-").replace("-", "_"))


@given(digits=st.integers(min_value=20, max_value=6000), lead=st.sampled_from("123456789"))
def test_any_count_past_ten_to_the_eighteen_is_refused_by_every_count_option(tiny, digits, lead):
    number = lead + "0" * (digits - 1)
    refused(run("check", tiny, "--max-params", number), "max_params")
    refused(run("analyze", tiny, "--no-latency", "--batch", number), "--batch")
    refused(run("analyze", "--model", "tests.pymodels:tiny", "--input", f"3x{number}x8", "--no-latency"), "--input")


@pytest.mark.parametrize("value", [DIGITS_5000, "9" * 41, "99999999999999999999", HEX_5000, ".nan", ".inf", "-.inf"])
def test_a_huge_or_non_finite_model_arg_is_refused_naming_it(runner, value):
    result = invoke(runner, "analyze", "--model", "tests.pymodels:tiny", "--input", "3x8x8", "--no-latency",
                    "--model-arg", f"width={value}")
    refused(result, "--model-arg width")


def test_model_args_within_bounds_keep_their_yaml_meaning():
    from googlenet_cost.factories import parse_model_args

    assert parse_model_args(("a=0x10", "b=1_000", "c=-2.5e+3", "d=true", "e=null", "f=2001-13-45", "g=x: y: z")) == {
        "a": 16, "b": 1000, "c": -2500.0, "d": True, "e": None, "f": "2001-13-45", "g": "x: y: z"}


# 2. Nesting in a --model-arg

@pytest.mark.parametrize("opening, closing", [("[", "]"), ("{a: ", "}"), ("- ", "")])
def test_a_model_arg_nested_fifty_thousand_deep_is_refused_at_its_first_bracket(runner, opening, closing):
    value = opening * 50_000 + "1" + closing * 50_000
    start = time.perf_counter()
    result = invoke(runner, "analyze", "--model", "tests.pymodels:tiny", "--input", "3x8x8", "--no-latency",
                    "--model-arg", f"x={value}")
    refused(result, "--model-arg x", "give a single value")
    assert time.perf_counter() - start < 20


# 3. Digits of other scripts (str.isdigit() says yes; int() refuses some, reads others)

UNICODE_DIGITS = st.text(st.characters(categories=("Nd", "No"), exclude_characters="0123456789"),
                         min_size=1, max_size=6)


@pytest.mark.parametrize("args", [
    ["--depth", "²"], ["--depth", "٣"], ["--batch", "²"], ["--batch", "1,٣"], ["--threads", "٣"],
    ["--min-iters", "²"], ["--min-time", "١"], ["--warmup", "٠.٥"],
], ids=lambda args: " ".join(args))
def test_an_option_written_in_other_scripts_digits_is_refused_naming_it(runner, tiny, args):
    refused(invoke(runner, "analyze", tiny, "--no-latency", *args), args[0])


@pytest.mark.parametrize("variable", ["COLUMNS", "LINES"])
@pytest.mark.parametrize("value", ["²", "٣", "8O", DIGITS_5000])
def test_a_terminal_size_variable_that_is_no_ascii_number_is_ignored_with_one_warning(tiny, variable, value):
    """As terminals and GNU tools do: one warning naming the variable, the default size, exit 0."""
    from gcost_cli import render

    render._size_from.cache_clear()
    plain = run("analyze", tiny, "--no-latency")
    for command in (["analyze", tiny, "--no-latency"], ["check", tiny, "--max-params", "1G"]):
        render._size_from.cache_clear()
        result = run(*command, env={variable: value})
        assert result.exit_code == 0, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("warning: ") and variable in lines[0], result.stderr
        assert "Traceback" not in result.output
    render._size_from.cache_clear()
    assert run("analyze", tiny, "--no-latency", env={variable: value}).stdout == plain.stdout


@pytest.mark.parametrize("value", ["", "0", "60", " 60 "])
def test_columns_that_is_empty_zero_or_a_number_still_works(tiny, value):
    assert run("analyze", tiny, "--no-latency", env={"COLUMNS": value}).exit_code == 0


@given(text=UNICODE_DIGITS)
def test_no_string_of_unicode_digits_is_read_as_a_number(tiny, text):
    refused(run("analyze", tiny, "--no-latency", "--depth", text), "--depth")
    refused(run("analyze", tiny, "--no-latency", "--batch", text), "--batch")
    refused(run("analyze", tiny, "--no-latency", "--threads", text), "--threads")
    refused(run("analyze", "--model", "tests.pymodels:tiny", "--input", f"3x{text}x8", "--no-latency"), "--input")


@given(text=UNICODE_DIGITS)
def test_the_parser_reads_only_ascii_digits(text):
    from googlenet_cost.quantity import NumberError, parse_count, parse_int, parse_real

    for parse in (lambda t: parse_int(t), lambda t: parse_real(t), lambda t: parse_count(t, what="x")):
        with pytest.raises(NumberError):
            parse(text)


def test_a_paper_output_in_other_scripts_digits_is_refused(runner, tmp_path):
    spec = spec_with(tmp_path, "{name: c1, type: conv, out: 4, kernel: 3, paper: {output: ٢٨x28x256}}")
    refused(invoke(runner, "analyze", spec, "--no-latency"), spec, "layer 'c1'", "output must look like")


# 4. Counts too large for torch, and threads the machine cannot run

@pytest.mark.parametrize("batch", ["9223372036854775808", "1000001", "1,8,2000000"])
def test_a_batch_past_a_million_is_refused_before_torch_sees_it(runner, tiny, batch):
    refused(invoke(runner, "analyze", tiny, "--no-latency", "--batch", batch), "--batch", "at most 1,000,000")


@pytest.mark.parametrize("args", [["--min-iters", "1" + "0" * 30], ["--threads", "1" + "0" * 30],
                                  ["--threads", "0"], ["--min-iters", "-1"]], ids=lambda a: " ".join(a))
def test_huge_or_non_positive_counts_are_refused(runner, tiny, args):
    refused(invoke(runner, "analyze", tiny, "--no-latency", *args), args[0])


@pytest.mark.slow
def test_more_threads_than_the_machine_can_run_is_refused_before_torch_starts_them(tiny):
    """100,000 threads under a memory cap once made libgomp abort the process (exit 1, no message)."""
    done = subprocess.run([sys.executable, "-m", "gcost_cli", "analyze", tiny, "--device", "cpu", "--threads", "100000",
                           "--min-time", "0", "--warmup", "0", "--min-iters", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and done.stdout == "" and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--threads 100,000" in lines[0] and "at most" in lines[0]


def test_the_thread_bound_is_four_per_cpu_and_checked_with_the_options():
    import os

    import torch

    from googlenet_cost.errors import GcostError
    from googlenet_cost.timing.cpus import max_threads
    from googlenet_cost.timing.device import TimingOptions, check_options
    assert max_threads() == 4 * (os.cpu_count() or 1)
    check_options(TimingOptions(threads=max_threads()), torch.device("cpu"), dtype="fp32", training=False)
    with pytest.raises(GcostError, match=f"at most {max_threads():,}"):
        check_options(TimingOptions(threads=max_threads() + 1), torch.device("cpu"), dtype="fp32",
                      training=False)


# 5. Timing options: NaN and infinities, checked with or without --no-latency

@pytest.mark.parametrize("command, args", [
    ("analyze", ["--min-time", "nan"]), ("analyze", ["--min-time", "inf"]), ("analyze", ["--warmup", "inf"]),
    ("analyze", ["--warmup", "-1"]), ("analyze", ["--min-time", "1e999"]), ("compare", ["--max-time", "nan"]),
    ("compare", ["--max-time", "inf"]), ("compare", ["--max-time", "0.5"]), ("compare", ["--precision", "abc"]),
    ("compare", ["--precision", "nan%"]), ("compare", ["--reduce-scale", ""]), ("compare", ["--reduce-scale", ","]),
    ("compare", ["--reduce-scale", "-inf"]),
], ids=lambda v: v if isinstance(v, str) else " ".join(v) or "''")
@pytest.mark.parametrize("latency", [[], ["--no-latency"]], ids=["timed", "no-latency"])
def test_timing_options_that_are_no_finite_number_in_range_are_refused(runner, tiny, command, args, latency):
    refused(invoke(runner, command, tiny, *latency, *args), args[0])


def test_valid_timing_options_still_read():
    from gcost_cli.flags import Fraction, Number

    assert Number(0, 86_400).convert("0.25", None, None) == 0.25
    assert Number(0, 86_400).convert(1.0, None, None) == 1.0  # a default
    assert Number(1, 10, whole=True).convert(" 7 ", None, None) == 7
    assert Fraction().convert("2%", None, None) == pytest.approx(0.02)


# 6. Composites that multiply work: paths and channels bounded when the spec is read

@pytest.mark.slow
def test_three_hundred_thousand_empty_paths_are_refused_when_the_spec_is_read(runner, tmp_path):
    path = tmp_path / "paths.yaml"
    path.write_text("name: t\ninput: [3, 8, 8]\nlayers:\n  - {name: b, type: branches, branches: ["
                    + ", ".join(["[]"] * 300_000) + "]}\n")
    start = time.perf_counter()
    line = refused(invoke(runner, "analyze", str(path), "--no-latency"), str(path), "layer 'b'")
    assert "300,000 paths, more than 50,000" in line and time.perf_counter() - start < 60


@pytest.mark.slow
@pytest.mark.parametrize("layers, message", [
    (["{name: b, type: branches, merge: add, repeat: 30000, branches: [[], []]}"],
     "60,000 parallel paths, more than 50,000"),
    ([f"{{name: b{i}, type: branches, merge: add, branches: [{', '.join(['[]'] * 10_000)}]}}" for i in range(6)],
     "parallel paths, more than 50,000"),
    ([f"{{name: r{i}, type: relu, repeat: 50000}}" for i in range(1000)], "rows, more than 50,000"),
    (["{name: s, type: sequence, layers: [" + ", ".join(
        f"{{name: r{i}, type: relu, repeat: 40000}}" for i in range(1000)) + "]}"], "rows, more than 50,000"),
], ids=["repeat-of-paths", "paths-across-layers", "rows-across-layers", "rows-inside-a-sequence"])
def test_work_across_many_layers_is_refused_before_it_is_built(runner, tmp_path, layers, message):
    path = tmp_path / "work.yaml"
    path.write_text("name: t\ninput: [8, 4, 4]\nlayers:\n" + "".join(f"  - {layer}\n" for layer in layers))
    start = time.perf_counter()
    assert message in refused(invoke(runner, "analyze", str(path), "--no-latency"), str(path))
    assert time.perf_counter() - start < 30


@pytest.mark.parametrize("input_shape, paths", [
    ("[1048576, 1, 1]", "[[], []]"),
    ("[3, 4, 4]", "[[{type: conv, out: 1048576, kernel: 1}], [{type: conv, out: 1048576, kernel: 1}]]"),
    ("[3, 4, 4]", "[" + ", ".join(["[{type: conv, out: 1000, kernel: 1}]"] * 1100) + "]"),
])
def test_a_concat_past_the_channel_limit_is_refused(runner, tmp_path, input_shape, paths):
    path = tmp_path / "wide.yaml"
    path.write_text(f"name: t\ninput: {input_shape}\nlayers:\n  - {{name: wide, type: branches, branches: {paths}}}\n")
    line = refused(invoke(runner, "analyze", str(path), "--no-latency"), str(path), "layer 'wide'")
    assert "channels, more than 1,048,576" in line


def test_shipped_specs_are_far_inside_the_path_bound():
    from googlenet_cost.spec.layers import MAX_PATHS
    from googlenet_cost.spec.load import load_spec
    from googlenet_cost.spec.model import builtin_specs

    for name in builtin_specs():
        spec = load_spec(name)
        assert sum(layer.path_count() for layer in spec.layers) < MAX_PATHS // 100
