"""`segue report`'s figures on small fixed inputs, against values worked out by hand or
published (Newcombe 1998), and an independent exact test written out here."""

from __future__ import annotations

from math import comb
from typing import Any

import orjson
import pytest

from app.core.timeutil import format_ms, parse_rfc3339
from app.report import stats
from app.report.render import text_summary, to_csv, to_html, to_json
from app.report.tables import ALL, build_report

T0 = "2026-11-23T10:00:00Z"


def at(minutes: int) -> str:
    return f"2026-11-23T{10 + minutes // 60:02d}:{minutes % 60:02d}:00Z"


def life(
    customer: str,
    *,
    control: bool = False,
    steps: tuple[str, ...] = (),
    goal_after: int | None = None,
    journey: str = "j",
    variant: str | None = None,
    start: int = 0,
) -> list[dict[str, Any]]:
    """The outcome records of one entry: entered, its steps a minute apart, a goal."""

    def rec(kind: str, minute: int, step: str | None = None, **extra: Any) -> dict[str, Any]:
        return {
            "outcome_id": f"{journey}:{customer}:{kind}:{step}:{minute}",
            "kind": kind,
            "customer_id": customer,
            "journey": journey,
            "journey_version": 1,
            "entry": 1,
            "step": step,
            "event_time": at(minute),
            "control": control,
            "variant": variant,
            **extra,
        }

    records = [rec("entered", start)]
    for i, step in enumerate(steps):
        records.append(rec("step", start + i, step, step_kind="send"))
    if goal_after is not None:
        records.append(rec("goal", start + goal_after, time_to_goal_ms=goal_after * 60_000))
    return records


def cohort(n: int, converted: int, control: bool, prefix: str, **kw: Any) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        out += life(f"{prefix}{i}", control=control, goal_after=5 if i < converted else None, **kw)
    return out


def exact_two_sided(k1: int, n1: int, k2: int, n2: int) -> float:
    """Fisher's exact test written out: the hypergeometric tables at most as likely."""
    total, successes = n1 + n2, k1 + k2

    def p(x: int) -> float:
        return comb(successes, x) * comb(total - successes, n1 - x) / comb(total, n1)

    observed = p(k1)
    low, high = max(0, successes - n2), min(successes, n1)
    return sum(p(x) for x in range(low, high + 1) if p(x) <= observed * (1 + 1e-7))


def test_wilson_and_newcombe_give_the_published_intervals() -> None:
    # Newcombe (1998), Statistics in Medicine 17: 81/263 (single proportion, score method) and
    # the hybrid score interval (method 10) of a difference: 56/70 - 48/80, 9/10 - 3/10
    assert stats.wilson(81, 263) == pytest.approx((0.2553, 0.3662), abs=5e-5)
    assert stats.newcombe(56, 70, 48, 80) == pytest.approx((0.2, 0.0524, 0.3339), abs=5e-5)
    assert stats.newcombe(9, 10, 3, 10) == pytest.approx((0.6, 0.1705, 0.8090), abs=5e-5)
    assert stats.wilson(0, 12)[0] == 0.0 and stats.wilson(12, 12)[1] == 1.0


def test_fisher_and_the_sample_size_by_hand() -> None:
    assert stats.fisher_p(3, 4, 1, 4) == pytest.approx(34 / 70)  # the lady tasting tea
    assert stats.fisher_p(56, 70, 48, 80) == pytest.approx(exact_two_sided(56, 70, 48, 80))
    # 10 % against 15 %, 5 % two-sided, power 80 %: 686 per group (the textbook figure)
    assert stats.sample_size(0.15, 0.10) == 686
    assert stats.sample_size(0.2, 0.2) is None
    assert stats.quantile([1, 2, 3, 4], 0.5) == 2 and stats.quantile([], 0.5) is None


