"""The Python API's calls, as users of torchinfo, fvcore and ptflops write them:

    summary(model, input_size=(1, 3, 224, 224))   # an nn.Module object; the batch comes first
    analyze("googlenet")                          # a Spec, a built-in name, a YAML path, or a Module
    compare(["googlenet", "path/to/other.yaml"])  # specs side by side

Each reads its keywords into one RunOptions (options.from_keywords) and runs the one pipeline,
analysis.analyze, on a Source: a SpecSource, or a ModuleSource whose factory hands out copies of
the model object (factories.module_factory), as `gcost analyze --model file.py:fn` does. Reports
come back as views.text.PrintableReport: `print(report)` draws the table."""
from __future__ import annotations

import operator
import os
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable, Sequence

from .errors import GcostError, quoted
from .inputs import Constant, Inputs, TensorInput, too_small
from .options import DEFAULT_MODEL_DEPTH

if TYPE_CHECKING:
    from .comparison import Comparison
    from .options import RunOptions
    from .report import Report
    from .sources import ModuleSource, SpecSource
    from .timing.settings import TimingOptions

def summary(model: Any, input_size: Sequence[int] | Sequence[Sequence[int]] | None = None, *,
            input_data: Any = None, dtypes: Sequence[Any] | None = None, depth: int | None = DEFAULT_MODEL_DEPTH, device: Any = None, batch: int | None = None,
            timing: bool | TimingOptions | None = None,
            step: str | None = None, optimizer: str | None = None, dtype: str | None = None, train: bool = False,
            verify: bool = False, strict: bool = False, roofline: Any = None,
            progress: Callable[..., Any] | None = None) -> Report:
    """Per-layer params, MACs, bytes moved and output shapes of an nn.Module object, as a Report
    (`print(report)` draws the table `gcost analyze` prints).

    - `input_size`: as torchinfo reads it, the batch first: `(1, 3, 224, 224)`, or a list of such
      sizes for several positional inputs with `dtypes` their types (`[torch.float, torch.long]`);
      or `input_data`: a tensor, a tuple of arguments or a dict of keyword arguments, whose tensors'
      shapes and types are read (their values are not: counting runs on zeros on the meta device)
      and whose other values are passed as they are. Counts are per sample at that batch
      (`report.batch`).
    - `depth`: the module tree's levels measured and shown (None: all).
    - `timing`: False or None (no latency), True (default TimingOptions) or a TimingOptions;
      `device` is where latency is measured ("auto", "cpu", "cuda", "cuda:N").
    - `step="train"` (or an `optimizer` given) adds a training step's cost with that optimizer
      (sgd, momentum, adam); `dtype` (fp32, tf32, fp16, bf16) sizes the bytes moved and is timed; `roofline`: a
      datasheet name, a peaks YAML file, True for this machine's measured peaks, or a Peaks.

    The model is deep-copied: its parameters, hooks, train/eval mode and device are left as they were."""
    if not is_module(model):
        raise TypeError(f"summary takes a torch.nn.Module, got {_kind(model)}; "
                        "for a spec (name, path or Spec) use googlenet_cost.analyze")
    return analyze(model, input_size, input_data=input_data, dtypes=dtypes, depth=depth, device=device, batch=batch, timing=timing,
                   step=step, optimizer=optimizer, dtype=dtype, train=train, verify=verify, strict=strict,
                   roofline=roofline, progress=progress)


def analyze(network: Any, input_size: Sequence[int] | Sequence[Sequence[int]] | None = None, *,
            input_data: Any = None, dtypes: Sequence[Any] | None = None, batch: int | None = None, train: bool = False, step: str | None = None, optimizer: str | None = None,
            depth: int | None = DEFAULT_MODEL_DEPTH, device: Any = None, timing: bool | TimingOptions | None = None,
            dtype: str | None = None, verify: bool = False, strict: bool = False, roofline: Any = None,
            progress: Callable[..., Any] | None = None) -> Report:
    """A Report of `network`: a Spec, a built-in spec name or a YAML path (str or pathlib.Path),
    or an nn.Module with `input_size` or `input_data` (see summary). `batch` defaults to 1 for a
    spec and to the input's first size for a Module; `train=True` runs train mode (a spec's
    auxiliary heads included)."""
    from .analysis import analyze as run_analysis

    if is_module(network):
        source, batch = module_source(network, input_size, input_data, batch, dtypes)
    else:
        source = spec_source(network, "analyze")
        if input_size is not None or input_data is not None or dtypes is not None:
            raise TypeError("a spec carries its own input shape: input_size and input_data go with a torch.nn.Module")
        batch = 1 if batch is None else _size(batch, "batch")
    options = run_options(batch, train=train, step=step, optimizer=optimizer, depth=depth, device=device,
                          timing=timing, dtype=dtype, verify=verify, strict=strict, roofline=roofline)
    return _printable(run_analysis(source, options, progress=_callable(progress, "progress")))


