"""Views of a CheckResult: a rich table, Markdown (for $GITHUB_STEP_SUMMARY), JSON, CSV, GitLab's
Code Quality report, and the sentences of GitHub's annotations."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..escaping import json_text, printable
from ..metrics import metric_named
from .fit import Layout, fit
from .formats import FORMATS as REPORT_FORMATS
from .formats import csv_cells, markdown_table

if TYPE_CHECKING:  # cli/check.py reads FORMATS when gcost starts: the gate is imported when it runs
    from ..gate.run import CheckEntry, CheckResult, GrownLayer
    from ..gate.github import Annotation

FORMATS = (*REPORT_FORMATS, "codequality")  # codequality: GitLab's Code Quality report (JSON)


def _name(text: str) -> str:
    """A network's or a layer's name in a sentence or a cell: one line, inert (escaping.printable)."""
    return printable(text, one_line=True)


def _number(metric: str, value: float) -> str:
    return metric_named(metric).format(value)


def _over_limit(entry: CheckEntry) -> str:
    """"+1 (+0.13%)": the value's difference with its limit, absolute and in % of the limit."""
    difference = entry.value - entry.limit
    pct = f"{difference / entry.limit:+.2%}" if entry.limit else ""
    return f"{'+' if difference > 0 else ''}{_number(entry.metric, difference)} ({pct})"


def _growth(entry: CheckEntry) -> str:
    """"+3.00%": the value's growth over the baseline's value ("" without a baseline)."""
    return "" if entry.growth is None else f"{entry.growth:+.2%}"


def _cells(entry: CheckEntry) -> list[str]:
    return [_name(entry.network), entry.metric, _number(entry.metric, entry.value), _number(entry.metric, entry.limit),
            _over_limit(entry), _growth(entry), entry.source, "ok" if entry.ok else "OVER"]


HEADERS = ["spec", "metric", "value", "limit", "value - limit", "vs baseline", "limit from", "result"]
GROWTH = HEADERS.index("vs baseline")


def _columns(result: CheckResult) -> list[int]:
    """The columns a result shows: "vs baseline" only where some value has a baseline."""
    with_baseline = any(entry.baseline is not None for entry in result.entries)
    return [i for i in range(len(HEADERS)) if i != GROWTH or with_baseline]


def _table(result: CheckResult) -> tuple[list[str], list[list[str]]]:
    columns = _columns(result)
    return [HEADERS[i] for i in columns], [[cells[i] for i in columns] for cells in map(_cells, result.entries)]


COUNT_WORDS = {"params": "params", "macs": "MACs", "bytes": "bytes"}


def _change(key: str, before: int, now: int) -> str:
    """"params 750 -> 760 (+1.33%)" (no percentage where the baseline recorded 0)."""
    pct = f" ({now / before - 1:+.2%})" if before else ""
    return f"{COUNT_WORDS[key]} {before:,} -> {now:,}{pct}"


def _grown_layer(network: str, row: GrownLayer) -> str:
    """"net: c1 grew: params 750 -> 760 (+1.33%), bytes ..." naming only the counts that changed
    (a layer that grew in bytes alone says bytes alone); a new layer with all three."""
    if row.before is None:
        return (f"{_name(network)}: new layer {_name(row.layer)} ({row.now.params:,} params, {row.now.macs:,} MACs, "
                f"{row.now.bytes:,} bytes)")
    changes = ", ".join(_change(key, row.before.get(key), row.now.get(key)) for key in row.changed)
    return f"{_name(network)}: {_name(row.layer)} grew: {changes}"


def _grown_lines(result: CheckResult) -> list[str]:
    return [_grown_layer(network, row) for network, rows in result.grown_layers.items() for row in rows]


def accept_command(result: CheckResult) -> str | None:
    """The command that records this run's numbers as the new baseline, as a shell reads it; None
    where there is nothing to accept (no baseline, or nothing grew past it)."""
    import shlex

    if not result.accept or not result.grew:
        return None
    return printable(shlex.join(result.accept), one_line=True)


