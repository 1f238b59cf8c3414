"""The Python API's sweep (`gcost sweep` in a notebook or a script):

    result = googlenet_cost.sweep("googlenet", grid={"inception_*/5x5_reduce.out": ["x0.5", "x1", "x2"]},
                                  pareto="params:max,latency:min", latency="predicted")
    print(result)            # the table gcost sweep prints; a notebook renders it as HTML
    result.to_pandas()       # one row per candidate
    result.to_dict()         # gcost sweep --format json

Its keywords are read into one SweepOptions here, as the command line's are in cli/sweep.py; the
result is a views.sweep.PrintableSweep. Its own module, beside api.py, so that `googlenet_cost.sweep`
is this function (the sweep's package is googlenet_cost.space)."""
from __future__ import annotations

import os
from typing import Any, Callable, Mapping, Sequence

from .errors import GcostError, quoted


def sweep(spec: Any = "googlenet", grid: Mapping[str, Sequence[Any]] | Sequence[str] = (), *,
          pareto: str | Sequence[str] | None = None, latency: str = "predicted", measure: int | None = None,
          sample: int | None = None, seed: int = 0, batch: int = 1, dtype: str = "fp32", device: Any = None,
          timing: Any = None, budget: Mapping[str, Any] | None = None, store: str | os.PathLike | None = None,
          interpolate: bool = False, executor: str = "local", ray_address: str | None = None,
          device_kinds: Sequence[str] | None = None, progress: Callable[..., Any] | None = None) -> Any:
    """Sweep `grid` over `spec` (a Spec, a built-in name or a YAML path).

    grid: {"GLOB.KEY": [values]} or ["GLOB.KEY=V1|V2", ...], values as --set reads them (numbers, or
    "xF"); pareto: "params:max,latency:min" or a list of such objectives; latency: "predicted",
    "measured" or "none"; budget: {"max_params": "7M", "max_latency_ms": 20, ...} (the gate's keys);
    timing: a TimingOptions for how to time (device, threads, limits), else the defaults on `device`;
    store: the latency store's file (default: in gcost's cache folder)."""
    from .api import run_options, spec_source
    from .metrics import parse_limits
    from .space.executors import LocalExecutor
    from .space.grid import parse_grid
    from .space.options import SweepOptions
    from .space.pareto import parse_objectives
    from .space.run import run_sweep
    from .space.store import open_store
    from .views.sweep import PrintableSweep

    run = run_options(batch, device=device, timing=None if latency == "none" else (timing or True), dtype=dtype)
    options = SweepOptions(axes=parse_grid(_grid_texts(grid)), run=run, latency=latency, sample=sample, seed=seed,
                           measure=measure, pareto=None if pareto is None else parse_objectives(_pareto_text(pareto)),
                           limits=parse_limits(budget or {}, where="budget"), interpolate=interpolate)
    source = spec_source(spec, "sweep")
    if executor == "ray":
        from .space.ray_executor import RayExecutor

        runner: Any = RayExecutor(run.timing, dtype=run.dtype, address=ray_address, kinds=tuple(device_kinds or ("cpu",)))
    elif executor == "local":
        if ray_address is not None or device_kinds is not None:
            raise GcostError("ray_address and device_kinds go with executor='ray'")
        runner = LocalExecutor(run.timing, dtype=run.dtype)
    else:
        raise ValueError(f"executor must be 'local' or 'ray', got {quoted(executor)}")
    opened = open_store(os.fspath(store) if store is not None else None, lambda line: None) \
        if latency != "none" else None
    try:
        return PrintableSweep.of(run_sweep(source.spec, options, runner, opened, progress=progress))
    finally:
        runner.close()
        if opened is not None:
            opened.close()


def _grid_texts(grid: Mapping[str, Sequence[Any]] | Sequence[str]) -> list[str]:
    if isinstance(grid, str):
        return [grid]
    if isinstance(grid, Mapping):
        texts = []
        for target, values in grid.items():
            if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
                raise TypeError(f"grid[{target!r}] must be a list of values, got {type(values).__name__}")
            texts.append(f"{target}=" + "|".join(_value(value) for value in values))
        return texts
    return [str(text) for text in grid]


def _value(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"grid values are numbers or 'xF' strings, got {type(value).__name__}")
    return format(value, "g") if isinstance(value, float) else str(value)


def _pareto_text(pareto: str | Sequence[str]) -> str:
    return pareto if isinstance(pareto, str) else ",".join(pareto)
