"""A machine's peaks, the roofs of a roofline: peak FLOP/s (2 per multiply-add) and main-memory
bandwidth (bytes read + written per second), and on a CPU the bandwidth of a cache-resident working
set with the size of the cache that holds it (a hierarchical roofline: a layer whose working set
fits in cache may beat DRAM bandwidth, and its bound must stay a bound).

Three sources: this machine, measured once and cached per (device, threads, torch, dtype) in the
user's cache folder; a shipped datasheet (datasheets.yaml, every figure cited); a user's YAML file.
The measurement (docs/roofline.md): the best of several timed iterations of large torch.mm products,
of copies and triads (c = a + s*b) on arrays far larger than the last-level cache, and on the CPU of
the same kernels on cache-resident arrays. On CUDA through the timing backend (events, synchronize),
TF32 off for fp32; torch is imported only by the measurement.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from ..errors import GcostError, did_you_mean, quoted
from ..files import atomic_write_text, load_yaml, read_text
from ..quantity import NumberError, parse_int, parse_real, shown
from ..timing.options import DTYPE_BYTES
from .datasheets import MAX_RATE, MIN_RATE, _datasheets, _rate

DTYPES = tuple(DTYPE_BYTES)  # fp32, tf32, fp16, bf16: timing's
MAX_CACHE_BYTES = 2**40
CACHE_SCHEMA = "gcost.peaks-cache/1"
METHOD = 2  # the measurement's version: a change makes every cached entry be measured again
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Peaks:
    """The roofs of one device at one dtype. FLOP/s count a multiply-add as 2 FLOP; bandwidths are
    bytes read + written per second."""

    device: str  # "AMD EPYC (2 threads)", "NVIDIA H200", or a datasheet's or file's name
    dtype: str  # fp32, tf32 (CUDA), bf16 or fp16
    threads: int | None  # CPU threads measured with; None on a GPU, a datasheet or a file
    flops_per_s: float
    bytes_per_s: float  # main memory
    cache_bytes_per_s: float | None = None  # a cache-resident working set's bandwidth (CPU)
    cache_bytes: int | None = None  # the largest working set that cache holds
    source: str = "measured"  # "measured", "datasheet" or "file"
    measured_at: str | None = None  # ISO 8601 UTC, when measured
    reference: str | None = None  # how it was measured, the datasheet's citation, or the file's path

    def to_dict(self) -> dict[str, Any]:
        return {"peak_flops_per_s": self.flops_per_s, "peak_bytes_per_s": self.bytes_per_s,
                "cache_bytes_per_s": self.cache_bytes_per_s, "cache_bytes": self.cache_bytes,
                "source": self.source, "measured_at": self.measured_at, "device": self.device,
                "dtype": self.dtype, "threads": self.threads, "reference": self.reference}


def resolve_peaks(choice: str | None, *, device: str = "auto", dtype: str = "fp32", threads: int | None = None,
                  remeasure: bool = False, progress: Progress | None = None) -> Peaks:
    """choice None: this machine's measured peaks (cached); a datasheet name; or a YAML file path
    (a name ending in .yaml or .yml, or holding a path separator)."""
    check_dtype(dtype)
    if choice is None:
        return measured_peaks(device, dtype, threads, remeasure=remeasure, progress=progress)
    if remeasure or threads is not None:
        raise GcostError("remeasuring and threads apply to this machine's peaks, not to a datasheet or file")
    if choice.lower().endswith((".yaml", ".yml")) or "/" in choice or os.sep in choice:
        return peaks_from_file(choice, dtype)
    return datasheet(choice, dtype)


def check_dtype(dtype: str) -> None:
    if dtype not in DTYPES:
        raise GcostError(f"unknown dtype {quoted(dtype)}{did_you_mean(dtype, DTYPES)}: use {', '.join(DTYPES)}")


# ---- the datasheet table and users' files -------------------------------------------------------

def datasheet(name: str, dtype: str) -> Peaks:
    """A shipped datasheet's dense peaks; an unknown name or a dtype it has no figure for is an error."""
    check_dtype(dtype)
    table = _datasheets()
    if name not in table:
        longer = [known for known in table if name and known.startswith(name)]  # h100: h100-sxm or h100-pcie
        hint = f" (did you mean {' or '.join(map(quoted, longer))}?)" if longer else did_you_mean(name, table)
        raise GcostError(f"no datasheet {quoted(name)}{hint} (known: {', '.join(table)}; or give a .yaml file "
                         "of your own)")
    entry = table[name]
    if dtype not in entry["flops"]:
        raise GcostError(f"datasheet {name} has no {dtype} figure (it has {', '.join(entry['flops'])})")
    flops, flops_source = entry["flops"][dtype]
    bandwidth, bandwidth_source = entry["bytes"]
    cited = flops_source if flops_source == bandwidth_source else f"FLOP/s: {flops_source}; bytes/s: {bandwidth_source}"
    return Peaks(device=entry["name"], dtype=dtype, threads=None, flops_per_s=flops, bytes_per_s=bandwidth,
                 source="datasheet", reference=cited)


