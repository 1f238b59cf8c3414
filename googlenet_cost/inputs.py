"""A network's inputs, as `--input` and the Python API describe them: one or several tensors,
positional or keyword, each with its per-sample shape and its kind (the run's floating-point type,
an integer type for token ids, bool for masks), and, from the Python API only, non-tensor
constants passed as they are. Pure data at the bottom of the house: torch is imported only when
tensors are made.

    --input 3x224x224                       one image
    --input 3x224x224,77:int64              an image and 77 token ids, positional
    --input 3x224x224,text=77:int64         ... the ids as the keyword argument `text`

Every tensor gets the batch as its first size. Counting runs on zeros (masks on ones: nothing
masked out); timing on random normal values for floating-point inputs and the same zeros and
ones for the others."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import GcostError, quoted

if TYPE_CHECKING:
    import torch

MAX_INPUT_SIDE = 1 << 20
MAX_INPUT_ELEMENTS = 1 << 30  # 4 GiB per sample in fp32, every input together
MAX_INPUT_RANK = 4  # sizes per sample
MAX_INPUTS = 16
FLOAT = "float"  # the run's floating-point type: fp32 to count, --dtype's when timed
# An input's kind as `--input ...:KIND` names it, and the torch dtype behind it.
KINDS = {FLOAT: None, "int64": "int64", "long": "int64", "int32": "int32", "int": "int32", "int16": "int16",
         "int8": "int8", "uint8": "uint8", "bool": "bool"}
EXAMPLE = "3x224x224, or 3x224x224,77:int64 for an image and token ids"


@dataclass(frozen=True)
class TensorInput:
    """One tensor argument: its shape per sample (the batch comes first, added when it is made),
    its kind (FLOAT or a torch integer/bool dtype name) and, for a keyword argument, its name."""

    shape: tuple[int, ...]
    kind: str = FLOAT
    name: str | None = None

    def text(self) -> str:
        shape = "x".join(map(str, self.shape)) or "scalar"
        return (f"{self.name}=" if self.name else "") + shape + ("" if self.kind == FLOAT else f":{self.kind}")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.kind}


@dataclass(frozen=True, eq=False)
class Constant:
    """A non-tensor argument (None, a flag, a number), passed to every call as it is."""

    value: Any
    name: str | None = None

    def text(self) -> str:
        shown = repr(self.value)
        return (f"{self.name}=" if self.name else "") + (shown if len(shown) <= 40 else f"<{type(self.value).__name__}>")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": None, "dtype": None, "constant": self.text()}


@dataclass(frozen=True)
class Call:
    """The arguments of one forward call: made once, passed to the model as often as needed."""

    args: tuple
    kwargs: dict

    def into(self, model: Any) -> Any:
        return model(*self.args, **self.kwargs)

    @property
    def tensors(self) -> list[torch.Tensor]:
        import torch

        return [value for value in (*self.args, *self.kwargs.values()) if isinstance(value, torch.Tensor)]


@dataclass(frozen=True)
class Inputs:
    """A model's arguments, positional ones first, and how the user gave them (a hint speaks the same
    language: `--input` on the command line, `input_size` or `input_data` in the Python API)."""

    items: tuple[TensorInput | Constant, ...]
    given_as: str = field(default="--input", compare=False)

    @classmethod
    def single(cls, shape: tuple[int, ...]) -> Inputs:
        return cls((TensorInput(tuple(shape)),))

    @property
    def tensors(self) -> tuple[TensorInput, ...]:
        return tuple(item for item in self.items if isinstance(item, TensorInput))

    @property
    def shape(self) -> tuple[int, ...]:
        """The first tensor's shape per sample (the report's `input_shape`)."""
        return self.tensors[0].shape

    @property
    def plain(self) -> bool:
        """One positional floating-point tensor of at least one size, as every spec takes."""
        return len(self.items) == 1 and self.items[0] == TensorInput(self.shape) and bool(self.shape)

    @property
    def elements(self) -> int:
        """Elements per sample, every tensor together."""
        return sum(math.prod(item.shape) for item in self.tensors)

    def element_bytes(self, float_bytes: int) -> int:
        """Bytes per sample, every tensor together, floating-point ones at `float_bytes` each."""
        return sum(math.prod(item.shape) * (float_bytes if item.kind == FLOAT else _kind_bytes(item.kind))
                   for item in self.tensors)

    def text(self) -> str:
        """As `--input` reads it (3x224x224,text=77:int64)."""
        return ",".join(item.text() for item in self.items)

    def to_list(self) -> list[dict[str, Any]]:
        return [item.to_dict() for item in self.items]

    def make(self, batch: int, device: Any = None, dtype: torch.dtype | None = None, *, random: bool = False,
             requires_grad: bool = False, memory_format: torch.memory_format | None = None) -> Call:
        """The arguments of one call at `batch`: floating-point tensors in `dtype` (fp32 by default),
        zeros or, with `random`, normal values, needing a gradient with `requires_grad`; integer
        tensors zeros, bool tensors ones. `memory_format` (channels_last) applies to 4-D tensors."""
        import torch

        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for item in self.items:
            value = item.value if isinstance(item, Constant) else _tensor(item, batch, device, dtype, random,
                                                                         requires_grad, memory_format, torch)
            if item.name is None:
                args.append(value)
            else:
                kwargs[item.name] = value
        return Call(tuple(args), kwargs)


def _tensor(item: TensorInput, batch: int, device: Any, dtype: Any, random: bool, requires_grad: bool,
            memory_format: Any, torch: Any) -> torch.Tensor:
    size = (batch, *item.shape)
    if item.kind != FLOAT:
        kind = getattr(torch, KINDS[item.kind])
        return (torch.ones if kind is torch.bool else torch.zeros)(size, device=device, dtype=kind)
    make = torch.randn if random else torch.zeros
    tensor = make(size, device=device, dtype=dtype or torch.float32)
    if memory_format is not None and tensor.dim() == 4:
        tensor = tensor.contiguous(memory_format=memory_format)
    if requires_grad:
        # a layer's input inside a network is no leaf: in-place ops (ReLU(inplace)) may write it
        tensor = tensor.requires_grad_().clone()
    return tensor


def _kind_bytes(kind: str) -> int:
    return {"int64": 8, "int32": 4, "int16": 2, "int8": 1, "uint8": 1, "bool": 1}[KINDS[kind]]


def kind_hint(error: BaseException, inputs: Inputs | None = None) -> str:
    """What to change when the model refused an input's kind (token ids given as floating point: an
    embedding wants integers), said as the user gave the inputs: `--input` on the command line,
    `dtypes=` beside the API's input_size, a torch.long tensor in its input_data."""
    text = str(error)
    if not ("indices" in text and ("Long" in text or "Int" in text)):
        return ""
    given_as = "--input" if inputs is None else inputs.given_as
    if given_as == "input_size":
        return f"; token ids need an integer input: dtypes={_dtypes_example(inputs)} beside input_size"
    if given_as == "input_data":
        return "; token ids need an integer input: give input_data a torch.long tensor (e.g. torch.randint(0, 1000, " \
               "(1, 77)))"
    return "; token ids need an integer input: --input ...,77:int64"


