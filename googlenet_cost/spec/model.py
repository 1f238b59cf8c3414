"""The spec: a YAML file validated into frozen dataclasses. Imports no torch.

Every problem in a spec is raised here, once, as a SpecError naming the file and the layer;
later stages (builder, counting, timing) trust what this module returns.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from ..errors import SpecError, did_you_mean, quoted
from .layers import Layer, SequenceSpec, Shape
from .parse import Defaults, parse_layers, parse_shape
from .reader import NAME_PATTERN, Reader, check_size



DEFAULT_SPEC = "googlenet"  # the spec a command analyzes when none is given


@dataclass(frozen=True)
class AuxHead:
    """A training-only classifier fed by the output of the top-level layer `attach`."""

    attach: str
    head: SequenceSpec


@dataclass(frozen=True)
class Spec:
    name: str
    input_shape: Shape  # (C, H, W) of one sample
    layers: tuple[Layer, ...]
    aux: tuple[AuxHead, ...] = ()
    description: str = ""
    source: str = ""
    budget: Mapping[str, Any] = field(default_factory=dict)  # raw `budget:` block, read by check
    path: str | None = None  # where it was loaded from, for error messages
    # spec.plan's rows of this spec, planned once (a cache, not data: a changed copy starts empty)
    plans: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "source": self.source or None,
                "description": self.description or None, "input_shape": list(self.input_shape)}


def builtin_specs() -> dict[str, Path]:
    """Specs shipped with gcost, by name (the file name without .yaml)."""
    try:
        folder = resources.files("googlenet_cost.networks")
    except ModuleNotFoundError:  # running from a source tree: specs/ beside the package
        folder = Path(__file__).resolve().parents[2] / "specs"
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir() if str(p).endswith(".yaml")}


def builtin_spec(name: str) -> Path:
    """The file of the built-in spec `name`; a name that is not one lists those that are."""
    shipped = builtin_specs()
    if name not in shipped:
        known = ", ".join(sorted(shipped)) or "none"
        raise SpecError(f"no built-in spec {quoted(name)}{did_you_mean(name, shipped)} (built-in: {known})")
    return shipped[name]


def resolve_spec_path(path_or_name: str | Path) -> Path:
    if str(path_or_name).strip() == "":
        raise SpecError("the spec argument is empty: give a file or a built-in name (gcost specs lists them)")
    path = Path(path_or_name)
    if path.exists() or path.is_symlink():  # a dangling link or a loop: reading says which
        return path
    shipped = builtin_specs()
    if str(path_or_name) in shipped:
        return shipped[str(path_or_name)]
    known = ", ".join(sorted(shipped)) or "none"
    raise SpecError(f"no such file, and no built-in spec by that name (built-in: {known})",
                    file=str(path_or_name))


def spec_from_data(data: Any, where: str) -> Spec:
    """The Spec a loaded YAML document describes, its keys and values checked (no shapes: those
    are the planner's, and spec/load.parse_spec runs it)."""
    if not isinstance(data, dict):
        raise SpecError("a spec must be a mapping with name, input and layers")
    top = Reader(data, layer=None)
    name = top.text("name", required=True)
    if not NAME_PATTERN.fullmatch(name):
        raise SpecError(f"name {quoted(name)} must be 1-80 letters, digits, '_', '-' or '.'")
    input_shape = parse_shape(top, "input")
    defaults = Defaults.parse(top.mapping("defaults"))
    layers = parse_layers(top.sequence("layers", required=True), defaults, context="layers")
    if not layers:
        raise SpecError("layers must list at least one layer")
    rows, paths = sum(layer.row_count() for layer in layers), sum(layer.path_count() for layer in layers)
    heads: list[AuxHead] = []  # counted with the layers (parse_layers bounded those): heads are rows in training
    for item in top.sequence("aux"):
        heads.append(_aux_head(item, defaults))
        rows, paths = rows + heads[-1].head.row_count(), paths + heads[-1].head.path_count()
        check_size(SpecError, "its layers and aux heads", rows, paths, final=False)
    spec = Spec(name=name, input_shape=input_shape, layers=layers, aux=tuple(heads),
                description=top.text("description"), source=top.text("source"),
                budget=dict(top.mapping("budget")), path=where)
    top.finish()
    _check_names(spec)
    return spec


def _aux_head(item: Any, defaults: Defaults) -> AuxHead:
    if not isinstance(item, dict):
        raise SpecError("each aux entry must be a mapping with name, attach and layers")
    reader = Reader(item, layer=None)
    name = reader.text("name", required=True)
    reader.layer = name
    attach = reader.text("attach", required=True)
    layers = parse_layers(reader.sequence("layers", required=True), defaults, context=name, level=1)
    reader.finish()
    return AuxHead(attach=attach, head=SequenceSpec(name=name, layers=layers))


def _check_names(spec: Spec) -> None:
    """Rows are named by path, so names must be unique among a composite's children (at every
    level) and among the top-level layers and aux heads."""
    _unique_names((*spec.layers, *(a.head for a in spec.aux)), parent=None)
    top_names = [layer.name for layer in spec.layers]
    for aux in spec.aux:
        if aux.attach not in top_names:
            raise SpecError(f"attach: no top-level layer named '{aux.attach}'"
                            f"{did_you_mean(aux.attach, top_names)}",
                            layer=aux.head.name)


def _unique_names(layers: tuple[Layer, ...], parent: str | None) -> None:
    seen: set[str] = set()
    for layer in layers:
        if layer.name in seen:
            if parent is None:
                raise SpecError("duplicate layer name", layer=layer.name)
            raise SpecError(f"duplicate layer name '{layer.name}' inside it", layer=parent)
        seen.add(layer.name)
    for layer in layers:
        path = layer.name if parent is None else f"{parent}/{layer.name}"
        _unique_names(layer.children(), parent=path)
