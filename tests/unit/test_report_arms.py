"""`segue report`'s arms over time for adaptive split and decide steps (issue 18): shares,
rewards in the bucket of their choice, how the arms were chosen, deduplication, the bucket
sizes, a report without adaptive steps left as it was, and the command on a small file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from app.cli import _register, app
from app.core.journeys.outcome import outcome_record
from app.core.timeutil import format_ms, parse_rfc3339
from app.report.arms import Arms, bucket_start, choose_size
from app.report.render import text_summary, to_html, to_json, write_all
from app.report.tables import build_report

_register()
runner = CliRunner()

DAY1 = "2026-11-23"  # a Monday
DAY2 = "2026-11-24"


def record(
    kind: str,
    customer: str,
    when: str,
    *,
    journey: str = "promo",
    entry: int = 1,
    step: str | None = None,
    variant: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One outcome record as the engine writes it (core/journeys/outcome.py)."""
    ms = parse_rfc3339(when)
    state = {"v": 1, "n": entry, "ho": False, "var": variant}
    return {**outcome_record(kind, customer, journey, state, ms, format_ms(ms), step), **extra}


def split_entry(
    customer: str,
    when: str,
    arm: str,
    mode: str,
    *,
    rewarded_at: str | None = None,
    entry: int = 1,
    step: str = "pick",
    journey: str = "promo",
) -> list[dict[str, Any]]:
    """An entry that enters, passes an adaptive split (choosing ``arm`` by ``mode``) and, with
    ``rewarded_at``, earns the step's reward then."""
    at = {"journey": journey, "entry": entry}
    out = [
        record("entered", customer, when, **at, trigger_event_id="e", trigger_type="Visit"),
        record(
            "step", customer, when, **at, step=step, variant=arm, step_kind="split", adaptive=mode
        ),
    ]
    if rewarded_at is not None:
        out.append(
            record(
                "rewarded",
                customer,
                rewarded_at,
                **at,
                step=step,
                variant=arm,
                arm=arm,
                reward="goal",
                event_id=f"g-{customer}",
            )
        )
    return out


def rows_of(report_rows: list[dict[str, Any]], bucket: str) -> dict[str, dict[str, Any]]:
    return {r["arm"]: r for r in report_rows if r["bucket"] == bucket}


def two_days() -> list[dict[str, Any]]:
    return [
        *split_entry("c1", f"{DAY1}T09:00:00Z", "a", "exploit"),
        *split_entry("c2", f"{DAY1}T10:00:00Z", "a", "exploit"),
        *split_entry("c3", f"{DAY1}T11:00:00Z", "a", "explore"),
        *split_entry("c4", f"{DAY1}T12:00:00Z", "b", "holdout"),
        *split_entry("c5", f"{DAY2}T09:00:00Z", "a", "exploit"),
        *split_entry("c6", f"{DAY2}T10:00:00Z", "b", "explore"),
    ]


def test_shares_and_modes_per_day_and_over_the_whole_range() -> None:
    rows = build_report(two_days()).arms
    assert {(r["journey"], r["step"]) for r in rows} == {("promo", "pick")}
    day1 = rows_of(rows, f"{DAY1}T00:00:00Z")
    assert day1["a"]["choices"] == 3 and day1["a"]["share"] == pytest.approx(0.75)
    assert (day1["a"]["exploit"], day1["a"]["explore"], day1["a"]["holdout"]) == (2, 1, 0)
    assert day1["b"]["choices"] == 1 and day1["b"]["share"] == pytest.approx(0.25)
    assert (day1["b"]["exploit"], day1["b"]["explore"], day1["b"]["holdout"]) == (0, 0, 1)
    day2 = rows_of(rows, f"{DAY2}T00:00:00Z")
    assert day2["a"]["share"] == day2["b"]["share"] == pytest.approx(0.5)
    whole = rows_of(rows, "(all)")
    assert whole["a"]["choices"] == 4 and whole["a"]["share"] == pytest.approx(4 / 6)
    assert (whole["b"]["exploit"], whole["b"]["explore"], whole["b"]["holdout"]) == (0, 1, 1)
    assert whole["a"]["rewards"] == 0 and whole["a"]["reward_rate"] == 0.0
    # the buckets in time order, the whole range last; every arm in every bucket
    assert [r["bucket"] for r in rows] == [f"{DAY1}T00:00:00Z"] * 2 + [f"{DAY2}T00:00:00Z"] * 2 + [
        "(all)"
    ] * 2
    assert {r["bucket_size"] for r in rows} == {"1d"}


def test_an_arm_missing_from_a_bucket_has_a_zero_row() -> None:
    records = [
        *split_entry("c1", f"{DAY1}T09:00:00Z", "a", "exploit"),
        *split_entry("c2", f"{DAY2}T09:00:00Z", "b", "explore"),
    ]
    day1 = rows_of(build_report(records).arms, f"{DAY1}T00:00:00Z")
    assert day1["b"]["choices"] == 0 and day1["b"]["share"] == 0.0
    assert day1["b"]["reward_rate"] is None and day1["a"]["share"] == 1.0


