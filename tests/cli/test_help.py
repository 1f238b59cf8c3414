"""Help texts (issue 25): every option of every command says what it does, and a flag that several
commands share reads the same in each, unless its meaning differs there (listed, with why)."""
from __future__ import annotations

import click

from gcost_cli.main import gcost

# Flags whose help differs by command on purpose: the difference is the meaning.
DIFFERS = {
    "--batch": "one size where nothing is timed per size (check, baseline); a list where each is timed",
    "--depth": "analyze shows every level by default, compare the top level",
    "--device": "gcost peaks measures the device rather than timing on it",
    "--dtype": "gcost peaks measures matrix products at that dtype",
    "--format": "each command has its own formats",
    "--input": "one --model (analyze) or every --model (check, baseline, compare)",
    "--model": "analyze takes one model instead of a spec; the others add models",
    "--model-arg": "one --model or every --model",
    "--latency": "check compares latency; baseline records it; sweep predicts or measures it",
    "--max-latency-ms": "check limits a measured median; sweep a predicted latency",
    "--set": "compare adds a variant per --set; analyze edits the one spec",
    "--output": "baseline writes a lock file",
    "--peaks": "gcost peaks shows the datasheet; analyze and compare bound with it",
    "--per-layer": "analyze profiles the one network; compare every variant, and says what each change can buy",
    "--plot": "analyze draws a roofline; compare a chart (or a roofline); sweep the Pareto front",
    "--threads": "gcost peaks measures with those threads",
}


def options_by_flag() -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for name, command in gcost.commands.items():
        for param in command.params:
            if isinstance(param, click.Option):
                found.setdefault(max(param.opts, key=len), {})[name] = param.help or ""
    return found


def test_every_option_has_help():
    missing = [(flag, command) for flag, helps in options_by_flag().items() for command, text in helps.items()
               if not text.strip()]
    assert missing == []


def test_a_shared_flag_reads_the_same_in_every_command_unless_its_meaning_differs():
    differing = {flag for flag, helps in options_by_flag().items() if len(set(helps.values())) > 1}
    assert differing - set(DIFFERS) == set()
    shared = options_by_flag()
    for flag in ("--train", "--step", "--optimizer", "--strict", "--no-latency", "--roofline"):
        assert len(set(shared[flag].values())) == 1, flag