def _others(result: CheckResult) -> str:
    """" (the lock also records a, b: ...)": the command rewrites the whole lock."""
    if not result.not_checked:
        return ""
    names = ", ".join(_name(name) for name in result.not_checked[:5])
    more = " and more" if len(result.not_checked) > 5 else ""
    return f" (the lock also records {names}{more}: add them, or they leave the lock)"


def accept_line(result: CheckResult) -> str | None:
    """"if the growth is intended, accept it as the new baseline: gcost baseline ... -o gcost.lock.json"."""
    command = accept_command(result)
    if command is None:
        return None
    return f"if the growth is intended, accept it as the new baseline{_others(result)}: {command}"


def _accept_markdown(result: CheckResult) -> str:
    import re

    command = accept_command(result)
    if command is None:
        return ""
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall("`+", command)), default=0))
    return (f"\nIf the growth is intended, accept it as the new baseline{_others(result)}:\n\n"
            f"{fence}sh\n{command}\n{fence}\n")


def _limits(count: int) -> str:
    return f"{count} limit{'' if count == 1 else 's'}"


def summary_line(result: CheckResult) -> str:
    if not result.entries:
        return "gcost check: no limits to check (give --max-*, --budgets, a spec budget: block or --baseline)"
    if result.ok:
        return f"gcost check: ok, {_limits(len(result.entries))} within bounds"
    return f"gcost check: FAILED, {result.failures} of {_limits(len(result.entries))} exceeded"


def title(result: CheckResult) -> str:
    """"gcost check: googlenet, resnet50" (the first few networks checked)."""
    names = list(dict.fromkeys(_name(entry.network) for entry in result.entries))
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    return f"gcost check: {shown}" if shown else "gcost check"


NUMBERS = {"value", "limit", "value - limit", "vs baseline"}
# Left out, in this order, where the terminal is too narrow for the whole table; "spec" only when
# the title names the one network checked. The verdict and the numbers it rests on stay.
LEFT_OUT_FIRST = ("limit from", "value - limit", "vs baseline", "spec")


def _layouts(result: CheckResult) -> list[Layout]:
    """The check table, then without each LEFT_OUT_FIRST column in turn."""
    headers, rows = _table(result)
    styles = [None if entry.ok else "bold red" for entry in result.entries]
    one_network = len({entry.network for entry in result.entries}) == 1
    keep, layouts = list(range(len(headers))), []
    for header in (None, *(h for h in LEFT_OUT_FIRST if h in headers and (h != "spec" or one_network))):
        if header is not None:
            keep.remove(headers.index(header))
        layouts.append(Layout(title(result), [headers[i] for i in keep], [[row[i] for i in keep] for row in rows],
                              {k for k, i in enumerate(keep) if headers[i] in NUMBERS}, styles=styles,
                              left_out=(*layouts[-1].left_out, header) if header else ()))
    return layouts


class FittedTable:
    """The check table fitted (views/fit.py) to the width it is drawn at (rich asks at print time),
    and a line naming the columns left out. `needed_width` is its narrowest: drawn in a narrower
    terminal it wraps there (cli/render.emit), so the result column is never dropped and no
    number is ever cut."""

    def __init__(self, result: CheckResult):
        self.layouts = _layouts(result)
        self.needed_width = self.layouts[-1].width

    def __rich_console__(self, console, options):
        from rich.text import Text

        table = fit(self.layouts, options.max_width)
        yield table
        if table.layout.left_out:
            named = [header + (" (named in the title)" if header == "spec" else "") for header in table.layout.left_out]
            yield Text(f"Left out to fit the terminal: {', '.join(named)}; --format markdown or json has them all.")


def to_rich(result: CheckResult) -> list:
    """The table (fitted to the terminal's width) and the summary line; only the line when there
    was nothing to check."""
    if not result.entries:
        return [summary_line(result)]
    return [FittedTable(result), summary_line(result)]


