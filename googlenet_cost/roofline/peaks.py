"""A machine's peaks, the roofs of a roofline: peak FLOP/s (2 per multiply-add) and main-memory
bandwidth (bytes read + written per second), and on a CPU the bandwidth of a cache-resident working
set with the size of the cache that holds it (a hierarchical roofline: a layer whose working set
fits in cache may beat DRAM bandwidth, and its bound must stay a bound). Measured peaks also carry
the rates of the operators CNNs run (oprates.OpRates: what a row is expected to take) and, where it
can be derived, the theoretical peak beside the measured one.

Three sources, chosen by `resolve_peaks`: this machine, measured once and cached per machine
identity, threads, torch and dtype and re-probed before use (cache.py, machine.py; the measurement
in microbench.py and opbench.py); a shipped datasheet (googlenet_cost/datasheets.yaml, every figure cited); a
user's YAML file (readers.py). torch is imported only by the measurement. Method: docs/roofline.md.
"""
from __future__ import annotations

import os

from ..errors import GcostError
from .roofs import DTYPES, Peaks, Progress, check_dtype  # noqa: F401 - the roofline's names, re-exported


def resolve_peaks(choice: str | None, *, device: str = "auto", dtype: str = "fp32", threads: int | None = None,
                  remeasure: bool = False, progress: Progress | None = None) -> Peaks:
    """choice None: this machine's measured peaks (cached); a datasheet name; or a YAML file path
    (a name ending in .yaml or .yml, or holding a path separator)."""
    check_dtype(dtype)
    if choice is None:
        from .cache import measured_peaks

        return measured_peaks(device, dtype, threads, remeasure=remeasure, progress=progress)
    if remeasure or threads is not None:
        raise GcostError("remeasuring and threads apply to this machine's peaks, not to a datasheet or file")
    from .readers import datasheet, peaks_from_file

    if choice.lower().endswith((".yaml", ".yml")) or "/" in choice or os.sep in choice:
        return peaks_from_file(choice, dtype)
    return datasheet(choice, dtype)
