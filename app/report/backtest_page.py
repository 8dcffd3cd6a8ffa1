"""The backtest's outputs: a text summary, one self-contained HTML page, JSON and CSVs.

The page shows the diff's summary, the conversion deltas, the first changed sends (all of them
are in diff.csv) and each side's lift table; same style and same rules as report.html.
"""

from __future__ import annotations

import html
from pathlib import Path

import orjson

from app.report.diff import Diff
from app.report.render import CSS, fmt, table_html, to_csv
from app.report.tables import Report

#: changed sends shown on the page (every one is in diff.csv)
SHOWN = 200


def text_summary(diff: Diff, label_a: str, label_b: str) -> str:
    lines = [f"backtest: A = {label_a}, B = {label_b}"]
    if not diff.summary:
        lines.append("  no sends on either side")
    for row in diff.summary:
        lines.append(
            f"  {row['journey']}: emitted A {row['emitted_a']:,}, B {row['emitted_b']:,}; "
            f"only in A {row['only_in_a']:,}, only in B {row['only_in_b']:,}, "
            f"changed {row['changed']:,}"
        )
    for row in diff.outcomes:
        if row["delta"] is None:
            continue
        lines.append(
            f"  {row['journey']}: conversion A {fmt(row['rate_a'], 'rate')} of "
            f"{row['entries_a']:,}, B {fmt(row['rate_b'], 'rate')} of {row['entries_b']:,}; "
            f"B - A {fmt(row['delta'], 'lift')} [{fmt(row['delta_low'], 'lift')}, "
            f"{fmt(row['delta_high'], 'lift')}], p={fmt(row['p_value'], 'p_value')}"
        )
    return "\n".join(lines) + "\n"


def to_html(diff: Diff, report_a: Report, report_b: Report, label_a: str, label_b: str) -> str:
    shown = diff.changes[:SHOWN]
    more = len(diff.changes) - len(shown)
    sections = [
        ("What changed, per journey", table_html("diff_summary", diff.summary)),
        ("Conversion, B against A (treatment entries)", table_html("diff_outcomes", diff.outcomes)),
        (
            f"Changed sends ({len(diff.changes):,}"
            + (f"; the first {SHOWN} here, all in diff.csv)" if more > 0 else ")"),
            table_html("diff", shown),
        ),
        (
            f"A ({label_a}): conversion against the control group",
            table_html("lift_a", report_a.lift),
        ),
        (
            f"B ({label_b}): conversion against the control group",
            table_html("lift_b", report_b.lift),
        ),
    ]
    body = "".join(f"<h2>{html.escape(title)}</h2>{table}" for title, table in sections)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>Segue backtest</title>"
        f"<style>{CSS}</style></head><body>"
        "<h1>Segue backtest</h1>"
        f'<p class="note">A = {html.escape(label_a)}, B = {html.escape(label_b)}, replayed on the '
        "same events. Sends are joined on (customer, journey, entry, step, visit). Both sides "
        "replay the same customer behaviour, so conversions differ only through what decides "
        "entries and goals; the interval of B - A treats the two as independent samples (they "
        "overlap), which is conservative.</p>" + body + "</body></html>\n"
    )


def write_all(
    diff: Diff, report_a: Report, report_b: Report, label_a: str, label_b: str, folder: Path
) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    page = folder / "backtest.html"
    page.write_text(to_html(diff, report_a, report_b, label_a, label_b), encoding="utf-8")
    doc = folder / "backtest.json"
    tables = {**diff.tables(), "lift_a": report_a.lift, "lift_b": report_b.lift}
    doc.write_bytes(
        orjson.dumps(
            {"a": label_a, "b": label_b, "tables": tables},
            option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS,
        )
        + b"\n"
    )
    written = [page, doc]
    for name, rows in tables.items():
        path = folder / f"{name}.csv"
        path.write_text(to_csv(rows), encoding="utf-8")
        written.append(path)
    return written
