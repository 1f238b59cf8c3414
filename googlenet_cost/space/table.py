"""A device's latency table: what one entry is, its key, and the open file it travels in.

An entry is one layer configuration (or one whole network: the calibration, a candidate) timed under
stated conditions: the layer as data (its type and every key that changes what it builds: names,
paper figures and roles do not) with its input shape, the batch, dtype, threads, the device's
identity and torch's version. Its key is a digest of all of that, so an entry is found again by
anyone who times the same thing the same way, on any machine of the same kind.

The file (`gcost table export`, `gcost table import`; docs/sweep.md): JSON,
`{"schema": "gcost.latency-table/1", "entries": [{kind, layer, device, torch, dtype, threads, batch,
median_ms, iqr_ms, count, measured_at}, ...]}`; every field of an imported entry is checked, since
the file may come from anyone. No torch here."""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Iterable, Mapping

from ..errors import GcostError, quoted
from ..spec.layers import Layer
from ..timing.stats import UNSTABLE_IQR  # the same 5% that calls a run unstable
from .candidates import Unit

SCHEMA = "gcost.latency-table/1"
# a unit timed alone; the sweep's base network (its per-network calibration); a candidate timed end to end
KINDS = ("layer", "network", "candidate")
MAX_ENTRIES = 1_000_000
MAX_FILE_BYTES = 500_000_000  # an exported table: a network entry holds its whole network (tens of kB)
MAX_CONFIG_CHARS = 1_000_000
MAX_TEXT = 300
MAX_MS = 1e9
SKIPPED = ("name", "paper")  # a layer's fields that change nothing it builds


def layer_config(layer: Layer) -> dict[str, Any]:
    """The layer as plain data: its type and every field that takes part in equality (a role does
    not), children included, without names or paper figures."""
    config: dict[str, Any] = {"type": layer.type_name}
    for item in fields(layer):
        if item.compare and item.name not in SKIPPED:
            config[item.name] = _plain(getattr(layer, item.name))
    return config


def _plain(value: Any) -> Any:
    if isinstance(value, Layer):
        return layer_config(value)
    if is_dataclass(value) and not isinstance(value, type):
        return {item.name: _plain(getattr(value, item.name)) for item in fields(value)}
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


def unit_config(unit: Unit) -> dict[str, Any]:
    layer, in_shape = unit
    return {"layer": layer_config(layer), "input": list(in_shape)}


def network_config(units: Iterable[Unit]) -> dict[str, Any]:
    """A whole network as the units it runs, in order (what a calibration entry is of)."""
    return {"network": [unit_config(unit) for unit in units]}


@dataclass(frozen=True)
class Conditions:
    """How a table's entries were timed: they apply to nothing timed otherwise."""

    device: str  # the device's identity: the CPU's model and count, or the GPU's name
    torch: str
    dtype: str
    threads: int | None  # CPU threads (None on a GPU)
    batch: int

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.device, "torch": self.torch, "dtype": self.dtype, "threads": self.threads,
                "batch": self.batch}


def entry_key(kind: str, config: Mapping[str, Any], conditions: Conditions) -> str:
    """sha256 of the canonical JSON of what was timed and how."""
    text = json.dumps({"kind": kind, "config": config, **conditions.to_dict()}, sort_keys=True,
                      separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()




@dataclass(frozen=True)
class Timed:
    """One configuration timed: the median and interquartile range of `count` timed iterations."""

    median_ms: float
    iqr_ms: float
    count: int
    warnings: tuple[str, ...] = field(default=(), compare=False)  # the timing's own (not stored)

    @property
    def unsteady(self) -> bool:
        return self.iqr_ms > UNSTABLE_IQR * self.median_ms


@dataclass(frozen=True)
class Entry:
    kind: str
    config: Mapping[str, Any]
    conditions: Conditions
    timed: Timed
    measured_at: str  # ISO 8601, UTC

    @property
    def key(self) -> str:
        return entry_key(self.kind, self.config, self.conditions)

    def to_dict(self) -> dict[str, Any]:
        """One entry of the exported file."""
        return {"kind": self.kind, **self.config, **self.conditions.to_dict(), "median_ms": self.timed.median_ms,
                "iqr_ms": self.timed.iqr_ms, "count": self.timed.count, "measured_at": self.measured_at}


def table_document(entries: Iterable[Entry]) -> str:
    return json.dumps({"schema": SCHEMA, "entries": [entry.to_dict() for entry in entries]}, indent=1,
                      allow_nan=False) + "\n"


def read_table(text: str, where: str) -> list[Entry]:
    """The entries of an exported table, every field checked; a GcostError naming the entry otherwise."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise GcostError(f"not a latency table (JSON): {str(e)[:200]}", file=where) from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or not isinstance(data.get("entries"), list):
        raise GcostError(f"not a latency table: expected {{\"schema\": \"{SCHEMA}\", \"entries\": [...]}}", file=where)
    if len(data["entries"]) > MAX_ENTRIES:
        raise GcostError(f"{len(data['entries']):,} entries, more than {MAX_ENTRIES:,}", file=where)
    entries = []
    for number, item in enumerate(data["entries"]):
        try:
            entries.append(_entry(item))
        except KeyError as e:
            raise GcostError(f"entry {number}: it has no {quoted(e.args[0])}", file=where) from None
        except (ValueError, TypeError) as e:
            raise GcostError(f"entry {number}: {e}", file=where) from None
    return entries


def _entry(item: Any) -> Entry:
    if not isinstance(item, dict):
        raise ValueError("an entry must be an object")
    kind = item["kind"]
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {quoted(kind)}")
    config = {"layer": item["layer"], "input": item["input"]} if kind == "layer" else {"network": item["network"]}
    if kind == "layer" and (not isinstance(item["layer"], dict) or not _shape(item["input"])):
        raise ValueError("a layer entry needs 'layer' (an object) and 'input' (a list of sizes)")
    if kind != "layer" and not isinstance(item["network"], list):
        raise ValueError("a network entry needs 'network' (a list of layer entries)")
    if len(json.dumps(config, allow_nan=False)) > MAX_CONFIG_CHARS:
        raise ValueError(f"its configuration is longer than {MAX_CONFIG_CHARS:,} characters")
    threads = item["threads"]
    if threads is not None and not _whole(threads, 1, 1 << 20):
        raise ValueError(f"threads must be a whole number from 1 or null, got {quoted(threads)}")
    if not _whole(item["batch"], 1, 1 << 40):
        raise ValueError(f"batch must be a whole number of at least 1, got {quoted(item['batch'])}")
    if not _whole(item["count"], 1, 1 << 40):
        raise ValueError(f"count must be a whole number of at least 1, got {quoted(item['count'])}")
    for name in ("median_ms", "iqr_ms"):
        value = item[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not 0 <= value <= MAX_MS or (name == "median_ms" and value == 0):
            raise ValueError(f"{name} must be a finite number of milliseconds (median above 0), got {quoted(value)}")
    conditions = Conditions(device=_text(item, "device"), torch=_text(item, "torch"), dtype=_text(item, "dtype"),
                            threads=threads, batch=item["batch"])
    return Entry(kind, config, conditions, Timed(float(item["median_ms"]), float(item["iqr_ms"]), item["count"]),
                 _text(item, "measured_at"))


def _text(item: dict, name: str) -> str:
    value = item[name]
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
        raise ValueError(f"{name} must be text of 1 to {MAX_TEXT} characters, got {quoted(value)}")
    return value


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _shape(value: Any) -> bool:
    return isinstance(value, list) and 0 < len(value) <= 8 and all(_whole(size, 1, 1 << 40) for size in value)
