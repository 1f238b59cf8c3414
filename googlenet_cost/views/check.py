"""Views of a CheckResult: a rich table, Markdown (for $GITHUB_STEP_SUMMARY) and JSON."""
from __future__ import annotations

import json

from ..gate.check import CheckEntry, CheckResult
from ..gate.metrics import metric_named
from .report import csv_cells, markdown_table, printable


def _number(metric: str, value: float) -> str:
    return metric_named(metric).format(value)


def _cells(entry: CheckEntry) -> list[str]:
    difference = entry.value - entry.limit
    pct = f"{difference / entry.limit:+.2%}" if entry.limit else ""
    return [entry.network, entry.metric, _number(entry.metric, entry.value), _number(entry.metric, entry.limit),
            f"{'+' if difference > 0 else ''}{_number(entry.metric, difference)} ({pct})", entry.source,
            "ok" if entry.ok else "OVER"]


HEADERS = ["spec", "metric", "value", "limit", "value - limit", "limit from", "result"]


def _grown_lines(result: CheckResult) -> list[str]:
    lines = []
    for network, rows in result.grown_layers.items():
        for row in rows:
            if row.get("new"):
                lines.append(f"{network}: new layer {row['layer']} ({row['params']:,} params, {row['macs']:,} MACs)")
            else:
                lines.append(f"{network}: {row['layer']} grew: params {row['params_before']:,} -> {row['params']:,}, "
                             f"MACs {row['macs_before']:,} -> {row['macs']:,}")
    return lines


def summary_line(result: CheckResult) -> str:
    over = [e for e in result.entries if not e.ok]
    if not result.entries:
        return "gcost check: no limits to check (give --max-*, --budgets, a spec budget: block or --baseline)"
    if not over:
        return f"gcost check: ok, {len(result.entries)} limits within bounds"
    return f"gcost check: FAILED, {len(over)} of {len(result.entries)} limits exceeded"


def title(result: CheckResult) -> str:
    """"gcost check: googlenet, resnet50" (the first few networks checked)."""
    names = list(dict.fromkeys(entry.network for entry in result.entries))
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    return f"gcost check: {shown}" if shown else "gcost check"


NUMBERS = {"value", "limit", "value - limit"}
# Left out, in this order, where the terminal is too narrow for the whole table; "spec" only when
# the title names the one network checked. The verdict and the numbers it rests on stay.
LEFT_OUT_FIRST = ("limit from", "value - limit", "spec")


class FittedTable:
    """The check table fitted to the width it is drawn at (rich asks at print time): columns in
    LEFT_OUT_FIRST order are left out until it fits, and a line says which. `needed_width` is
    its narrowest: drawn in a narrower terminal it wraps there (cli/render.emit), so the result
    column is never dropped and no number is ever cut."""

    def __init__(self, result: CheckResult):
        self.result = result
        self.rows = [_cells(e) for e in result.entries]
        self.needed_width = self._width(self._fit(0)[0])

    def _width(self, keep: list[int]) -> int:
        from .report import table_width

        return table_width([HEADERS[i] for i in keep], [[row[i] for i in keep] for row in self.rows])

    def _fit(self, width: int) -> tuple[list[int], list[str]]:
        keep, left_out = list(range(len(HEADERS))), []
        one_network = len({entry.network for entry in self.result.entries}) == 1
        for header in LEFT_OUT_FIRST:
            if self._width(keep) <= width or (header == "spec" and not one_network):
                break
            keep.remove(HEADERS.index(header))
            left_out.append(header)
        return keep, left_out

    def __rich_console__(self, console, options):
        from rich.text import Text

        from .report import rich_table

        keep, left_out = self._fit(options.max_width)
        yield rich_table(title(self.result), [HEADERS[i] for i in keep], [[row[i] for i in keep] for row in self.rows],
                         right={k for k, i in enumerate(keep) if HEADERS[i] in NUMBERS},
                         styles=[None if e.ok else "bold red" for e in self.result.entries])
        if left_out:
            named = [header + (" (named in the title)" if header == "spec" else "") for header in left_out]
            yield Text(f"Left out to fit the terminal: {', '.join(named)}; --format markdown or json has them all.")


def to_rich(result: CheckResult) -> list:
    """The table (fitted to the terminal's width) and the summary line; only the line when there
    was nothing to check."""
    if not result.entries:
        return [summary_line(result)]
    return [FittedTable(result), summary_line(result)]


def render(result: CheckResult, fmt: str) -> str | None:
    if fmt == "json":
        return json.dumps(result.to_dict(), indent=2) + "\n"
    if fmt == "markdown":
        icon = "✅" if result.ok else "❌"
        text = f"### {icon} {summary_line(result)}\n\n"
        if result.entries:
            text += markdown_table(HEADERS, [_cells(e) for e in result.entries], {2, 3, 4})
        extra = _grown_lines(result) + result.notes
        return text + ("\n" + "\n".join(f"- {printable(line, one_line=True)}" for line in extra) + "\n"
                       if extra else "")
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
    return _grown_lines(result) + result.notes
