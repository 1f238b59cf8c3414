"""compare --set: explicit edits of a spec's keys, for what roles do not cover.

`--set '[NAME:] GLOB.KEY=VALUE'` sets KEY on every layer whose row path matches GLOB (`*` within one
path segment, `**` across: tree.glob_matches): VALUE is a number, or `xF` for F times the layer's
value (a whole-number key is rounded, to at least 1, or 0 for padding; a pair such as a kernel
changes both sides; a size is written as a whole number, as in a spec). Several edits in one variant
are separated by `;` and made in order; NAME labels the variant. Every edit must match a row (inside
--module's rows, when given) and every row it matches must have the key, else exit 2 naming them
(and, for a glob that matches nothing, the rows it could have meant).
Shapes are derived again from the edited spec: a conv reads whatever width reaches it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace

from ..errors import GcostError, quoted
from ..quantity import NumberError, parse_int, parse_real
from .layers import (INCEPTION_COLUMNS, MAX_CHANNELS, MAX_ROWS, ActivationSpec, ConvSpec, InceptionSpec, Layer,
                     RepeatSpec, SESpec)
from .model import Spec
from .reader import MAX_SPATIAL
from .tree import MAX_SCALE, Scope, glob_matches, listed, no_match_hint, rewrite, row_paths


@dataclass(frozen=True)
class Key:
    """The values a settable key takes (those its parser accepts)."""

    low: float
    high: float
    whole: bool = True
    low_open: bool = False


CHANNELS, SPATIAL = Key(1, MAX_CHANNELS), Key(1, MAX_SPATIAL)
KEYS = {
    "out": CHANNELS, "groups": CHANNELS, "size": CHANNELS, "divisor": CHANNELS,
    "kernel": SPATIAL, "stride": SPATIAL, "dilation": SPATIAL, "output": SPATIAL, "kernel_5x5": SPATIAL,
    "padding": Key(0, MAX_SPATIAL), "times": Key(1, MAX_ROWS),
    "p": Key(0, 0.999999, whole=False), "eps": Key(0, 1, whole=False, low_open=True),
    "norm_eps": Key(0, 1, whole=False, low_open=True), "momentum": Key(0, 1, whole=False),
    "alpha": Key(0, float("inf"), whole=False, low_open=True), "beta": Key(0, float("inf"), whole=False, low_open=True),
    "k": Key(0, float("inf"), whole=False, low_open=True), "slope": Key(0, 1e6, whole=False),
    "init": Key(-1e6, 1e6, whole=False), "reduce": Key(0, MAX_CHANNELS, whole=False, low_open=True),
    "expansion": Key(0, MAX_SCALE, whole=False, low_open=True),
    **{column: CHANNELS for column in INCEPTION_COLUMNS},
}
EDIT = re.compile(r"(?P<glob>[^=]+)\.(?P<key>[A-Za-z0-9_]+)=(?P<value>[^=]+)")
WHOLE = re.compile(r"[+-]?[0-9]+")  # a whole number as written: no point, no exponent


@dataclass(frozen=True)
class Edit:
    text: str  # as written, stripped: "layer*/*/conv1.out=x0.5"
    glob: str
    key: str
    value: float | None = None  # the value to set, or
    factor: float | None = None  # times the layer's own
    whole: bool = False  # the value is written as a whole number (12, not 12.0 or 1.2e1), as a size must be


def parse_edits(text: str) -> list[Edit]:
    """The edits of one --set, each checked for form (GLOB.KEY=VALUE) and a number or xF."""
    items = [item.strip() for item in text.split(";")]
    if not text.strip() or not all(items):
        raise GcostError(f"--set needs edits like 'layer*/*/conv1.out=x0.5', separated by ';', got {quoted(text)}")
    return [_edit(item) for item in items]


def _edit(text: str) -> Edit:
    match = EDIT.fullmatch(text)
    if not match:
        raise GcostError(f"--set {quoted(text)}: write GLOB.KEY=VALUE, e.g. 'layer*/*/conv1.out=x0.5' or "
                         "'stem.kernel=5'")
    glob, key, value = match.group("glob").strip(), match.group("key"), match.group("value").strip()
    if key not in KEYS:
        raise GcostError(f"--set {quoted(text)}: {quoted(key)} is not a key --set can change (numbers only: "
                         f"{', '.join(sorted(k for k in KEYS if k not in INCEPTION_COLUMNS))}, and an inception "
                         "module's columns)")
    try:
        if value[:1] in ("x", "X"):
            factor = parse_real(value[1:], what=f"--set {text}", low=0, low_open=True, high=MAX_SCALE,
                                expect=f"a number or xF with F above 0 and at most {MAX_SCALE:g}")
            return Edit(text, glob, key, factor=factor)
        number = parse_real(value, what=f"--set {text}", expect="a number, or xF for F times the layer's own")
    except NumberError as e:
        raise GcostError(str(e)) from None
    whole = WHOLE.fullmatch(value) is not None
    if KEYS[key].whole and not whole:  # as a spec reads it: `out: 1e2` is not a size
        raise GcostError(f"--set {quoted(text)}: {key} must be a whole number, got {quoted(value)}")
    return Edit(text, glob, key, value=number, whole=whole)


def layer_keys(layer: Layer) -> list[str]:
    """The keys --set can change on this layer: its numeric YAML keys."""
    if isinstance(layer, InceptionSpec):
        return [*INCEPTION_COLUMNS, "kernel_5x5"]
    if isinstance(layer, ActivationSpec):
        return list(layer.numeric_keys)
    return [f.name for f in fields(layer) if f.init and f.name in KEYS]


def set_keys(spec: Spec, text: str, scope: Scope) -> tuple[str, Spec]:
    """The variant's label and the spec with the edits of one --set made in order. The label is the
    name given before the edits ('half: layer*/*/conv1.out=x0.5'), else "set <edits>"."""
    name, edits_text = variant_name(text)
    edited: list[str] = []
    try:
        edits = parse_edits(edits_text)
        for edit in edits:
            spec = _apply(spec, edit, scope, edited)
        unchanged = scope.unchanged(edited)
        if unchanged:
            raise GcostError(f"--set {quoted(edits_text)} changes nothing in {listed(unchanged)}, which --module "
                             f"{quoted(scope.glob)} matches")
    except GcostError as e:  # every error of an edit names the spec's file, and the variant by its name
        raise GcostError(f"variant {name}: {e.message}" if name else e.message, file=e.file or spec.path,
                         layer=e.layer) from None
    return name or "set " + ";".join(edit.text for edit in edits), spec


VARIANT_NAME = re.compile(r"\s*(?P<name>[A-Za-z0-9_.-]+)\s*:(?P<edits>.*)", re.DOTALL)
MAX_NAME = 80  # as a spec's name


def variant_name(text: str) -> tuple[str | None, str]:
    """('half', 'layer*/*/conv1.out=x0.5') from 'half: layer*/*/conv1.out=x0.5'; (None, text) when the
    --set gives no name (row paths and keys never hold a ':')."""
    match = VARIANT_NAME.fullmatch(text)
    if match is None:
        return None, text
    name = match.group("name")
    if len(name) > MAX_NAME:
        raise GcostError(f"--set: a variant's name is at most {MAX_NAME} characters, got {len(name):,}")
    return name, match.group("edits")


def _apply(spec: Spec, edit: Edit, scope: Scope, edited: list[str]) -> Spec:
    paths = [path for path in row_paths(spec) if scope(path)]
    rows = [path for path in paths if glob_matches(edit.glob, path)]
    where = f" inside the rows --module {quoted(scope.glob)} matches" if scope.glob else ""
    if not rows:
        raise GcostError(f"--set {quoted(edit.text)}: {quoted(edit.glob)} matches no row{where}"
                         f"{no_match_hint(edit.glob, paths)}", file=spec.path)
    matched, seen, done = set(rows), {}, []

    def visit(layer: Layer, path: str) -> tuple[Layer, ...] | None:
        if path not in matched:
            return None
        seen[path] = layer
        if edit.key not in layer_keys(layer):
            return None
        done.append(path)
        return (_with_key(layer, edit, path),)

    varied = rewrite(spec, visit, f"--set {quoted(edit.text)}")
    missing = [row for row in rows if row not in done]
    if missing:
        first = seen.get(missing[0])
        keys = layer_keys(first) if first is not None else []
        hint = (f" ({missing[0]} is a {first.type_name}: its keys are {', '.join(keys) or 'none'})" if first is not None
                else f" ({missing[0]} is made by the module that holds it: set that module's keys)")
        raise GcostError(f"--set {quoted(edit.text)}: no key '{edit.key}' on {listed(missing)}{hint}", file=spec.path)
    edited += done
    return varied


def _with_key(layer: Layer, edit: Edit, path: str) -> Layer:
    key = edit.key
    if isinstance(layer, InceptionSpec):
        if key == "kernel_5x5":
            kernel = _number(layer.kernel_5x5, edit, path)
            if kernel % 2 == 0:
                raise GcostError(f"--set {quoted(edit.text)}: kernel_5x5 must be odd, got {kernel} on {path}")
            return replace(layer, kernel_5x5=kernel)
        return layer.with_widths(**{key: _number(layer.width(key), edit, path)})
    if isinstance(layer, RepeatSpec) and key == "times":
        times = _number(layer.times, edit, path)
        body_rows = sum(child.row_count() for child in (layer.body or layer.layers[-1:])) + (len(layer.body) > 1)
        if layer.row_count() + (times - len(layer.layers)) * body_rows > MAX_ROWS:
            raise GcostError(f"--set {quoted(edit.text)}: {times:,} blocks of {path} make more than {MAX_ROWS:,} rows")
        return layer.with_times(times)
    if isinstance(layer, SESpec) and key == "reduce":
        return replace(layer, reduce=_se_reduce(layer.reduce, edit, path))
    if isinstance(layer, ConvSpec) and key in CONV_EXCLUSIVE:
        if key == "out" and layer.out is None and edit.factor is not None:
            raise GcostError(f"--set {quoted(edit.text)}: {path}'s width is relative to its input's "
                             f"({'expansion ' + format(layer.expansion, 'g') if layer.expansion else 'depthwise'}): "
                             "set its expansion, or out to a number")
        return replace(layer, **{key: _number(getattr(layer, key), edit, path), **CONV_EXCLUSIVE[key]})
    old = getattr(layer, key)
    if isinstance(old, tuple):
        return replace(layer, **{key: tuple(_number(v, edit, path) for v in old)})
    if old == "same":
        if edit.factor is not None:
            raise GcostError(f"--set {quoted(edit.text)}: {path}'s padding is 'same': give a number, not a factor")
        return replace(layer, **{key: (_number(0, edit, path),) * 2})
    return replace(layer, **{key: _number(old, edit, path)})


# A conv's width is `out` or `expansion`, its groups `groups` or `depthwise`: setting one clears the other.
CONV_EXCLUSIVE = {"out": {"expansion": None}, "expansion": {"out": None}, "groups": {"depthwise": False}}


def _number(old: int | float | None, edit: Edit, path: str):
    """The new value of one number: the edit's, or the old one times its factor, within the key's range."""
    key = KEYS[edit.key]
    what = f"--set {edit.text}: {path}.{edit.key}"
    if edit.factor is not None:
        if old is None:
            raise GcostError(f"--set {quoted(edit.text)}: {path} has no {edit.key} to scale (give a number)")
        value = old * edit.factor
        if key.whole:
            value = max(int(key.low), round(value))
    else:
        value = edit.value
    try:
        if key.whole:
            if float(value) != int(value):
                raise GcostError(f"{what} must be a whole number, got {value:g}")
            return parse_int(int(value), what=what, low=int(key.low), high=int(key.high), text=False)
        return parse_real(value, what=what, low=key.low, high=key.high, low_open=key.low_open, text=False)
    except NumberError as e:
        raise GcostError(str(e)) from None


def _se_reduce(old: int | float, edit: Edit, path: str) -> int | float:
    """A squeeze-and-excitation block's reduce: a width (a whole number) or a ratio (0 < r <= 1),
    the kind it was for a factor, the kind the number is for a value."""
    ratio = isinstance(old, float) if edit.factor is not None else not edit.whole
    if ratio:
        value = old * edit.factor if edit.factor is not None else edit.value
        if not 0 < value <= 1:
            raise GcostError(f"--set {edit.text}: {path}.reduce as a ratio must be above 0 and at most 1, "
                             f"got {value:g}")
        return float(value)
    value = max(1, round(old * edit.factor)) if edit.factor is not None else int(edit.value)
    if not 1 <= value <= MAX_CHANNELS:
        raise GcostError(f"--set {edit.text}: {path}.reduce must be between 1 and {MAX_CHANNELS:,}, got {value}")
    return value
