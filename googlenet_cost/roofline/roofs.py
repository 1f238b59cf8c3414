"""The Peaks type: the roofs of one device at one dtype, from any source (peaks.py chooses which),
and the dtypes they are measured at. At the bottom of the roofline: every other module builds or
reads Peaks."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from ..errors import GcostError, did_you_mean, quoted
from ..timing.settings import DTYPE_BYTES

if TYPE_CHECKING:
    from .oprates import OpRates

DTYPES = tuple(DTYPE_BYTES)  # fp32, tf32, fp16, bf16: timing's
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Peaks:
    """The roofs of one device at one dtype. FLOP/s count a multiply-add as 2 FLOP; bandwidths are
    bytes read + written per second."""

    device: str  # "AMD EPYC (2 threads)", "NVIDIA H200", or a datasheet's or file's name
    dtype: str  # fp32, tf32 (CUDA), bf16 or fp16
    threads: int | None  # CPU threads measured with; None on a GPU, a datasheet or a file
    flops_per_s: float  # the best rate of the MAC kernels measured (matrix products, convolutions)
    bytes_per_s: float  # main memory
    cache_bytes_per_s: float | None = None  # a cache-resident working set's bandwidth (CPU)
    cache_bytes: int | None = None  # the largest working set that cache holds
    source: str = "measured"  # "measured", "datasheet" or "file"
    measured_at: str | None = None  # ISO 8601 UTC, when measured
    reference: str | None = None  # how it was measured, the datasheet's citation, or the file's path
    theoretical_flops_per_s: float | None = None  # the hardware's ceiling: a GPU's datasheet, a CPU's
    theoretical_bytes_per_s: float | None = None  # cores x clock x SIMD lanes x FMA; None where not derivable
    theoretical_reference: str | None = None  # how the theoretical figures were derived, or why there are none
    operators: OpRates | None = None  # measured: what operators take (expected_ms); None for datasheets, files

    @property
    def memory_ridge(self) -> float:
        """FLOP per byte above which a kernel fed from main memory can be compute-bound."""
        return self.flops_per_s / self.bytes_per_s

    @property
    def cache_ridge(self) -> float | None:
        """The same for a cache-resident working set (the ridge that decides a CPU row's roof at
        batch 1, where every working set fits in cache); None without a cache level."""
        return self.flops_per_s / self.cache_bytes_per_s if self.cache_bytes_per_s else None

    def to_dict(self) -> dict[str, Any]:
        return {"peak_flops_per_s": self.flops_per_s, "peak_bytes_per_s": self.bytes_per_s,
                "cache_bytes_per_s": self.cache_bytes_per_s, "cache_bytes": self.cache_bytes,
                "ridge_memory_flop_per_byte": self.memory_ridge, "ridge_cache_flop_per_byte": self.cache_ridge,
                "source": self.source, "measured_at": self.measured_at, "device": self.device,
                "dtype": self.dtype, "threads": self.threads, "reference": self.reference,
                "theoretical_flops_per_s": self.theoretical_flops_per_s,
                "theoretical_bytes_per_s": self.theoretical_bytes_per_s,
                "theoretical_reference": self.theoretical_reference,
                "operator_rates": None if self.operators is None else self.operators.to_dict()}


def check_dtype(dtype: str) -> None:
    if dtype not in DTYPES:
        raise GcostError(f"unknown dtype {quoted(dtype)}{did_you_mean(dtype, DTYPES)}: use {', '.join(DTYPES)}")
