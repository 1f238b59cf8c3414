"""Measuring this machine's roofs (the cache is cache.py's): the best of several timed iterations of
large torch.mm products, of copies and triads (c = a + s*b) on arrays far larger than the last-level
cache, on the CPU of the same kernels on cache-resident arrays, and the operators' rates
(opbench.py), whose convolutions also count towards the compute roof: the peak FLOP/s is the best
rate of any MAC kernel measured, so that no convolution can beat its bound. On CUDA through the
timing backend (events, synchronize), TF32 off for fp32.

`probe` re-measures the two main roofs quickly (well under half a second) so that cached figures
are checked before use."""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from ..errors import GcostError
from ..timing.settings import DTYPE_BYTES
from .roofs import Peaks, Progress, check_dtype


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
    probe_matmul_n: int = 1024  # the re-probe's products are at most this large
    probe_s: float = 0.08  # timed seconds of each of the re-probe's kernels


CPU_SIZES = PeakSizes()
CUDA_SIZES = PeakSizes(matmul_n=8192, matmul_min_n=1024, matmul_s=1.0, memory_bytes=2**30, memory_s=0.3,
                       probe_matmul_n=8192, probe_s=0.05)
MIN_MEMORY_BYTES = 64 * 2**20


@dataclass(frozen=True)
class Recipe:
    """What was measured, so that the re-probe measures the same kernels: the kernel that set the
    peak FLOP/s ("mm" or a MAC class of opbench), the products' n and the main-memory arrays."""

    flops_kernel: str
    matmul_n: int
    memory_bytes: int
    mac_scale: float = 1.0  # the MAC shapes' scale (opbench.OpSizes.mac_scale)
    mac_index: int = 0  # which of the MAC class's shapes set the roof
    mac_batch: int = 1  # at which batch

    def to_dict(self) -> dict[str, Any]:
        return {"flops_kernel": self.flops_kernel, "matmul_n": self.matmul_n, "memory_bytes": self.memory_bytes,
                "mac_scale": self.mac_scale, "mac_index": self.mac_index, "mac_batch": self.mac_batch}


@dataclass(frozen=True)
class Measurement:
    peaks: Peaks
    recipe: Recipe


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

    def operator(self, call: Callable[[], Any], flops: float, moved: float) -> None:
        """One operator of opbench's (`flops` and `moved` bytes say what it does, for a fake device)."""
        call()


def measure_peaks(device: str = "auto", dtype: str = "fp32", threads: int | None = None, cuda=None,
                  progress: Progress | None = None, *, sizes: PeakSizes | None = None, kernels: Any = None,
                  clock: Callable[[], float] = time.perf_counter, op_sizes: Any = None) -> Peaks:
    """Measure now, without the cache (measure()'s peaks)."""
    return measure(device, dtype, threads, cuda, progress, sizes=sizes, kernels=kernels, clock=clock,
                   op_sizes=op_sizes).peaks


def measure(device: str = "auto", dtype: str = "fp32", threads: int | None = None, cuda=None,
            progress: Progress | None = None, *, sizes: PeakSizes | None = None, kernels: Any = None,
            clock: Callable[[], float] = time.perf_counter, op_sizes: Any = None) -> Measurement:
    """The roofs and the operators' rates, and the recipe the re-probe repeats. `cuda`: a TorchCuda
    (or the tests' fake); `kernels`: the measured operations; `sizes`, `op_sizes`: how large and how
    long; `clock`: the host clock of the loops."""
    import torch

    from ..timing import measure as timing
    from .machine import thread_count

    check_dtype(dtype)
    cuda = cuda or timing.cuda_backend()
    where = timing.resolve_device(str(device), cuda)
    say = progress or (lambda text: None)
    kernels = kernels or Kernels()
    count = thread_count(threads, where)
    if count is None:
        return _measure_cuda(where, dtype, sizes or CUDA_SIZES, cuda, kernels, clock, say, op_sizes)
    if dtype == "tf32":
        raise GcostError("tf32 needs a CUDA device; the CPU is measured at fp32, bf16 or fp16")
    saved = torch.get_num_threads()
    try:
        torch.set_num_threads(count)
        with torch.inference_mode():
            return _measure_cpu(dtype, count, sizes or CPU_SIZES, kernels, clock, say, op_sizes)
    finally:
        torch.set_num_threads(saved)


