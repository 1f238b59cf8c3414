"""The run behind `gcost check` and `gcost baseline` (the command is cli/check.py).

Limits come from (highest precedence first) command-line flags, a budgets file, the spec's own
`budget:` block, and a baseline lock file (its values plus a tolerance). A check compares each
(network, metric) with its limit; any value over its limit is a regression (exit code 1).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Mapping

from ..errors import GcostError, did_you_mean, quoted
from ..files import load_yaml, read_text
from ..options import RunOptions
from ..report import Report
from .lock import LayerCounts, Lock, LockEntry, compare_conditions, compare_latency, read_lock, version_difference
from ..metrics import METRICS, any_timed, any_training, metric_values, parse_limits, parse_tolerance

if TYPE_CHECKING:
    from ..timing.settings import TimingOptions


@dataclass(frozen=True)
class CheckEntry:
    network: str
    metric: str
    value: float
    limit: float
    source: str  # "flag", "budgets", "spec" or "baseline"
    baseline: float | None = None  # the baseline's value of this metric, where a lock records it

    @property
    def ok(self) -> bool:
        return self.value <= self.limit

    @property
    def growth(self) -> float | None:
        """The value's growth over the baseline's, as a fraction (0.03: grown 3%); None without a
        baseline, or where the baseline recorded 0."""
        return self.value / self.baseline - 1 if self.baseline else None

    def to_dict(self) -> dict[str, Any]:
        return {"spec": self.network, "metric": self.metric, "value": self.value, "limit": self.limit,
                "ok": self.ok, "source": self.source, "baseline": self.baseline,
                "over_by": self.value - self.limit,
                "over_by_pct": (self.value - self.limit) / self.limit * 100 if self.limit else None,
                "growth_pct": self.growth * 100 if self.growth is not None else None}


@dataclass(frozen=True)
class GrownLayer:
    """A top-level layer that holds more params, MACs or bytes than the baseline records, or that
    the baseline does not name (`before` None: a new layer)."""
    layer: str
    now: LayerCounts
    before: LayerCounts | None = None

    @property
    def changed(self) -> tuple[str, ...]:
        """The counts that differ from the baseline's (every one for a new layer), in KEYS order."""
        return tuple(key for key in LayerCounts.KEYS
                     if self.before is None or self.now.get(key) != self.before.get(key))

    def to_dict(self) -> dict[str, Any]:
        counts = {"layer": self.layer, "params": self.now.params, "macs": self.now.macs, "bytes": self.now.bytes}
        if self.before is None:
            return {**counts, "new": True}
        return {**counts, "params_before": self.before.params, "macs_before": self.before.macs,
                "bytes_before": self.before.bytes}


