"""One rule for user text that gcost prints, where a terminal or a CI runner reads it.

Names, paths and titles come from users' files and Python modules; a log is read by a terminal
(control characters act) and by a CI runner, which reads its own commands in any line of it:
GitHub Actions takes a line that starts with `::` (after spaces) as a workflow command
(`::stop-commands::`, `::add-mask::`, `::error::`) and `##[` anywhere in a line as a legacy one.
Every view, gcost's own error and warning lines and the annotations put user text through
`printable`, so none of it can act: a name cannot add a line, colour the terminal or speak to the
runner. JSON keeps the data exact (`json_text`).

At the bottom of the house: imports nothing of gcost.
"""
from __future__ import annotations

import json
import re
from typing import Any

RUNNER_LEGACY = "##["  # a legacy workflow command anywhere in a line
SHOWN_LEGACY = "##\\x5b"  # the same text with its `[` shown as an escape: no command
WORD_START_COMMAND = re.compile(r"(?<!\S)::")  # `::` where a line may start: its start, or after a space
SHOWN_COMMAND = "\\x3a:"  # the first `:` shown as an escape: no command


def printable(text: Any, *, one_line: bool = False) -> str:
    """`text` made inert for a terminal and a CI runner, shown rather than acting:

    - control characters (ANSI escapes, carriage returns, BEL, NUL), other characters that are not
      printable (line and paragraph separators, zero-width ones) and bytes that are not UTF-8
      (surrogates) are shown as Python escapes (`\\x1b`, `\\r`, `\\u2028`, `\\udcff`); newlines too
      with `one_line` (a name, a path, a title, a table cell, a message line), kept otherwise;
    - `##[` is shown as `##\\x5b`, anywhere;
    - `::` at the start of a word is shown as `\\x3a:` (a line starts at a word wherever text wraps;
      `aten::add` inside a word is left as it is).

    The result is printable and stays the same when escaped again."""
    text = str(text)
    if not text.isprintable():
        keep = "\t" if one_line else "\n\t"
        text = "".join(c if c.isprintable() or c in keep else repr(c)[1:-1] for c in text)
    if RUNNER_LEGACY in text:
        text = text.replace(RUNNER_LEGACY, SHOWN_LEGACY)
    if "::" in text:
        text = WORD_START_COMMAND.sub(lambda _: SHOWN_COMMAND, text)
    return text


def json_text(data: Any, *, indent: int | None = 2) -> str:
    """`data` as JSON for gcost's outputs, ending with a newline: the same document `json.dumps`
    writes, except that a `[` after `##` is written `\\u005b`. JSON reads it back as the same
    string (the data stays exact), and no line of it is a runner's legacy command. JSON escapes
    control characters itself, and a line of it never starts with `::` (strings are quoted)."""
    text = json.dumps(data, indent=indent)
    return text.replace(RUNNER_LEGACY, "##\\u005b") + "\n"
