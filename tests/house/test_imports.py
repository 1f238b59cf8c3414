"""The shape of the house: every rule of docs/architecture.md's import table is a test. The table is
read from the page itself (so the page and the test cannot drift): each module may import its own
row, the rows its "may import" cell names and the bottom row (the table's first); nothing else. Every
import counts, lazy ones inside functions and those under `if TYPE_CHECKING:` included (an
annotation's import is a dependency too: a cycle through it is a cycle)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("googlenet_cost", "cli")
ARCHITECTURE = ROOT / "docs" / "architecture.md"



def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {module_name(path): path for package in PACKAGES for path in (ROOT / package).rglob("*.py")}


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every project module `name` imports anywhere in its file (top level, inside functions, under
    `if TYPE_CHECKING:`), `from . import x` resolved to the submodule x when there is one, else to
    the package."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


# ---- the table ------------------------------------------------------------------------------------

def dotted(path: str) -> str:
    """A path as the table writes it (`timing/options.py`, `spec/`, `cli/`, `gate/metrics`, `report`,
    `__init__.py`) as a module or package name: googlenet_cost.timing.options, googlenet_cost.spec."""
    path = path.strip().strip("`").removesuffix(".py").removesuffix("__init__").rstrip("/")
    if path == "cli" or path.startswith("cli/"):
        return path.replace("/", ".")
    return ".".join(["googlenet_cost", *filter(None, path.split("/"))])


def _cells(line: str) -> list[str]:
    """A Markdown table line's cells (a `|` inside backticks is text, not a border)."""
    cells, cell, code = [], "", False
    for char in line.strip().strip("|"):
        if char == "`":
            code = not code
        if char == "|" and not code:
            cells.append(cell.strip())
            cell = ""
        else:
            cell += char
    return cells + [cell.strip()]


def _without_notes(cell: str) -> str:
    """A cell's names alone: (parenthetical notes), **bold remarks** and what follows a colon go."""
    cell = re.sub(r"\*\*.*?\*\*", "", cell)
    while re.search(r"\([^()]*\)", cell):
        cell = re.sub(r"\([^()]*\)", "", cell)
    return cell.split(":")[0].strip()


class Table:
    """The import table of docs/architecture.md: rows of modules, bottom first, and what each may
    import. A cell of names lists them, comma-separated (`spec/`, `gate/metrics`, `timing`);
    "nothing ..." and "torch" allow nothing of gcost; "everything below" the rows above it;
    "the library" every module of googlenet_cost. A name followed by "(`check` only)" is allowed to
    that module of the row alone."""

    def __init__(self, text: str):
        lines = text.split("| folder / module | its job | may import |", 1)[1].splitlines()[2:]
        self.rows: list[tuple[list[tuple[str, bool]], set[str]]] = []  # (module or folder, a folder?)
        self.only: list[dict[str, str]] = []  # per row, a name "(`module` only)" may import: that module
        for line in lines:
            if not line.startswith("|"):
                break
            first, _, allowed = _cells(line)
            members = [(dotted(name), name.endswith("/")) for name in re.findall(r"`([^`]+)`", first)]
            self.rows.append((members, self._allowed(_without_notes(allowed))))
            self.only.append({dotted(name): module for name, module in re.findall(r"([\w/]+) \(`(\w+)` only\)", allowed)})

    def _allowed(self, cell: str) -> set[str]:
        if cell.startswith("nothing") or cell == "torch":
            return set()
        if cell == "everything below":
            return {member for members, _ in self.rows for member, _ in members}
        if cell == "the library":
            return {"googlenet_cost"}
        return {dotted(name) for name in cell.split(",") if name.strip()}

    def row_of(self, module: str) -> int | None:
        """The row a module belongs to: the one naming it most closely (`timing/options.py` before
        `timing/`); None for a module the table does not place."""
        best, length = None, -1
        for number, (members, _) in enumerate(self.rows):
            for member, folder in members:
                if (_within(module, member) if folder else module == member) and len(member) > length:
                    best, length = number, len(member)
        return best

    def allows(self, module: str, target: str) -> bool:
        mine, theirs = self.row_of(module), self.row_of(target)
        if mine is None or theirs is None:
            return False
        if theirs in (mine, 0):
            return True
        only = self.only[mine]
        return any(_within(target, name) and (name not in only or module.rpartition(".")[2] == only[name])
                   for name in self.rows[mine][1])


def _within(module: str, name: str) -> bool:
    return module == name or module.startswith(name + ".")


