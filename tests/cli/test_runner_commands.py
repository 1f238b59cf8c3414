"""Hostile input, round 3 (issue 33): user text cannot speak to a CI runner. gcost's outputs are
read here the way GitHub's runner reads a step's log: a line that starts with `::` (after
whitespace) is a workflow command, and `##[` anywhere in a line is a legacy command. Each route a
name takes to the log is a test: Python module names in the grown-layer warnings and annotations,
a module named `##[error]INJECTED`, a --model path in the check table's title and cells, gcost's own
error lines, and every format on standard output."""
from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from googlenet_cost.escaping import json_text, printable


def runner_commands(text: str) -> list[str]:
    """The lines of `text` that GitHub's runner takes as commands: `::` at the start once leading
    whitespace is trimmed (the runner trims Unicode whitespace), or `##[` anywhere."""
    return [line for line in text.splitlines() if line.lstrip().startswith("::") or "##[" in line]


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
