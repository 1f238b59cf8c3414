"""Hostile input, round 2 (issue 20, classes 6 and 7): user text that reaches the terminal through
an output format, messages that must stay one line, narrow terminals, and outputs that are links.
Each test names the case it covers."""
from __future__ import annotations

import csv
import io
import json
import os

import pytest

from conftest import invoke
from test_hostile_input import yaml_parser  # noqa: F401 - a fixture: each parser, libyaml and pure Python

TINY = "name: t\ninput: [3, 8, 8]\nlayers:\n  - {name: c1, type: conv, out: 4, kernel: 3, padding: 1}\n"
HOSTILE_NAMES = ["\x1b]0;pwned\x07x", "\x1b[31mred", "two\nlines | and a pipe", "back\\|slash"]
HOSTILE_MODEL = f"""
import torch.nn as nn

def build():
    model = nn.Sequential()
    for index, name in enumerate({HOSTILE_NAMES!r}):
        model.add_module(name, nn.Conv2d(3 if index == 0 else 4, 4, 1))
    return model
"""


def one_error_line(result) -> str:
    lines = result.stderr.splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("gcost: error: "), result.stderr
    return lines[0]


def markdown_rows(text: str) -> list[str]:
    """The body rows of the first Markdown table: after its header and rule, before the total."""
    lines = text.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return [line for line in lines[start + 2:end] if "**total**" not in line]


@pytest.fixture
def hostile_model(tmp_path) -> str:
    path = tmp_path / "hostile.py"
    path.write_text(HOSTILE_MODEL)
    return f"{path}:build"


@pytest.mark.parametrize("fmt", ["csv", "markdown", "json"])
def test_module_names_with_escapes_newlines_and_pipes_are_escaped_in_every_format(runner, hostile_model, fmt):
    result = invoke(runner, "analyze", "--model", hostile_model, "--input", "3x8x8", "--no-latency", "--format", fmt)
    assert result.exit_code == 0 and "\x1b" not in result.stdout and "\x07" not in result.stdout
    if fmt == "json":  # JSON escapes control characters itself, and the names survive exactly
        assert [row["name"] for row in json.loads(result.stdout)["layers"]] == HOSTILE_NAMES
    elif fmt == "csv":
        rows = list(csv.reader(io.StringIO(result.stdout)))
        assert len(result.stdout.splitlines()) == len(rows) == 1 + len(HOSTILE_NAMES)  # one line per row
        assert rows[1][0] == "\\x1b]0;pwned\\x07x" and rows[3][0] == "two\\nlines | and a pipe"
    else:
        rows = markdown_rows(result.stdout)
        assert len(rows) == len(HOSTILE_NAMES)
        # 6 columns each (a Python model's receptive-field column is empty, so not shown)
        assert all(row.replace("\\\\", "").replace("\\|", "").count("|") == 7 for row in rows)


@pytest.mark.parametrize("fmt", ["csv", "markdown"])
def test_a_checked_network_named_with_an_escape_is_escaped_in_check_output(runner, tmp_path, fmt):
    path = tmp_path / "evil\x1b[2Jname.py"
    path.write_text(HOSTILE_MODEL)
    result = invoke(runner, "check", "--model", f"{path}:build", "--input", "3x8x8", "--max-params", "1",
                    "--format", fmt)
    assert result.exit_code == 1 and "\x1b" not in result.stdout and "\\x1b[2J" in result.stdout


@pytest.mark.parametrize("text, line, column", [
    ("name: t\x00\n", 1, 8),
    ("name: é\ninput: [3, 8, 8]\x07\n", 2, 17),  # after a two-byte character: libyaml counts bytes
    ("name: éé\ndescription: 'a \x1b[31m'\n", 2, 17)])
def test_a_control_character_in_a_spec_is_one_line_with_its_line_and_column(runner, tmp_path, yaml_parser,
                                                                           text, line, column):
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    message = one_error_line(invoke(runner, "analyze", str(path), "--no-latency"))
    code = next(f"#x{ord(c):04x}" for c in text if c in "\x00\x07\x1b")
    assert f"{path}: malformed YAML: line {line}, column {column}: unacceptable character {code}" in message


def test_a_model_whose_import_raises_a_multi_line_message_is_one_line(runner, tmp_path):
    path = tmp_path / "raises.py"
    path.write_text('raise ValueError("first\\nsecond\\nthird")\n')
    message = one_error_line(invoke(runner, "analyze", "--model", f"{path}:build", "--input", "3x8x8",
                                    "--no-latency"))
    assert message.endswith("failed: ValueError: first")


NESTED = """name: t
input: [3, 16, 16]
layers:
  - name: blk
    type: sequence
    layers:
      - {name: pre, type: conv, out: 4, kernel: 3, stride: 2}
      - name: br
        type: branches
        merge: concat
        branches:
          - [{name: ok, type: conv, out: 4, kernel: 1}]
          - [{name: big, type: conv, out: 4, kernel: 11}]
"""


@pytest.mark.parametrize("spec, layer", [(NESTED, "blk/br/big"),
                                         (NESTED.replace("out: 4, kernel: 11", "out: 8, kernel: 1")
                                          .replace("concat", "add"), "blk/br")])
def test_a_shape_error_in_a_nested_block_names_the_innermost_layer_and_its_input(runner, tmp_path, spec, layer):
    path = tmp_path / "nested.yaml"
    path.write_text(spec)
    message = one_error_line(invoke(runner, "analyze", str(path), "--no-latency"))
    assert f"layer '{layer}'" in message and message.endswith("(input 4x7x7)")  # not the model's 3x16x16