def table() -> Table:
    return Table(ARCHITECTURE.read_text(encoding="utf-8"))


def forbidden(edges: dict[str, set[str]], rules: Table) -> set[tuple[str, str]]:
    return {(name, target) for name, targets in edges.items() for target in targets
            if not rules.allows(name, target)}


# ---- the checker's own tests ----------------------------------------------------------------------

def test_the_checker_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_imports_for_annotations_are_edges_too(tmp_path):
    module = tmp_path / "googlenet_cost" / "a.py"
    module.parent.mkdir()
    module.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import B\n"
                      "def f():\n    from .c import C\n")
    modules = {"googlenet_cost.a": module, "googlenet_cost.b": module, "googlenet_cost.c": module}
    assert imports_of("googlenet_cost.a", module, modules) == {"googlenet_cost.b", "googlenet_cost.c"}


def test_the_table_is_read_as_written():
    rules = Table("""
| folder / module | its job | may import |
|---|---|---|
| `errors.py`, `files.py` | the bottom | nothing of gcost above them |
| `options.py`, `timing/options.py` | options | timing/loop |
| `spec/` | specs | errors, gate/metrics (a spec's `budget:` block) |
| `timing/` | latency | modules, timing/options: **never options.py, spec/** (it reaches the model through its target) |
| `report.py` | the report | nothing (torch types only under TYPE_CHECKING) |
| `gate/` | the gate | report, analysis (`check` only) |
| `analysis.py` | the pipeline | everything below |
| `cli/` | commands | the library (never the other way) |
""")
    allowed = [("googlenet_cost.spec.load", "googlenet_cost.errors"),
               ("googlenet_cost.spec.load", "googlenet_cost.spec"),
               ("googlenet_cost.spec.load", "googlenet_cost.gate.metrics"),
               ("googlenet_cost.timing.options", "googlenet_cost.timing.loop"),
               ("googlenet_cost.timing.measure", "googlenet_cost.timing.options"),  # another row, listed
               ("googlenet_cost.gate.check", "googlenet_cost.analysis"),
               ("googlenet_cost.analysis", "googlenet_cost.gate.check"), ("cli.main", "googlenet_cost.report"),
               ("googlenet_cost.report", "googlenet_cost.files"), ("googlenet_cost.errors", "googlenet_cost.files")]
    refused = [("googlenet_cost.files", "googlenet_cost.report"),
               ("googlenet_cost.spec.load", "googlenet_cost.gate.check"),
               ("googlenet_cost.report", "googlenet_cost.spec"),
               ("googlenet_cost.timing.measure", "googlenet_cost.spec.model"),
               ("googlenet_cost.timing.measure", "googlenet_cost.options"),  # in bold: a note, not a name
               ("googlenet_cost.options", "googlenet_cost.timing.measure"),
               ("googlenet_cost.gate.lock", "googlenet_cost.spec"), ("googlenet_cost.report", "cli.main"),
               ("googlenet_cost.analysis", "cli.main"), ("googlenet_cost.views.x", "googlenet_cost.report"),
               ("googlenet_cost.gate.lock", "googlenet_cost.analysis")]  # `check` only
    assert [edge for edge in allowed if not rules.allows(*edge)] == []
    assert [edge for edge in refused if rules.allows(*edge)] == []


# ---- the house ----------------------------------------------------------------------------------

def test_every_module_has_a_row_in_the_table():
    rules = table()
    assert sorted(name for name in graph() if rules.row_of(name) is None) == []


def test_no_import_cycle_lazy_and_annotation_imports_included():
    assert cycles(graph()) == []


def test_every_import_is_one_the_table_allows():
    assert forbidden(graph(), table()) == set()


def test_the_library_never_imports_the_cli():
    found = {(name, target) for name, targets in graph().items() if name.startswith("googlenet_cost")
             for target in targets if target.startswith("cli")}
    assert found == set()


def test_tests_and_benchmarks_use_the_cli_by_its_installed_name():
    """cli/ installs as gcost_cli (setup.cfg's package_dir; the console script is gcost_cli.entry):
    tests and benchmarks import it, and start it with `python -m`, by that name, so that what they
    run is what a user's install runs (tests/cli/test_packaging.py runs it from a built wheel)."""
    found = []
    for path in [*(ROOT / "tests").rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py")]:
        text = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(text)):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            found += [f"{path.name}: import {name}" for name in names if name == "cli" or name.startswith("cli.")]
        found += [f"{path.name}: python -m cli" for _ in re.finditer(r"""["']-m["'],\s*["']cli["']""", text)]
    assert found == []
