"""gcost: architecture cost analysis for convolutional networks (GoogLeNet and friends).

    spec = load_spec("googlenet")           # or a path to a YAML spec
    model = build_model(spec, train=False)  # a real torch.nn.Module
    report = analyze(spec)                  # per-layer shapes, params, MACs; report.to_dict()

torch is imported only by the functions that need it, so `import googlenet_cost` stays cheap.
"""
from __future__ import annotations

from typing import Any

from .errors import GcostError, SpecError
from .spec.load import load_spec, parse_spec
from .spec.model import Spec, builtin_specs
from ._version import __version__

__all__ = ["GcostError", "SpecError", "Spec", "load_spec", "parse_spec", "builtin_specs",
           "build_model", "analyze", "Report", "__version__"]


def build_model(spec: Spec, train: bool = False, device: Any = "cpu"):
    """The real torch.nn.Module for `spec` (see build/builder.build_model)."""
    from .build.builder import build_model as _build

    return _build(spec, train=train, device=device)


def analyze(spec: Spec, batch: int = 1, **options: Any):
    """Per-layer shapes, params, MACs (and latency with timing=TimingOptions(...)) as a Report;
    keywords: train, verify, timing, progress, optimizer (a training step with it), dtype (bytes moved)."""
    from .sources import SpecSource

    return SpecSource(spec).analyze(batch=batch, **options)


def __getattr__(name: str) -> Any:
    if name == "Report":
        from .report import Report

        return Report
    raise AttributeError(f"module 'googlenet_cost' has no attribute {name!r}")
