"""Peaks that are not measured here: a shipped datasheet's (googlenet_cost/datasheets.yaml, read by
the bottom module datasheets.py; every figure cited)
and a user's device described in YAML. Every bad field of a user's file is one GcostError naming
the file and the key."""
from __future__ import annotations

from typing import Any

from ..errors import GcostError, did_you_mean, quoted
from ..files import load_yaml, read_text
from ..quantity import NumberError, parse_int, parse_real, shown
from ..datasheets import _datasheets, _rate
from .roofs import DTYPES, Peaks, check_dtype

MAX_CACHE_BYTES = 2**40


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
                 source="datasheet", reference=cited, theoretical_flops_per_s=flops, theoretical_bytes_per_s=bandwidth,
                 theoretical_reference="the datasheet's figures")


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
    """One line of printable text: a newline or another control character would print as a second
    line (a second title) or act on the terminal."""
    if not isinstance(value, str) or not value.strip() or len(value) > limit \
            or not value.strip().replace(" ", "").isprintable():
        raise GcostError(f"key '{key}' must be one line of 1 to {limit} printable characters, got {shown(value)}",
                         file=where)
    return value.strip()
