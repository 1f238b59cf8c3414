"""Which machine measured peaks describe, and what its hardware allows in theory.

The identity keys the cache of measured peaks (cache.py): on a CPU the full model name, the CPU
count, the last-level cache and the ISA flags that change which kernels run (AVX2, AVX-512, FMA,
AMX, NEON, SVE); on a GPU its name, the driver and the CUDA runtime torch was built with. A cache
entry of any other machine (another VM type behind the same "AMD EPYC", a copied home folder) is
never used. The theoretical CPU peak is cores x maximum clock x SIMD lanes x 2 (a fused
multiply-add) x 2 FMA units, only where the maximum clock is readable (cpufreq); a GPU's is its
datasheet's. Reads /proc and /sys only: no torch here except through the CUDA backend given."""
from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import GcostError

CPUINFO = Path("/proc/cpuinfo")
CPU_SYSFS = Path("/sys/devices/system/cpu")
NVIDIA_DRIVER = Path("/proc/driver/nvidia/version")
# The flags that change which kernels torch's CPU libraries pick (x86 and Arm).
ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16",
             "avx512_fp16", "avx_vnni", "amx_tile", "amx_bf16", "amx_fp16", "asimd", "fphp", "asimdhp", "sve", "sve2")
FMA_UNITS = 2  # per core, assumed: every x86 core with AVX2 since Haswell and Zen 2, Arm's big cores


@dataclass(frozen=True)
class Identity:
    """What a cached measurement is valid for."""

    kind: str  # "cpu" or "cuda"
    model: str  # the full CPU model name, or the GPU's name
    cpus: int | None = None  # CPUs the operating system has (a CPU)
    cache_bytes: int | None = None  # the last-level cache (a CPU)
    flags: tuple[str, ...] = ()  # the ISA flags among ISA_FLAGS it has (a CPU)
    driver: str | None = None  # the NVIDIA driver's version (a GPU)
    runtime: str | None = None  # the CUDA runtime torch was built with (a GPU)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "flags": list(self.flags)}


def cpu_identity(cpuinfo: Path | None = None, sysfs: Path | None = None) -> Identity:
    info = _cpuinfo(cpuinfo or CPUINFO)
    flags = set((info.get("flags") or info.get("Features") or "").split())
    return Identity(kind="cpu", model=cpu_model_name(info), cpus=os.cpu_count(),
                    cache_bytes=last_level_cache_bytes((sysfs or CPU_SYSFS) / "cpu0" / "cache"),
                    flags=tuple(flag for flag in ISA_FLAGS if flag in flags))


def gpu_identity(cuda, device, driver_file: Path | None = None) -> Identity:
    """`cuda`: the timing backend (timing/cuda.py's TorchCuda, or the tests' fake)."""
    import torch

    return Identity(kind="cuda", model=cuda.device_name(device), driver=nvidia_driver(driver_file or NVIDIA_DRIVER),
                    runtime=getattr(torch.version, "cuda", None))


def identify(device, cuda) -> Identity:
    """The identity of the device measured: a CUDA device, else this machine's CPU."""
    return gpu_identity(cuda, device) if device.type == "cuda" else cpu_identity()


def cpu_model_name(info: dict[str, str]) -> str:
    """The whole model name ("AMD EPYC 9B45 96-Core Processor", as the hypervisor shows it), or on
    Arm the implementer and part; the platform's name where /proc/cpuinfo is not readable."""
    if info.get("model name"):
        return info["model name"]
    if info.get("CPU implementer"):
        return f"Arm implementer {info['CPU implementer']} part {info.get('CPU part', '?')}"
    import platform

    return platform.processor() or platform.machine() or "CPU"


def _cpuinfo(path: Path) -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo ({} where unreadable)."""
    fields: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return fields
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        name, _, value = line.partition(":")
        fields.setdefault(name.strip(), value.strip())
    return fields


def physical_cores(path: Path = CPUINFO) -> int | None:
    """Distinct (package, core) pairs of /proc/cpuinfo: FMA units belong to cores, not to SMT
    threads; None where it does not say."""
    try:
        blocks = path.read_text(encoding="utf-8", errors="replace").split("\n\n")
    except OSError:
        return None
    cores = set()
    for block in blocks:
        fields = dict(line.split(":", 1) for line in block.splitlines() if ":" in line)
        fields = {name.strip(): value.strip() for name, value in fields.items()}
        if "core id" in fields:
            cores.add((fields.get("physical id", "0"), fields["core id"]))
    return len(cores) or None


def nvidia_driver(path: Path = NVIDIA_DRIVER) -> str | None:
    """The driver version from the kernel module's banner ("NVRM version: NVIDIA UNIX x86_64 Kernel
    Module  550.54.15  ..."), None where there is none."""
    try:
        match = re.search(r"Kernel Module\s+([0-9][0-9.]*)", path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None
    return match.group(1) if match else None


def last_level_cache_bytes(root: Path = CPU_SYSFS / "cpu0" / "cache") -> int | None:
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


def max_clock_hz(sysfs: Path = CPU_SYSFS) -> float | None:
    """cpufreq's maximum clock of CPU 0 (kHz in sysfs), None where cpufreq is not exposed (most VMs)."""
    try:
        return int((sysfs / "cpu0" / "cpufreq" / "cpuinfo_max_freq").read_text().strip()) * 1e3
    except (OSError, ValueError):
        return None


def theoretical_cpu_flops(identity: Identity, threads: int, dtype: str, *, sysfs: Path = CPU_SYSFS,
                          cpuinfo: Path = CPUINFO) -> tuple[float | None, str]:
    """(FLOP/s, how) for `threads` threads: cores used x maximum clock x fp32 SIMD lanes x 2 FLOP per
    fused multiply-add x FMA_UNITS; (None, why) where a factor is not known. A ceiling: turbo
    clocks are per core, and two FMA units is the most an x86 core has."""
    if dtype != "fp32":
        return None, f"derived for fp32 only (the SIMD rate of {dtype} depends on instructions gcost does not model)"
    clock = max_clock_hz(sysfs)
    if clock is None:
        return None, ("the maximum clock is not readable (no cpufreq in sysfs, as in most virtual machines): "
                      "no theoretical peak")
    width = 512 if "avx512f" in identity.flags else 256 if "avx" in identity.flags else 128
    if not {"avx", "asimd", "sse4_2"} & set(identity.flags):
        return None, "no SIMD flags in /proc/cpuinfo: no theoretical peak"
    fma = 2 if {"fma", "asimd"} & set(identity.flags) else 1
    cores = min(threads, physical_cores(cpuinfo) or identity.cpus or threads)
    flops = cores * clock * (width // 32) * fma * FMA_UNITS
    return flops, (f"{cores} core{'s' if cores != 1 else ''} x {clock / 1e9:.2f} GHz (cpufreq maximum) x "
                   f"{width // 32} fp32 lanes ({width}-bit SIMD) x {fma} FLOP per {'FMA' if fma == 2 else 'operation'}"
                   f" x {FMA_UNITS} FMA units per core (assumed)")


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
