"""Where a network comes from: a YAML spec (file or built-in name) or a Python factory
("package.module:factory" returning an nn.Module). Both are analysis.Source: the pipeline reads
either through the same few members (see there)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from .errors import PASSES_THROUGH, GcostError, model_raised
from .factories import load_factory, room_for_depth
from .inputs import Inputs, as_inputs, parse_inputs
from .report import SourceInfo
from .spec.load import load_spec
from .spec.model import DEFAULT_SPEC, Spec

if TYPE_CHECKING:
    from .count.units import UnitCache
    from .options import RunOptions
    from .report import Counted, Report
    from .timing.measure import TimingTarget


class _Analyzed:
    """`source.analyze(...)`: analysis.analyze on this source (options as a RunOptions, or the
    Python API's keywords)."""

    def analyze(self, options: RunOptions | None = None, *, progress: Any = None, cache: UnitCache | None = None,
                **keywords: Any) -> Report:
        from .analysis import analyze
        from .options import from_keywords

        if options is None:
            options = from_keywords(**keywords)
        elif keywords:
            raise TypeError("give RunOptions or keywords, not both")
        return analyze(self, options, progress=progress, cache=cache)


@dataclass(frozen=True)
class SpecSource(_Analyzed):
    spec: Spec

    @property
    def name(self) -> str:
        return self.spec.path or self.spec.name

    @property
    def key(self) -> str:
        """Its name in budgets and lock files: the spec's `name:`."""
        return self.spec.name

    @property
    def budget(self) -> Mapping[str, Any]:
        return self.spec.budget

    @property
    def inputs(self) -> Inputs:
        """A spec's network takes one image."""
        return Inputs.single(self.spec.input_shape)

    def info(self) -> SourceInfo:
        return SourceInfo(**self.spec.to_dict())

    def count(self, options: RunOptions, cache: UnitCache) -> Counted:
        from .count.spec_counts import count_spec

        return count_spec(self.spec, options, cache)

    def timing_target(self, options: RunOptions, counted: Counted) -> TimingTarget:
        """The spec's model to time (`counted` is not needed: the plan sizes it)."""
        return spec_target(self.spec, options)


def spec_target(spec: Spec, options: RunOptions) -> TimingTarget:
    """A spec's model to time: built fresh in eval mode on the timing's device (its training step
    sets train mode itself), sized for the memory check from the plan; a training step timed as
    `options` says."""
    from .build.builder import build_model
    from .spec.layers import numel
    from .spec.plan import plan_rows
    from .timing.measure import TimingTarget

    rows = plan_rows(spec, train=False)
    return TimingTarget(name=spec.path or spec.name,
                        make_model=lambda device: build_model(spec, train=False, device=device),
                        inputs=Inputs.single(spec.input_shape),
                        params=sum(r.cost.params for r in rows if r.parent is None),
                        activation_sizes=tuple(numel(r.out_shape) for r in rows),
                        dtype=options.dtype, depth=options.depth, step_optimizer=options.step_optimizer)


@dataclass(frozen=True)
class ModuleSource(_Analyzed):
    reference: str
    factory: Callable[[], Any]
    inputs: Inputs  # or one tensor's shape per sample

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", as_inputs(self.inputs))

    @property
    def name(self) -> str:
        return self.reference

    key = name

    @property
    def budget(self) -> Mapping[str, Any]:
        return {}  # a Python model has no budget block

    def info(self) -> SourceInfo:
        return SourceInfo(self.reference, source="python", input_shape=self.inputs.shape)

    def make_model(self, device: Any):
        """A model of gcost's own: the factory's result, deep-copied, so that nothing gcost does
        (train or eval mode, batch-norm statistics, hooks, dtype, device) reaches a model the
        factory hands out and keeps."""
        import copy

        import torch

        try:
            with torch.device(device):
                model = self.factory()
        except PASSES_THROUGH:
            raise
        except BaseException as e:  # the user's code: any failure is theirs to see, in one line
            raise model_raised(self.reference, e, "the factory") from e
        if not isinstance(model, torch.nn.Module):
            raise GcostError(f"the factory returned {type(model).__name__}, not a torch.nn.Module",
                             file=self.reference)
        room_for_depth(model, self.reference)
        return copy.deepcopy(model)

    def count(self, options: RunOptions, cache: UnitCache) -> Counted:
        from .count.module_counts import count_module

        return count_module(self.make_model, self.inputs, self.reference, options)

    def timing_target(self, options: RunOptions, counted: Counted) -> TimingTarget:
        """The deep-copied model, sized for the memory check by its counted rows, its per-layer
        latency measured as deep as it was counted (options.depth)."""
        from .timing.measure import TimingTarget

        rows = counted.rows
        return TimingTarget(name=self.reference, make_model=self.make_model, inputs=self.inputs,
                            params=sum(r.params for r in rows if r.parent is None),
                            activation_sizes=tuple(r.activations for r in rows), user_code=True,
                            dtype=options.dtype, depth=options.depth, step_optimizer=options.step_optimizer)


def open_source(spec: str | None = None, model: str | None = None, input_text: str | None = None,
                model_args: tuple[str, ...] = ()):
    """A SpecSource or ModuleSource for the command-line arguments given."""
    if model and spec:
        raise GcostError("give either a spec or --model, not both")
    if model:
        return ModuleSource(model, load_factory(model, model_args), parse_inputs(input_text))
    if input_text:
        raise GcostError("--input goes with --model; a spec carries its own input shape")
    return SpecSource(load_spec(DEFAULT_SPEC if spec is None else spec))


def open_sources(specs: list[str], model: str | Sequence[str] | None = None, input_text: str | None = None,
                 model_args: tuple[str, ...] = ()) -> list:
    """Several networks at once (check, baseline), each under a unique key: the specs, then each
    Python model (`model`: one reference or several, all read with `input_text` and
    `model_args`), keyed by its reference."""
    models = [model] if isinstance(model, str) else list(model or ())
    if input_text and not models:
        raise GcostError("--input goes with --model; a spec carries its own input shape")
    sources = [open_source(spec) for spec in specs]
    sources += [open_source(None, reference, input_text, model_args) for reference in models]
    if not sources:
        raise GcostError("give at least one spec (or --model)")
    keys = [source.key for source in sources]
    twice = sorted({key for key in keys if keys.count(key) > 1})
    if twice:
        if any(key in models for key in twice):
            raise GcostError(f"--model {', '.join(twice)} given twice: each network is checked once")
        raise GcostError(f"two specs share the name {', '.join(twice)}: give each a unique `name:`")
    return sources
