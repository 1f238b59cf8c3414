"""gcost: architecture cost analysis for convolutional networks (GoogLeNet and friends).

    report = summary(model, input_size=(1, 3, 224, 224))  # an nn.Module object, the batch first
    print(report)                                         # the table `gcost analyze` prints
    report = analyze("googlenet")           # a Spec, a built-in name, a YAML path or a Module
    spec = load_spec("googlenet")           # or a path to a YAML spec
    result = sweep("googlenet", grid={"inception_*/5x5_reduce.out": ["x0.5", "x1", "x2"]})  # the design space
    model = build_model(spec, train=False)  # a real torch.nn.Module

torch is imported only by the functions that need it, so `import googlenet_cost` stays cheap.
"""
from __future__ import annotations

from typing import Any

from .api import analyze, compare, summary
from .errors import GcostError, SpecError
from .spec.load import load_spec, parse_spec
from .spec.model import Spec, builtin_specs
from .sweep_api import sweep
from ._version import __version__

__all__ = ["GcostError", "SpecError", "Spec", "load_spec", "parse_spec", "builtin_specs", "build_model",
           "summary", "analyze", "compare", "sweep", "Report", "TimingOptions", "testing", "__version__"]


def build_model(spec: Spec, train: bool = False, device: Any = "cpu"):
    """The real torch.nn.Module for `spec` (see build/builder.build_model)."""
    from .build.builder import build_model as _build

    return _build(spec, train=train, device=device)


def __getattr__(name: str) -> Any:
    if name == "Report":
        from .report import Report

        return Report
    if name == "TimingOptions":
        from .timing.settings import TimingOptions

        return TimingOptions
    if name == "testing":  # googlenet_cost.testing.assert_within_budget after a plain `import googlenet_cost`
        import importlib

        return importlib.import_module(".testing", __name__)  # `from . import` would ask __getattr__ again
    raise AttributeError(f"module 'googlenet_cost' has no attribute {name!r}")
