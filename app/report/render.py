"""The report's outputs: a text summary, JSON and one CSV per table, a self-contained HTML page.

The page has no external resource (inline CSS, plots as inline SVG), so it opens from a file, an
e-mail attachment or an air-gapped machine alike. Every output is a function of the report only
(no clock, sorted rows): the same records give byte-identical files.
"""

from __future__ import annotations

import csv
import html
import io
from pathlib import Path
from typing import Any

import orjson

from app.report.arms import MODES, SIZES, WHOLE
from app.report.stats import wilson
from app.report.tables import ALL, Report, Row

TITLES = {
    "lift": "Conversion against the control group",
    "programme": "The whole programme against the global control group",
    "funnel": "Funnel: entries reaching each step",
    "time_to_goal": "Time to goal (seconds)",
    "step_times": "Time between steps (seconds)",
    "channels": "Engagement by channel",
    "suppressions": "Sends suppressed or held out, by reason",
    "decisions": "Decide steps: what was chosen",
    "decision_latency": "Decision latency (live: input broker time to decision)",
    "endings": "How entries ended",
    "service": "Service and loyalty: each journey's customers against its control group",
    "cohorts": "Retention and churn after 7 days, by entry cohort (UTC day of first entry)",
    "arms": "Adaptive steps: each arm's share and reward over time (UTC buckets of the choice's "
    "time; a reward counts in its choice's bucket)",
}
#: how the text output names a bucket size
BUCKET_WORDS = {"1h": "1 hour", "6h": "6 hours", "1d": "1 day", "7d": "1 week (from Monday)"}


def fmt(value: Any, column: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if column in ("p_value",):
            return f"{value:.4f}" if value >= 0.0001 else "<0.0001"
        if column.endswith(("rate", "share", "drop_off_from_previous")) or column.startswith(
            "lift"
        ):
            return f"{100 * value:+.1f} pp" if column.startswith("lift") else f"{100 * value:.1f} %"
        return f"{value:,.3f}".rstrip("0").rstrip(".")
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def text_summary(report: Report) -> str:
    """What the terminal shows: the lift table, one line per journey version and variant."""
    lines = [
        f"report: {report.records:,} outcome records ({report.duplicates:,} duplicates dropped)"
    ]
    if not report.lift:
        lines.append("no entries in the records (or none in the time range)")
    rows = [(row, False) for row in report.lift] + [(row, True) for row in report.programme]
    for row, programme in rows:
        if programme:  # against the global control group
            name = f"{row['journey']} vs the global control group"
        else:
            name = f"{row['journey']} v{row['version']}"
            if row["variant"] not in (ALL, "-"):
                name += f" [{row['variant']}]"
            elif row["variant"] == ALL:
                name += " [all variants]"
        if row["rate"] is None:
            lines.append(f"  {name}: {row['entries']:,} entries - {row['verdict']}")
            continue
        line = (
            f"  {name}: {row['entries']:,} entries, {fmt(row['rate'], 'rate')} converted; "
            f"control {row['control_entries']:,}, {fmt(row['control_rate'], 'rate')}"
        )
        if row["lift"] is not None:
            line += (
                f"; lift {fmt(row['lift'], 'lift')} "
                f"[{fmt(row['lift_low'], 'lift')}, {fmt(row['lift_high'], 'lift')}], "
                f"p={fmt(row['p_value'], 'p_value')}"
            )
        line += f" - {row['verdict']}"
        lines.append(line)
    lines += arms_text(report)
    return "\n".join(lines) + "\n"


def arms_text(report: Report) -> list[str]:
    """The adaptive steps' arms over time, one aligned table per step; nothing without adaptive
    records (a report of journeys without them reads as it always did)."""
    if not report.arms and not report.arms_unattributed:
        return []
    size = report.arms_bucket
    lines = [
        f"arms over time (adaptive steps; buckets of {BUCKET_WORDS.get(size, size)}, UTC, by the "
        "time of the choice; a reward counts in its choice's bucket):"
    ]
    header = ("bucket", "arm", "choices", "share", "rewards", "reward rate", *MODES)
    steps: dict[tuple[str, str], list[tuple[str, ...]]] = {}
    for row in report.arms:
        cells = (
            _bucket_label(row["bucket"], size),
            str(row["arm"]),
            fmt(row["choices"]),
            fmt(row["share"], "share"),
            fmt(row["rewards"]),
            fmt(row["reward_rate"], "reward_rate"),
            *(fmt(row[mode]) for mode in MODES),
        )
        steps.setdefault((row["journey"], row["step"]), []).append(cells)
    for (journey, step), body in steps.items():
        widths = [max(len(r[i]) for r in (header, *body)) for i in range(len(header))]
        lines.append(f"  {journey} / {step}:")
        for r in (header, *body):
            left = [r[i].ljust(widths[i]) for i in range(2)]
            right = [r[i].rjust(widths[i]) for i in range(2, len(r))]
            lines.append("    " + "  ".join(left + right).rstrip())
    if report.arms_unattributed:
        lines.append(
            f"  {report.arms_unattributed:,} rewards without their choice in the records "
            "(or in the time range): left out"
        )
    return lines


def _bucket_label(bucket: str, size: str) -> str:
    """A day's or a week's bucket by its date, an hour's by date and time (UTC)."""
    if bucket == WHOLE:
        return WHOLE
    if SIZES.get(size, 0) % SIZES["1d"] == 0:
        return bucket[:10]
    return f"{bucket[:10]} {bucket[11:16]}"


def to_json(report: Report) -> bytes:
    doc = {
        "records": report.records,
        "duplicates": report.duplicates,
        "since": report.since,
        "until": report.until,
        "tables": report.tables(),
    }
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def to_csv(rows: list[Row]) -> str:
    if not rows:
        return ""
    out = io.StringIO()
    columns = list(rows[0])
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in columns})
    return out.getvalue()