def datasheet_for_device(device_name: str, dtype: str) -> Peaks | None:
    """The datasheet of a CUDA device by its exact torch.cuda.get_device_name() ("NVIDIA H200" is
    the h200; an H100 NVL is not an H100 SXM), or None when none matches or it has no such figure."""
    for name, entry in _datasheets().items():
        if device_name.strip() in entry["cuda_names"] and dtype in entry["flops"]:
            return datasheet(name, dtype)
    return None


def datasheet_names() -> list[str]:
    return list(_datasheets())


FILE_KEYS = {"name": "the device's name", "flops_per_s": "peak FLOP/s: one number, or one per dtype",
             "bytes_per_s": "main-memory bandwidth, bytes/s", "cache_bytes_per_s": "a cache's bandwidth, bytes/s",
             "cache_bytes": "the working set that cache holds, bytes", "source": "where the figures come from"}


def peaks_from_file(path: str, dtype: str) -> Peaks:
    """A user's device from YAML: name, flops_per_s (a number, or a mapping dtype -> number),
    bytes_per_s, optionally cache_bytes_per_s with cache_bytes, and source. Rates are numbers
    (4.8e12) or decimal quantities ("4.8T"); cache_bytes is whole bytes or "32MiB". Every bad field
    is one GcostError naming the file and the key."""
    check_dtype(dtype)
    data = load_yaml(read_text(path), where=path)
    if not isinstance(data, dict):
        raise GcostError("must be a mapping with keys name, flops_per_s and bytes_per_s", file=path)
    for key in data:
        if key not in FILE_KEYS:
            raise GcostError(f"unknown key {quoted(key)}{did_you_mean(key, FILE_KEYS)} (keys: {', '.join(FILE_KEYS)})",
                             file=path)
    for key in ("name", "flops_per_s", "bytes_per_s"):
        if key not in data:
            raise GcostError(f"missing key '{key}' ({FILE_KEYS[key]})", file=path)
    name = _text(data["name"], path, "name", 200)
    source = _text(data["source"], path, "source", 1000) if "source" in data else None
    bandwidth = _rate(data["bytes_per_s"], path, "bytes_per_s")
    cache_rate = _rate(data["cache_bytes_per_s"], path, "cache_bytes_per_s") if "cache_bytes_per_s" in data else None
    cache_size = _bytes(data["cache_bytes"], path, "cache_bytes") if "cache_bytes" in data else None
    if (cache_rate is None) != (cache_size is None):
        given, needed = ("cache_bytes", "cache_bytes_per_s")
        if cache_size is None:
            given, needed = needed, given
        raise GcostError(f"key '{given}' needs '{needed}' too ({FILE_KEYS[needed]})", file=path)
    if cache_rate is not None and cache_rate < bandwidth:
        raise GcostError("key 'cache_bytes_per_s' is below bytes_per_s: a cache is not slower than memory", file=path)
    return Peaks(device=name, dtype=dtype, threads=None, flops_per_s=_flops_for(data["flops_per_s"], dtype, path),
                 bytes_per_s=bandwidth, cache_bytes_per_s=cache_rate, cache_bytes=cache_size, source="file",
                 reference=f"{path} ({source})" if source else path)


def _flops_for(value: Any, dtype: str, path: str) -> float:
    if not isinstance(value, dict):
        return _rate(value, path, "flops_per_s")
    for key in value:
        if key not in DTYPES:
            raise GcostError(f"key 'flops_per_s': unknown dtype {quoted(key)}{did_you_mean(key, DTYPES)} "
                             f"(use {', '.join(DTYPES)})", file=path)
    if dtype not in value:
        has = ", ".join(value) or "none"
        raise GcostError(f"key 'flops_per_s' has no {dtype} figure (it has {has})", file=path)
    return _rate(value[dtype], path, f"flops_per_s.{dtype}")


