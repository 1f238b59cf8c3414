"""A network written in Python, as the command line names it: `package.module:factory` or
`path/to/file.py:factory` imported (the user's import errors in one line), bound to its
`--model-arg` values (read as YAML scalars, numbers bounded); deep models get the recursion
room they need. Its `--input` is read by inputs.parse_inputs."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any, Callable

from .errors import PASSES_THROUGH, GcostError, first_line, quoted

MAX_MODULE_DEPTH = 2_000  # nesting of submodules; deeper is refused (PyTorch itself needs a raised limit)
FRAMES_PER_LEVEL = 12  # deepcopy takes about 10 Python frames per level of nesting, forward 4


def room_for_depth(model: Any, reference: str) -> None:
    """Python's recursion limit raised (never lowered) so that a model PyTorch can run, however
    deeply its modules nest (200 nested Sequentials need about 2,000 frames to deep-copy), is
    copied, counted and timed; past MAX_MODULE_DEPTH levels it is refused, naming the depth. The
    depth is found without recursion."""
    depth, level = 0, [model]
    while level and depth <= MAX_MODULE_DEPTH:
        depth += 1
        level = [child for module in level for child in module._modules.values() if child is not None]
    if depth > MAX_MODULE_DEPTH:
        raise GcostError(f"the model's modules nest more than {MAX_MODULE_DEPTH:,} levels deep; gcost copies and "
                         "walks them recursively, so it analyzes models up to that depth", file=reference)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), FRAMES_PER_LEVEL * depth + 1_000))


def load_factory(reference: str, arguments: tuple[str, ...] = ()) -> Callable[[], Any]:
    """The callable `reference` names, as `package.module:factory` (imported from the current
    folder or sys.path) or `path/to/file.py:factory`, with `arguments` ("name=value", values read
    as YAML scalars) bound to it."""
    module_name, _, attribute = reference.rpartition(":")
    if not module_name or not attribute:
        raise GcostError(f"--model must look like package.module:factory or path/to/file.py:factory, "
                         f"got {quoted(reference)}")
    module = _import_file(module_name, reference) if module_name.endswith(".py") else _import(module_name, reference)
    factory: Any = module
    for part in attribute.split("."):
        factory = getattr(factory, part, None)
        if factory is None:
            raise GcostError(f"module {quoted(module_name)} has no attribute {quoted(attribute)}", file=reference)
    if not callable(factory):
        raise GcostError(f"{quoted(attribute)} is not callable", file=reference)
    return _bind(factory, parse_model_args(arguments), reference)


def _import(module_name: str, reference: str):
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and module_name.startswith(e.name):
            raise GcostError(f"cannot import {quoted(module_name)}: no module {quoted(e.name)} in the current folder "
                             f"({Path.cwd()}) or on sys.path; for a file, give path/to/file.py:factory",
                             file=reference) from None
        raise GcostError(f"importing {quoted(module_name)} failed: {_raised(e)}", file=reference) from e
    except PASSES_THROUGH:
        raise
    except BaseException as e:  # the user's import: report it in one line
        raise GcostError(f"importing {quoted(module_name)} failed: {_raised(e)}", file=reference) from e


def _import_file(path_text: str, reference: str):
    import importlib.util

    path = Path(path_text)
    if not path.is_file():
        raise GcostError(f"no such file: {quoted(path_text)}", file=reference)
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)  # so the file's own imports of its neighbours work
    name = f"gcost_model_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except PASSES_THROUGH:
        raise
    except BaseException as e:  # the user's file: report it in one line
        raise GcostError(f"importing {quoted(path_text)} failed: {_raised(e)}", file=reference) from e
    return module


def _raised(error: BaseException) -> str:
    """"ValueError: its first line": what the user's import raised, in one line (a message can
    span pages)."""
    line = first_line(error)
    return f"{type(error).__name__}: {line}" if line else type(error).__name__


def parse_model_args(items: tuple[str, ...]) -> dict[str, Any]:
    """("aux_logits=false", "width=0.5") -> {"aux_logits": False, "width": 0.5}."""
    arguments: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip().isidentifier():
            raise GcostError(f"--model-arg must look like name=value, got {quoted(item)}")
        arguments[name.strip()] = _model_arg_value(name.strip(), text)
    return arguments


MAX_MODEL_INT = 2**63 - 1  # what a factory can hand on to torch (int64)


def _model_arg_value(name: str, text: str) -> Any:
    """One --model-arg value, read as a YAML scalar (text that is no valid YAML stays text). Its
    events are read before anything is built: a collection is refused, at the latest once nested
    deeper than files.MAX_DEPTH (50,000 nested brackets would exhaust the recursion of YAML's
    composer). Numbers go through the bounded parser (quantity) before and after YAML reads them."""
    import yaml

    from .files import MAX_DEPTH
    from .quantity import NumberError, number_text, parse_int, parse_real

    if not text.strip():
        return ""
    single = GcostError(f"--model-arg {name}: give a single value (number, true/false, null or text), "
                        f"got {quoted(text)}")
    try:
        events = yaml.parse(text, Loader=yaml.SafeLoader)  # pure Python: one event at a time, no recursion
        first = next(event for event in events
                     if not isinstance(event, (yaml.StreamStartEvent, yaml.DocumentStartEvent)))
        if isinstance(first, yaml.CollectionStartEvent):
            depth = 1
            for event in events:  # a collection is refused; malformed YAML stays text, as before
                depth += isinstance(event, yaml.CollectionStartEvent) - isinstance(event, yaml.CollectionEndEvent)
                if depth > MAX_DEPTH:
                    raise single
            raise single
    except (yaml.YAMLError, StopIteration):
        return text
    tag = getattr(first, "tag", None)
    if isinstance(first, yaml.ScalarEvent) and tag in (None, "!"):
        tag = yaml.resolver.Resolver().resolve(yaml.ScalarNode, first.value, first.implicit)
    try:
        if tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float"):
            number_text(first.value, what=f"--model-arg {name}")  # before YAML's int() sees it
        value = yaml.safe_load(text)
        if isinstance(value, int) and not isinstance(value, bool):
            parse_int(value, what=f"--model-arg {name}", low=-MAX_MODEL_INT - 1, high=MAX_MODEL_INT)
        elif isinstance(value, float):
            parse_real(value, what=f"--model-arg {name}")
    except NumberError as e:
        raise GcostError(str(e)) from None
    except (yaml.YAMLError, ValueError):  # not YAML after all (an impossible date, 2001-13-45): text
        return text
    if not isinstance(value, (str, int, float, bool, type(None))):
        raise single
    return value


def _bind(factory: Callable[..., Any], arguments: dict[str, Any], reference: str) -> Callable[[], Any]:
    if not arguments:
        return factory
    import functools
    import inspect

    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # a builtin without a signature: the call will tell
        return functools.partial(factory, **arguments)
    try:
        signature.bind_partial(**arguments)
    except TypeError as e:
        raise GcostError(f"--model-arg: {e}; the factory is {getattr(factory, '__name__', 'factory')}{signature}",
                         file=reference) from None
    return functools.partial(factory, **arguments)


def module_factory(model: Any) -> Callable[[], Any]:
    """A factory for a model object (the Python API's `summary(model, ...)`): under the
    `torch.device` a ModuleSource opens, the model itself when all its tensors already live on
    that device (ModuleSource deep-copies whatever a factory hands out), else a deep copy moved
    there. The user's model is never moved, retyped or put in another mode."""

    def on_default_device() -> Any:
        import copy

        import torch

        device = torch.get_default_device()
        if all(_same_device(tensor.device, device) for tensor in (*model.parameters(), *model.buffers())):
            return model
        return copy.deepcopy(model).to(device)

    return on_default_device


def _same_device(have: Any, want: Any) -> bool:
    """"cuda" asks for the current CUDA device: a tensor on cuda:0 is there; "cuda:1" is not."""
    return have.type == want.type and (want.index is None or have.index in (None, want.index))
