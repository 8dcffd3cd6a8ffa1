"""Spec "Semantics": holdout, split and action ids (expected hashes computed here)."""

from __future__ import annotations

from pathlib import Path

from tests.unit.conformance.harness import event, ok, replay, ts, unit

CUSTOMERS = [f"cust-{i}" for i in range(40)]


def test_holdout_formula_and_control_sends_are_held_out(tmp_path: Path) -> None:
    """ "an entry is in the control group when int(sha256(f"{journey_id}:{customer_id}")
    .hexdigest()[:8], 16) / 2**32 < holdout. Control entries walk the same steps ... but
    their sends are recorded as held out and never emitted." """
    j = """\
id: promo
version: 1
holdout: 0.3
trigger: {event: A}
steps:
  - {id: s1, send: {channel: email, template: t}}
  - {id: w, wait: 1h}
  - {id: s2, send: {channel: email, template: t}}
"""
    events = [event(f"e-{c}", "A", ts("10:00"), customer=c) for c in CUSTOMERS]
    run = ok(replay(tmp_path, [j], events, until=ts("12:00")))
    control = {c for c in CUSTOMERS if unit(f"promo:{c}") < 0.3}
    assert 0 < len(control) < len(CUSTOMERS)  # the sample has both groups
    assert {a["customer_id"] for a in run.actions} == set(CUSTOMERS) - control
    assert sorted((d["customer_id"], d["step"]) for d in run.decisions) == sorted(
        (c, s) for c in control for s in ("s1", "s2")
    )
    assert {(d["decision"], d["reason"]) for d in run.decisions} == {("held_out", "holdout")}


def test_control_entries_are_measured_for_the_goal(tmp_path: Path) -> None:
    """ "Control entries walk the same steps and are measured for the goal": a goal ends a
    control entry too, so its later send is not even recorded as held out."""
    control = next(c for c in CUSTOMERS if unit(f"promo:{c}") < 0.5)
    j = """\
id: promo
version: 1
holdout: 0.5
trigger: {event: A}
goal: {event: OrderPlaced, within: 1d}
steps:
  - {id: s1, send: {channel: email, template: t}}
  - {id: w, wait: 1h}
  - {id: s2, send: {channel: email, template: t}}
"""
    events = [
        event("e1", "A", ts("10:00"), customer=control),
        event("e2", "OrderPlaced", ts("10:30"), customer=control),
    ]
    run = ok(replay(tmp_path, [j], events, until=ts("12:00")))
    assert run.actions == []
    assert run.why() == [(ts("10:00"), control, "s1", "held_out", "holdout")]


def test_split_formula_and_variant_on_later_actions(tmp_path: Path) -> None:
    """ "with u = int(sha256(f"{journey_id}:{step_id}:{customer_id}").hexdigest()[:8], 16) /
    2**32, the first variant whose cumulative weight share exceeds u is chosen"; "the chosen
    variant is recorded on the entry and on every later action"."""
    j = """\
id: ab
version: 1
trigger: {event: A}
steps:
  - {id: before, send: {channel: email, template: t}}
  - id: pick
    split:
      - {variant: red, weight: 1, goto: red_send}
      - {variant: green, weight: 1, goto: green_send}
      - {variant: blue, weight: 2, goto: blue_send}
  - {id: red_send, send: {channel: email, template: red}, next: later}
  - {id: green_send, send: {channel: email, template: green}, next: later}
  - {id: blue_send, send: {channel: email, template: blue}, next: later}
  - {id: later, send: {channel: push, template: t}}
"""
    events = [event(f"e-{c}", "A", ts("10:00"), customer=c) for c in CUSTOMERS]
    run = ok(replay(tmp_path, [j], events))
    expected = {}
    for c in CUSTOMERS:
        u = unit(f"ab:pick:{c}")
        expected[c] = "red" if u < 0.25 else "green" if u < 0.5 else "blue"
    assert len(set(expected.values())) == 3
    got = {(a["customer_id"], a["step"]): (a["variant"], a["template"]) for a in run.actions}
    for c, variant in expected.items():
        assert got[(c, "before")] == (None, "t")
        assert got[(c, f"{variant}_send")] == (variant, variant)
        assert got[(c, "later")] == (variant, "t")
    assert len(run.actions) == 3 * len(CUSTOMERS)


def test_entry_variant_is_visible_to_expressions(tmp_path: Path) -> None:
    """ "Besides event, profile and scores, expressions see entry: ... entry.variant"."""
    j = """\
id: ab
version: 1
trigger: {event: A}
steps:
  - id: pick
    split:
      - {variant: x, weight: 1, goto: route}
      - {variant: y, weight: 1, goto: route}
  - id: route
    branch:
      - {when: "entry.variant == 'x'", goto: sx}
      - {goto: sy}
  - {id: sx, send: {channel: email, template: x}, next: end}
  - {id: sy, send: {channel: email, template: y}}
"""
    events = [event(f"e-{c}", "A", ts("10:00"), customer=c) for c in CUSTOMERS]
    run = ok(replay(tmp_path, [j], events))
    for a in run.actions:
        u = unit(f"ab:pick:{a['customer_id']}")
        assert a["template"] == ("x" if u < 0.5 else "y")
        assert a["variant"] == a["template"]


def test_action_ids_are_stable_and_distinct(tmp_path: Path) -> None:
    """ "action_id is a stable hash of (journey id, version, customer id, entry number, step id
    [, visit])", "so the same input always gives the same ids": two replays agree, and every
    (customer, entry, step, visit) gets its own id."""
    j = """\
id: loop
version: 1
trigger: {event: A}
steps:
  - {id: ping, send: {channel: email, template: t}}
  - {id: w, wait: 1h}
  - id: again
    branch:
      - {when: "profile.counts.A < 2", goto: ping}
      - {goto: end}
"""
    events = [
        event("e1", "A", ts("10:00"), customer="c1"),
        event("e2", "A", ts("10:00"), customer="c2"),
        event("e3", "Other", ts("13:00"), customer="c1"),
    ]
    first = ok(replay(tmp_path / "1", [j], events))
    second = ok(replay(tmp_path / "2", [j], list(reversed(events))))
    assert first.raw_actions == second.raw_actions
    # the loop returns to `ping`: visits 1, 2, 3, ... each within the same entry
    pings = [(a["customer_id"], a["event_time"], a["context"]["visit"]) for a in first.actions]
    assert (("c1", ts("10:00"), 1) in pings) and (("c1", ts("11:00"), 2) in pings)
    ids = [a["action_id"] for a in first.actions]
    assert len(set(ids)) == len(ids)


def test_action_id_changes_with_version_and_entry(tmp_path: Path) -> None:
    """ "action_id hashes (journey id, version, customer id, entry number, step id, visit)":
    another version or another entry gives another id; the same gives the same."""

    def ids(version: int, folder: str) -> list[str]:
        j = f"id: j\nversion: {version}\ntrigger: {{event: A}}\nsteps:\n  - {{id: s, send: {{channel: email, template: t}}}}\n"
        events = [event("e1", "A", ts("10:00")), event("e2", "A", ts("11:00"))]
        run = ok(replay(tmp_path / folder, [j], events))
        assert [a["journey_version"] for a in run.actions] == [version, version]
        return [a["action_id"] for a in run.actions]

    v1 = ids(1, "a")
    assert v1 == ids(1, "b")
    v2 = ids(2, "c")
    assert len(set(v1 + v2)) == 4
