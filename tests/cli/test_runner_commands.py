"""Hostile input, round 3 (issue 33): user text cannot speak to a CI runner. gcost's outputs are
read here the way GitHub's runner reads a step's log: a line that starts with `::` (after
whitespace) is a workflow command, and `##[` anywhere in a line is a legacy command. Each route a
name takes to the log is a test: Python module names in the grown-layer warnings and annotations,
a module named `##[error]INJECTED`, a --model path in the check table's title and cells, gcost's own
error lines, and every format on standard output."""
from __future__ import annotations

import csv
import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from googlenet_cost.escaping import json_text, printable
from googlenet_cost.gate.github import Annotation

from conftest import invoke

INJECTED = ["a\n::warning title=INJECTED::pwned", "b\n::stop-commands::tok", "##[error]INJECTED",
            "::add-mask::secret", "c\r\n##[add-mask]x"]
MODEL = f"""
import torch.nn as nn

NAMES = {INJECTED!r}

def build():
    model = nn.Sequential()
    for index, name in enumerate(NAMES):
        model.add_module(name, nn.Conv2d(3 if index == 0 else 4, 4, 1))
    return model
"""


def runner_commands(text: str) -> list[str]:
    """The lines of `text` that GitHub's runner takes as commands: `::` at the start once leading
    whitespace is trimmed (the runner trims Unicode whitespace), or `##[` anywhere."""
    return [line for line in text.splitlines() if line.lstrip().startswith("::") or "##[" in line]


def command_name(line: str) -> str:
    """`::warning file=a,title=b::message` -> "warning"."""
    head = line.lstrip()[2:].split("::", 1)[0]
    return head.split(" ", 1)[0]


def no_injected_command(text: str, expected: dict[str, int] | None = None) -> None:
    """Only gcost's own annotations are commands, `expected` of each kind ({} for none)."""
    commands = runner_commands(text)
    names = [command_name(line) for line in commands]
    assert all("##[" not in line for line in commands), commands
    assert {name: names.count(name) for name in set(names)} == (expected or {}), commands


@pytest.fixture
def injecting_model(tmp_path) -> str:
    path = tmp_path / "named.py"
    path.write_text(MODEL)
    return f"{path}:build"


@pytest.fixture
def actions(monkeypatch, tmp_path):
    summary, outputs = tmp_path / "step_summary.md", tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    monkeypatch.delenv("GITHUB_WORKSPACE", raising=False)
    return summary, outputs


@pytest.fixture
def grown_lock(runner, tmp_path, injecting_model) -> str:
    """A lock of the model in which every layer, and the total, had one parameter fewer: each one
    grew since."""
    path = tmp_path / "gcost.lock.json"
    assert invoke(runner, "baseline", "--model", injecting_model, "--input", "3x8x8", "-o", str(path)).exit_code == 0
    document = json.loads(path.read_text())
    (entry,) = document["specs"].values()
    for layer in entry["layers"].values():
        layer["params"] -= 1
    entry["metrics"]["params"] -= 1
    path.write_text(json.dumps(document))
    return str(path)


# The rule itself


@given(st.text(), st.booleans())
def test_escaped_text_holds_no_runner_command_wherever_a_line_may_start(text, one_line):
    shown = printable(text, one_line=one_line)
    kept = "\t" if one_line else "\t\n"  # a tab stays a tab; a newline too in text of several lines
    assert "".join(c for c in shown if c not in kept).isprintable()
    assert "##[" not in shown and "\r" not in shown and (not one_line or "\n" not in shown)
    starts = [0] + [i + 1 for i, c in enumerate(shown) if c.isspace()]  # where wrapping may start a line
    assert not any(shown.startswith("::", i) for i in starts)
    assert printable(shown, one_line=one_line) == shown  # escaping twice changes nothing


@pytest.mark.parametrize("text, shown", [
    ("two\nlines", "two\\nlines"),
    ("::stop-commands::tok", "\\x3a:stop-commands::tok"),
    ("  ::add-mask::x", "  \\x3a:add-mask::x"),
    ("a ::error::b", "a \\x3a:error::b"),
    ("x##[error]y", "x##\\x5berror]y"),
    ("aten::add", "aten::add"),  # inside a word: no line starts there
    ("\x1b[31mred\u2028", "\\x1b[31mred\\u2028")])
def test_the_rule_shows_each_kind_of_character_escaped(text, shown):
    assert printable(text, one_line=True) == shown


@given(st.recursive(st.text() | st.integers() | st.none(),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3)))
def test_json_keeps_the_data_exact_and_holds_no_runner_command(data):
    text = json_text(data)
    assert json.loads(text) == data and not runner_commands(text)


def test_an_annotation_escapes_as_github_reads_it_and_holds_no_other_command():
    command = Annotation("warning", "net layer a\n::stop-commands::tok grew", "x ##[error]y 5%",
                         "specs/##[add-mask]a.yaml").command()
    assert runner_commands(command) == [command] and command_name(command) == "warning"
    assert "%25" in command and "##[" not in command and "\n" not in command


# Each route to the log


