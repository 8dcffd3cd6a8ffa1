"""Identity resolution on the real broker (issue 7): one customer across devices and sessions.

One stream holds every scenario (distinct ids per scenario), produced in phases so that the
order the worker *processes* things in is the one each scenario is about (a producer cannot
order records of two keys otherwise: they may sit on different partitions). Two deployments
run the same phases side by side, one worker each: the second is "the same stream replayed".
Expected results come from the pure core (``replay_resolved``), never written down by hand.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from app.core.envelope import validate_event
from app.core.identity import IdentityConfig, hash_email
from app.core.identity_replay import replay_resolved
from app.core.journeys import Engine, load_journeys
from app.core.timeutil import format_ms
from app.stream.identity_agent import MARK_PREFIX
from app.topics.specs import TopicNames
from tests.integration.broker import BrokerUnderTest
from tests.integration.live_support import clock_events, live_actions, read_values
from tests.integration.support import ROOT, Deployment, WorkerProcess, envelope_bytes
from tests.integration.test_live_journeys import future_ms

JOURNEYS = Path(__file__).parent / "identity_journeys"
UNTIL_AFTER_MS = 200_000
FIELDS = ("counts", "first_seen", "last_seen", "attributes", "consent", "lifetime_value")


class Scenario:
    """The events of every case, by phase, with unique times (no ties to break)."""

    def __init__(self, start: int) -> None:
        self.start = start
        self.phases: list[list[dict[str, Any]]] = [[], [], [], []]
        self._n = 0

    def add(
        self,
        phase: int,
        at_s: float,
        etype: str,
        customer: str | None = None,
        anonymous: str | None = None,
        props: dict[str, Any] | None = None,
        **ids: str,
    ) -> None:
        self._n += 1
        event: dict[str, Any] = {
            "event_id": f"id-{self._n:04d}",
            "type": etype,
            "timestamp": format_ms(self.start + int(at_s * 1000) + self._n),
            "properties": props or {},
            "context": {"channel": "web", **({"identifiers": ids} if ids else {})},
        }
        if customer:
            event["customer_id"] = customer
        if anonymous:
            event["anonymous_id"] = anonymous
        self.phases[phase].append(event)

    @property
    def events(self) -> list[dict[str, Any]]:
        return [e for phase in self.phases for e in phase]


#: what x1's SDKs send for her address (SHA-256 of it, trimmed and lower-cased)
X1_EMAIL_HASH = hash_email("x1@example.com")


def build(start: int) -> Scenario:
    s = Scenario(start)
    # Cross-device: anonymous browsing on a phone (it came from an email link, so the SDK knows
    # the email's hash), login on a laptop via Identify, the phone's cart abandoned later.
    phone = {"device_id": "x1-phone", "email_hash": X1_EMAIL_HASH}
    for i in range(4):
        s.add(0, 1 + i, "PageViewed", anonymous="x1-pa", props={"url": f"/p{i}"}, **phone)
    s.add(0, 6, "CartUpdated", anonymous="x1-pa", props={"cart_value": 42.0, "items": 1}, **phone)
    s.add(0, 20, "Identify", "x1", "x1-la", {"email": "x1@example.com"}, device_id="x1-laptop")
    s.phases[0][-1]["context"]["identifiers"]["email_hash"] = X1_EMAIL_HASH
    s.add(0, 22, "PageViewed", anonymous="x1-la", device_id="x1-laptop")
    s.add(1, 90, "CartAbandoned", anonymous="x1-pa", props={"cart_value": 42.0}, **phone)
    # Identify before (b0), between (b1) and after (b2) the anonymous events, by processing
    # order; the event times are the same pattern for all three.
    for k in range(3):
        anon = f"b{k}-a"
        times = [30 + k + i for i in range(6)]
        kinds = ["PageViewed", "ProfileUpdated", "PageViewed", "PageViewed", "CartUpdated"]
        kinds.append("ProfileUpdated")
        props: list[dict[str, Any]] = [
            {},
            {"plan": "free"},
            {},
            {},
            {"cart_value": 9.0},
            {"tenure": 4},
        ]
        phase_of = {0: [1] * 6, 1: [0, 0, 0, 2, 2, 2], 2: [0] * 6}[k]
        for t, etype, p, ph in zip(times, kinds, props, phase_of, strict=True):
            s.add(ph, t, etype, anonymous=anon, props=p)
        identify_phase = {0: 0, 1: 1, 2: 1}[k]
        s.add(identify_phase, 32.5 + k, "Identify", f"b{k}", anon, {"email": "b@x", "plan": "pro"})
    # Conflict: a shared browser id claimed by a second customer.
    s.add(0, 50, "Identify", "k1", "k-shared", {"email": "k1@x"})
    s.add(1, 51, "Identify", "k2", "k-shared", {"email": "k2@x"})
    return s


class Run:
    """One deployment and its worker, driven through the phases."""

    def __init__(self, broker: BrokerUnderTest, tmp: Path) -> None:
        self.deployment = Deployment(broker, tmp)
        self.names = TopicNames(self.deployment.settings)
        self.worker = WorkerProcess(self.deployment, "0", ("--journeys", str(JOURNEYS))).start()

    def produce(self, events: list[dict[str, Any]]) -> None:
        self.deployment.produce([envelope_bytes(e) for e in events], self.names.events)

    def rows(self) -> dict[str, dict[str, Any]]:
        rows = self.deployment.latest_state(self.names.identity_changelog)
        return {
            k: {f: x for f, x in v.items() if f != "o"}
            for k, v in rows.items()
            if not k.startswith(MARK_PREFIX)
        }

    def records(self) -> dict[str, dict[str, Any]]:
        return self.deployment.latest_state(self.names.profiles_changelog)

    def profiles(self) -> dict[str, dict[str, Any]]:
        return {k: r["profile"] for k, r in self.records().items() if "profile" in r}

    def wait(self, what: str, check: Callable[[], bool], timeout_s: float = 60) -> None:
        self.worker.wait_for(what, check, timeout_s)


def pick(profile: dict[str, Any]) -> dict[str, Any]:
    return {f: profile[f] for f in FIELDS}


@pytest.fixture(scope="module")
def world(
    broker: BrokerUnderTest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    scenario = build(future_ms())
    until = scenario.start + UNTIL_AFTER_MS
    runs = [Run(broker, tmp_path_factory.mktemp(f"identity-{i}")) for i in range(2)]
    clock = clock_events(runs[0].deployment.settings.partitions, until, "end")
    scenario.phases[3] = clock
    events = scenario.events
    result, identity, states = replay_resolved(
        [validate_event(e) for e in events],
        Engine(load_journeys(JOURNEYS)),
        IdentityConfig(),
        until,
        None,
        True,
    )
    clock_keys = {e["customer_id"] for e in clock}
    expected_profiles = {k: pick(p) for k, (p, _) in states.items() if k not in clock_keys}

    def owned(run: Run, *idents: str) -> Callable[[], bool]:
        return lambda: set(idents) <= set(run.rows())

    def counted(run: Run, key: str, n: int) -> Callable[[], bool]:
        return lambda: sum(run.profiles().get(key, {}).get("counts", {}).values()) >= n

    def live_profiles(run: Run) -> dict[str, dict[str, Any]]:
        return {k: pick(p) for k, p in run.profiles().items() if k not in clock_keys}

    def settled(run: Run) -> Callable[[], bool]:
        return lambda: live_profiles(run) == expected_profiles

    try:
        for run in runs:
            run.produce(scenario.phases[0])
        for run in runs:  # what phase 1 must find processed
            run.wait("phase 0", owned(run, f"email_hash:{X1_EMAIL_HASH}", "anonymous_id:k-shared"))
            run.wait("b1 half", counted(run, "b1-a", 3))
            run.wait("b2 all", counted(run, "b2-a", 6))
            run.produce(scenario.phases[1])
        for run in runs:
            run.wait("phase 1", owned(run, "anonymous_id:b1-a", "anonymous_id:b0-a"))
            run.produce(scenario.phases[2])
        for run in runs:
            try:
                run.wait("the merged profiles", settled(run))
            except AssertionError:
                live = live_profiles(run)
                diff = {
                    k: (live.get(k), expected_profiles.get(k))
                    for k in set(live) | set(expected_profiles)
                    if live.get(k) != expected_profiles.get(k)
                }
                log = run.worker.log()[-3000:]
                raise AssertionError(f"profiles differ: {diff}\n{log}") from None
            run.produce(scenario.phases[3])  # time moves on: the cart reminder is due
        wanted = {a["action_id"] for a in result.actions}
        for run in runs:
            run.wait(
                "the expected actions",
                lambda run=run: wanted <= {a["action_id"] for a in live_actions(run.deployment)},
            )
            # actions are out before the state that made them is checkpointed: wait for the
            # last phase's state too, so that the tests compare finished runs
            run.wait("the last phase's profiles", lambda run=run: clock_keys <= set(run.profiles()))
        yield {
            "runs": runs,
            "events": events,
            "until": until,
            "result": result,
            "identity": identity,
            "states": states,
        }
    finally:
        for run in runs:
            run.worker.stop()


def test_the_cross_device_flow_ends_in_one_profile_the_cart_journey_sees_it_all(
    world: dict[str, Any],
) -> None:
    run: Run = world["runs"][0]
    states = world["states"]
    profiles = run.profiles()
    records = run.records()
    # One profile: the phone's and the laptop's anonymous ids are tombstones pointing at x1.
    assert "x1-pa" not in profiles and "x1-la" not in profiles and "x1" in profiles
    assert records["x1-pa"]["merged_into"] == records["x1-la"]["merged_into"] == "x1"
    assert pick(profiles["x1"]) == pick(states["x1"][0])
    phone_pages = sum(
        1 for e in world["events"] if e.get("anonymous_id") == "x1-pa" and e["type"] == "PageViewed"
    )
    assert profiles["x1"]["counts"]["PageViewed"] == phone_pages + 1  # + the laptop's
    # The cart journey ran for the customer and its send saw the whole history.
    sent = [a for a in live_actions(run.deployment) if a["journey"] == "cart_history"]
    expected = [a for a in world["result"].actions if a["journey"] == "cart_history"]
    assert [a["customer_id"] for a in sent] == [a["customer_id"] for a in expected] == ["x1"]
    assert sent[0]["action_id"] == expected[0]["action_id"]
    assert sent[0]["data"] == expected[0]["data"]
    assert sent[0]["data"]["pages"] == profiles["x1"]["counts"]["PageViewed"]
    phone_first = min(e["timestamp"] for e in world["events"] if e.get("anonymous_id") == "x1-pa")
    assert sent[0]["data"]["first_seen"] == format_ms(profiles["x1"]["first_seen"]) == phone_first


def test_identify_before_between_and_after_gives_the_same_profile(world: dict[str, Any]) -> None:
    run: Run = world["runs"][0]
    profiles = run.profiles()
    states = world["states"]
    for k in range(3):
        assert f"b{k}-a" not in profiles
        assert pick(profiles[f"b{k}"]) == pick(states[f"b{k}"][0])
    shifted = []  # the three cases' events differ by a shift of k seconds (+ k ms of ids)
    for k in range(3):
        p = pick(profiles[f"b{k}"])
        shifted.append((p["counts"], p["attributes"], p["consent"], p["lifetime_value"]))
    assert shifted[0] == shifted[1] == shifted[2]


def test_a_conflicting_identify_lands_on_the_review_topic(world: dict[str, Any]) -> None:
    run: Run = world["runs"][0]
    reviews = read_values(run.deployment, [run.names.identity_review])
    fields = ("identifier", "customer_id", "claimed_by", "event_id")
    assert sorted(tuple(r[f] for f in fields) for r in reviews) == sorted(
        tuple(c[f] for f in fields) for c in world["identity"].conflicts
    )
    assert [(r["customer_id"], r["claimed_by"]) for r in reviews] == [("k1", "k2")]
    profiles = run.profiles()
    assert "k1" in profiles and "k2" in profiles  # never merged
    assert run.records()["k-shared"]["merged_into"] == "k1"


def test_the_same_stream_twice_gives_the_same_result_and_replay_agrees(
    world: dict[str, Any], tmp_path: Path
) -> None:
    first, second = world["runs"]
    assert first.rows() == second.rows() == world["identity"].rows
    assert {k: pick(p) for k, p in first.profiles().items()} == {
        k: pick(p) for k, p in second.profiles().items()
    }
    ids = [{a["action_id"] for a in live_actions(r.deployment)} for r in (first, second)]
    assert ids[0] == ids[1] == {a["action_id"] for a in world["result"].actions}
    # segue replay, twice, on the same stream: byte-identical, and the live actions
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in world["events"]))
    outputs = []
    for i in range(2):
        out = tmp_path / f"actions-{i}.jsonl"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "app",
                "replay",
                "--events",
                str(path),
                *replay_args(out, world["until"]),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    assert {orjson.loads(line)["action_id"] for line in outputs[0].splitlines()} == ids[0]


def replay_args(out: Path, until: int) -> list[str]:
    return ["--journeys", str(JOURNEYS), "--out", str(out), "--until", format_ms(until)]


def test_profile_get_accepts_any_identifier(world: dict[str, Any]) -> None:
    run: Run = world["runs"][0]
    expected = world["states"]["x1"][0]
    linked = world["identity"].identifiers_of_customer("x1")
    for identifier in (
        "x1",
        "x1-pa",
        f"email_hash:{X1_EMAIL_HASH}",
        "email_hash:X1@example.com",  # an address: hashed as ingest hashes one
        "device_id:x1-phone",
        "anonymous_id:x1-la",
    ):
        shown = subprocess.run(
            [sys.executable, "-m", "app", "profile", "get", identifier, "--json"],
            cwd=ROOT,
            env=run.deployment.env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert shown.returncode == 0, (identifier, shown.stderr)
        got = orjson.loads(shown.stdout)
        assert got["id"] == "x1" and got["counts"] == expected["counts"], identifier
        assert got["linked_identities"] == linked
        # the anonymous ids that had a profile of their own when they merged
        assert set(got["merged_anonymous_ids"]) <= {"x1-la", "x1-pa"}