_BINARY = {"kib": 2**10, "mib": 2**20, "gib": 2**30}


def _bytes(value: Any, where: str, key: str) -> int:
    """Whole bytes, or a binary quantity "512KiB", "32MiB", "1GiB" (cache sizes are binary)."""
    expect = f"key '{key}' must be whole bytes or a size like \"32MiB\" (at most 1 TiB), got {shown(value)}"
    try:
        if isinstance(value, str) and value.strip()[-3:].lower() in _BINARY:
            text = value.strip()
            number = parse_real(text[:-3], low=0, low_open=True) * _BINARY[text[-3:].lower()]
            if number != int(number):
                raise GcostError(expect, file=where)
            number = int(number)
        else:
            number = parse_int(value, low=1)
    except NumberError:
        raise GcostError(expect, file=where) from None
    if not 1 <= number <= MAX_CACHE_BYTES:
        raise GcostError(expect, file=where)
    return number


def _text(value: Any, where: str, key: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise GcostError(f"key '{key}' must be text of 1 to {limit} characters, got {shown(value)}", file=where)
    return value.strip()


# ---- this machine's peaks, cached ---------------------------------------------------------------

def cache_folder() -> Path | None:
    """$GCOST_CACHE_DIR, else $XDG_CACHE_HOME/gcost (an absolute one), else ~/.cache/gcost; None
    when there is no home folder to put it in."""
    if os.environ.get("GCOST_CACHE_DIR"):
        return Path(os.environ["GCOST_CACHE_DIR"])
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "gcost"
    try:
        return Path.home() / ".cache" / "gcost"
    except RuntimeError:  # no HOME and no password entry
        return None


def cache_key(device: str, threads: int | None, torch_version: str, dtype: str) -> dict[str, Any]:
    return {"device": device, "threads": threads, "torch": torch_version, "dtype": dtype, "method": METHOD}


def cache_path(key: dict[str, Any]) -> Path | None:
    folder = cache_folder()
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode("utf-8")).hexdigest()[:16]
    return None if folder is None else folder / f"peaks-{digest}.json"


def measured_peaks(device: str = "auto", dtype: str = "fp32", threads: int | None = None, *,
                   remeasure: bool = False, progress: Progress | None = None) -> Peaks:
    """This machine's peaks from the cache, or measured now (and cached) when the cache has none
    for this device, thread count, torch and dtype, when its file is corrupt or foreign, or with
    `remeasure`."""
    import torch

    from ..timing import measure

    say = progress or (lambda text: None)
    check_dtype(dtype)
    cuda = measure.cuda_backend()
    where = measure.resolve_device(device, cuda)
    count = thread_count(threads, where)
    key = cache_key(measure.device_label(where, count or 1, cuda), count, torch.__version__, dtype)
    path = cache_path(key)
    cached = None if remeasure or path is None else _read_cache(path, key, say)
    if cached is not None:
        return cached
    say(f"measuring this machine's peaks (once, cached in {path}) ..." if path is not None
        else "measuring this machine's peaks (no home folder: not cached; set GCOST_CACHE_DIR) ...")
    start = time.perf_counter()
    peaks = measure_peaks(str(where), dtype, count, cuda=cuda, progress=say)
    say(f"measured in {time.perf_counter() - start:.1f} s")
    if path is not None:
        _write_cache(path, key, peaks, say)
    return peaks


def _read_cache(path: Path, key: dict[str, Any], say: Progress) -> Peaks | None:
    if not os.path.lexists(path):
        return None
    try:
        data = json.loads(read_text(path, max_bytes=100_000))
        if not isinstance(data, dict) or data.get("schema") != CACHE_SCHEMA or data.get("key") != key:
            raise ValueError("not this machine's entry (another schema, device, torch or dtype)")
        return _cached_peaks(data["peaks"], key)
    except (GcostError, ValueError, KeyError, TypeError, RecursionError) as e:
        say(f"ignoring the cache file {path}: {str(e)[:200]}; measuring again")
        return None