def test_lift_against_the_control_group() -> None:
    records = cohort(70, 56, False, "t") + cohort(80, 48, True, "c")
    (row,) = build_report(records).lift
    assert (row["entries"], row["conversions"], row["control_entries"]) == (70, 56, 80)
    assert (row["rate"], row["control_rate"]) == pytest.approx((0.8, 0.6))
    assert (row["lift"], row["lift_low"], row["lift_high"]) == pytest.approx(
        (0.2, 0.0524, 0.3339), abs=5e-5
    )
    assert row["p_value"] == pytest.approx(exact_two_sided(56, 70, 48, 80))
    assert row["p_value"] < 0.05
    # p = (0.8 + 0.6) / 2; (1.96 * sqrt(2 * 0.7 * 0.3) + 0.8416 * sqrt(0.16 + 0.24))^2 / 0.2^2
    assert row["needed_per_group"] == 82
    assert row["verdict"] == "lift"


def test_a_small_sample_is_never_called_significant() -> None:
    records = cohort(12, 12, False, "t") + cohort(12, 0, True, "c")
    (row,) = build_report(records).lift
    assert row["p_value"] < 0.001  # exact, and small indeed
    assert row["verdict"].startswith("too few to judge")


def test_no_control_group_says_so_instead_of_a_number() -> None:
    (row,) = build_report(cohort(10, 3, False, "t")).lift
    assert row["lift"] is None and row["p_value"] is None
    assert row["verdict"] == "no control group"


def test_variants_get_their_rows_and_one_over_all() -> None:
    records = cohort(4, 1, False, "a", variant="A", steps=("pick",)) + cohort(
        6, 3, False, "b", variant="B", steps=("pick",)
    )
    for record in records:  # the variant is known once the split step is reached
        if record["kind"] == "entered":
            record["variant"] = None
    rows = {r["variant"]: r for r in build_report(records).lift}
    assert set(rows) == {ALL, "A", "B"}
    assert (rows["A"]["entries"], rows["A"]["conversions"]) == (4, 1)
    assert (rows["B"]["entries"], rows["B"]["conversions"]) == (6, 3)
    assert (rows[ALL]["entries"], rows[ALL]["conversions"]) == (10, 4)


def test_the_funnel_counts_entries_per_step_with_drop_off() -> None:
    records = []
    for i in range(10):
        steps = ("hello", "w", "again")[: 3 if i < 3 else 2 if i < 6 else 1]
        records += life(f"c{i}", steps=steps)
    funnel = build_report(records).funnel
    got = [(r["step"], r["reached"], r["share"], r["drop_off_from_previous"]) for r in funnel]
    assert got == [("hello", 10, 1.0, 0.0), ("w", 6, 0.6, 0.4), ("again", 3, 0.3, 0.5)]


def test_times_to_goal_and_between_steps() -> None:
    records = []
    for i, minutes in enumerate((10, 20, 30, 40)):
        records += life(f"c{i}", steps=("hello", "w"), goal_after=minutes)
    report = build_report(records)
    (goal,) = report.time_to_goal
    # nearest rank of 4 values: p50 the 2nd (20 min), p90 the 4th (40 min)
    assert (goal["count"], goal["p50_s"], goal["p90_s"], goal["max_s"]) == (4, 1200, 2400, 2400)
    (gap,) = report.step_times
    assert (gap["from_step"], gap["to_step"], gap["count"], gap["p50_s"]) == ("hello", "w", 4, 60)


def test_duplicates_and_entries_outside_the_range_are_left_out() -> None:
    early = life("early", goal_after=1, start=0)
    late = life("late", goal_after=1, start=120)
    records = early + late + late  # the live topic may repeat a record
    report = build_report(records, since=parse_rfc3339("2026-11-23T11:00:00Z"))
    assert report.duplicates == len(late)
    (row,) = report.lift
    assert (row["entries"], row["conversions"]) == (1, 1)


