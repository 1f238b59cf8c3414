"""The shipped datasheet table (datasheets.yaml, every figure cited), read and checked once, and the
one bounded reader of a rate ("4.8T", 4.8e12). At the bottom of the house (no torch, nothing above
errors, files and quantity): timing's "% of peak" (timing/stats.py) and the roofline's datasheet
peaks (roofline/readers.py) read one table, and neither imports the other's folder for it."""
from __future__ import annotations

import functools
import re
from types import MappingProxyType
from typing import Any, Mapping

from .errors import GcostError
from .files import load_yaml
from .quantity import NumberError, parse_quantity, parse_real, shown

MAX_RATE = 1e18  # FLOP/s or bytes/s: more is a typo, not a device
MIN_RATE = 1e3  # less is a typo too (and would make bounds overflow to infinity)


def dense_flops(cuda_name: str, dtype: str) -> float | None:
    """The datasheet's dense FLOP/s of a CUDA device by its exact torch.cuda.get_device_name() (an
    H100 NVL is not an H100 SXM, an A10G is not an A10), or None."""
    for entry in _datasheets().values():
        if cuda_name.strip() in entry["cuda_names"] and dtype in entry["flops"]:
            return entry["flops"][dtype][0]
    return None


@functools.lru_cache(maxsize=1)
def _datasheets() -> Mapping[str, Mapping[str, Any]]:
    """datasheets.yaml read with the same checks as a user's file, read-only: {name: {name,
    cuda_names, flops: {dtype: (value, citation)}, bytes: (value, citation)}}."""
    from importlib.resources import files

    where = "googlenet_cost/datasheets.yaml"
    data = load_yaml(files(__package__).joinpath("datasheets.yaml").read_text(encoding="utf-8"), where=where)
    sources, table = data["sources"], {}
    for name, entry in data["devices"].items():
        def cited(figure: dict, key: str) -> tuple[float, str]:
            return _rate(figure["value"], where, f"{name}.{key}"), " ".join(sources[figure["source"]].split())
        flops = {dtype: cited(figure, f"flops_per_s.{dtype}") for dtype, figure in entry["flops_per_s"].items()}
        table[name] = MappingProxyType({"name": entry["name"], "cuda_names": tuple(entry["cuda_names"]),
                                        "flops": MappingProxyType(flops),
                                        "bytes": cited(entry["bytes_per_s"], "bytes_per_s")})
    return MappingProxyType(table)


def _rate(value: Any, where: str, key: str) -> float:
    """A rate from MIN_RATE to MAX_RATE: a number, or a decimal quantity such as "4.8T"."""
    expect = f"key '{key}' must be a number like 4.8e12 or \"4.8T\" (from 1e3 to 1e18), got {shown(value)}"
    try:
        if isinstance(value, str) and re.search(r"[KMGT]\s*$", value.strip(), re.IGNORECASE):
            number = parse_quantity(value, base=1000).value
        else:
            number = parse_real(value, low=0, low_open=True, high=MAX_RATE)
    except NumberError:
        raise GcostError(expect, file=where) from None
    if not MIN_RATE <= number <= MAX_RATE:
        raise GcostError(expect, file=where)
    return number