def _cached_peaks(entry: dict[str, Any], key: dict[str, Any]) -> Peaks:
    """A cache entry back into Peaks, every field checked (a hand-edited file is not trusted)."""
    def rate(name: str, optional: bool = False) -> float | None:
        if optional and entry[name] is None:
            return None
        return parse_real(entry[name], low=MIN_RATE, high=MAX_RATE, text=False, what=name)

    cache_size = entry["cache_bytes"]
    if cache_size is not None:
        cache_size = parse_int(cache_size, low=1, high=MAX_CACHE_BYTES, text=False, what="cache_bytes")
    if entry["device"] != key["device"] or entry["dtype"] != key["dtype"] or entry["threads"] != key["threads"] \
            or entry["source"] != "measured" or not isinstance(entry["measured_at"], str) \
            or not isinstance(entry["reference"], (str, type(None))):
        raise ValueError("its entry does not match its key")
    return Peaks(device=entry["device"], dtype=entry["dtype"], threads=entry["threads"],
                 flops_per_s=rate("peak_flops_per_s"), bytes_per_s=rate("peak_bytes_per_s"),
                 cache_bytes_per_s=rate("cache_bytes_per_s", optional=True), cache_bytes=cache_size,
                 source="measured", measured_at=entry["measured_at"], reference=entry["reference"])


def _write_cache(path: Path, key: dict[str, Any], peaks: Peaks, say: Progress) -> None:
    text = json.dumps({"schema": CACHE_SCHEMA, "key": key, "peaks": peaks.to_dict()}, indent=2) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, text)
    except (OSError, GcostError) as e:
        say(f"could not cache the peaks in {path}: {e}")


def thread_count(threads: int | None, where) -> int | None:
    """The CPU threads to measure with: the CPUs this process may use, or `threads` within the
    bound timing allows (more makes the OpenMP runtime abort); None for a CUDA device."""
    from ..timing.cpus import THREADS_PER_CPU, max_threads, usable_cpus

    if where.type == "cuda":
        if threads is not None:
            raise GcostError(f"threads set the CPU's thread count; {where} is measured with its own")
        return None
    if threads is None:
        return usable_cpus()
    if not 1 <= threads <= max_threads():
        raise GcostError(f"threads must be from 1 to {max_threads():,} ({THREADS_PER_CPU} per CPU), got {threads:,}")
    return threads


def last_level_cache_bytes(root: Path = Path("/sys/devices/system/cpu/cpu0/cache")) -> int | None:
    """The size of CPU 0's highest data (or unified) cache level, from sysfs; None when unknown."""
    best: tuple[int, int] | None = None
    for index in sorted(root.glob("index*")):
        try:
            level = int((index / "level").read_text().strip())
            kind = (index / "type").read_text().strip()
            match = re.fullmatch(r"([0-9]{1,9})([KMG]?)", (index / "size").read_text().strip())
        except (OSError, ValueError):
            continue
        if kind == "Instruction" or match is None:
            continue
        size = int(match.group(1)) * {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}[match.group(2)]
        if size > 0 and (best is None or level > best[0]):
            best = (level, size)
    return None if best is None else best[1]


# ---- the measurement ----------------------------------------------------------------------------

@dataclass(frozen=True)
class PeakSizes:
    """How large and how long each measurement is. The CPU's take about 3 s on 2 cores; tests
    shrink them (a full-size measurement never runs in the suite)."""

    matmul_n: int = 2048  # the largest n of the n x n products
    matmul_min_n: int = 128  # products start at this n and double while one stays short
    matmul_s: float = 2.0  # timed seconds of products at least (a shared machine's best needs many samples)
    memory_bytes: int | None = None  # each array of copy and triad; None: 4 x the last-level cache, >= 64 MiB
    memory_s: float = 0.25  # timed seconds per main-memory kernel
    cache_sets: tuple[int, ...] | None = None  # working sets (all arrays) of the CPU's cache-resident runs;
    # None: 256 KiB (fits in L2) and a quarter of the last-level cache
    cache_s: float = 0.08  # timed seconds per cache-resident kernel and working set
    iteration_s: float = 0.004  # cache-resident calls are batched into timed iterations this long
    min_iterations: int = 3


CPU_SIZES = PeakSizes()
CUDA_SIZES = PeakSizes(matmul_n=8192, matmul_min_n=1024, matmul_s=1.0, memory_bytes=2**30, memory_s=0.3)
MIN_MEMORY_BYTES = 64 * 2**20


class Kernels:
    """The measured operations, one torch call each (a fake GPU's also launch simulated work)."""

    def __init__(self):
        import torch

        self.torch = torch

    def matmul(self, a, b, out) -> None:
        self.torch.mm(a, b, out=out)

    def copy(self, out, a) -> None:
        out.copy_(a)

    def triad(self, out, a, b, scalar: float) -> None:
        self.torch.add(a, b, alpha=scalar, out=out)


