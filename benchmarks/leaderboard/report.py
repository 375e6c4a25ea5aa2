"""The leaderboard page: ``leaderboard.md`` and a self-contained ``leaderboard.html`` from ``results.jsonl``.

Per task, agents are ranked by the task's first metric; every score is the mean over seeds with the
half-width of its 95% confidence interval (Student's t over the seeds; none with a single seed). The HTML page
has sortable tables (a click on a heading sorts by that column), the learning curves and a throughput chart
as embedded PNG images (matplotlib), the suite definition and the environment it ran on; it loads nothing
from outside the file.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.leaderboard.suites import Suite

__all__ = ["PAIRED_BASELINE", "agent_colours", "curves_figure", "mean_ci", "paired", "render_html", "render_markdown",
           "summarise", "write_reports"]

NAMES = {"bleu": "BLEU", "chrf": "chrF", "chrf++": "chrF++", "ter": "TER", "pass@1": "pass@1", "slot": "slot acc."}
# two-sided 95% critical values of Student's t by degrees of freedom (beyond 30: the normal's 1.96)
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
         11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093,
         20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048,
         29: 2.045, 30: 2.042}


def mean_ci(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and the half-width of its 95% confidence interval (None for fewer than two values).

    Example:
        >>> mean, half = mean_ci([1.0, 2.0, 3.0])
        >>> mean, round(half, 3)
        (2.0, 2.484)
    """
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, None
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, _T975.get(n - 1, 1.96) * sd / math.sqrt(n)


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def summarise(records: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per task, one row per agent (ranked): metric means and CIs, seeds, throughput, wall time, curve."""
    cells: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        cells[record["task"]][record["agent"]].append(record)
    tables = {}
    for task, by_agent in cells.items():
        rows = []
        for agent, runs in by_agent.items():
            runs = sorted(runs, key=lambda r: r["seed"])
            metrics = list(runs[0]["scores"])
            rows.append({
                "agent": agent, "seeds": [r["seed"] for r in runs], "primary": runs[0]["primary_metric"],
                "metrics": {m: mean_ci([r["scores"][m] for r in runs]) for m in metrics},
                "train_tokens": _mean([r["budget"]["trained_tokens"] + r["budget"].get("warm_start_tokens", 0)
                                       for r in runs]),
                "train_tps": _mean([r["tokens_per_s"]["train"] for r in runs]),
                "eval_tps": _mean([r["tokens_per_s"]["eval"] for r in runs]),
                "wall_s": _mean([r["timing"]["wall_s"] for r in runs]),
                "curves": [r["curve"] for r in runs if r.get("curve")],
                "signatures": runs[0]["signatures"],
            })
        rows.sort(key=lambda row: (-row["metrics"][row["primary"]][0], row["agent"]))
        for i, row in enumerate(rows):  # competition ranking: ties share the better rank
            same = i and rows[i - 1]["metrics"][row["primary"]][0] == row["metrics"][row["primary"]][0]
            row["rank"] = rows[i - 1]["rank"] if same else i + 1
        tables[task] = rows
    return tables


PAIRED_BASELINE = "sft"
"""The agent every other one is compared with seed by seed (the warm start of ``ppo``, ``grpo`` and ``sb3-ppo``)."""


def paired(records: Sequence[dict[str, Any]], baseline: str = PAIRED_BASELINE) -> dict[str, list[dict[str, Any]]]:
    """Per task, each other agent's score minus ``baseline``'s on the seeds both ran, with its 95% interval.

    A row: ``agent``, the common ``seeds``, ``metrics`` (metric -> :func:`mean_ci` of the per-seed differences),
    ``differences`` (metric -> the per-seed differences, in seed order) and ``ahead`` (seeds on which the agent's
    primary metric is above the baseline's). Tasks without the baseline, and agents sharing no seed with it, are
    left out; rows are ordered by the mean difference of the primary metric, largest first.
    """
    scores: dict[str, dict[str, dict[int, dict[str, Any]]]] = defaultdict(lambda: defaultdict(dict))
    for record in records:
        scores[record["task"]][record["agent"]][record["seed"]] = record
    out: dict[str, list[dict[str, Any]]] = {}
    for task, by_agent in scores.items():
        if baseline not in by_agent:
            continue
        reference, rows = by_agent[baseline], []
        for agent, runs in by_agent.items():
            seeds = sorted(set(runs) & set(reference))
            if agent == baseline or not seeds:
                continue
            primary = runs[seeds[0]]["primary_metric"]
            metrics = [m for m in runs[seeds[0]]["scores"] if m in reference[seeds[0]]["scores"]]
            differences = {m: [runs[s]["scores"][m] - reference[s]["scores"][m] for s in seeds] for m in metrics}
            rows.append({"agent": agent, "seeds": seeds, "primary": primary, "differences": differences,
                         "metrics": {m: mean_ci(d) for m, d in differences.items()},
                         "ahead": sum(d > 0 for d in differences[primary])})
        rows.sort(key=lambda row: (-row["metrics"][row["primary"]][0], row["agent"]))
        if rows:
            out[task] = rows
    return out


_PAIRED_TEXT = ("Each agent minus {baseline} on the seeds both ran: the mean of the per-seed differences ± the "
                "half-width of its 95% confidence interval (Student's t). An agent warm-started from the {baseline} "
                "cell of the same seed shares that seed's warm start, so this interval measures its gain better "
                "than the overlap of the two agents' own intervals, which both carry the warm start's spread.")


def _overall(tables: dict[str, list[dict[str, Any]]]) -> list[tuple[int, str, float, int]]:
    ranks: dict[str, list[int]] = defaultdict(list)
    for rows in tables.values():
        for row in rows:
            ranks[row["agent"]].append(row["rank"])
    ordered = sorted(((sum(r) / len(r), agent, len(r)) for agent, r in ranks.items()))
    out, previous = [], None
    for i, (mean_rank, agent, count) in enumerate(ordered):
        rank = out[-1][0] if previous == mean_rank else i + 1
        out.append((rank, agent, mean_rank, count))
        previous = mean_rank
    return out


def _fmt(value: tuple[float, float | None]) -> str:
    mean, half = value
    return f"{mean:.1f}" if half is None else f"{mean:.1f} ± {half:.1f}"


def _fmt_signed(value: tuple[float, float | None]) -> str:
    mean, half = value
    return f"{mean:+.1f}" if half is None else f"{mean:+.1f} ± {half:.1f}"


def _num(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _header(records: Sequence[dict[str, Any]], suite: dict[str, Any] | None) -> dict[str, Any]:
    first = records[0]
    seeds = sorted({r["seed"] for r in records})
    return {"suite": first["suite"], "version": first.get("suite_version"), "fingerprint": first["suite_fingerprint"],
            "description": (suite or {}).get("description", ""), "seeds": seeds,
            "model": first.get("model"), "decoding": first.get("decoding"),
            "env": {k: first.get(k) for k in ("versions", "hardware", "git_commit", "git_dirty")},
            "tasks": {t["name"]: t for t in (suite or {}).get("tasks", [])}}


def _task_heading(task: str, rows: list[dict[str, Any]], records: Sequence[dict[str, Any]]) -> str:
    record = next(r for r in records if r["task"] == task)
    return (f"{task}: {NAMES.get(rows[0]['primary'], rows[0]['primary'])} on {record['eval_episodes']} "
            f"{record['eval_split']} episodes ({record['env_id']})")


def render_markdown(records: Sequence[dict[str, Any]], suite: dict[str, Any] | None = None) -> str:
    """The leaderboard as Markdown."""
    head, tables = _header(records, suite), summarise(records)
    lines = [f"# Leaderboard: {head['suite']}", "",
             f"Suite version {head['version']}, fingerprint `{head['fingerprint']}`. {head['description']}".strip(), "",
             f"Model `{head['model']}`, {head['decoding']} decoding, seeds {', '.join(map(str, head['seeds']))}. "
             "Scores are means over seeds ± the half-width of the 95% confidence interval (Student's t; none with "
             "one seed); agents are ranked by each task's first metric. Trained tokens: warm start plus learn(); "
             "learn tokens/s: learn() alone; eval tokens/s: greedy decoding of the test episodes.", "",
             "## Overall", "", "| rank | agent | mean rank | tasks |", "|---:|---|---:|---:|"]
    lines += [f"| {rank} | {agent} | {mean_rank:.2f} | {count} |" for rank, agent, mean_rank, count in _overall(tables)]
    for task, rows in tables.items():
        metrics = list(rows[0]["metrics"])
        lines += ["", f"## {_task_heading(task, rows, records)}", "",
                  "| rank | agent | " + " | ".join(NAMES.get(m, m) for m in metrics)
                  + " | seeds | trained tokens | learn tokens/s | eval tokens/s | wall s |",
                  "|---:|---|" + "---:|" * len(metrics) + "---:|---:|---:|---:|---:|"]
        for row in rows:
            lines.append(f"| {row['rank']} | {row['agent']} | " + " | ".join(_fmt(row["metrics"][m]) for m in metrics)
                         + f" | {len(row['seeds'])} | {_num(row['train_tokens'])} | {_num(row['train_tps'])} | "
                         f"{_num(row['eval_tps'])} | {_num(row['wall_s'], 1)} |")
    comparisons = paired(records)
    if comparisons:
        lines += ["", f"## Against {PAIRED_BASELINE}, seed by seed", "", _PAIRED_TEXT.format(baseline=PAIRED_BASELINE)]
    for task, rows in comparisons.items():
        metrics = list(rows[0]["metrics"])
        lines += ["", f"### {task}", "", "| agent | " + " | ".join(f"Δ {NAMES.get(m, m)}" for m in metrics)
                  + " | seeds ahead |", "|---|" + "---:|" * (len(metrics) + 1)]
        lines += [f"| {row['agent']} | " + " | ".join(_fmt_signed(row["metrics"][m]) for m in metrics)
                  + f" | {row['ahead']} of {len(row['seeds'])} |" for row in rows]
    lines += ["", "## Metric signatures", ""]
    for task, rows in tables.items():
        for metric, signature in rows[0]["signatures"].items():
            lines.append(f"- {task} {NAMES.get(metric, metric)}: `{signature}`")
    env = head["env"]
    lines += ["", "## Environment", "", f"- git commit: `{env['git_commit']}`" + (" (uncommitted changes)"
                                                                               if env["git_dirty"] else ""),
              "- hardware: " + ", ".join(f"{k} {v}" for k, v in (env["hardware"] or {}).items() if v is not None),
              "- versions: " + ", ".join(f"{k} {v}" for k, v in (env["versions"] or {}).items()), ""]
    return "\n".join(lines)


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def agent_colours(tables: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    """One colour per agent, the same in every plot of the page (matplotlib's tab10, agents in name order)."""
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
               "#17becf"]
    agents = sorted({row["agent"] for rows in tables.values() for row in rows})
    return {agent: palette[i % len(palette)] for i, agent in enumerate(agents)}


def _mean_curve(row: dict[str, Any]) -> tuple[list[float], list[float]]:
    length = min(len(c) for c in row["curves"])
    xs = [sum(c[j][0] for c in row["curves"]) / len(row["curves"]) for j in range(length)]
    ys = [sum(c[j][1] for c in row["curves"]) / len(row["curves"]) for j in range(length)]
    return xs, ys


def curves_figure(tables: dict[str, list[dict[str, Any]]]) -> Any:
    """The learning-curve figure (None without curves), one column per task.

    Above: every agent's validation score against training tokens. Below, where agents train on top of a warm start
    (their curve starts past 0 tokens): those curves alone on their own scale, so an RL stage's change is visible
    next to the warm start's rise.
    """
    from matplotlib.figure import Figure

    panels = [(task, rows) for task, rows in tables.items() if any(row["curves"] for row in rows)]
    if not panels:
        return None
    colours = agent_colours(tables)
    staged = any(row["curves"] and _mean_curve(row)[0][0] > 0 for _, rows in panels for row in rows)
    figure = Figure(figsize=(4.2 * len(panels), 3.2 * (2 if staged else 1)), layout="constrained")
    for i, (task, rows) in enumerate(panels):
        metric = f"{NAMES.get(rows[0]['primary'], rows[0]['primary'])} (validation)"
        axes = figure.add_subplot(2 if staged else 1, len(panels), i + 1)
        zoom = figure.add_subplot(2, len(panels), len(panels) + i + 1) if staged else None
        for row in rows:
            if not row["curves"]:
                continue
            xs, ys = _mean_curve(row)
            axes.plot(xs, ys, marker="o", label=row["agent"], color=colours[row["agent"]])
            if zoom is not None and xs[0] > 0:
                zoom.plot(xs, ys, marker="o", label=row["agent"], color=colours[row["agent"]])
        axes.set_title(task)
        axes.set_xlabel("training tokens")
        axes.set_ylabel(metric)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
        if zoom is not None:
            zoom.set_title(f"{task}: from the warm start, own scale")
            zoom.set_xlabel("training tokens")
            zoom.set_ylabel(metric)
            zoom.grid(alpha=0.3)
            if zoom.lines:
                zoom.legend(fontsize=8)
    return figure


def curves_png(tables: dict[str, list[dict[str, Any]]]) -> str | None:
    """:func:`curves_figure` as a base64 PNG."""
    figure = curves_figure(tables)
    return None if figure is None else _png(figure)


def throughput_png(tables: dict[str, list[dict[str, Any]]]) -> str | None:
    """Training and evaluation tokens/s per agent and task (log scale), in each agent's colour; base64 PNG."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    colours = agent_colours(tables)
    bars = [(row["agent"], f"{row['agent']} / {task}", row["train_tps"], row["eval_tps"])
            for task, rows in tables.items() for row in rows if row["train_tps"] or row["eval_tps"]]
    if not bars:
        return None
    figure = Figure(figsize=(7.5, 0.32 * len(bars) + 1.2))
    axes = figure.add_subplot(1, 1, 1)
    positions = range(len(bars))
    agent_colour = [colours[b[0]] for b in bars]
    axes.barh([p + 0.2 for p in positions], [b[2] or 0 for b in bars], height=0.4, color=agent_colour)
    axes.barh([p - 0.2 for p in positions], [b[3] or 0 for b in bars], height=0.4, color=agent_colour, alpha=0.45,
              hatch="//")
    axes.set_yticks(list(positions), [b[1] for b in bars], fontsize=8)
    axes.set_xscale("log")
    axes.set_xlabel("tokens per second")
    axes.invert_yaxis()
    axes.legend(handles=[Patch(color="#555555", label="learn()"),
                         Patch(color="#555555", alpha=0.45, hatch="//", label="evaluation")], fontsize=8)
    axes.grid(alpha=0.3, axis="x")
    return _png(figure)


_STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
td.agent,th.agent{text-align:left}th{background:#f0f0f0;cursor:pointer;user-select:none}th:hover{background:#e0e8f0}
pre{background:#f7f7f7;padding:1em;overflow-x:auto;font-size:12px}img{max-width:100%}"""

# Sorts a table by the clicked column (numbers by data-value, text otherwise; a second click reverses). A link
# to "leaderboard.html#sort=T.C.asc" (table T, column C, counted from 0) opens the page sorted so. Once the
# images have loaded, <body data-images-loaded="N"> tells how many decoded (read by the page's test).
_SCRIPT = """function sortTable(table, column, descending) {
  var body = table.tBodies[0], rows = Array.from(body.rows);
  rows.sort(function (a, b) {
    var x = a.cells[column].dataset.value, y = b.cells[column].dataset.value;
    var order = (x !== undefined && y !== undefined) ? parseFloat(x) - parseFloat(y)
      : a.cells[column].textContent.localeCompare(b.cells[column].textContent);
    return descending ? -order : order;
  });
  rows.forEach(function (row) { body.appendChild(row); });
  table.querySelectorAll('th').forEach(function (h) { delete h.dataset.order; });
  table.tHead.rows[0].cells[column].dataset.order = descending ? 'desc' : 'asc';
}
var tables = document.querySelectorAll('table.sortable');
tables.forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, column) {
    th.addEventListener('click', function () { sortTable(table, column, th.dataset.order !== 'desc'); });
  });
});
var wanted = /^#sort=(\\d+)\\.(\\d+)\\.(asc|desc)$/.exec(location.hash);
if (wanted && tables[+wanted[1]]) { sortTable(tables[+wanted[1]], +wanted[2], wanted[3] === 'desc'); }
window.addEventListener('load', function () {
  var images = Array.from(document.images);
  document.body.dataset.imagesLoaded = images.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
});"""


def _cell(value: float | None, text: str) -> str:
    data = "" if value is None else f' data-value="{value:.6g}"'
    return f"<td{data}>{html.escape(text)}</td>"


def render_html(records: Sequence[dict[str, Any]], suite: dict[str, Any] | None = None) -> str:
    """The leaderboard as one self-contained HTML page."""
    head, tables = _header(records, suite), summarise(records)
    e = html.escape
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Leaderboard: {e(head['suite'])}"
             f"</title><style>{_STYLE}</style></head><body>",
             f"<h1>Leaderboard: {e(head['suite'])}</h1>",
             f"<p>Suite version {e(str(head['version']))}, fingerprint <code>{e(head['fingerprint'])}</code>. "
             f"{e(head['description'])}</p>",
             f"<p>Model <code>{e(str(head['model']))}</code>, {e(str(head['decoding']))} decoding, seeds "
             f"{e(', '.join(map(str, head['seeds'])))}. Scores: mean over seeds ± half-width of the 95% confidence "
             "interval (Student's t; none with one seed). Agents ranked by each task's first metric; click a "
             "column heading to sort.</p>",
             "<h2>Overall</h2><table class='sortable' id='overall'><thead><tr><th>rank</th><th class='agent'>agent"
             "</th><th>mean rank</th><th>tasks</th></tr></thead><tbody>"]
    for rank, agent, mean_rank, count in _overall(tables):
        parts.append(f"<tr>{_cell(rank, str(rank))}<td class='agent'>{e(agent)}</td>"
                     f"{_cell(mean_rank, f'{mean_rank:.2f}')}"
                     f"{_cell(count, str(count))}</tr>")
    parts.append("</tbody></table>")
    for task, rows in tables.items():
        metrics = list(rows[0]["metrics"])
        parts.append(f"<h2>{e(_task_heading(task, rows, records))}</h2><table class='sortable' "
                     f"data-task='{e(task)}'><thead><tr><th>rank</th><th class='agent'>agent</th>"
                     + "".join(f"<th>{e(NAMES.get(m, m))}</th>" for m in metrics)
                     + "<th>seeds</th><th>trained tokens</th><th>learn tokens/s</th><th>eval tokens/s</th>"
                     "<th>wall s</th></tr></thead><tbody>")
        for row in rows:
            parts.append(f"<tr>{_cell(row['rank'], str(row['rank']))}<td class='agent'>{e(row['agent'])}</td>"
                         + "".join(_cell(row["metrics"][m][0], _fmt(row["metrics"][m])) for m in metrics)
                         + _cell(len(row["seeds"]), str(len(row["seeds"])))
                         + _cell(row["train_tokens"], _num(row["train_tokens"]))
                         + _cell(row["train_tps"], _num(row["train_tps"]))
                         + _cell(row["eval_tps"], _num(row["eval_tps"]))
                         + _cell(row["wall_s"], _num(row["wall_s"], 1)) + "</tr>")
        parts.append("</tbody></table>")
    comparisons = paired(records)
    if comparisons:
        parts.append(f"<h2>Against {e(PAIRED_BASELINE)}, seed by seed</h2>"
                     f"<p>{e(_PAIRED_TEXT.format(baseline=PAIRED_BASELINE))}</p>")
    for task, rows in comparisons.items():
        metrics = list(rows[0]["metrics"])
        parts.append(f"<h3>{e(task)}</h3><table class='sortable' data-paired='{e(task)}'><thead><tr>"
                     "<th class='agent'>agent</th>" + "".join(f"<th>Δ {e(NAMES.get(m, m))}</th>" for m in metrics)
                     + "<th>seeds ahead</th></tr></thead><tbody>")
        for row in rows:
            parts.append(f"<tr><td class='agent'>{e(row['agent'])}</td>"
                         + "".join(_cell(row["metrics"][m][0], _fmt_signed(row["metrics"][m])) for m in metrics)
                         + _cell(row["ahead"], f"{row['ahead']} of {len(row['seeds'])}") + "</tr>")
        parts.append("</tbody></table>")
    for title, image, alt in (("Learning curves", curves_png(tables), "learning curves"),
                              ("Throughput", throughput_png(tables), "throughput chart")):
        if image is not None:
            parts.append(f"<h2>{title}</h2><img alt='{alt}' src='data:image/png;base64,{image}'>")
    signatures = [f"{task} {NAMES.get(m, m)}: {s}"
                  for task, rows in tables.items() for m, s in rows[0]["signatures"].items()]
    parts.append("<h2>Metric signatures</h2><pre>" + e("\n".join(signatures)) + "</pre>")
    if suite is not None:
        parts.append("<h2>Suite definition</h2><pre id='suite'>" + e(json.dumps(suite, indent=2)) + "</pre>")
    parts.append("<h2>Environment</h2><pre id='environment'>" + e(json.dumps(head["env"], indent=2)) + "</pre>")
    parts.append(f"<script>{_SCRIPT}</script></body></html>")
    return "\n".join(parts)


def _write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_reports(folder: str | os.PathLike[str], records: Sequence[dict[str, Any]],
                  suite: Suite | dict[str, Any] | None = None) -> tuple[Path, Path]:
    """Write ``leaderboard.md`` and ``leaderboard.html`` into ``folder``; returns their paths."""
    folder = Path(folder)
    definition = suite.to_dict() if isinstance(suite, Suite) else suite
    md, page = folder / "leaderboard.md", folder / "leaderboard.html"
    _write(md, render_markdown(records, definition))
    _write(page, render_html(records, definition))
    return md, page