def test_a_reward_counts_in_the_bucket_of_its_choice() -> None:
    records = [
        # chosen late on day 1, rewarded on day 2: a day-1 reward
        *split_entry("c1", f"{DAY1}T23:30:00Z", "a", "exploit", rewarded_at=f"{DAY2}T01:00:00Z"),
        *split_entry("c2", f"{DAY1}T08:00:00Z", "a", "exploit"),
        *split_entry("c3", f"{DAY2}T08:00:00Z", "a", "explore"),
        *split_entry("c4", f"{DAY2}T09:00:00Z", "b", "explore", rewarded_at=f"{DAY2}T09:30:00Z"),
    ]
    rows = build_report(records).arms
    day1, day2 = rows_of(rows, f"{DAY1}T00:00:00Z"), rows_of(rows, f"{DAY2}T00:00:00Z")
    assert day1["a"]["rewards"] == 1 and day1["a"]["reward_rate"] == pytest.approx(0.5)
    assert day2["a"]["rewards"] == 0 and day2["a"]["reward_rate"] == 0.0
    assert day2["b"]["rewards"] == 1 and day2["b"]["reward_rate"] == 1.0
    whole = rows_of(rows, "(all)")
    assert whole["a"]["rewards"] == 1 and whole["a"]["reward_rate"] == pytest.approx(1 / 3)
    assert whole["b"]["rewards"] == 1


def test_a_reward_goes_to_the_entry_and_step_it_names_and_one_without_choice_is_counted() -> None:
    records = [
        # the same customer in two entries: only entry 2 is rewarded
        *split_entry("c1", f"{DAY1}T09:00:00Z", "a", "exploit", entry=1),
        *split_entry("c1", f"{DAY2}T09:00:00Z", "a", "exploit", entry=2),
        record(
            "rewarded",
            "c1",
            f"{DAY2}T10:00:00Z",
            entry=2,
            step="pick",
            arm="a",
            reward="Purchase",
            event_id="p1",
        ),
        # a reward whose choice the records do not hold (another step)
        record(
            "rewarded",
            "c1",
            f"{DAY2}T10:00:00Z",
            entry=2,
            step="other",
            arm="a",
            reward="goal",
            event_id="g1",
        ),
    ]
    report = build_report(records)
    assert rows_of(report.arms, f"{DAY1}T00:00:00Z")["a"]["rewards"] == 0
    assert rows_of(report.arms, f"{DAY2}T00:00:00Z")["a"]["rewards"] == 1
    assert report.arms_unattributed == 1
    assert "1 rewards without their choice" in text_summary(report)


def test_duplicates_are_dropped_and_the_order_does_not_matter() -> None:
    records = [
        *split_entry("c1", f"{DAY1}T09:00:00Z", "a", "exploit", rewarded_at=f"{DAY1}T10:00:00Z"),
        *split_entry("c2", f"{DAY1}T09:30:00Z", "b", "explore"),
    ]
    once = build_report(records)
    twice = build_report(records + list(reversed(records)))
    assert twice.duplicates == len(records)
    assert twice.arms == once.arms
    whole = rows_of(twice.arms, "(all)")
    assert whole["a"]["choices"] == 1 and whole["a"]["rewards"] == 1
    assert whole["a"]["exploit"] == 1 and whole["b"]["explore"] == 1
    assert to_json(build_report(list(reversed(records)))) == to_json(once)


def test_adaptive_decide_and_non_adaptive_split_records() -> None:
    records = [
        *split_entry("c1", f"{DAY1}T09:00:00Z", "a", "exploit"),
        # a fixed split: no adaptive field, no arms rows
        record("entered", "c2", f"{DAY1}T09:00:00Z", journey="fixed"),
        record("step", "c2", f"{DAY1}T09:00:00Z", journey="fixed", step="s", variant="x"),
    ]
    for i, (choice, mode) in enumerate(
        [("email", "exploit"), ("sms", "holdout"), (None, "explore")]
    ):
        customer, when = f"d{i}", f"{DAY1}T1{i}:00:00Z"
        records += [
            record("entered", customer, when, journey="next"),
            record(
                "decided",
                customer,
                when,
                journey="next",
                step="offer",
                choice=choice,
                adaptive=mode,
            ),
        ]
    records.append(
        record("rewarded", "d0", f"{DAY1}T12:00:00Z", journey="next", step="offer", arm="email")
    )
    rows = build_report(records).arms
    assert {(r["journey"], r["step"]) for r in rows} == {("next", "offer"), ("promo", "pick")}
    offer = {r["arm"]: r for r in rows if r["step"] == "offer" and r["bucket"] == "(all)"}
    assert set(offer) == {"email", "sms", "(none eligible)"}
    assert offer["email"]["rewards"] == 1 and offer["email"]["share"] == pytest.approx(1 / 3)
    assert offer["sms"]["holdout"] == 1 and offer["(none eligible)"]["explore"] == 1