def measure_peaks(device: str = "auto", dtype: str = "fp32", threads: int | None = None, cuda=None,
                  progress: Progress | None = None, *, sizes: PeakSizes | None = None, kernels: Any = None,
                  clock: Callable[[], float] = time.perf_counter) -> Peaks:
    """Measure now, without the cache. `cuda`: a TorchCuda (or the tests' fake); `kernels`: the
    measured operations; `sizes`: how large and how long; `clock`: the host clock of the loops."""
    import torch

    from ..timing import measure

    check_dtype(dtype)
    cuda = cuda or measure.cuda_backend()
    where = measure.resolve_device(str(device), cuda)
    say = progress or (lambda text: None)
    kernels = kernels or Kernels()
    count = thread_count(threads, where)
    if count is None:
        return _measure_cuda(where, dtype, sizes or CUDA_SIZES, cuda, kernels, clock, say)
    if dtype == "tf32":
        raise GcostError("tf32 needs a CUDA device; the CPU is measured at fp32, bf16 or fp16")
    saved = torch.get_num_threads()
    try:
        torch.set_num_threads(count)
        with torch.inference_mode():
            return _measure_cpu(dtype, count, sizes or CPU_SIZES, kernels, clock, say)
    finally:
        torch.set_num_threads(saved)


def _measure_cpu(dtype: str, threads: int, sizes: PeakSizes, kernels: Any, clock, say: Progress) -> Peaks:
    import torch

    from ..timing.measure import device_label
    from ..timing.memory import cpu_available_bytes

    cache = last_level_cache_bytes()
    array = sizes.memory_bytes or max(4 * (cache or 0), MIN_MEMORY_BYTES)
    free = cpu_available_bytes()
    if free is not None:
        array = min(array, free // 8)  # three arrays in well under half of the free memory
    sets = sizes.cache_sets or tuple(sorted({256 * 2**10, max(256 * 2**10, (cache or 2**24) // 4)}))
    bench = _Bench(torch.device("cpu"), dtype, sizes, kernels, lambda run: _HostTimer(run, clock), clock, say)
    flops, n = bench.matmul_rate()
    bandwidth = bench.memory_rate(array)
    say(f"  cache-resident bandwidth: copy and triad on working sets of {', '.join(_size_text(s) for s in sets)} ...")
    in_cache = max(bench.memory_rate(total // 3, calls_per_iteration=True) for total in sets)
    return Peaks(device=device_label(torch.device("cpu"), threads), dtype=dtype, threads=threads, flops_per_s=flops,
                 bytes_per_s=bandwidth, cache_bytes_per_s=max(in_cache, bandwidth), cache_bytes=cache or max(sets),
                 source="measured", measured_at=_now(),
                 reference=f"torch.mm {n}x{n}; copy and triad on {_size_text(array)} arrays; cache-resident on "
                           f"{', '.join(_size_text(s) for s in sets)}; cache size "
                           f"{'from sysfs' if cache else 'the largest working set measured'}")


def _measure_cuda(where, dtype: str, sizes: PeakSizes, cuda, kernels: Any, clock, say: Progress) -> Peaks:
    import torch

    from ..timing.cuda import CudaTimer, cuda_numerics

    errors: tuple[type[BaseException], ...] = (cuda.oom_error,) + ((torch.OutOfMemoryError,)
                                                                    if hasattr(torch, "OutOfMemoryError") else ())
    with cuda.use_device(where), cuda_numerics(dtype == "tf32"), torch.inference_mode():
        cuda.empty_cache()
        array = min(sizes.memory_bytes or MIN_MEMORY_BYTES, cuda.free_memory(where) // 8)
        bench = _Bench(cuda.tensor_device(where), dtype, sizes, kernels,
                       lambda run: CudaTimer(cuda, where, run, clock=clock), clock, say)
        try:
            flops, n = bench.matmul_rate()
            bandwidth = bench.memory_rate(array)
        except errors as e:
            raise GcostError(f"out of memory on {where} while measuring its peaks ({str(e)[:200]})") from None
        finally:
            del bench
            cuda.empty_cache()
    return Peaks(device=cuda.device_name(where), dtype=dtype, threads=None, flops_per_s=flops, bytes_per_s=bandwidth,
                 source="measured", measured_at=_now(),
                 reference=f"torch.mm {n}x{n} (TF32 {'on' if dtype == 'tf32' else 'off'}); copy and triad on "
                           f"{_size_text(array)} arrays; CUDA events")


class _HostTimer:
    """One timed iteration on the host clock (the CPU runs each call to its end)."""

    def __init__(self, run: Callable[[int], Any], clock: Callable[[], float]):
        self.run, self.clock = run, clock

    def __call__(self, index: int):
        from ..timing.loop import Sample

        start = self.clock()
        self.run(index)
        ms = (self.clock() - start) * 1000
        return Sample(ms, ms, ms)


class _Bench:
    """The best rate of a kernel: the best of timed iterations (timing.loop.run_loop), each timed
    by `timer(run)` (the host clock, or CUDA events on the device's current stream)."""

    def __init__(self, place, dtype: str, sizes: PeakSizes, kernels: Any, timer: Callable, clock, say: Progress):
        import torch

        from ..timing.device import DTYPES as TORCH_DTYPES

        self.place, self.sizes, self.kernels, self.timer = place, sizes, kernels, timer
        self.clock, self.say, self.name, self.torch = clock, say, dtype, torch
        self.dtype, self.element = TORCH_DTYPES[dtype], DTYPE_BYTES[dtype]

    def once_s(self, run: Callable[[int], Any]) -> float:
        return self.timer(run)(0).device_ms / 1000

    def best_s(self, run: Callable[[int], Any], seconds: float) -> float:
        from ..timing.loop import LoopLimits, run_loop

        limits = LoopLimits(warmup_min_iters=0, warmup_min_s=0.0, min_iters=self.sizes.min_iterations,
                            min_time_s=seconds, max_time_s=seconds, max_iters=1_000_000)
        best = min(run_loop(self.timer(run), limits, clock=self.clock).samples_ms)
        if not best > 0:
            raise GcostError(f"the timer read {best:g} ms for a whole timed iteration: the clock or the device "
                             "events do not time the work")
        return best / 1000

    def matmul_rate(self) -> tuple[float, int]:
        """2 n^3 FLOP per n x n product; n doubles from matmul_min_n while the next product is
        predicted (8x the work) to take under half of matmul_s, up to matmul_n."""
        n, first = self.sizes.matmul_min_n, True
        while True:
            a, b, out = (self.torch.randn(n, n, dtype=self.dtype, device=self.place) for _ in range(3))

            def run(index: int, a=a, b=b, out=out) -> None:
                self.kernels.matmul(a, b, out)

            probe = self.once_s(run)
            if first:  # the first product also loads the library (cuBLAS, oneDNN): a second one is the probe
                probe, first = self.once_s(run), False
            if 2 * n > self.sizes.matmul_n or 8 * probe > self.sizes.matmul_s / 2:
                break
            n *= 2
        self.say(f"  peak FLOP/s: torch.mm {n}x{n} at {self.name} ...")
        return 2 * n**3 / self.best_s(run, self.sizes.matmul_s), n

    def memory_rate(self, array_bytes: int, calls_per_iteration: bool = False) -> float:
        """The best of copy (2 arrays moved per call) and triad c = a + s*b (3 arrays), in bytes
        read + written per second. Cache-resident runs batch calls into iterations of iteration_s."""
        elements = max(1, array_bytes // self.element)
        if not calls_per_iteration:
            self.say(f"  memory bandwidth: copy and triad on {_size_text(elements * self.element)} arrays ...")
        a, b, c = (self.torch.full((elements,), value, dtype=self.dtype, device=self.place)
                   for value in (1.0, 2.0, 0.0))
        kernels = ((lambda: self.kernels.copy(c, a), 2), (lambda: self.kernels.triad(c, a, b, 3.0), 3))
        best = 0.0
        for call, arrays in kernels:
            calls = 1
            per_call = min(self.once_s(lambda index: call()) for _ in range(2 if calls_per_iteration else 1))
            if calls_per_iteration:
                calls = max(1, min(100_000, int(self.sizes.iteration_s / max(per_call, 1e-9))))
            seconds = self.sizes.cache_s if calls_per_iteration else self.sizes.memory_s

            def run(index: int, call=call, calls=calls) -> None:
                for _ in range(calls):
                    call()

            best = max(best, calls * arrays * elements * self.element / self.best_s(run, seconds))
        return best


def _size_text(size: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:g} {unit}"
    return f"{size} bytes"


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
