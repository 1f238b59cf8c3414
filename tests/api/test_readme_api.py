"""The README's "Python API" section, run as a reader would paste it: its ```python blocks in order
in one namespace. A number in the comment after an expression (`report.totals.macs  # 21676192`)
is the value the expression must have, and a ```text block right after a ```python block is what
that block prints."""
from __future__ import annotations

import ast
import contextlib
import io
import re

from conftest import ROOT

CLAIM = re.compile(r"#\s*(\d[\d_]*(?:\s*,\s*\d[\d_]*)*)(?![\d.])")


def section(title: str = "## Python API") -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(title + "\n")
    end = text.find("\n## ", start + len(title))
    return text[start:end if end != -1 else None]


def blocks(text: str) -> list[tuple[str, str]]:
    """(language, code) of every fenced block, in order."""
    return re.findall(r"^```(\w+)\n(.*?)^```$", text, re.S | re.M)


def claims(code: str) -> dict[int, object]:
    """{line: value} for each top-level expression whose line ends in a comment starting with numbers."""
    lines = code.splitlines()
    found = {}
    for node in ast.parse(code).body:
        match = CLAIM.search(lines[node.end_lineno - 1]) if isinstance(node, ast.Expr) else None
        if match:
            numbers = tuple(int(n.replace("_", "")) for n in match.group(1).split(","))
            found[node.lineno] = numbers[0] if len(numbers) == 1 else numbers
    return found


def run_block(code: str, namespace: dict) -> str:
    """Run `code` statement by statement, checking every claimed value; what it printed."""
    expected = claims(code)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        for node in ast.parse(code).body:
            if node.lineno in expected:
                value = eval(compile(ast.Expression(node.value), "README.md", "eval"), namespace)
                assert value == expected[node.lineno], f"README: {ast.unparse(node)} is {value!r}"
            else:
                exec(compile(ast.Module([node], type_ignores=[]), "README.md", "exec"), namespace)
    return printed.getvalue()


def test_every_python_block_of_the_section_runs_and_prints_what_it_shows(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)  # as the README says: no terminal, so 100 columns
    found = blocks(section())
    namespace: dict = {"__name__": "readme"}
    checked = 0
    for index, (language, code) in enumerate(found):
        if language != "python":
            continue
        printed = run_block(code, namespace)
        checked += len(claims(code))
        following = found[index + 1] if index + 1 < len(found) else None
        if following and following[0] == "text":
            assert [line.rstrip() for line in printed.splitlines()] == following[1].rstrip("\n").splitlines()
    assert checked >= 6  # the section's numbers are all checked, not skipped


def test_the_section_shows_the_calls_users_of_peers_expect():
    code = "\n".join(code for language, code in blocks(section()) if language == "python")
    for call in ("gc.summary(model, input_size=(1, 3, 224, 224))", "print(report)", 'gc.analyze("example_5x5_conv")',
                 "assert_within_budget(model, (1, 3, 224, 224)", "input_data=torch.randn("):
        assert call in code


def test_claims_are_read_from_comments_after_expressions():
    code = "x = 1  # 5\n(x, 2)  # 1, 2 (a pair)\nx  # 1_000: thousand\nx  # version 1.5\nx  # 1.5M\n"
    assert claims(code) == {2: (1, 2), 3: 1000}
    namespace: dict = {}
    try:
        run_block("x = 3\nx  # 4\n", namespace)
    except AssertionError as e:
        assert "x is 3" in str(e)
    else:
        raise AssertionError("a wrong claim passed")
