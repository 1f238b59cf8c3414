"""Reading one YAML mapping's keys strictly, and the bounds every size in a spec is held to. Below
the layer classes, which read their own keys through a Reader (`Layer.parse`); pure Python."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Callable

from ..errors import SpecError, did_you_mean
from ..quantity import NumberError, parse_int, parse_real, shown

if TYPE_CHECKING:  # the layer classes and parse.py import this module: what it hands them is typed as
    Layer = Any  # the layers it reads (spec/layers/base.Layer), without an import back up to them
    Defaults = Any  # the spec's `defaults:` block (parse.Defaults)

MAX_SPATIAL = 1 << 16  # input height / width, kernels
MAX_CHANNELS = 1 << 20  # channels of a feature map (a conv's out, a concat's sum), features of a linear layer
MAX_ROWS = 50_000  # rows of one spec (every nested child included): more is too large to analyze
MAX_PATHS = 50_000  # parallel paths of one spec (Layer.path_count), bounded like rows
NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,79}")  # used with fullmatch: no trailing newline
_MISSING = object()

# parse_layers(items, defaults, *, context, prefix, level): how a composite's nested lists are read
ParseList = Callable[..., "tuple[Layer, ...]"]


class Reader:
    """Reads keys of one YAML mapping, remembering which were asked for, so that any key
    nobody asked for is reported as unknown (with a "did you mean")."""

    def __init__(self, data: dict, *, layer: str | None, name: str = "", level: int = 0,
                 defaults: "Defaults | None" = None, parse_list: ParseList | None = None):
        self.data = data
        self.layer = layer  # how errors name the layer: "conv1", or "inception_4a/5x5" when nested
        self.name = name  # the layer's own name
        self.level = level  # how many composite layers hold it (0: a top-level layer)
        self.defaults = defaults  # the spec's `defaults:` block, for a layer's reader
        self.parse_list = parse_list
        self.asked: list[str] = []

    def error(self, message: str) -> SpecError:
        return SpecError(message, layer=self.layer)

    def layers(self, items: list, *, context: str, prefix: str = "") -> tuple["Layer", ...]:
        """A composite layer's list of child layers, one nesting level down; `context` names them in errors."""
        assert self.parse_list is not None, "a layer's Reader reads nested layers"
        return self.parse_list(items, self.defaults, context=context, prefix=prefix, level=self.level + 1)

    def raw(self, key: str, default: Any = _MISSING, *, required: bool = False) -> Any:
        self.asked.append(key)
        if key in self.data:
            return self.data[key]
        if required:
            from difflib import get_close_matches

            strangers = [str(k) for k in self.data if k not in self.asked and isinstance(k, str)]
            close = get_close_matches(key, strangers, n=1, cutoff=0.6)
            if close:  # a misspelled required key: name the word the user wrote
                raise self.error(f"unknown key {shown(close[0])} (did you mean '{key}'?)")
            raise self.error(f"missing required key '{key}'")
        return default

    def text(self, key: str, *, required: bool = False) -> str:
        value = self.raw(key, "", required=required)
        if not isinstance(value, str):
            raise self.error(f"{key} must be text, got {shown(value)}")
        return value

    def count(self, key: str, default: Any = _MISSING, *, limit: int = MAX_CHANNELS,
              required: bool = True) -> int:
        value = self.raw(key, default, required=required and default is _MISSING)
        return self.check_count(key, value, limit)

    def check_count(self, key: str, value: Any, limit: int) -> int:
        try:
            return parse_int(value, what=key, low=1, high=limit, text=False)
        except NumberError as e:
            raise self.error(str(e)) from None

    def pair(self, key: str, default: Any = _MISSING, *, minimum: int = 1,
             limit: int = MAX_SPATIAL) -> tuple[int, int]:
        value = self.raw(key, default, required=default is _MISSING)
        items = [value, value] if isinstance(value, int) and not isinstance(value, bool) else value
        if not isinstance(items, list) or len(items) != 2:
            raise self.error(f"{key} must be a whole number or [height, width], got {shown(value)}")
        for item in items:
            try:
                parse_int(item, what=key, low=minimum, high=limit, text=False)
            except NumberError as e:
                if e.problem == "syntax":
                    raise self.error(f"{key} must be whole numbers, got {shown(value)}") from None
                raise self.error(f"{key} must be between {minimum} and {limit}, got {shown(item)}") from None
        return (items[0], items[1])

    def padding(self, value: Any) -> tuple[int, int]:
        """A padding as written (a whole number or [height, width]); a conv's "same" is its own."""
        items = [value, value] if isinstance(value, int) and not isinstance(value, bool) else value
        if (not isinstance(items, list) or len(items) != 2
                or not all(isinstance(i, int) and not isinstance(i, bool) for i in items)):
            raise self.error(f"padding must be a whole number, [height, width] or 'same', got {shown(value)}")
        try:
            for item in items:
                parse_int(item, what="padding", low=0, high=MAX_SPATIAL, text=False)
        except NumberError:
            raise self.error(f"padding must be between 0 and {MAX_SPATIAL}, got {shown(value)}") from None
        return (items[0], items[1])

    def flag(self, key: str, default: bool) -> bool:
        value = self.raw(key, default)
        if not isinstance(value, bool):
            raise self.error(f"{key} must be true or false, got {shown(value)}")
        return value

    def number(self, key: str, default: Any = _MISSING, *, low: float = 0.0, high: float = float("inf"),
               low_open: bool = True) -> float:
        value = self.raw(key, default, required=default is _MISSING)
        try:
            return parse_real(value, what=key, low=low, high=high, low_open=low_open, text=False)
        except NumberError as e:
            raise self.error(str(e)) from None

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.raw(key, default)
        if value not in choices:
            raise self.error(f"{key} must be one of {', '.join(choices)}, got {shown(value)}")
        return value

    def mapping(self, key: str) -> dict:
        value = self.raw(key, {})
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.error(f"{key} must be a mapping, got {type(value).__name__}")
        return value

    def sequence(self, key: str, *, required: bool = False) -> list:
        value = self.raw(key, [], required=required)
        if not isinstance(value, list):
            raise self.error(f"{key} must be a list, got {type(value).__name__}")
        return value

    def finish(self) -> None:
        for key in self.data:
            if key not in self.asked:
                known = sorted(set(self.asked))
                written = key if isinstance(key, str) else shown(key)
                raise self.error(f"unknown key '{written}'{did_you_mean(key, known)}; known keys: {', '.join(known)}")


def check_size(error: Callable[[str], SpecError], what: str, rows: int, paths: int, *, final: bool = True) -> None:
    """Refuse `what` when it makes more than MAX_ROWS rows or MAX_PATHS parallel paths. Checked
    while a list is read too (`final` False: the counts so far), so no list of layers, paths or
    repeated blocks is ever built much past the bounds before it is refused."""
    counted = "" if final else "at least "
    if rows > MAX_ROWS:
        raise error(f"{what} make {counted}{rows:,} rows, more than {MAX_ROWS:,}: too large to analyze")
    if paths > MAX_PATHS:
        raise error(f"{what} make {counted}{paths:,} parallel paths, more than {MAX_PATHS:,}: too large to analyze")