def compare(networks: Sequence[Any], *, batch: int = 1, train: bool = False, step: str | None = None,
            optimizer: str | None = None, device: Any = None, timing: bool | TimingOptions | None = None,
            dtype: str | None = None, verify: bool = False, roofline: Any = None,
            progress: Callable[..., Any] | None = None) -> Comparison:
    """Specs side by side (comparison.compare): the first is the baseline, each labelled with its
    spec's name; with timing, all are timed interleaved and each gets its latency ratio to the
    baseline with a 95% interval."""
    from .comparison import compare as run_compare
    from .spec.variants import Variant

    if isinstance(networks, (str, os.PathLike)) or not isinstance(networks, Sequence):
        raise TypeError(f"compare takes a list of specs (Spec, name or path), got {_kind(networks)}")
    if not networks:
        raise GcostError("compare needs at least one spec")
    variants = [Variant(source.spec.name, source.spec) for source in (spec_source(n, "compare") for n in networks)]
    labels = [variant.label for variant in variants]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise GcostError(f"two specs share the name {', '.join(twice)}: give each a unique `name:`")
    options = run_options(_size(batch, "batch"), train=train, step=step, optimizer=optimizer, device=device,
                          timing=timing, dtype=dtype, verify=verify, roofline=roofline)
    comparison = run_compare(variants, options, progress=_callable(progress, "progress"))
    return replace(comparison, reports=[_printable(report) for report in comparison.reports])


# ---- the network: a spec, or a model object with its input --------------------------------------

def spec_source(network: Any, call: str) -> SpecSource:
    """A SpecSource for a Spec, a built-in name or a YAML path; a clear TypeError for anything else."""
    from .sources import SpecSource
    from .spec.load import load_spec
    from .spec.model import Spec

    if isinstance(network, Spec):
        return SpecSource(network)
    if isinstance(network, (str, os.PathLike)):
        return SpecSource(load_spec(os.fspath(network)))
    if call == "compare":
        raise TypeError(f"compare takes specs (Spec, name or path), got {_kind(network)}")
    raise TypeError(f"{call} takes a Spec, a spec name or YAML path, or a torch.nn.Module; got {_kind(network)}")


def module_source(model: Any, input_size: Any, input_data: Any, batch: int | None,
                  dtypes: Any = None) -> tuple[ModuleSource, int]:
    """The ModuleSource of a model object (its factory: factories.module_factory), named by its
    class, and the batch: the input's first size, which `batch` may repeat but not contradict."""
    from .factories import module_factory
    from .sources import ModuleSource

    first, inputs = model_inputs(input_size, input_data, dtypes)
    if batch is not None and _size(batch, "batch") != first:
        raise GcostError(f"batch={batch} disagrees with the input's first size {first} "
                         "(input_size is read as torchinfo reads it: the batch first)")
    return ModuleSource(type(model).__name__, module_factory(model), inputs), first


def model_inputs(input_size: Any, input_data: Any, dtypes: Any = None) -> tuple[int, Inputs]:
    """(batch, inputs) as torchinfo reads them: `input_size` one size with the batch first,
    (1, 3, 224, 224), or a list of them, one per positional input, with `dtypes` their tensor
    types (floating point by default); or `input_data`: a tensor, a tuple or list of arguments, or
    a dict of keyword arguments, whose tensors' shapes and types are read (not their values) and
    whose other values are passed as they are. Every tensor has the batch first; bounded as
    `--input` is (inputs.checked)."""
    from .inputs import MAX_INPUT_SIDE, checked

    if input_size is not None and input_data is not None:
        raise TypeError("give input_size or input_data, not both")
    if input_data is not None:
        if dtypes is not None:
            raise TypeError("dtypes goes with input_size; input_data's tensors carry their own")
        batches, items = _data_items(input_data)
        what = "input_data"
    elif input_size is not None:
        batches, items = _size_items(input_size, dtypes)
        what = f"input_size {quoted(tuple(input_size))}"
    else:
        raise TypeError("a torch.nn.Module needs its input: input_size=(1, 3, 224, 224) (the batch first, as "
                        "torchinfo reads it) or input_data=tensor (a tuple or dict of them for several)")
    if len(set(batches)) > 1:
        raise GcostError(f"the inputs' first sizes (the batch) differ: {', '.join(map(str, batches))}")
    if batches[0] > MAX_INPUT_SIDE:
        raise GcostError(f"{what}: the batch {batches[0]:,} is too large: at most {MAX_INPUT_SIDE:,}")
    return batches[0], checked(Inputs(tuple(items), given_as="input_data" if input_data is not None else "input_size"),
                               what)


