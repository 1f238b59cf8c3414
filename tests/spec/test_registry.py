"""The layer registry: one class per YAML `type` reads, builds and costs itself, registered once
(`@layer_type`), and the type's name is written in one library file, its class's."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from googlenet_cost.spec.layers import LAYER_TYPES, Layer

LIBRARY = Path(__file__).resolve().parents[2] / "googlenet_cost"

# The same word with another meaning, where a type's name is not meant: (file, word) -> what it is there.
OTHER_MEANINGS = {
    ("count/cross_check.py", "conv"): "an operator fvcore counts (aten::_convolution)",
    ("count/cross_check.py", "linear"): "an operator fvcore counts (aten::linear)",
    ("count/recorder.py", "linear"): "the aten operator's name",
    ("timing/cuda.py", "conv"): "torch.backends.cudnn.conv, an attribute",
    ("views/cells.py", "branches"): "the --depth level that shows nested rows",
    ("views/table.py", "branches"): "the --depth level that shows nested rows",
    ("views/formats.py", "branches"): "the --depth level that shows nested rows",
    ("views/text.py", "branches"): "the --depth level that shows nested rows",
}


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _files_naming() -> dict[str, set[str]]:
    """Each registered type's name -> the library files holding it as a whole string (docstrings aside)."""
    found: dict[str, set[str]] = {name: set() for name in LAYER_TYPES}
    for path in sorted(LIBRARY.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = _docstrings(tree)
        where = path.relative_to(LIBRARY).as_posix()
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in found
                    and id(node) not in docs and (where, node.value) not in OTHER_MEANINGS):
                found[node.value].add(where)
    return found


def test_a_layer_types_name_is_written_in_one_library_file_its_classs():
    """Adding a layer type touches its class's file (and its docs row), nothing else in the library."""
    found = _files_naming()
    home = {name: cls.__module__.removeprefix("googlenet_cost.").replace(".", "/") + ".py"
            for name, cls in LAYER_TYPES.items()}
    assert {name: sorted(files) for name, files in found.items() if files != {home[name]}} == {}


def test_the_other_meanings_are_still_there():
    """Each exception of OTHER_MEANINGS names a word its file still holds (a stale one would hide a type)."""
    for (where, word), _ in OTHER_MEANINGS.items():
        tree = ast.parse((LIBRARY / where).read_text(encoding="utf-8"))
        assert any(isinstance(node, ast.Constant) and node.value == word for node in ast.walk(tree)), (where, word)


@pytest.mark.parametrize("name", sorted(LAYER_TYPES))
def test_every_registered_layer_type_builds_itself(name):
    cls = LAYER_TYPES[name]
    assert cls.type_name == name
    assert cls.build is not Layer.build, f"{name} has no build"


def test_a_type_registered_twice_is_refused():
    from googlenet_cost.spec.layers import layer_type

    with pytest.raises(RuntimeError, match="registered twice"):
        layer_type("conv")(type("Again", (Layer,), {}))


def test_gcost_specs_lists_every_shipped_spec_with_its_description_without_validating_them(runner, monkeypatch):
    import googlenet_cost.spec.load as load
    from googlenet_cost.spec.model import builtin_specs
    from tests.conftest import invoke

    def refuse(*args, **kwargs):
        raise AssertionError("gcost specs validated a spec")

    monkeypatch.setattr(load, "load_spec", refuse)
    monkeypatch.setenv("COLUMNS", "1000")  # one line per spec
    result = invoke(runner, "specs")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == sorted(builtin_specs())
    googlenet = next(line for line in lines if line.startswith("googlenet "))
    assert "GoogLeNet" in googlenet


BOTTOM = {"errors", "quantity", "files", "metrics", "escaping"}  # what spec/ may import from outside itself


def test_spec_imports_nothing_above_the_bottom_and_never_torch():
    """spec/ (layers included: they build through the ModuleKit they are handed) imports, even inside a
    function, nothing of gcost but the bottom modules, and no torch."""
    found = set()
    for path in sorted((LIBRARY / "spec").rglob("*.py")):
        depth = len(path.relative_to(LIBRARY).parts) - 1  # a relative import of this many dots leaves spec/
        tree = ast.parse(path.read_text(encoding="utf-8"))
        typing_only = {id(inner) for node in ast.walk(tree) if isinstance(node, ast.If)
                       and getattr(node.test, "id", None) == "TYPE_CHECKING" for inner in ast.walk(node)}
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names if alias.name.split(".")[0] in
                          ("torch", "fvcore", "googlenet_cost")}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] in (
                    "torch", "fvcore", "googlenet_cost"):
                found.add(node.module)
            elif isinstance(node, ast.ImportFrom) and node.level > depth:  # out of spec/
                target = (node.module or "").split(".")[0]
                if target not in BOTTOM:
                    found.add(f"{path.name}: {'.' * node.level}{node.module}")
    assert found == set()
