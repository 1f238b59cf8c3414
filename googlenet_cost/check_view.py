"""Views of a CheckResult: a rich table, Markdown (for $GITHUB_STEP_SUMMARY) and JSON."""
from __future__ import annotations

import json

from .budget import CheckEntry, CheckResult
from .formatters import markdown_table


def _number(metric: str, value: float) -> str:
    return f"{value:,.3f}" if metric == "latency_ms" else f"{round(value):,}"


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


def to_rich(result: CheckResult) -> list:
    """The table and the summary line; only the line when there was nothing to check."""
    from .formatters import rich_table

    if not result.entries:
        return [summary_line(result)]
    return [rich_table(title(result), HEADERS, [_cells(e) for e in result.entries], right={2, 3, 4},
                       styles=[None if e.ok else "bold red" for e in result.entries]), summary_line(result)]


def render(result: CheckResult, fmt: str) -> str | None:
    if fmt == "json":
        return json.dumps(result.to_dict(), indent=2) + "\n"
    if fmt == "markdown":
        icon = "✅" if result.ok else "❌"
        text = f"### {icon} {summary_line(result)}\n\n"
        if result.entries:
            text += markdown_table(HEADERS, [_cells(e) for e in result.entries], {2, 3, 4})
        extra = _grown_lines(result) + result.notes
        return text + ("\n" + "\n".join(f"- {line}" for line in extra) + "\n" if extra else "")
    if fmt == "csv":
        import csv
        import io

        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["spec", "metric", "value", "limit", "ok", "source"])
        writer.writerows([[e.network, e.metric, e.value, e.limit, e.ok, e.source] for e in result.entries])
        return buffer.getvalue()
    return None


def details(result: CheckResult) -> list[str]:
    return _grown_lines(result) + result.notes
