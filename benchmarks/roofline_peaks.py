"""`gcost peaks` against plain references (issues 22, 32): the measured peak FLOP/s against the best
of a plain torch.mm timing of the same size and a plain 3x3 convolution (64->192 channels on 56x56,
the shape gcost's compute roof may come from), and the memory bandwidth against plain large
torch.add and copy_ on arrays of the same size, each in its own fresh process with the same thread
count. Also the whole-process time of `gcost peaks` when it measures (target: under 15 s on a
2-core machine, operator rates included).
Rounds are interleaved so that drift hits both alike; the table gives each round's ratio and the
median. Writes docs/benchmarks-roofline.md. Run it on an idle machine (load under 1.5)."""
from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import environment, publish  # noqa: E402
from googlenet_cost.views.formats import markdown_table  # noqa: E402

AGREEMENT = 0.10  # the "within 10%"
GPU_COLUMN = "not measured: no GPU at hand"


def reference(n: int, array_bytes: int, threads: int, repeats: int = 8) -> dict[str, float]:
    """Plain timings, written independently of gcost: the best of `repeats` n x n torch.mm, and
    the best of torch.add(a, b, out=c) (3 arrays moved) and c.copy_(a) (2 arrays)."""
    import torch

    torch.set_num_threads(threads)

    def best(call, count: int) -> float:
        call()
        times = []
        for _ in range(count):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        return min(times)

    with torch.inference_mode():
        torch.ones(6 * 2**20)  # the allocator warm, as gcost's measurement is (microbench.warm_allocator)
        a, b, c = (torch.randn(n, n) for _ in range(3))
        flops = 2 * n**3 / best(lambda: torch.mm(a, b, out=c), repeats)
        x, w, bias = torch.randn(1, 64, 56, 56), torch.randn(192, 64, 3, 3), torch.randn(192)
        conv = 2 * 192 * 64 * 9 * 56 * 56 / best(lambda: torch.nn.functional.conv2d(x, w, bias, padding=1),
                                                  4 * repeats)
        elements = array_bytes // 4
        a, b, c = (torch.full((elements,), value) for value in (1.0, 2.0, 0.0))
        add = 3 * array_bytes / best(lambda: torch.add(a, b, out=c), 2 * repeats)
        copy = 2 * array_bytes / best(lambda: c.copy_(a), 2 * repeats)
    return {"flops_per_s": max(flops, conv), "mm_flops_per_s": flops, "conv_flops_per_s": conv,
            "add_bytes_per_s": add, "copy_bytes_per_s": copy}


def run_gcost(threads: int, cache: str) -> tuple[dict, float]:
    """`gcost peaks --remeasure` as a user runs it (a fresh process that measures); its JSON and
    whole-process seconds."""
    command = [sys.executable, "-m", "gcost_cli", "peaks", "--device", "cpu", "--threads", str(threads), "--remeasure",
               "--format", "json"]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True,
                          env={**os.environ, "GCOST_CACHE_DIR": cache})
    return json.loads(done.stdout)["peaks"][0], time.perf_counter() - start