def _measure_cpu(dtype: str, threads: int, sizes: PeakSizes, kernels: Any, clock, say: Progress,
                 op_sizes: Any) -> Measurement:
    import torch

    from ..timing.device import device_label
    from .machine import cpu_identity, last_level_cache_bytes, theoretical_cpu_flops
    from .opbench import CPU_OP_SIZES, measure_op_rates

    warm_allocator(torch)
    cache = last_level_cache_bytes()
    array = _memory_array(sizes, cache)
    sets = sizes.cache_sets or tuple(sorted({256 * 2**10, max(256 * 2**10, (cache or 2**24) // 4)}))
    bench = Bench(torch.device("cpu"), dtype, sizes, kernels, lambda run: HostTimer(run, clock), clock, say)
    mm_flops, n = bench.matmul_rate()
    bandwidth = bench.memory_rate(array)
    say(f"  cache-resident bandwidth: copy and triad on working sets of {', '.join(size_text(s) for s in sets)} ...")
    in_cache = max(bench.memory_rate(total // 3, calls_per_iteration=True) for total in sets)
    op_sizes = op_sizes or CPU_OP_SIZES
    rates, best_mac = measure_op_rates(bench, op_sizes)
    flops, recipe, how = _compute_roof(mm_flops, n, array, best_mac, op_sizes)
    theory, theory_how = theoretical_cpu_flops(cpu_identity(), threads, dtype)
    peaks = Peaks(device=device_label(torch.device("cpu"), threads), dtype=dtype, threads=threads, flops_per_s=flops,
                  bytes_per_s=bandwidth, cache_bytes_per_s=max(in_cache, bandwidth), cache_bytes=cache or max(sets),
                  source="measured", measured_at=now(),
                  reference=f"{how}; copy and triad on {size_text(array)} arrays; cache-resident on "
                            f"{', '.join(size_text(s) for s in sets)}; cache size "
                            f"{'from sysfs' if cache else 'the largest working set measured'}; operators at "
                            f"{len(rates.ops) + len(rates.macs)} rates",
                  theoretical_flops_per_s=theory, theoretical_reference=theory_how, operators=rates)
    return Measurement(peaks, recipe)


def warm_allocator(torch) -> None:
    """Allocate and free a tensor of a few tens of MiB, as any network's first forward pass does.
    glibc serves a large allocation by a fresh mmap (every page faulted in on first touch) until a
    freed mmapped chunk raises its threshold: until then each new output of a few MiB costs page
    faults, and an operator measured in a fresh process ran at 60% of its rate in a warm one (a 3x3
    convolution on this project's CPU: 120 against 205 GFLOP/s). Timing loops run warm; so do the
    measurements and the re-probe, whatever ran before them."""
    warm = torch.ones(6 * 2**20)  # 24 MiB: under glibc's 32 MiB ceiling of that threshold
    del warm


def _memory_array(sizes: PeakSizes, cache: int | None) -> int:
    from ..timing.memory import cpu_available_bytes

    array = sizes.memory_bytes or max(4 * (cache or 0), MIN_MEMORY_BYTES)
    free = cpu_available_bytes()
    return min(array, free // 8) if free is not None else array  # three arrays in well under half the free memory


def _compute_roof(mm_flops: float, n: int, array: int, best_mac, op_sizes) -> tuple[float, Recipe, str]:
    """(peak FLOP/s, the recipe that re-probes it, how): the best of the products and of the MAC
    classes' operators, so that no convolution runs faster than the roof (on a CPU oneDNN's
    direct 3x3 convolutions can outrun torch.mm's BLAS)."""
    if best_mac is not None and best_mac[1] > mm_flops * (1 + 1e-3):  # a tie is torch.mm's
        cls, rate, what, index = best_mac
        return rate, Recipe(cls, n, array, op_sizes.mac_scale, index, op_sizes.batches[0]), \
            f"{what} (faster than torch.mm {n}x{n}'s {mm_flops / 1e9:.1f} GFLOP/s)"
    return mm_flops, Recipe("mm", n, array, op_sizes.mac_scale), f"torch.mm {n}x{n}"


def _measure_cuda(where, dtype: str, sizes: PeakSizes, cuda, kernels: Any, clock, say: Progress,
                  op_sizes: Any) -> Measurement:
    import torch

    from ..timing.cuda import CudaTimer, cuda_numerics, oom_errors
    from ..datasheets import dense_flops
    from .opbench import CUDA_OP_SIZES, measure_op_rates
    from .readers import datasheet_for_device

    errors = oom_errors(cuda, where)
    with cuda.use_device(where), cuda_numerics(dtype == "tf32"), torch.inference_mode():
        cuda.empty_cache()
        array = min(sizes.memory_bytes or MIN_MEMORY_BYTES, cuda.free_memory(where) // 8)
        bench = Bench(cuda.tensor_device(where), dtype, sizes, kernels,
                      lambda run: CudaTimer(cuda, where, run, clock=clock), clock, say, errors)
        try:
            mm_flops, n = bench.matmul_rate()
            bandwidth = bench.memory_rate(array)
            op_sizes = op_sizes or CUDA_OP_SIZES
            rates, best_mac = measure_op_rates(bench, op_sizes)
        except errors as e:
            raise GcostError(f"out of memory on {where} while measuring its peaks ({str(e)[:200]})") from None
        finally:
            del bench
            cuda.empty_cache()
    flops, recipe, how = _compute_roof(mm_flops, n, array, best_mac, op_sizes)
    name = cuda.device_name(where)
    sheet = datasheet_for_device(name, dtype)
    peaks = Peaks(device=name, dtype=dtype, threads=None, flops_per_s=flops, bytes_per_s=bandwidth,
                  source="measured", measured_at=now(),
                  reference=f"{how} (TF32 {'on' if dtype == 'tf32' else 'off'}); copy and triad on "
                            f"{size_text(array)} arrays; CUDA events; operators at "
                            f"{len(rates.ops) + len(rates.macs)} rates",
                  theoretical_flops_per_s=dense_flops(name, dtype),
                  theoretical_bytes_per_s=sheet.bytes_per_s if sheet else None,
                  theoretical_reference=f"datasheet: {sheet.device}" if sheet else
                  f"no datasheet for {name!r} at {dtype}: no theoretical peak", operators=rates)
    return Measurement(peaks, recipe)


def probe(device, dtype: str, threads: int | None, recipe: Recipe, cuda=None, *, sizes: PeakSizes | None = None,
          kernels: Any = None, clock: Callable[[], float] = time.perf_counter) -> tuple[float, float]:
    """(FLOP/s, main-memory bytes/s) of the recipe's kernels, each the best of a few iterations
    (PeakSizes.probe_s): the products at most probe_matmul_n (or the MAC class's operator that
    set the roof), copy and triad on the recipe's arrays."""
    import torch

    from ..timing import measure as timing

    cuda = cuda or timing.cuda_backend()
    where = timing.resolve_device(str(device), cuda)
    kernels = kernels or Kernels()
    quick = sizes or (CUDA_SIZES if where.type == "cuda" else CPU_SIZES)
    quick = PeakSizes(matmul_n=min(recipe.matmul_n, quick.probe_matmul_n), matmul_min_n=1, matmul_s=quick.probe_s,
                      memory_s=quick.probe_s / 2, min_iterations=2)
    if where.type == "cuda":
        from ..timing.cuda import CudaTimer, cuda_numerics, oom_errors

        with cuda.use_device(where), cuda_numerics(dtype == "tf32"), torch.inference_mode():
            bench = Bench(cuda.tensor_device(where), dtype, quick, kernels,
                          lambda run: CudaTimer(cuda, where, run, clock=clock), clock, lambda text: None)
            return _probe(bench, recipe, quick)
    saved = torch.get_num_threads()
    try:
        torch.set_num_threads(threads or saved)
        warm_allocator(torch)
        with torch.inference_mode():
            bench = Bench(torch.device("cpu"), dtype, quick, kernels, lambda run: HostTimer(run, clock), clock,
                          lambda text: None)
            return _probe(bench, recipe, quick)
    finally:
        torch.set_num_threads(saved)


def _probe(bench: "Bench", recipe: Recipe, quick: PeakSizes) -> tuple[float, float]:
    from .opbench import mac_rate

    if recipe.flops_kernel == "mm":
        flops = bench.matmul_rate(fixed_n=quick.matmul_n)[0]
    else:
        flops = mac_rate(bench, recipe.flops_kernel, recipe.mac_index, quick.matmul_s, recipe.mac_scale,
                         recipe.mac_batch)
    return flops, bench.memory_rate(recipe.memory_bytes)


class HostTimer:
    """One timed iteration on the host clock (the CPU runs each call to its end)."""

    def __init__(self, run: Callable[[int], Any], clock: Callable[[], float]):
        self.run, self.clock = run, clock

    def __call__(self, index: int):
        from ..timing.loop import Sample

        start = self.clock()
        self.run(index)
        ms = (self.clock() - start) * 1000
        return Sample(ms, ms, ms)


class Bench:
    """Timed runs of a kernel: timed iterations (timing.loop.run_loop), each timed by `timer(run)`
    (the host clock, or CUDA events on the device's current stream); the best for a roof, the
    median for an operator's typical time."""

    def __init__(self, place, dtype: str, sizes: PeakSizes, kernels: Any, timer: Callable, clock, say: Progress,
                 oom_errors: tuple[type[BaseException], ...] = ()):
        import torch

        from ..timing.device import DTYPES as TORCH_DTYPES

        self.place, self.sizes, self.kernels, self.timer = place, sizes, kernels, timer
        self.clock, self.say, self.name, self.torch = clock, say, dtype, torch
        self.dtype, self.element = TORCH_DTYPES[dtype], DTYPE_BYTES[dtype]
        self.oom_errors = oom_errors  # what running out of device memory raises: never skipped

    def once_s(self, run: Callable[[int], Any]) -> float:
        return self.timer(run)(0).device_ms / 1000

    def samples_s(self, run: Callable[[int], Any], seconds: float) -> list[float]:
        from ..timing.loop import LoopLimits, run_loop

        limits = LoopLimits(warmup_min_iters=0, warmup_min_s=0.0, min_iters=self.sizes.min_iterations,
                            min_time_s=seconds, max_time_s=seconds, max_iters=1_000_000)
        samples = run_loop(self.timer(run), limits, clock=self.clock).samples_ms
        if not min(samples) > 0:
            raise GcostError(f"the timer read {min(samples):g} ms for a whole timed iteration: the clock or the "
                             "device events do not time the work")
        return [ms / 1000 for ms in samples]

    def best_s(self, run: Callable[[int], Any], seconds: float) -> float:
        return min(self.samples_s(run, seconds))

    def median_s(self, run: Callable[[int], Any], seconds: float) -> float:
        return statistics.median(self.samples_s(run, seconds))

    def batched(self, call: Callable[[], Any], iteration_s: float) -> tuple[Callable[[int], Any], int]:
        """`call` repeated within one timed iteration about `iteration_s` long (after a warm call):
        the run and its calls per iteration."""
        per_call = min(self.once_s(lambda index: call()) for _ in range(2))
        calls = max(1, min(100_000, int(iteration_s / max(per_call, 1e-9))))

        def run(index: int) -> None:
            for _ in range(calls):
                call()

        return run, calls

    def matmul_rate(self, fixed_n: int | None = None) -> tuple[float, int]:
        """2 n^3 FLOP per n x n product; n doubles from matmul_min_n while the next product is
        predicted (8x the work) to take under half of matmul_s, up to matmul_n (`fixed_n`: that n)."""
        n, first = fixed_n or self.sizes.matmul_min_n, True
        while True:
            a, b, out = (self.torch.randn(n, n, dtype=self.dtype, device=self.place) for _ in range(3))

            def run(index: int, a=a, b=b, out=out) -> None:
                self.kernels.matmul(a, b, out)

            probe = self.once_s(run)
            if first:  # the first product also loads the library (cuBLAS, oneDNN): a second one is the probe
                probe, first = self.once_s(run), False
            if fixed_n or 2 * n > self.sizes.matmul_n or 8 * probe > self.sizes.matmul_s / 2:
                break
            n *= 2
        self.say(f"  peak FLOP/s: torch.mm {n}x{n} at {self.name} ...")
        return 2 * n**3 / self.best_s(run, self.sizes.matmul_s), n

    def memory_rate(self, array_bytes: int, calls_per_iteration: bool = False) -> float:
        """The best of copy (2 arrays moved per call) and triad c = a + s*b (3 arrays), in bytes
        read + written per second. Cache-resident runs batch calls into iterations of iteration_s."""
        elements = max(1, array_bytes // self.element)
        if not calls_per_iteration:
            self.say(f"  memory bandwidth: copy and triad on {size_text(elements * self.element)} arrays ...")
        a, b, c = (self.torch.full((elements,), value, dtype=self.dtype, device=self.place)
                   for value in (1.0, 2.0, 0.0))
        kernels = ((lambda: self.kernels.copy(c, a), 2), (lambda: self.kernels.triad(c, a, b, 3.0), 3))
        best = 0.0
        for call, arrays in kernels:
            if calls_per_iteration:
                run, calls = self.batched(call, self.sizes.iteration_s)
            else:
                self.once_s(lambda index: call())
                run, calls = (lambda index, call=call: call()), 1
            seconds = self.sizes.cache_s if calls_per_iteration else self.sizes.memory_s
            best = max(best, calls * arrays * elements * self.element / self.best_s(run, seconds))
        return best


def size_text(size: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:g} {unit}"
    return f"{size} bytes"


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
