"""A spec's tree for compare's variants: the path of every row (without shapes), the scope a
--module glob gives, and a rewrite that visits every layer (aux heads and inception columns
included) and returns a new Spec (the loaded one is never changed)."""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from typing import Callable, Iterable

from ..errors import GcostError, quoted
from .layers import (INCEPTION_COLUMNS, REDUCE_COLUMNS, BranchesSpec, ConvSpec, InceptionSpec, Layer, SequenceSpec,
                     factorized_5x5)
from .model import Spec

MAX_SCALE = 1000.0  # the largest factor a variant takes (--reduce-scale F, --set KEY=xF)

# visit(layer, row path): the layer's replacement (several layers, or none to remove it), or None to keep it
Visit = Callable[[Layer, str], "tuple[Layer, ...] | None"]


def _join(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent else name


def row_paths(spec: Spec) -> list[str]:
    """Every row's path, aux heads included, in plan order, without shapes (a variant's intermediate
    steps need not fit)."""
    paths: list[str] = []

    def add(layer: Layer, parent: str) -> None:
        path = _join(parent, layer.name)
        paths.append(path)
        for child in layer.children():
            add(child, path)

    for layer in spec.layers:
        add(layer, "")
    for aux in spec.aux:
        add(aux.head, "")
    return paths


@functools.lru_cache(maxsize=256)
def _glob_pattern(glob: str) -> re.Pattern[str]:
    """A row-path glob as a regular expression: `*` any characters within one path segment (never a
    `/`), `**` any characters across segments (`**/` also none: `**/expand` is every expand row, the
    top-level one included), `?` one character, `[abc]`/`[!abc]` one of (or none of) those."""
    parts, i = [], 0
    while i < len(glob):
        if glob.startswith("**/", i):
            parts.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            parts.append(".*")
            i += 2
        elif glob[i] == "*":
            parts.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            parts.append("[^/]")
            i += 1
        elif glob[i] == "[" and "]" in glob[i + 2:]:
            end = glob.index("]", i + 2)
            chars = glob[i + 1:end]
            negated = chars[:1] == "!"
            parts.append("[" + ("^/" if negated else "") + re.escape(chars[negated:]).replace("\\-", "-") + "]")
            i = end + 1
        else:
            parts.append(re.escape(glob[i]))
            i += 1
    return re.compile("".join(parts), re.DOTALL)


def glob_matches(glob: str, path: str) -> bool:
    """Whether a row path matches a glob (`*` within one segment, `**` across: _glob_pattern)."""
    return _glob_pattern(glob).fullmatch(path) is not None


def no_match_hint(glob: str, paths: list[str]) -> str:
    """What a glob that matches no row could have meant: the rows it would match if `*` crossed `/`
    (then how to write that), else the rows closest to it."""
    from difflib import get_close_matches

    across = [path for path in paths if fnmatchcase(path, glob)]
    if across:
        wider = glob.replace("**", "*").replace("*", "**")
        return (f"; `*` stays within one path segment: across segments ({quoted(wider)}) it would match "
                f"{listed(across)}")
    close = get_close_matches(glob, paths, n=4, cutoff=0.5)
    last = glob.rsplit("/", 1)[-1]
    close += [path for path in paths if fnmatchcase(path.rsplit("/", 1)[-1], last) and path not in close][:4]
    return f"; did you mean {listed(close, 4)}?" if close else ""


def listed(names: list[str], shown: int = 8) -> str:
    """'a, b, c' or, past `shown` names, 'a, b, ... h and 4 more'."""
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


@dataclass(frozen=True)
class Scope:
    """Where a variant may change the spec: everywhere, or (--module GLOB) inside the rows the glob
    matches. `chosen` are the outermost of those (a matched row inside another is part of it)."""

    glob: str | None
    chosen: tuple[str, ...] = ()

    def __call__(self, path: str) -> bool:
        if self.glob is None:
            return True
        parts = path.split("/")
        return any(glob_matches(self.glob, "/".join(parts[:i])) for i in range(1, len(parts) + 1))

    def unchanged(self, changed: Iterable[str]) -> list[str]:
        """The chosen rows with no change at or inside them."""
        changed = list(changed)
        return [row for row in self.chosen if not any(p == row or p.startswith(row + "/") for p in changed)]


def outermost_matches(paths: Iterable[str], glob: str) -> list[str]:
    """The paths `glob` matches that lie inside no other match (a match inside another is part of it)."""
    matched = [p for p in paths if glob_matches(glob, p)]
    return [p for p in matched if not any(p.startswith(other + "/") for other in matched)]


def module_scope(spec: Spec, glob: str | None) -> Scope:
    if glob is None:
        return Scope(None)
    paths = row_paths(spec)
    chosen = outermost_matches(paths, glob)
    if not chosen:
        modules = [p for p in paths if "/" not in p and _is_module(spec, p)] or [p for p in paths if "/" not in p]
        hint = no_match_hint(glob, paths)
        raise GcostError(f"--module {quoted(glob)} matches no inception or branches module and no other row"
                         + (hint if hint.startswith("; `*`") else f" (there are {listed(modules)})"), file=spec.path)
    return Scope(glob, tuple(chosen))


def _is_module(spec: Spec, name: str) -> bool:
    layer = next((layer for layer in spec.layers if layer.name == name), None)
    return isinstance(layer, (InceptionSpec, BranchesSpec, SequenceSpec))


@dataclass(frozen=True)
class _Rewriting:
    """What a rewrite's own errors name: the variant ("variant no-reduce") and the spec's file."""

    visit: Visit
    variant: str
    file: str | None

    def error(self, problem: str) -> GcostError:
        return GcostError(f"{self.variant} {problem}", file=self.file)


def rewrite(spec: Spec, visit: Visit, variant: str = "the variant") -> Spec:
    """A copy of `spec` with `visit` applied to every layer and aux-head layer (composites before
    their children; an inception module's columns as their convs). `variant` names it in the errors
    a rewrite itself finds (a layer list left empty), which also name the spec's file."""
    how = _Rewriting(visit, variant, spec.path)
    layers = _path(spec.layers, "", how)
    if not layers:
        raise how.error("leaves no layers")
    heads = tuple(replace(aux, head=_nonempty(aux.head, _path(aux.head.layers, aux.head.name, how), aux.head.name,
                                              how))
                  for aux in spec.aux)
    return replace(spec, layers=layers, aux=heads)


def _path(layers: tuple[Layer, ...], parent: str, how: _Rewriting) -> tuple[Layer, ...]:
    result: list[Layer] = []
    for layer in layers:
        new = how.visit(layer, _join(parent, layer.name))
        for item in (layer,) if new is None else new:
            result.append(_children(item, _join(parent, item.name), how))
    return tuple(result)


def _nonempty(layer: SequenceSpec, layers: tuple[Layer, ...], path: str, how: _Rewriting) -> SequenceSpec:
    if not layers:
        raise how.error(f"removes every layer of {path}")
    return layer if layers == layer.layers else replace(layer, layers=layers)


def _children(layer: Layer, path: str, how: _Rewriting) -> Layer:
    """`layer` with the visit applied to its children (the same object when none changes)."""
    if isinstance(layer, InceptionSpec):
        return _inception_columns(layer, path, how)
    if isinstance(layer, BranchesSpec):
        paths = tuple(_path(p, path, how) for p in layer.paths)
        return layer if paths == layer.paths else replace(layer, paths=paths)
    if isinstance(layer, SequenceSpec):  # a sequence or a repeat's blocks
        return _nonempty(layer, _path(layer.layers, path, how), path, how)
    return layer


def _inception_columns(module: InceptionSpec, path: str, how: _Rewriting) -> InceptionSpec:
    """Each column visited as its conv; what comes back must be a width (a conv that differs only in
    `out`), no conv (a reduce or pool_proj column removed) or the 5x5 factorized."""
    result = module
    for column in INCEPTION_COLUMNS:
        conv = module.column_conv(column)
        if conv is None or (column == "5x5" and module.factorize_5x5):
            continue
        new = how.visit(conv, f"{path}/{column}")
        if new is None:
            continue
        if new == () and (column in REDUCE_COLUMNS or column == "pool_proj"):
            result = result.with_widths(**{column: None})
        elif len(new) == 1 and isinstance(new[0], ConvSpec) and new[0] == replace(conv, out=new[0].out):
            result = result.with_widths(**{column: new[0].out})
        elif column == "5x5" and new == (factorized_5x5(conv),):
            result = replace(result, factorize_5x5=True)
        else:
            raise how.error(f"would change more than the width of {path}/{column}, a column of an inception module: "
                            "only its width (out) can change; write the module as branches to change more")
    return result
