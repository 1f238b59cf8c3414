"""This machine's peaks, measured once and kept in the user's cache folder, trusted only as far as
they still describe it.

An entry is keyed by the machine's identity (machine.py: the full CPU model, CPU count, last-level
cache and ISA flags; a GPU's name, driver and CUDA runtime), the threads, torch, the dtype and the
method's version: another machine's entry is never read. Before a cached entry is used, a quick
re-probe (microbench.probe, a fraction of a second) measures the peak FLOP/s and the main-memory
bandwidth again: a cached figure more than REPROBE_TOLERANCE away is measured again, and the
output says so in one line. The file is gcost's own (files.py): read only when it is a regular
file of this user, written atomically with mode 0o600 (a symlink or FIFO in its place is replaced,
never written through), and concurrent first measurements take turns on a lock beside it: one
measures, the others wait and read what it wrote."""
from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import GcostError
from ..files import atomic_write_text, exclusive_lock, read_own_file
from ..quantity import parse_int, parse_real
from ..datasheets import MAX_RATE, MIN_RATE
from .oprates import MAC_CLASSES, OpRates
from .roofs import Peaks, Progress, check_dtype

CACHE_SCHEMA = "gcost.peaks-cache/2"
METHOD = 3  # the measurement's version: a change makes every cached entry be measured again
REPROBE_TOLERANCE = 0.25  # a re-probed roof further than this from the cached one is measured again
MAX_CACHE_FILE = 200_000  # bytes
MAX_CACHE_BYTES = 2**40


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


def cache_key(identity: dict[str, Any], threads: int | None, torch_version: str, dtype: str) -> dict[str, Any]:
    return {"machine": identity, "threads": threads, "torch": torch_version, "dtype": dtype, "method": METHOD}


def cache_path(key: dict[str, Any]) -> Path | None:
    folder = cache_folder()
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode("utf-8")).hexdigest()[:16]
    return None if folder is None else folder / f"peaks-{digest}.json"


@dataclass(frozen=True)
class Entry:
    peaks: Peaks
    recipe: Any  # microbench.Recipe


def measured_peaks(device: str = "auto", dtype: str = "fp32", threads: int | None = None, *,
                   remeasure: bool = False, progress: Progress | None = None) -> Peaks:
    """This machine's peaks: the cached entry when a re-probe agrees with it, else measured now
    (and cached). Measured when the cache has no entry for this machine, threads, torch and dtype,
    when its file is corrupt, foreign or not a regular file of this user, when the re-probe
    disagrees, or with `remeasure`. Every problem with the cache is a line through `progress`; the
    measurement's progress too."""
    import torch

    from ..timing import measure as timing
    from . import microbench
    from .machine import identify, thread_count

    say = progress or (lambda text: None)
    check_dtype(dtype)
    cuda = timing.cuda_backend()
    where = timing.resolve_device(device, cuda)
    if where.type != "cuda" and dtype == "tf32":
        raise GcostError("tf32 needs a CUDA device; the CPU is measured at fp32, bf16 or fp16")
    count = thread_count(threads, where)
    key = cache_key(identify(where, cuda).to_dict(), count, torch.__version__, dtype)
    path = cache_path(key)
    if path is None:
        say("measuring this machine's peaks (no home folder: not cached; set GCOST_CACHE_DIR) ...")
        return microbench.measure(str(where), dtype, count, cuda, progress=say).peaks
    seen = None
    if not remeasure:
        seen, entry = read_entry(path, key, say)
        if entry is not None:
            stale = reprobe(entry, where, dtype, count, cuda)
            if stale is None:
                return entry.peaks
            say(stale)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # the lock lives beside the entry
    except OSError:
        pass  # write_entry says why nothing is cached
    with exclusive_lock(path.with_name(path.stem + ".lock")):
        if not remeasure:  # another gcost process may have measured while this one waited
            now, entry = read_entry(path, key, lambda text: None)
            if entry is not None and now != seen:
                return entry.peaks
        say(f"measuring this machine's peaks (once, cached in {path}) ...")
        start = time.perf_counter()
        measured = microbench.measure(str(where), dtype, count, cuda, progress=say)
        say(f"measured in {time.perf_counter() - start:.1f} s")
        write_entry(path, key, measured, say)
    return measured.peaks


def reprobe(entry: Entry, where, dtype: str, threads: int | None, cuda) -> str | None:
    """None when a quick re-measurement of the peak FLOP/s and main-memory bandwidth is within
    REPROBE_TOLERANCE of the cached figures; else the line that says how far off they are."""
    from . import microbench

    flops, bandwidth = microbench.probe(where, dtype, threads, entry.recipe, cuda)
    ratios = {"peak FLOP/s": flops / entry.peaks.flops_per_s, "memory bandwidth": bandwidth / entry.peaks.bytes_per_s}
    if all(abs(ratio - 1) <= REPROBE_TOLERANCE for ratio in ratios.values()):
        return None
    said = ", ".join(f"{name} {ratio:.2f}x" for name, ratio in ratios.items())
    return (f"the cached peaks no longer hold: a re-probe measured {said} the cached figures (more than "
            f"{REPROBE_TOLERANCE:.0%} off): measuring again")


