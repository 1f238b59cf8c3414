"""Flags that describe a --model (--input, --model-arg) are refused in one line without one, in every
command that takes them: a spec carries its own input shape and takes no arguments, so they would be
ignored silently (issue 33)."""
from __future__ import annotations

import pytest

from conftest import invoke

COMMANDS = {
    "analyze": ["example_5x5_conv", "--no-latency"],
    "compare": ["example_5x5_conv", "--no-latency"],
    "compare (no spec)": ["--no-latency"],
    "check": ["example_5x5_conv", "--max-params", "1M"],
    "baseline": ["example_5x5_conv", "-o", "{tmp}/lock.json"],
}
FLAGS = {"--input": ["--input", "3x8x8"], "--model-arg": ["--model-arg", "width=2"],
         "--input and --model-arg": ["--input", "3x8x8", "--model-arg", "width=2"]}


@pytest.mark.parametrize("flags", FLAGS, ids=list(FLAGS))
@pytest.mark.parametrize("command", COMMANDS, ids=list(COMMANDS))
def test_model_flags_without_a_model_are_refused_in_one_line(runner, tmp_path, command, flags):
    args = [arg.format(tmp=tmp_path) for arg in COMMANDS[command]]
    result = invoke(runner, command.split()[0], *args, *FLAGS[flags])
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [f"gcost: error: {flags} go{'' if ' and ' in flags else 'es'} with --model; "
                                          "a spec carries its own input shape and takes no arguments"]
    assert result.stdout == "" and not (tmp_path / "lock.json").exists()  # refused before any work


def test_with_a_model_the_same_flags_are_read(runner):
    result = invoke(runner, "analyze", "--model", "tests.pymodels:tiny", "--input", "3x32x32", "--no-latency",
                    "--format", "json")
    assert result.exit_code == 0, result.output