def test_module_names_in_grown_layer_warnings_and_annotations_are_no_commands(runner, actions, injecting_model,
                                                                               grown_lock):
    result = invoke(runner, "check", "--model", injecting_model, "--input", "3x8x8", "--baseline", grown_lock)
    assert result.exit_code == 1
    no_injected_command(result.stdout + result.stderr, {"error": 1, "warning": len(INJECTED)})
    assert "stop-commands::tok grew" in result.stderr  # the name is shown, escaped, in the warning
    summary = actions[0].read_text()
    assert not runner_commands(summary) and summary.count("\n- ") >= len(INJECTED)


@pytest.mark.parametrize("fmt", ["table", "json", "markdown", "csv", "codequality"])
def test_a_check_of_hostile_names_holds_no_command_in_any_format(runner, injecting_model, grown_lock, fmt):
    result = invoke(runner, "check", "--model", injecting_model, "--input", "3x8x8", "--baseline", grown_lock,
                    "--format", fmt)
    assert result.exit_code == 1
    no_injected_command(result.stdout + result.stderr)
    if fmt == "json":
        layers = [row["layer"] for row in json.loads(result.stdout)["grown_layers"][injecting_model]]
        assert layers == INJECTED  # the data stays exact


@pytest.mark.parametrize("fmt", ["table", "json", "markdown", "csv"])
def test_an_analysis_of_hostile_names_holds_no_command_in_any_format(runner, injecting_model, fmt):
    result = invoke(runner, "analyze", "--model", injecting_model, "--input", "3x8x8", "--no-latency",
                    "--format", fmt)
    assert result.exit_code == 0
    no_injected_command(result.stdout + result.stderr)
    if fmt == "json":
        assert [row["name"] for row in json.loads(result.stdout)["layers"]] == INJECTED
    if fmt == "csv":
        assert len(list(csv.reader(io.StringIO(result.stdout)))) == len(result.stdout.splitlines())
    if fmt == "table":
        assert "##\\x5berror]INJECTED" in result.stdout and "b\\n\\x3a:stop-commands" not in result.stdout


def test_a_compare_of_hostile_names_holds_no_command(runner, injecting_model):
    result = invoke(runner, "compare", "--model", injecting_model, "--model", "tests.pymodels:tiny",
                    "--input", "3x32x32", "--no-latency")
    assert result.exit_code == 0, result.output
    no_injected_command(result.stdout + result.stderr)


def test_a_bracket_in_a_model_path_is_text_not_rich_markup(runner, tmp_path):
    folder = tmp_path / "d[" / "x][bold]##[error]"  # the path reads d[/x][bold]...: a closing tag to rich
    folder.mkdir(parents=True)
    (folder / "m.py").write_text(MODEL)
    result = invoke(runner, "compare", "--model", f"{folder}/m.py:build", "--model", "tests.pymodels:tiny",
                    "--input", "3x32x32", "--no-latency")
    assert result.exit_code == 0, result.output  # was exit 3: rich read the legend's "[/x]" as a closing tag
    assert "d[/x][bold]##\\x5berror]/m.py:build" in result.stdout.replace("\n", "")
    no_injected_command(result.stdout + result.stderr)


@pytest.mark.parametrize("columns", [None, "60"])
def test_a_model_path_with_newlines_injects_nothing_through_the_check_table(runner, actions, tmp_path, columns,
                                                                            monkeypatch):
    folder = tmp_path / "x\n::set-output name=passed::true\n##[add-mask]y"
    folder.mkdir()
    (folder / "m.py").write_text(MODEL)
    if columns:
        monkeypatch.setenv("COLUMNS", columns)
    result = invoke(runner, "check", "--model", f"{folder}/m.py:build", "--input", "3x8x8", "--max-params", "1")
    assert result.exit_code == 1
    no_injected_command(result.stdout + result.stderr, {"error": 1})
    assert "\\n\\x3a:set-output" not in result.stdout and "\\n::set-output name=passed::true" in result.stdout
    assert actions[1].read_text() == "passed=false\nfailures=1\n"


@pytest.mark.parametrize("args", [
    ["analyze", "##[error]INJECTED.yaml"],
    ["analyze", "a\n::stop-commands::tok.yaml"],
    ["check", "--model", "##[error]x:y", "--input", "3x8x8", "--max-params", "1"],
    ["analyze", "--columns", "name,::add-mask::x"]])
def test_gcosts_own_error_lines_hold_no_command(runner, args):
    result = invoke(runner, *args)
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1
    no_injected_command(result.stdout + result.stderr)


def test_written_paths_on_stderr_hold_no_command(runner, tmp_path):
    output = tmp_path / "##[error]x\n::stop-commands::y.md"
    result = invoke(runner, "analyze", "example_5x5_conv", "--no-latency", "--format", "markdown", "-o", str(output))
    assert result.exit_code == 0 and output.exists()
    no_injected_command(result.stdout + result.stderr)


@pytest.mark.slow  # over a second: matplotlib draws the plot
@pytest.mark.parametrize("command", [["analyze", "example_5x5_conv"],
                                     ["compare", "example_5x5_bottleneck", "--no-reduce"]])
def test_a_written_plots_path_holds_no_command(runner, tmp_path, command):
    plot = tmp_path / "##[error]x\n::stop-commands::y.png"
    result = invoke(runner, *command, "--no-latency", "--plot", str(plot))
    assert result.exit_code == 0 and plot.exists(), result.output
    no_injected_command(result.stdout + result.stderr)