def read_entry(path: Path, key: dict[str, Any], say: Progress) -> tuple[bytes | None, Entry | None]:
    """(the file's bytes, its entry) when it is a regular file of this user holding this key's
    entry; (what was read, None) with a line saying why it is not used; (None, None) when absent."""
    try:
        raw = read_own_file(path, max_bytes=MAX_CACHE_FILE)
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError) as e:
        say(f"ignoring the cache file {path}: {str(getattr(e, 'strerror', None) or e)[:200]}; measuring again")
        return None, None
    try:
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict) or data.get("schema") != CACHE_SCHEMA or data.get("key") != key:
            raise ValueError("not this machine's entry (another schema, machine, threads, torch or dtype)")
        return raw, Entry(cached_peaks(data["peaks"], key), cached_recipe(data["recipe"]))
    except (GcostError, ValueError, KeyError, TypeError, RecursionError) as e:
        say(f"ignoring the cache file {path}: {str(e)[:200]}; measuring again")
        return raw, None


def write_entry(path: Path, key: dict[str, Any], measured, say: Progress) -> None:
    text = json.dumps({"schema": CACHE_SCHEMA, "key": key, "recipe": measured.recipe.to_dict(),
                       "peaks": measured.peaks.to_dict()}, indent=1) + "\n"
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write_text(path, text, own=True)
    except (OSError, GcostError) as e:
        say(f"warning: could not cache the peaks in {path}: {e}")


def cached_peaks(entry: dict[str, Any], key: dict[str, Any]) -> Peaks:
    """A cache entry back into Peaks, every field checked (a hand-edited file is not trusted)."""
    def rate(name: str, optional: bool = False) -> float | None:
        if optional and entry[name] is None:
            return None
        return parse_real(entry[name], low=MIN_RATE, high=MAX_RATE, text=False, what=name)

    def text(name: str) -> str | None:
        if not isinstance(entry[name], (str, type(None))) or len(entry[name] or "") > 2000:
            raise ValueError(f"its {name} is not text")
        return entry[name]

    cache_size = entry["cache_bytes"]
    if cache_size is not None:
        cache_size = parse_int(cache_size, low=1, high=MAX_CACHE_BYTES, text=False, what="cache_bytes")
    if entry["dtype"] != key["dtype"] or entry["threads"] != key["threads"] or entry["source"] != "measured" \
            or not isinstance(entry["measured_at"], str) or not isinstance(entry["device"], str):
        raise ValueError("its entry does not match its key")
    rates = entry["operator_rates"]
    return Peaks(device=entry["device"][:200], dtype=entry["dtype"], threads=entry["threads"],
                 flops_per_s=rate("peak_flops_per_s"), bytes_per_s=rate("peak_bytes_per_s"),
                 cache_bytes_per_s=rate("cache_bytes_per_s", optional=True), cache_bytes=cache_size,
                 source="measured", measured_at=entry["measured_at"][:40], reference=text("reference"),
                 theoretical_flops_per_s=rate("theoretical_flops_per_s", optional=True),
                 theoretical_bytes_per_s=rate("theoretical_bytes_per_s", optional=True),
                 theoretical_reference=text("theoretical_reference"),
                 operators=None if rates is None else OpRates.from_dict(rates))


def cached_recipe(data: Any):
    from .microbench import Recipe

    keys = {"flops_kernel", "matmul_n", "memory_bytes", "mac_scale", "mac_index", "mac_batch"}
    if not isinstance(data, dict) or set(data) != keys:
        raise ValueError(f"its recipe is not {', '.join(sorted(keys))}")
    if data["flops_kernel"] not in ("mm", *MAC_CLASSES):
        raise ValueError("its recipe names no kernel gcost measures")
    scale = data["mac_scale"]
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not (math.isfinite(scale) and 0 < scale <= 1):
        raise ValueError("its recipe's mac_scale is out of range")
    return Recipe(data["flops_kernel"], parse_int(data["matmul_n"], low=1, high=65_536, text=False, what="matmul_n"),
                  parse_int(data["memory_bytes"], low=1, high=2**36, text=False, what="memory_bytes"), float(scale),
                  parse_int(data["mac_index"], low=0, high=7, text=False, what="mac_index"),
                  parse_int(data["mac_batch"], low=1, high=1024, text=False, what="mac_batch"))