def test_engagement_by_channel_joins_receipts_by_action_id() -> None:
    records = life("c0")
    for i in range(4):
        records.append(
            {
                **records[0],
                "outcome_id": f"sent-{i}",
                "kind": "sent",
                "step": "hello",
                "action_id": f"a{i}",
                "channel": "email",
            }
        )

    def receipt(kind: str, action: str, **props: Any) -> dict[str, Any]:
        return {"type": kind, "properties": {"action_id": action, **props}}

    receipts = [
        receipt("MessageSent", "a0"),
        receipt("MessageSent", "a1"),
        receipt("MessageSent", "a2"),
        receipt("MessageDelivered", "a0"),
        receipt("MessageDelivered", "a1"),
        receipt("MessageOpened", "a0"),
        receipt("MessageClicked", "a0"),
        receipt("MessageFailed", "a3", reason="hard bounce: mailbox unknown"),
        receipt("MessageDelivered", "not-ours"),
    ]
    (row,) = build_report(records, receipts).channels
    assert {k: row[k] for k in ("emitted", "sent", "delivered", "opened", "clicked")} == {
        "emitted": 4,
        "sent": 3,
        "delivered": 2,
        "opened": 1,
        "clicked": 1,
    }
    assert (row["failed"], row["bounced"], row["delivered_rate"]) == (1, 1, 0.5)


def test_suppressions_and_decisions_including_do_nothing() -> None:
    base = life("c0")[0]
    records = [base]
    for i, (kind, reason) in enumerate(
        [("suppressed", "consent"), ("suppressed", "consent"), ("held_out", "holdout")]
    ):
        records.append({**base, "outcome_id": f"s{i}", "kind": kind, "reason": reason, "step": "x"})
    for i, (choice, channel) in enumerate([("rest", None), ("mail", "email"), (None, None)]):
        records.append(
            {
                **base,
                "outcome_id": f"d{i}",
                "kind": "decided",
                "step": "nba",
                "choice": choice,
                "channel": channel,
            }
        )
    report = build_report(records)
    assert [(r["decision"], r["reason"], r["sends"]) for r in report.suppressions] == [
        ("held_out", "holdout", 1),
        ("suppressed", "consent", 2),
    ]
    assert sorted((r["choice"], r["count"]) for r in report.decisions) == [
        ("(none eligible)", 1),
        ("mail", 1),
        ("rest (do nothing)", 1),
    ]


def test_every_output_is_a_function_of_the_records() -> None:
    records = cohort(40, 20, False, "t", steps=("hello",)) + cohort(
        40, 10, True, "c", steps=("hello",)
    )
    first, second = build_report(records), build_report(list(reversed(records)))
    assert to_json(first) == to_json(second)
    assert to_html(first) == to_html(second)
    assert to_csv(first.lift) == to_csv(second.lift)
    assert "lift +25.0 pp" in text_summary(first)
    page = to_html(first)
    assert page.count("<svg") == 2 and "<script" not in page and "http" not in page


def test_a_journey_without_a_goal_has_no_conversion_rate() -> None:
    records = cohort(5, 0, False, "t")
    for record in records:
        if record["kind"] == "entered":
            record["goal"] = None
    report = build_report(records)
    (row,) = report.lift
    assert (row["entries"], row["rate"], row["conversions"]) == (5, None, None)
    assert row["verdict"].startswith("no goal")
    assert "no goal" in text_summary(report) and "<svg" not in to_html(report).split("<h2>")[1]


def test_the_programme_against_the_global_control_group() -> None:
    # t: treated, g: the global control group, h: a journey's own control entries (left out)
    records = cohort(70, 56, False, "t") + cohort(80, 48, False, "g") + cohort(10, 10, True, "h")
    for record in records:
        if record["kind"] == "entered":
            record["category"] = "promotional"
            record["global_control"] = record["customer_id"].startswith("g")
    report = build_report(records)
    (row,) = report.programme
    assert row["journey"] == "(all promotional journeys)"
    assert (row["entries"], row["conversions"]) == (70, 56)
    assert (row["control_entries"], row["control_conversions"]) == (80, 48)
    assert (row["lift"], row["lift_low"], row["lift_high"]) == pytest.approx(
        (0.2, 0.0524, 0.3339), abs=5e-5
    )
    assert "vs the global control group" in text_summary(report)
    assert build_report(cohort(5, 1, False, "t")).programme == []