def _dtypes_example(inputs: Inputs) -> str:
    """dtypes=[torch.float, torch.long] for an image and token ids: the inputs of one size per
    sample (a sequence) as torch.long, the others as they are (the last one if none is)."""
    tensors = inputs.tensors
    ids = [item.kind == FLOAT and len(item.shape) == 1 for item in tensors]
    if not any(ids):
        ids[-1] = True
    names = [("torch.long" if is_ids else "torch.float" if item.kind == FLOAT else f"torch.{KINDS[item.kind]}")
             for item, is_ids in zip(tensors, ids)]
    return f"[{', '.join(names)}]"


def as_inputs(value: Inputs | tuple[int, ...] | list[int]) -> Inputs:
    """Inputs, or a per-sample shape read as one floating-point tensor (a spec's input)."""
    return value if isinstance(value, Inputs) else Inputs.single(tuple(value))


def parse_inputs(text: str | None) -> Inputs:
    """`--input` text: comma-separated tensors, each `[name=]AxBxC[:kind]`, positional ones first."""
    if not text or not text.strip():
        raise GcostError(f"--model needs --input, e.g. --input {EXAMPLE}")
    parts = [part.strip() for part in text.split(",")]
    if len(parts) > MAX_INPUTS:
        raise GcostError(f"--input {quoted(text)} lists {len(parts)} inputs; at most {MAX_INPUTS}")
    items = tuple(_parse_tensor(part, text) for part in parts)
    return checked(Inputs(items), f"--input {quoted(text)}")