def _size_items(input_size: Any, dtypes: Any) -> tuple[list[int], list[TensorInput]]:
    if isinstance(input_size, (str, bytes)) or not isinstance(input_size, Sequence) or not input_size:
        raise TypeError(f"input_size must be a tuple of sizes like (1, 3, 224, 224), or a list of them, "
                        f"got {_kind(input_size)}")
    nested = [isinstance(size, Sequence) and not isinstance(size, (str, bytes)) for size in input_size]
    if any(nested) and not all(nested):
        raise TypeError("input_size must be a tuple of sizes like (1, 3, 224, 224), or a list of them, "
                        "got a mix of both")
    several = all(nested)
    sizes_list = list(input_size) if several else [input_size]
    if dtypes is not None and (isinstance(dtypes, (str, bytes)) or not isinstance(dtypes, Sequence)
                               or len(dtypes) != len(sizes_list)):
        raise TypeError(f"dtypes must list one tensor type per input ({len(sizes_list)}), got {_kind(dtypes)}")
    batches, items = [], []
    for index, size in enumerate(sizes_list):
        sizes = tuple(_size(value, "input_size", high=None) for value in size)
        if any(value < 1 for value in sizes):  # bounded as --input is: no zero, no negative size
            raise too_small("input_size", quoted(tuple(input_size)))
        if len(sizes) < (2 if not several else 1):
            raise GcostError(f"the input needs a batch and a sample shape, e.g. (1, 3, 224, 224), got {sizes}")
        batches.append(sizes[0])
        items.append(TensorInput(sizes[1:], _kind_of(None if dtypes is None else dtypes[index])))
    return batches, items


def _data_items(data: Any) -> tuple[list[int], list[TensorInput | Constant]]:
    if isinstance(data, dict):
        named = [(_keyword(name), value) for name, value in data.items()]
    elif isinstance(data, (tuple, list)):
        named = [(None, value) for value in data]
    else:
        named = [(None, data)]
    batches, items = [], []
    for name, value in named:
        tensor = _tensor_or_none(value)
        if tensor is None:
            if _holds_tensors(value):
                where = f"input_data[{name!r}]" if name else "input_data"
                raise GcostError(f"{where} holds tensors inside a {type(value).__name__}: give each tensor as an "
                                 "argument of its own (a tuple of arguments, or a dict of keyword arguments)")
            items.append(Constant(value, name))
            continue
        where = f"input_data[{name!r}]" if name else "input_data"
        if tensor.dim() == 0:
            raise GcostError(f"{where}: a tensor input has the batch as its first size; a 0-d tensor has none")
        if 0 in tensor.shape:
            raise too_small(where, quoted(tuple(tensor.shape)))
        batches.append(int(tensor.shape[0]))
        items.append(TensorInput(tuple(int(size) for size in tensor.shape[1:]), _kind_of(tensor.dtype), name))
    if not batches:
        raise TypeError(f"input_data holds no tensor, got {_kind(data)}")
    return batches, items


def _tensor_or_none(value: Any) -> Any:
    import torch

    return value if isinstance(value, torch.Tensor) else None


def _holds_tensors(value: Any) -> bool:
    import torch

    if isinstance(value, dict):
        value = list(value.values())
    return isinstance(value, (list, tuple)) and any(isinstance(item, torch.Tensor) or _holds_tensors(item)
                                                     for item in value)


def _keyword(name: Any) -> str:
    if not isinstance(name, str) or not name.isidentifier():
        raise TypeError(f"input_data's keys are keyword argument names, got {_kind(name)}")
    return name


def _kind_of(dtype: Any) -> str:
    """An input tensor's kind (inputs.KINDS) from its torch dtype: floating point is the run's."""
    import torch

    from .inputs import FLOAT, KINDS

    if dtype is None:
        return FLOAT
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"an input's type must be a torch.dtype like torch.long, got {_kind(dtype)}")
    if dtype.is_floating_point:
        return FLOAT
    name = str(dtype).removeprefix("torch.")
    if name not in KINDS.values():
        raise GcostError(f"inputs of type {dtype} are not supported: floating point, "
                         f"{', '.join(sorted({k for k in KINDS.values() if k}))}")
    return name


# ---- the keywords, read into one RunOptions -------------------------------------------------------