def test_the_command_says_in_one_line_what_is_wrong(tmp_path: Any) -> None:
    import subprocess
    import sys

    def report(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app", "report", *args, "--out", str(tmp_path / "r")],
            capture_output=True,
            text=True,
            check=False,
        )

    missing = report("--outcomes", str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    assert "Traceback" not in missing.stderr
    neither = report()
    assert neither.returncode == 2 and "--outcomes FILE or --topic" in neither.stderr
    bad = tmp_path / "bad.jsonl"
    good = life("c0", goal_after=1)
    odd = {**good[0], "outcome_id": "x", "event_time": "yesterday"}
    lines = [
        "not json",
        *(orjson.dumps(r).decode() for r in good),
        "{}",
        orjson.dumps(odd).decode(),
    ]
    bad.write_text("\n".join(lines) + "\n")
    partial = report("--outcomes", str(bad))
    assert partial.returncode == 1  # the readable lines are reported, the others named
    assert f"{bad}:1: skipped: not JSON" in partial.stderr
    assert f"{bad}:{len(good) + 2}: skipped: not an outcome record" in partial.stderr
    assert f"{bad}:{len(good) + 3}: skipped: an outcome record it cannot use" in partial.stderr
    assert "j v1: 1 entries, 100.0 % converted" in partial.stdout
    bad_time = report("--outcomes", str(bad), "--since", "yesterday")
    assert bad_time.returncode == 2 and bad_time.stderr.startswith("--since:")


def test_service_and_loyalty_figures_by_hand() -> None:
    """Two treated customers and one control customer of journey j, entered at 10:00."""
    records = life("t1") + life("t2") + life("k1", control=True)

    def ev(kind: str, customer: str, clock: str, **props: Any) -> dict[str, Any]:
        return {
            "type": kind,
            "customer_id": customer,
            "timestamp": f"2026-11-23T{clock}:00Z",
            "properties": props,
        }

    events = [
        ev("OrderPlaced", "t1", "09:00", total=500.0),  # before the entry: not counted
        ev("OrderPlaced", "t1", "11:00", total=30.0),
        ev("OrderPlaced", "t2", "11:00", total=10.0),
        ev("OrderPlaced", "k1", "11:00", total=5.0),
        ev("TicketOpened", "t1", "10:30", ticket_id="a"),
        ev("TicketClosed", "t1", "12:30", ticket_id="a"),
        ev("TicketOpened", "t2", "10:30", ticket_id="b"),
        ev("TicketClosed", "t2", "14:30", ticket_id="b"),
        ev("SurveyAnswered", "t1", "13:00", survey="csat", score=5),
        ev("SurveyAnswered", "t2", "15:00", survey="csat", score=3),
        ev("SurveyAnswered", "k1", "15:00", survey="csat", score=2),
        ev("SurveyAnswered", "k1", "15:30", survey="csat", score=4),
        ev("SurveyAnswered", "t1", "13:10", survey="nps", score=10),
        ev("SurveyAnswered", "t2", "15:10", survey="nps", score=9),
        ev("SurveyAnswered", "k1", "15:10", survey="nps", score=3),
        ev("PageViewed", "k1", "16:00"),
    ]
    rows = {r["figure"]: r for r in build_report(records, events=events).service}
    assert (rows["customers"]["treatment"], rows["customers"]["control"]) == (2, 1)
    assert rows["tickets per customer"]["treatment"] == 1.0
    assert rows["handling time (median hours)"]["treatment"] == 3.0  # median of 2 h and 4 h
    assert rows["first-contact resolution"]["treatment"] is None  # not 7 days of data yet
    assert (rows["CSAT (1-5)"]["treatment"], rows["CSAT (1-5)"]["control"]) == (4.0, 3.0)
    # Welch on [5, 3] against [2, 4]: difference 1, both variances 2, t = 1 / sqrt(2), df 2
    csat = rows["CSAT (1-5)"]
    assert csat["difference"] == pytest.approx(1.0)
    assert csat["p_value"] == pytest.approx(0.5528, abs=1e-4)
    assert (csat["difference_low"], csat["difference_high"]) == pytest.approx(
        (1 - 4.302653 * 1.414214, 1 + 4.302653 * 1.414214), abs=1e-4
    )
    # NPS: treatment 2 promoters of 2 = +100; control 1 detractor of 1 = -100
    assert (rows["NPS"]["treatment"], rows["NPS"]["control"]) == (100.0, -100.0)
    assert rows["value per customer"]["treatment"] == 20.0  # (30 + 10) / 2, not the 500
    assert rows["value per customer"]["control"] == 5.0
    assert rows["retention after 7 days"]["treatment"] is None


def test_first_contact_resolution_and_retention_need_a_week_of_data() -> None:
    records = life("t1") + life("t2")

    def ev(kind: str, customer: str, day: int, **props: Any) -> dict[str, Any]:
        stamp = format_ms(parse_rfc3339("2026-11-23T12:00:00Z") + day * 86_400_000)
        return {"type": kind, "customer_id": customer, "timestamp": stamp, "properties": props}

    events = [
        ev("TicketOpened", "t1", 0, ticket_id="a"),
        ev("TicketClosed", "t1", 1, ticket_id="a"),
        ev("TicketOpened", "t1", 3, ticket_id="c"),  # back within 7 days: not resolved first time
        ev("TicketClosed", "t1", 4, ticket_id="c"),
        ev("TicketOpened", "t2", 0, ticket_id="b"),
        ev("TicketClosed", "t2", 1, ticket_id="b"),
        ev("PageViewed", "t2", 5),
        ev("PageViewed", "t1", 12),  # the data runs to day 12; t1 is still around after 7 days
    ]
    rows = {r["figure"]: r for r in build_report(records, events=events).service}
    # judged: a (closed day 1, reopened day 3), b (resolved), c (closed day 4, nothing after)
    assert rows["first-contact resolution"]["treatment"] == pytest.approx(2 / 3)
    assert rows["retention after 7 days"]["treatment"] == 0.5  # t1 yes, t2 no
    assert rows["customers"]["control"] == 0 and rows["CSAT (1-5)"]["difference"] is None


def test_retention_and_churn_by_entry_cohort_by_hand() -> None:
    """t1, t2 (treatment) and k1 (control) enter on 23 November, t3 on the 24th; the events run
    to 2 December, so every cohort has had its 7 days."""
    later = [{**r, "event_time": "2026-11-24T10:00:00Z"} for r in life("t3")]
    records = life("t1") + life("t2") + life("k1", control=True) + later

    def seen(customer: str, day: str) -> dict[str, Any]:
        stamp = f"2026-{day}T12:00:00Z"
        return {"type": "PageViewed", "customer_id": customer, "timestamp": stamp}

    events = [
        seen("t1", "12-01"),  # back 8 days after its entry: retained
        seen("t2", "11-25"),  # only 2 days after: churned
        seen("t3", "11-27"),  # 3 days after the 24th: churned
        seen("k1", "12-01"),
        seen("x", "12-02"),  # the last event seen: 2 December
    ]
    rows = [
        (r["cohort"], r["group"], r["customers"], r["observable"], r["retained"], r["churn_rate"])
        for r in build_report(records, events=events).cohorts
    ]
    assert rows == [
        ("2026-11-23", "control", 1, 1, 1, 0.0),
        ("2026-11-23", "treatment", 2, 2, 1, 0.5),
        ("2026-11-24", "treatment", 1, 1, 0, 1.0),
    ]
    # with the data ending on 29 November the 24th's cohort cannot be judged yet
    short = build_report(records, events=[*events[2:3], seen("x", "11-29")]).cohorts
    assert [(r["cohort"], r["observable"], r["churn_rate"]) for r in short][-1] == (
        "2026-11-24",
        0,
        None,
    )