def _parse_tensor(part: str, text: str) -> TensorInput:
    from .quantity import NumberError, parse_int

    name, sep, rest = part.rpartition("=")
    name = name.strip() if sep else None
    if sep and not (name and name.isidentifier()):
        raise GcostError(f"--input {quoted(text)}: a keyword input looks like name=77:int64, got {quoted(part)}")
    shape_text, _, kind = rest.partition(":")
    kind = kind.strip().lower() or FLOAT
    if kind not in KINDS:
        raise GcostError(f"--input {quoted(text)}: unknown kind {quoted(kind)} in {quoted(part)}; "
                         f"use {', '.join(KINDS)}")
    if shape_text.strip().lower() == "scalar":  # one number per sample (a diffusion model's timestep)
        return TensorInput((), KINDS[kind] or FLOAT, name)
    try:
        shape = tuple(parse_int(size, what="--input", low=1, high=MAX_INPUT_SIDE)
                      for size in shape_text.strip().lower().split("x"))
    except NumberError as e:
        if e.problem == "syntax":
            raise GcostError(f"--input must look like {EXAMPLE}, got {quoted(text)}") from None
        if e.problem == "low":
            raise too_small("--input", quoted(text)) from None
        raise _too_large(f"--input {quoted(text)}") from None
    return TensorInput(shape, KINDS[kind] or FLOAT, name)


def checked(inputs: Inputs, what: str) -> Inputs:
    """Inputs within gcost's bounds: at least one tensor, at most MAX_INPUT_RANK sizes each of at most
    MAX_INPUT_SIDE, MAX_INPUT_ELEMENTS per sample in all; keyword names unique; positional first."""
    if not inputs.tensors:
        raise GcostError(f"{what}: the model needs at least one tensor input")
    if len(inputs.items) > MAX_INPUTS:
        raise GcostError(f"{what}: {len(inputs.items)} inputs; at most {MAX_INPUTS}")
    names = [item.name for item in inputs.items if item.name is not None]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise GcostError(f"{what}: the keyword input {', '.join(twice)} is given twice")
    seen_keyword = False
    for item in inputs.items:
        if item.name is None and seen_keyword:
            raise GcostError(f"{what}: positional inputs come before keyword ones (as in Python)")
        seen_keyword = seen_keyword or item.name is not None
    if any(len(item.shape) > MAX_INPUT_RANK or any(size > MAX_INPUT_SIDE for size in item.shape)
           for item in inputs.tensors) or inputs.elements > MAX_INPUT_ELEMENTS:
        raise _too_large(what)
    return inputs


def too_small(what: str, given: str) -> GcostError:
    """A size below 1 (zero or negative), in the same words for `--input` and the API's input_size."""
    return GcostError(f"{what} sizes must be at least 1, got {given}")


def _too_large(what: str) -> GcostError:
    return GcostError(f"{what} is too large: at most {MAX_INPUT_RANK} sizes of at most {MAX_INPUT_SIDE:,} per "
                      f"input, {MAX_INPUT_ELEMENTS:,} elements per sample in all")