WIDE = "name: a_network_with_a_long_name\ninput: [3, 64, 64]\nlayers:\n  - {name: c1, type: conv, out: 64, kernel: 3}\n"


@pytest.mark.parametrize("columns", [40, 60, 80, 200])
def test_check_keeps_its_verdict_and_whole_numbers_at_every_width(runner, tmp_path, columns):
    path = tmp_path / "wide.yaml"
    path.write_text(WIDE)
    from gcost_cli.main import gcost

    result = runner.invoke(gcost, ["check", str(path), "--max-params", "1", "--max-macs", "10G"],
                           env={"COLUMNS": str(columns)}, catch_exceptions=False)
    header = next(line for line in result.stdout.splitlines() if "metric" in line)
    assert result.exit_code == 1 and "result" in header and "OVER" in result.stdout and "…" not in result.stdout
    assert "1,792" in result.stdout and "10,000,000,000" in result.stdout  # the value and the limit, whole
    if columns >= 200:
        assert "limit from" in header and "Left out" not in result.stdout
    else:
        assert "limit from" not in header and "Left out to fit the terminal" in result.stdout


@pytest.mark.parametrize("fmt", ["csv", "markdown"])
def test_an_output_named_by_a_symlink_is_refused_and_its_target_left_untouched(runner, tmp_path, fmt):
    """Issue 33: gcost never writes through a link (as root, one to a system file would replace it)."""
    spec, target, link = tmp_path / "spec.yaml", tmp_path / "real.out", tmp_path / "link.out"
    spec.write_text(TINY)
    target.write_text("old")
    link.symlink_to(target.name)
    message = one_error_line(invoke(runner, "analyze", str(spec), "--no-latency", "--format", fmt, "-o", str(link)))
    assert f"{link}: cannot write: is a symlink" in message
    assert link.is_symlink() and target.read_text() == "old" and not [p for p in tmp_path.iterdir()
                                                                       if p.name.endswith(".tmp")]


def test_a_dangling_symlink_and_a_loop_are_refused_and_nothing_is_created(runner, tmp_path):
    spec, dangling, loop = tmp_path / "spec.yaml", tmp_path / "dangling.csv", tmp_path / "loop.csv"
    spec.write_text(TINY)
    dangling.symlink_to("made.csv")
    loop.symlink_to(loop.name)
    for link in (dangling, loop):
        message = one_error_line(invoke(runner, "analyze", str(spec), "--no-latency", "--format", "csv",
                                        "-o", str(link)))
        assert "is a symlink" in message and link.is_symlink()
    assert not (tmp_path / "made.csv").exists()


@pytest.mark.parametrize("args, option", [(["--plot", ""], "--plot"), (["-o", ""], "-o")])
def test_an_empty_output_name_names_the_option_it_was_given_to(runner, tmp_path, args, option):
    spec = tmp_path / "spec.yaml"
    spec.write_text(TINY)
    message = one_error_line(invoke(runner, "compare", str(spec), "--no-latency", *args))
    assert message == f"gcost: error: {option} needs a file name, got an empty one"


@pytest.mark.parametrize("fmt", ["markdown", "csv", "json", "table"])
def test_a_model_path_that_is_not_utf8_is_shown_escaped(runner, tmp_path, fmt):
    path = tmp_path / "model\udcff.py"  # the byte 0xff, as Python holds a non-UTF-8 file name
    path.write_text(HOSTILE_MODEL)
    out = tmp_path / f"out.{fmt}"
    for output in ([], ["-o", str(out)]):
        result = invoke(runner, "analyze", "--model", f"{path}:build", "--input", "3x8x8", "--no-latency",
                        "--format", fmt, *output)
        assert result.exit_code == 0, result.stderr
    if fmt == "markdown":
        assert "model\\\\udcff.py:build" in out.read_text(encoding="utf-8").splitlines()[0]


def _shells(*commands: str):
    """Each shell command in its own real process (GCOST: the gcost command), all at once."""
    import shlex
    import sys

    from conftest import ROOT, run_together

    gcost = f"{shlex.quote(sys.executable)} -m cli"
    return run_together(*(["bash", "-c", command.replace("GCOST", gcost)] for command in commands), cwd=ROOT)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["table", "json", "csv", "markdown"])
def test_a_closed_stdout_is_exit_2_saying_so_and_o_still_writes(tmp_path, fmt):
    out = tmp_path / "report.txt"
    closed, written = _shells(f"GCOST analyze example_5x5_conv --no-latency --format {fmt} >&-",
                              f"GCOST analyze example_5x5_conv --no-latency --format {fmt} -o {out} >&-")
    assert closed.returncode == 2 and closed.stderr.count("\n") == 1
    assert "standard output is closed; give -o FILE" in closed.stderr
    assert written.returncode == 0 and "conv" in out.read_text()


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
@pytest.mark.parametrize("redirect", ["2>/dev/full", "2>&-"])
def test_an_unwritable_stderr_keeps_the_exit_code(redirect):
    failed, succeeded = _shells(f"GCOST analyze no_such_spec {redirect}",
                                f"GCOST analyze example_5x5_conv --no-latency --format csv {redirect}")
    assert failed.returncode == 2
    assert succeeded.returncode == 0