def run_reference(n: int, array_bytes: int, threads: int) -> dict[str, float]:
    done = subprocess.run([sys.executable, __file__, "--reference", str(n), str(array_bytes), str(threads)],
                          cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(done.stdout)


def si(value: float, unit: str) -> str:
    for prefix, exponent in (("T", 12), ("G", 9), ("M", 6)):
        if value >= 10**exponent:
            return f"{value / 10**exponent:.4g} {prefix}{unit}"
    return f"{value:.4g} {unit}"


def main(rounds: int = 3) -> None:
    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    load = os.getloadavg()[0]
    flops_ratios, bandwidth_ratios, seconds, gcost_runs, references = [], [], [], [], []
    with tempfile.TemporaryDirectory() as cache:
        for _ in range(rounds):
            peaks, took = run_gcost(threads, cache)
            n = int(re.search(r"torch\.mm (\d+)x", peaks["reference"]).group(1))
            array = int(float(re.search(r"on ([0-9.]+) MiB arrays", peaks["reference"]).group(1)) * 2**20)
            plain = run_reference(n, array, threads)
            gcost_runs.append(peaks)
            references.append(plain)
            seconds.append(took)
            flops_ratios.append(peaks["peak_flops_per_s"] / plain["flops_per_s"])
            plain_bandwidth = max(plain["add_bytes_per_s"], plain["copy_bytes_per_s"])
            bandwidth_ratios.append(peaks["peak_bytes_per_s"] / plain_bandwidth)
    publish("benchmarks-roofline.md", report(threads, load, n, array, gcost_runs, references, flops_ratios,
                                             bandwidth_ratios, seconds))


def report(threads, load, n, array, gcost_runs, references, flops_ratios, bandwidth_ratios, seconds) -> str:
    def verdict(ratios: list[float]) -> str:
        median = statistics.median(ratios)
        return f"{'yes' if abs(median - 1) <= AGREEMENT else 'no'} ({(median - 1) * 100:+.1f}%)"

    median_of = lambda key, runs: statistics.median(run[key] for run in runs)  # noqa: E731
    plain_bandwidth = statistics.median(max(r["add_bytes_per_s"], r["copy_bytes_per_s"]) for r in references)
    rows = [
        ["peak FLOP/s (fp32, the best MAC kernel)", si(median_of("peak_flops_per_s", gcost_runs), "FLOP/s"),
         si(median_of("flops_per_s", references), "FLOP/s") + f" (best of plain torch.mm {n}x{n}, "
         f"{si(median_of('mm_flops_per_s', references), 'FLOP/s')}, and a plain 3x3 convolution, "
         f"{si(median_of('conv_flops_per_s', references), 'FLOP/s')})",
         ", ".join(f"{r:.3f}" for r in flops_ratios), verdict(flops_ratios), GPU_COLUMN],
        [f"memory bandwidth ({array // 2**20} MiB arrays)", si(median_of("peak_bytes_per_s", gcost_runs), "B/s"),
         si(plain_bandwidth, "B/s") + " (best of plain torch.add, copy_)",
         ", ".join(f"{r:.3f}" for r in bandwidth_ratios), verdict(bandwidth_ratios), GPU_COLUMN],
        ["cache-resident bandwidth", si(median_of("cache_bytes_per_s", gcost_runs), "B/s"), "no plain reference",
         "", "", "none on a GPU"],
        ["`gcost peaks` whole process, measuring", f"{statistics.median(seconds):.1f} s (max {max(seconds):.1f} s)",
         "target: under 15 s", "", "yes" if max(seconds) < 15 else "no", GPU_COLUMN],
    ]
    table = markdown_table(["quantity", "gcost peaks (median)", "reference (median)", "ratio per round",
                            "within 10%", "GPU"], rows, set())
    each = "; ".join(f"add {si(r['add_bytes_per_s'], 'B/s')}, copy {si(r['copy_bytes_per_s'], 'B/s')}"
                     for r in references)
    return (f"# Roofline peaks against plain references\n\nWritten by `benchmarks/roofline_peaks.py` on "
            f"{environment()}, {threads} threads, load average {load:.2f} at the start: {len(seconds)} interleaved "
            f"rounds, each a fresh `gcost peaks --remeasure` process, then a fresh process timing the plain "
            f"references at the sizes gcost chose.\n\n{table}\n"
            f"The plain references per round: {each}. A ratio is gcost's figure over the reference's; "
            f"\"within 10%\" judges the median round. gcost reports the best of its timed iterations, as the "
            f"references do; both are peaks, not typical speeds. The GPU column waits for a run on a GPU: the CUDA "
            f"path has only run against the fake backend (docs/roofline.md).\n")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--reference":
        print(json.dumps(reference(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))))
    else:
        main()