def test_the_time_range_selects_entries_as_the_other_tables_do() -> None:
    records = [
        *split_entry("c1", f"{DAY1}T09:00:00Z", "a", "exploit", rewarded_at=f"{DAY2}T09:00:00Z"),
        *split_entry("c2", f"{DAY2}T09:00:00Z", "b", "exploit", rewarded_at=f"{DAY2}T10:00:00Z"),
    ]
    report = build_report(records, since=parse_rfc3339(f"{DAY2}T00:00:00Z"))
    assert {r["arm"] for r in report.arms} == {"b"}
    assert report.arms_unattributed == 0  # c1's reward is out of range, not missing its choice
    # an entry whose entered record is not in the records does not count either
    no_start = [r for r in records if not (r["customer_id"] == "c2" and r["kind"] == "entered")]
    assert {r["arm"] for r in build_report(no_start).arms} == {"a"}


def test_bucket_sizes_and_auto() -> None:
    hour = 3_600_000
    monday = parse_rfc3339(f"{DAY1}T00:00:00Z")
    assert bucket_start(monday + 5 * 24 * hour, 7 * 24 * hour) == monday  # weeks from Monday
    assert bucket_start(monday + 90 * 60_000, hour) == monday + hour
    assert choose_size("auto", [monday, monday + 29 * hour]) == "1h"
    assert choose_size("auto", [monday, monday + 30 * hour]) == "6h"
    assert choose_size("auto", [monday, monday + 20 * 24 * hour]) == "1d"
    assert choose_size("auto", [monday, monday + 60 * 24 * hour]) == "7d"
    assert choose_size("auto", []) == "1d" and choose_size("1h", []) == "1h"
    with pytest.raises(ValueError):
        choose_size("2d", [])
    report = build_report(two_days(), arms_bucket="1h")
    assert rows_of(report.arms, f"{DAY1}T10:00:00Z")["a"]["share"] == 1.0
    assert "buckets of 1 hour" in text_summary(report)
    assert f"    {DAY1} 10:00  a" in text_summary(report)
    assert build_report(two_days(), arms_bucket="auto").arms_bucket == "1h"  # 26 hours
    assert not Arms()


def test_a_report_without_adaptive_steps_is_unchanged(tmp_path: Path) -> None:
    records = [
        *split_entry("c1", f"{DAY1}T09:00:00Z", "a", "exploit"),
        *split_entry("c2", f"{DAY1}T09:30:00Z", "b", "explore"),
    ]
    for r in records:  # the same entries through a fixed split
        r.pop("adaptive", None)
    report = build_report(records)
    assert report.arms == [] and "arms" not in report.tables()
    # the text as it was before adaptive steps existed
    assert text_summary(report) == (
        "report: 4 outcome records (0 duplicates dropped)\n"
        "  promo v1 [all variants]: 2 entries, 0.0 % converted; control 0, - - no control group\n"
        "  promo v1 [a]: 1 entries, 0.0 % converted; control 0, - - no control group\n"
        "  promo v1 [b]: 1 entries, 0.0 % converted; control 0, - - no control group\n"
    )
    assert b'"arms' not in to_json(report) and 'id="arms' not in to_html(report)
    assert "arms.csv" not in {p.name for p in write_all(report, tmp_path)}
    assert len(list(tmp_path.iterdir())) == 14


def test_the_command_prints_and_writes_the_arms(tmp_path: Path) -> None:
    outcomes, out = tmp_path / "outcomes.jsonl", tmp_path / "report"
    records = [
        *two_days(),
        *split_entry("c7", f"{DAY1}T13:00:00Z", "b", "exploit", rewarded_at=f"{DAY2}T08:00:00Z"),
    ]
    outcomes.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records + records[:3]))
    args = ["report", "--outcomes", str(outcomes), "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "3 duplicates dropped" in result.output
    printed = result.output[result.output.index("arms over time") :]
    assert "buckets of 1 day" in printed and "  promo / pick:" in printed
    lines = printed.splitlines()
    header = next(line for line in lines if line.strip().startswith("bucket"))
    assert header.split() == [
        "bucket",
        *("arm", "choices", "share", "rewards", "reward", "rate"),
        *("exploit", "explore", "holdout"),
    ]
    b_day1 = next(line for line in lines if line.strip().startswith(f"{DAY1}  b"))
    assert b_day1.split() == [DAY1, "b", "2", "40.0", "%", "1", "50.0", "%", "1", "0", "1"]
    doc = orjson.loads((out / "report.json").read_bytes())
    assert {r["bucket"] for r in doc["tables"]["arms"]} == {
        f"{DAY1}T00:00:00Z",
        f"{DAY2}T00:00:00Z",
        "(all)",
    }
    assert (out / "arms.csv").read_text().startswith("journey,step,bucket,bucket_size,arm,")
    assert 'id="arms"' in (out / "report.html").read_text()
    hourly = runner.invoke(app, [*args, "--arms-bucket", "1h"])
    assert hourly.exit_code == 0 and "buckets of 1 hour" in hourly.output
    bad = runner.invoke(app, [*args, "--arms-bucket", "2d"])
    assert bad.exit_code == 2 and "--arms-bucket: '2d'" in bad.output