@dataclass(frozen=True)
class CheckResult:
    entries: list[CheckEntry]
    grown_layers: dict[str, list[GrownLayer]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    files: dict[str, str | None] = field(default_factory=dict)  # network -> the file it is written in, if any
    baseline: str | None = None  # the lock checked against (--baseline), if any
    baseline_timed: bool = False  # whether the lock records any latency
    not_checked: tuple[str, ...] = ()  # networks the lock records that this check did not run
    options: RunOptions | None = None  # what the run measured (a training limit makes it a training step)
    accept: tuple[str, ...] = ()  # the command (argv) that records this run's numbers as the baseline

    @property
    def grew(self) -> bool:
        """Whether anything grew past the baseline: a layer, or a metric whose limit it sets."""
        return bool(self.grown_layers) or any(not e.ok and e.source == "baseline" for e in self.entries)

    @property
    def ok(self) -> bool:
        return all(entry.ok for entry in self.entries)

    @property
    def failures(self) -> int:
        """How many limits were exceeded."""
        return sum(not entry.ok for entry in self.entries)

    @property
    def return_code(self) -> int:
        """0 when every metric is within its limit, 1 for a regression (usage errors are 2)."""
        return 0 if self.ok else 1

    def to_dict(self) -> dict[str, Any]:
        return {"schema": 1, "ok": self.ok, "entries": [e.to_dict() for e in self.entries],
                "grown_layers": {network: [row.to_dict() for row in rows]
                                 for network, rows in self.grown_layers.items()},
                "notes": self.notes}


def load_budgets_file(path: str) -> dict[str, dict[str, float]]:
    """budgets.yaml: {<spec name>: {max_params: 7.1M, ...}, ...}."""
    data = load_yaml(read_text(path), where=path)
    if not isinstance(data, dict):
        raise GcostError("a budgets file maps spec names to budgets, like googlenet: {max_params: 7.1M}",
                         file=path)
    for name in data:  # a name of digits reads as an int; a huge or non-scalar key is no name
        if (isinstance(name, bool) or not isinstance(name, (str, int))
                or (isinstance(name, int) and name.bit_length() > 256) or len(str(name)) > 80):
            raise GcostError(f"a budgets file is keyed by spec names, got {quoted(name)}", file=path)
    return {str(name): parse_limits(limits or {}, where=f"{path}: {name}") for name, limits in data.items()}


def check_reports(reports: dict[str, Report], *, limits_by_source: list[tuple[str, dict[str, dict[str, float]]]],
                  lock: Lock | None, tolerance: float, latency_tolerance: float,
                  lock_path: str = "the baseline", allow_new: bool = False,
                  latency_asked: bool = False) -> CheckResult:
    """Compare every report with the first source that sets each metric's limit. With a baseline,
    every network checked must be in it (unless allow_new) and measured under its conditions."""
    entries: list[CheckEntry] = []
    grown: dict[str, list[GrownLayer]] = {}
    notes: list[str] = []
    for name, report in reports.items():
        values = metric_values(report)
        locked = lock.specs.get(name) if lock else None
        if lock is not None and locked is None and not allow_new:
            raise GcostError(f"{name}: not in the baseline (new, or renamed?): record it with gcost baseline, "
                             "or pass --allow-new to check it against its other limits only", file=lock_path)
        if locked is not None:
            compare_conditions(name, report, locked, lock_path)
            compare_latency(name, report, locked, lock_path, latency_asked)
        found = []
        for metric in METRICS:
            allowed = latency_tolerance if metric.timed else tolerance
            entry = _entry(name, metric.key, values, limits_by_source, locked, allowed, metric.timed)
            if entry is not None:
                found.append(entry)
        entries += found
        if lock is not None and locked is None:
            notes.append(f"{name}: not in the baseline (--allow-new): " + (
                "checked against its other limits only" if found else "no other limit applies, so none of it "
                                                                         "is checked"))
        if locked:
            grown_rows = _grown_layers(report, locked)
            if grown_rows:
                grown[name] = grown_rows
    recorded = lock.specs if lock else {}
    return CheckResult(entries, grown, notes, baseline=lock_path if lock else None,
                       baseline_timed=lock is not None and lock.timed,
                       not_checked=tuple(name for name in recorded if name not in reports))


def _entry(name: str, metric: str, values: dict[str, float], sources, locked, tolerance: float,
           timed: bool) -> CheckEntry | None:
    """The first source's limit on `metric` (a timed metric's limit is widened by its tolerance:
    timing is noisy), else the baseline's value plus the tolerance; None where neither sets one.
    The baseline's value is kept either way, for the growth against it."""
    if metric not in values:
        return None
    # for a timed metric, compare_latency refused a baseline timed on another kind of device
    base = locked.metrics.get(metric) if locked else None
    for source, limits in sources:
        if metric in limits.get(name, {}):
            limit = limits[name][metric]
            if timed:
                limit *= 1 + tolerance
            return CheckEntry(name, metric, values[metric], limit, source, base)
    if base is not None:
        return CheckEntry(name, metric, values[metric], base * (1 + tolerance), "baseline", base)
    return None


def _grown_layers(report: Report, locked: LockEntry) -> list[GrownLayer]:
    before = locked.layers
    grown = []
    for row in report.layers:
        if row.parent is not None:
            continue
        now = LayerCounts(row.params, row.macs, row.bytes)
        old = before.get(row.name)
        if old is None:
            grown.append(GrownLayer(row.name, now))
            continue
        if any(now.get(key) > old.get(key) for key in LayerCounts.KEYS):
            grown.append(GrownLayer(row.name, now, old))
    return grown


def gate_timing(device: str, options: RunOptions) -> TimingOptions:
    """How check and baseline time: at the run's batch, on `device`; the run's RunOptions says
    whether a training step is timed (as when the lock records one)."""
    from ..timing.settings import TimingOptions

    return TimingOptions(device=device, batches=(options.batch,))


def options_for(limited: set[str] | Mapping[str, Any], options: RunOptions) -> RunOptions:
    """The run a check of these metrics needs: a training step (with the options' optimizer) when
    any of them is a training step's, else the run as the options say."""
    return replace(options, step="train") if any_training(limited) and not options.training else options


def run_check(sources: list, options: RunOptions, *, flags: Mapping[str, Any], budgets_path: str | None = None,
              baseline_path: str | None = None, tolerance: str = "0%", latency_tolerance: str = "10%",
              with_latency: bool = False, allow_new: bool = False, allow_empty: bool = False,
              strict_versions: bool = False, device: str = "auto") -> CheckResult:
    """Analyze every source (see sources.open_sources) and check it against its limits. A limit on
    a training-step metric makes the run a training step; one on a timed metric (or
    `with_latency`) times it, on `device`. A check that compares no value with any limit (none
    given, or a baseline that names none of the networks, with allow_new) could never fail: it is
    an error unless `allow_empty`. A baseline recorded by another gcost or torch is a note (counts
    can differ for that alone), an error with `strict_versions`."""
    from ..analysis import analyze

    keys = [source.key for source in sources]
    allowed_growth = parse_tolerance(tolerance)
    allowed_latency = parse_tolerance(latency_tolerance, what="--latency-tolerance")
    flag_limits = parse_limits(flags, where="command line")
    file_limits = load_budgets_file(budgets_path) if budgets_path else {}
    for key in file_limits:
        if key not in keys:
            raise GcostError(f"'{key}' is none of the specs checked ({', '.join(keys)})"
                             f"{did_you_mean(key, keys)}", file=budgets_path)
    spec_limits = {source.key: parse_limits(source.budget, where=source.name) for source in sources}
    lock = read_lock(baseline_path) if baseline_path else None
    versions = version_difference(lock) if lock else None
    if versions and strict_versions:
        raise GcostError(f"--strict-versions: the baseline was recorded with {versions}: record it again with "
                         "gcost baseline, or check with the versions that recorded it", file=baseline_path)
    limit_sources = [("flag", {key: flag_limits for key in keys}), ("budgets", file_limits), ("spec", spec_limits)]
    limited = {metric for _, by_key in limit_sources for limits in by_key.values() for metric in limits}
    options = options_for(limited, options).with_timing(gate_timing(device, options) if with_latency or any_timed(limited) else None)
    reports = {source.key: analyze(source, options) for source in sources}
    if not limited and lock is None and not allow_empty:  # after the analysis: a broken spec says so first
        raise GcostError("no limits to check: give --max-*, --budgets, a spec budget: block or --baseline "
                         "(--allow-empty passes a check without limits)")
    result = check_reports(reports, limits_by_source=limit_sources, lock=lock,
                           tolerance=allowed_growth, latency_tolerance=allowed_latency,
                           lock_path=baseline_path or "the baseline", allow_new=allow_new,
                           latency_asked=with_latency)
    if not result.entries and not allow_empty:
        raise GcostError("no limits to check: the baseline names none of the networks checked (--allow-new) and "
                         "no --max-*, --budgets or spec budget: block sets a limit on them; such a check never "
                         "fails (--allow-empty passes it)", file=baseline_path)
    notes = result.notes
    if versions:
        notes = [f"the baseline was recorded with {versions}: counts can differ for that alone (record it again "
                 "with gcost baseline; --strict-versions makes this an error)", *notes]
    return replace(result, notes=notes, options=options, files={source.key: written_in(source) for source in sources})


def written_in(source: Any) -> str | None:
    """The file a network is written in, as it was given (a spec's path, the file.py of a
    path/to/file.py:factory), when it names one: annotations and code-quality issues point at it."""
    import os

    name = str(source.name)
    for candidate in (name, name.rpartition(":")[0]):
        if candidate and os.path.isfile(candidate):
            return candidate
    return None


def run_baseline(sources: list, options: RunOptions, *, with_latency: bool = False,
                 device: str = "auto") -> dict[str, Report]:
    """Every source analyzed as `gcost baseline` records it (see lock.lock_document), timed on
    `device` with `with_latency`."""
    from ..analysis import analyze

    options = options.with_timing(gate_timing(device, options) if with_latency else None)
    return {source.key: analyze(source, options) for source in sources}