def write_all(report: Report, folder: Path) -> list[Path]:
    """report.html, report.json and <table>.csv in ``folder``; returns what it wrote."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    page = folder / "report.html"
    page.write_text(to_html(report), encoding="utf-8")
    written.append(page)
    doc = folder / "report.json"
    doc.write_bytes(to_json(report))
    written.append(doc)
    for name, rows in report.tables().items():
        path = folder / f"{name}.csv"
        path.write_text(to_csv(rows), encoding="utf-8")
        written.append(path)
    return written


# -- HTML --------------------------------------------------------------------------------------

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#222}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2.2rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
th,td{border-bottom:1px solid #ddd;padding:.25rem .6rem;text-align:right;white-space:nowrap}
.wrap{overflow-x:auto;max-width:100%}
th:first-child,td:first-child{text-align:left}th{background:#f4f4f4}
.note{color:#555;font-size:.85rem;max-width:60rem}
.lift{color:#1a7f37;font-weight:600}.harm{color:#b42318;font-weight:600}
svg text{font-size:11px;font-family:inherit}
"""


def table_html(name: str, rows: list[Row]) -> str:
    if not rows:
        return f'<p class="note" id="{name}-empty">No records for this table.</p>'
    columns = list(rows[0])
    head = "".join(f"<th>{html.escape(c.replace('_', ' '))}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            text = html.escape(fmt(row.get(c), c))
            klass = ""
            if c == "verdict" and row.get(c) in ("lift", "harm"):
                klass = f' class="{row[c]}"'
            cells.append(f"<td{klass}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<div class="wrap"><table id="{name}"><tr>{head}</tr>{"".join(body)}</table></div>'


def _lift_plot(rows: list[Row]) -> str:
    """Each journey version and variant: treatment and control rates with their intervals."""
    bars = []
    for r in rows:
        if r["rate"] is None and r["control_rate"] is None:
            continue  # no goal, no rate
        label = f"{r['journey']} v{r['version']} {r['variant']}"
        for group, k, n, colour in (
            ("treatment", r["conversions"], r["entries"], "#2f6fde"),
            ("control", r["control_conversions"], r["control_entries"], "#999"),
        ):
            if n and k is not None:
                bars.append((f"{label} ({group})", k, n, colour))
    if not bars:
        return ""
    left, scale, row = 300, 420, 24
    width, height = left + scale + 140, row * len(bars) + 10
    top = max(max(wilson(k, n)[1] for _, k, n, _ in bars), 0.05)
    parts = [f'<svg role="img" aria-label="conversion rates" width="{width}" height="{height}">']
    for i, (label, k, n, colour) in enumerate(bars):
        y = 4 + row * i
        rate = k / n
        low, high = wilson(k, n)
        parts.append(
            f'<text x="0" y="{y + 13}">{html.escape(label)}</text>'
            f'<rect x="{left}" y="{y}" width="{rate / top * scale:.1f}" height="16" fill="{colour}"/>'
            f'<line x1="{left + low / top * scale:.1f}" x2="{left + high / top * scale:.1f}" '
            f'y1="{y + 8}" y2="{y + 8}" stroke="#222" stroke-width="1.5"/>'
            f'<text x="{left + high / top * scale + 6:.1f}" y="{y + 13}">'
            f"{100 * rate:.1f} % of {n:,}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _funnel_plot(rows: list[Row]) -> str:
    treated = [r for r in rows if r["group"] == "treatment" and r["variant"] != ALL]
    if not treated:
        return ""
    left, scale, row = 300, 420, 20
    width, height = left + scale + 140, row * len(treated) + 10
    parts = [f'<svg role="img" aria-label="funnel" width="{width}" height="{height}">']
    for i, r in enumerate(treated):
        y = 4 + row * i
        label = f"{r['journey']} v{r['version']} {r['variant']} / {r['step']}"
        parts.append(
            f'<text x="0" y="{y + 12}">{html.escape(label)}</text>'
            f'<rect x="{left}" y="{y}" width="{r["share"] * scale:.1f}" height="15" fill="#5b8def"/>'
            f'<text x="{left + r["share"] * scale + 6:.1f}" y="{y + 12}">'
            f"{r['reached']:,} ({100 * r['share']:.0f} %)</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def report_sections(report: Report) -> str:
    """The report's tables and plots as HTML sections (the report page, the dashboard)."""
    tables = report.tables()
    sections = []
    for name, rows in tables.items():
        plot = ""
        if name in ("lift", "programme"):
            plot = _lift_plot(rows)
        elif name == "funnel":
            plot = _funnel_plot(rows)
        sections.append(f"<h2>{html.escape(TITLES[name])}</h2>{plot}{table_html(name, rows)}")
    return "".join(sections)


def method_note(report: Report) -> str:
    span = ""
    if report.since or report.until:
        span = f" Entries from {report.since or 'the start'} to {report.until or 'the end'}."
    return (
        f'<p class="note">{report.records:,} outcome records ({report.duplicates:,} duplicates '
        f"dropped).{html.escape(span)} Treatment: entries outside the control group. Lift: "
        "treatment rate minus control rate, with its 95 % interval (Newcombe's hybrid score "
        "interval) and the two-sided p-value of Fisher's exact test, exact at any sample size. "
        "A group of fewer than 30 entries is never called significant. Bars: rates with their "
        "95 % Wilson intervals.</p>"
    )


def to_html(report: Report) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>Segue journey report</title>"
        f"<style>{CSS}</style></head><body>"
        "<h1>Segue journey report</h1>"
        + method_note(report)
        + report_sections(report)
        + "</body></html>\n"
    )