def render(result: CheckResult, fmt: str) -> str | None:
    if fmt == "json":
        return json_text(result.to_dict())
    if fmt == "codequality":
        return json_text(codequality(result))
    if fmt == "markdown":
        icon = "✅" if result.ok else "❌"
        text = f"### {icon} {summary_line(result)}\n\n"
        if result.entries:
            headers, rows = _table(result)
            text += markdown_table(headers, rows, {i for i, header in enumerate(headers) if header in NUMBERS})
        extra = _grown_lines(result) + result.notes
        text += "\n" + "\n".join(f"- {printable(line, one_line=True)}" for line in extra) + "\n" if extra else ""
        return text + _accept_markdown(result)
    if fmt == "csv":
        import csv
        import io

        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["spec", "metric", "value", "limit", "ok", "source"])
        writer.writerows(csv_cells([e.network, e.metric, e.value, e.limit, e.ok, e.source]) for e in result.entries)
        return buffer.getvalue()
    return None


def details(result: CheckResult) -> list[str]:
    """The warnings under the table (on standard error): grown layers, notes."""
    return _grown_lines(result) + result.notes


def _over_sentence(entry: CheckEntry) -> str:
    """"net: params 760 over its limit 759 by +1 (+0.13%), limit from flag; +3.12% over the
    baseline's 737" (the growth where a baseline records the metric)."""
    text = (f"{_name(entry.network)}: {entry.metric} {_number(entry.metric, entry.value)} over its limit "
            f"{_number(entry.metric, entry.limit)} by {_over_limit(entry)}, limit from {entry.source}")
    if entry.growth is not None:
        text += f"; {_growth(entry)} over the baseline's {_number(entry.metric, entry.baseline)}"
    return text


def annotations(result: CheckResult) -> list[Annotation]:
    """GitHub's annotations of a check: an error per limit exceeded, a warning per layer grown
    (or new) since the baseline, each on the file its network is written in."""
    from ..gate.github import Annotation

    found = [Annotation("error", f"{_name(e.network)} {e.metric} over its limit", _over_sentence(e),
                        result.files.get(e.network))
             for e in result.entries if not e.ok]
    for network, rows in result.grown_layers.items():
        for row in rows:
            what = f"new layer {_name(row.layer)}" if row.before is None else f"layer {_name(row.layer)} grew"
            found.append(Annotation("warning", f"{_name(network)} {what}", _grown_layer(network, row),
                                    result.files.get(network)))
    return found


ERROR_TITLE = "gcost check could not run"


def error_markdown(message: str) -> str:
    """The job summary of a check that could not run (exit 2): the error, so the summary is
    never empty."""
    return (f"### ❌ {ERROR_TITLE} (exit 2)\n\n{printable(message, one_line=True)}\n\n"
            "No limit was checked: fix the problem above and run the check again.\n")


def error_annotation(message: str) -> Annotation:
    """The error annotation of a check that could not run (exit 2), naming the problem."""
    from ..gate.github import Annotation

    return Annotation("error", ERROR_TITLE, message)


def _fingerprint(*parts: str) -> str:
    """A Code Quality issue's identity across runs (GitLab matches a merge request's issues with
    the target branch's by it): what failed, never its numbers."""
    import hashlib

    return hashlib.sha256("\0".join(("gcost", *parts)).encode("utf-8", "surrogatepass")).hexdigest()


def _issue(description: str, check_name: str, fingerprint: str, severity: str, path: str) -> dict:
    return {"description": description, "check_name": check_name, "fingerprint": fingerprint,
            "severity": severity, "location": {"path": path, "lines": {"begin": 1}}}


def codequality(result: CheckResult) -> list[dict]:
    """GitLab's Code Quality report (docs.gitlab.com/ci/testing/code_quality): an issue per limit
    exceeded ("major") and per layer grown or new since the baseline ("minor"), located on the
    file the network is written in (on its name where there is none: a model imported from a
    package). The fingerprint hashes the network and the metric (or the layer): the same
    regression keeps it from one pipeline to the next."""
    def path(network: str) -> str:
        return result.files.get(network) or network

    issues = [_issue(_over_sentence(e), f"gcost/{e.metric}", _fingerprint(e.network, e.metric), "major",
                     path(e.network)) for e in result.entries if not e.ok]
    for network, rows in result.grown_layers.items():
        for row in rows:
            issues.append(_issue(_grown_layer(network, row), "gcost/grown_layer",
                                 _fingerprint(network, "layer", row.layer), "minor", path(network)))
    return issues
