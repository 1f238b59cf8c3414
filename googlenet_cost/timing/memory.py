"""Will a timing run fit? An estimate of what it allocates, and what this process may still use:
on the CPU the least of MemAvailable, the cgroup's limit less its usage, and RLIMIT_AS less the
address space in use; on CUDA the device's free memory after PyTorch's cache is emptied."""
from __future__ import annotations

import contextlib
from pathlib import Path

from ..optimizers import OPTIMIZER_STATES
from .settings import DTYPE_BYTES

COLD_CACHE_BYTES = 256 * 1024 * 1024  # larger than any current GPU's L2, as triton's do_bench
CUDA_WORKSPACE_BYTES = 256 * 1024 * 1024  # cuDNN / cuBLAS workspaces and autotuning, an allowance
USABLE_SHARE = 0.9  # of the free memory, what a run may plan to take: the rest for what estimates leave out


def too_large(need_bytes: int, free_bytes: int | None) -> bool:
    """Whether work needing `need_bytes` is refused where `free_bytes` are free (None: unknown, never)."""
    return free_bytes is not None and need_bytes > USABLE_SHARE * free_bytes


def parameter_state_bytes(*, params: int, trainable: int, optimizer: str, dtype: str) -> dict[str, int]:
    """What a training step holds per parameter at `dtype`: the parameters, the trainable ones'
    gradients and the optimizer's state (momentum SGD keeps one tensor per parameter, Adam two)."""
    element = DTYPE_BYTES[dtype]
    return {"param_bytes": element * params, "grad_bytes": element * trainable,
            "optimizer_bytes": element * trainable * OPTIMIZER_STATES[optimizer]}


def estimate_bytes(*, params: int, activation_sizes: tuple[int, ...], input_bytes: int,
                   batch: int, dtype: str, inputs: int, cold_cache: bool, cuda: bool) -> int:
    """Parameters, the two largest activations alive at once (times the batch), the input buffers
    (`input_bytes` per sample, every input tensor together), the cold-cache buffer and, on CUDA, a
    workspace allowance."""
    element = DTYPE_BYTES[dtype]
    largest = sum(sorted(activation_sizes, reverse=True)[:2])
    tensors = element * (params + 2 * largest * batch) + input_bytes * batch * inputs
    return tensors + (COLD_CACHE_BYTES if cold_cache else 0) + (CUDA_WORKSPACE_BYTES if cuda else 0)


def cpu_available_bytes(proc: Path = Path("/proc"), cgroup_root: Path = Path("/sys/fs/cgroup")) -> int | None:
    limits = [value for value in (_meminfo_available(proc), _cgroup_room(proc, cgroup_root), _rlimit_room(proc))
              if value is not None]
    return min(limits) if limits else None


def _meminfo_available(proc: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in (proc / "meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return None


def _cgroup_room(proc: Path, root: Path) -> int | None:
    """cgroup v2: memory.max less memory.current, for this process's cgroup and its ancestors."""
    with contextlib.suppress(OSError, ValueError):
        entry = next((line for line in (proc / "self" / "cgroup").read_text().splitlines()
                      if line.startswith("0::")), None)
        if entry is None:
            return None
        group = root / entry[3:].strip().lstrip("/")
        rooms = []
        while True:
            limit = (group / "memory.max").read_text().strip() if (group / "memory.max").exists() else "max"
            if limit != "max" and (group / "memory.current").exists():
                rooms.append(int(limit) - int((group / "memory.current").read_text().strip()))
            if group == root or root not in group.parents:
                break
            group = group.parent
        return max(0, min(rooms)) if rooms else None
    return None


def _rlimit_room(proc: Path) -> int | None:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in (proc / "self" / "status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return max(0, soft - int(line.split()[1]) * 1024)
    return soft