def run_options(batch: int, *, train: bool = False, step: str | None = None, optimizer: str | None = None,
                depth: int | None = DEFAULT_MODEL_DEPTH, device: Any = None, timing: Any = None,
                dtype: str | None = None, verify: bool = False, strict: bool = False,
                roofline: Any = None) -> RunOptions:
    """The API's keywords as a RunOptions, through options.from_keywords (where an optimizer given
    asks for a training step). `step` says it outright: "train" measures a step with `optimizer`
    (default momentum), "inference" none (an optimizer with it is a contradiction)."""
    from .options import STEPS, from_keywords

    for name, value in (("train", train), ("verify", verify), ("strict", strict)):
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be True or False, got {_kind(value)}")
    if step is not None and step not in STEPS:  # as RunOptions says it of the optimizer and the dtype
        raise ValueError(f"step must be one of {', '.join(STEPS)}, got {quoted(step)}")
    if step == "inference" and optimizer is not None:
        raise TypeError(f"optimizer={optimizer!r} is a training step's: give step='train' (or leave step out)")
    timing = timing_options(timing, device)
    if step == "train":
        optimizer = optimizer or "momentum"
    if dtype is not None and not isinstance(dtype, str):
        raise TypeError(f"dtype must be a name like 'fp16', got {_kind(dtype)}")
    return from_keywords(batch, train=train, verify=verify, strict=strict, depth=_depth(depth), timing=timing,
                         optimizer=optimizer, dtype=dtype, roofline=_peaks(roofline, device, dtype or "fp32", timing))


def timing_options(timing: Any, device: Any = None) -> TimingOptions | None:
    """None for False or None; TimingOptions() for True; a TimingOptions as given. `device` sets
    where latency is measured (it may not contradict the TimingOptions' own)."""
    from .timing.settings import TimingOptions

    if device is not None and not isinstance(device, str):
        import sys

        torch = sys.modules.get("torch")  # a torch.device exists only once torch is imported
        if torch is None or not isinstance(device, torch.device):
            raise TypeError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device, got {_kind(device)}")
        device = str(device)
    if timing is None or timing is False:
        return None
    if timing is True:
        return TimingOptions(device=device or "auto")
    if not isinstance(timing, TimingOptions):
        raise TypeError(f"timing must be True, False, None or a TimingOptions, got {_kind(timing)}")
    if device is None or device == timing.device:
        return timing
    if timing.device != "auto":
        raise GcostError(f"device={device!r} contradicts the TimingOptions' device {timing.device!r}")
    return replace(timing, device=device)


def _peaks(roofline: Any, device: Any, dtype: str, timing: Any = None) -> Any:
    """roofline= as Peaks: None or False (no bounds), True (this machine's, measured and cached,
    on the device and with the threads the timing uses, as the CLI does), a datasheet name or a
    YAML file, or a Peaks as given."""
    from .roofline.peaks import Peaks, resolve_peaks

    if roofline is None or roofline is False or isinstance(roofline, Peaks):
        return roofline or None
    if roofline is True:
        where = str(device or (timing.device if timing is not None else "auto"))
        return resolve_peaks(None, device=where, dtype=dtype, threads=timing.threads if timing is not None else None)
    if isinstance(roofline, (str, os.PathLike)):
        return resolve_peaks(os.fspath(roofline), dtype=dtype)
    raise TypeError(f"roofline must be True, a datasheet name, a peaks YAML file or a Peaks, got {_kind(roofline)}")


def _depth(depth: Any) -> int | None:
    if depth is None:
        return None
    if isinstance(depth, bool) or not isinstance(depth, int):
        raise TypeError(f"depth must be a number of levels (1: top-level rows only) or None for all, "
                        f"got {_kind(depth)}")
    if depth < 1:
        raise GcostError(f"depth must be at least 1 (top-level rows only), got {depth}")
    return depth


def _size(value: Any, name: str, high: int | None = 1 << 20) -> int:
    """A whole number (int, numpy integer; never a bool) of at least 1, at most `high`."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must hold whole numbers, got {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must hold whole numbers, got {_kind(value)}") from None
    if high is not None and not 1 <= number <= high:
        raise GcostError(f"{name} must be from 1 to {high:,}, got {quoted(number)}")
    return number


def _callable(value: Any, name: str) -> Any:
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be a callable or None, got {_kind(value)}")
    return value


def is_module(value: Any) -> bool:
    """An nn.Module, found without importing torch for a spec (torch is imported once a model exists)."""
    import sys

    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.nn.Module)


def _kind(value: Any) -> str:
    """How an error names a wrong value: its type, and the value itself when short."""
    if isinstance(value, type):
        return f"the class {value.__name__} (an instance is made by calling it: {value.__name__}(...))"
    if isinstance(value, (str, bytes, int, float, type(None))):
        return f"{type(value).__name__} {quoted(value, 30)}"
    return type(value).__name__  # a model's repr runs to pages


def _printable(report: Report) -> Report:
    from .views.text import PrintableReport

    return PrintableReport.of(report)
