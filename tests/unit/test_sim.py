"""The simulator: validity, determinism, counts, order, and the behaviour it models."""

from __future__ import annotations

from collections import Counter, defaultdict

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.envelope import decode_event, validate_event
from app.core.timeutil import parse_rfc3339
from app.sim import DEFAULT_START_MS, planned_count, simulate
from app.sim.calibration import SHOPPERS
from tests.unit.sim_helpers import LONG_DURATION_S, long_run

VOCABULARY = {
    "Identify", "ProfileUpdated", "SessionStarted", "PageViewed", "ProductViewed",
    "CartUpdated", "CartAbandoned", "CheckoutStarted", "OrderPlaced", "PaymentFailed",
    "PaymentRetried", "PaymentSucceeded", "TicketOpened", "TicketClosed", "ConsentUpdated",
    "Unsubscribed", "SignedUp", "OnboardingStepCompleted", "AppointmentBooked",
    "AppointmentMissed", "SurveyAnswered",
}  # fmt: skip


def _run(seed: int = 1, rate: float = 50.0, duration: float = 120.0, **kw: object) -> list:
    return list(simulate(seed, rate, duration, DEFAULT_START_MS, **kw))  # type: ignore[arg-type]


def test_every_event_is_a_valid_envelope_in_the_vocabulary() -> None:
    for event in long_run():
        assert isinstance(event, dict)
        normalised = validate_event(event)
        assert decode_event(orjson.dumps(event)) == normalised
        assert event["type"] in VOCABULARY
        assert normalised["timestamp"] == event["timestamp"]  # already normalised UTC


def test_the_long_run_exercises_the_whole_vocabulary() -> None:
    seen = {event["type"] for event in long_run()}
    assert seen == VOCABULARY


def test_same_seed_same_output_other_seed_other_output() -> None:
    first = _run(seed=11, malformed_rate=0.05)
    assert first == _run(seed=11, malformed_rate=0.05)
    assert orjson.dumps([e for e in first if isinstance(e, dict)]) != orjson.dumps(
        [e for e in _run(seed=12, malformed_rate=0.05) if isinstance(e, dict)]
    )


@pytest.mark.parametrize(("rate", "duration"), [(1.0, 1.0), (0.5, 7.0), (33.3, 60.0), (800, 5)])
def test_count_is_rate_times_duration(rate: float, duration: float) -> None:
    events = _run(rate=rate, duration=duration)
    assert len(events) == planned_count(rate, duration) == round(rate * duration)


def test_zero_duration_gives_nothing_and_bad_arguments_are_refused() -> None:
    assert _run(duration=0.0) == []
    with pytest.raises(ValueError, match="rate"):
        _run(rate=0.0)
    with pytest.raises(ValueError, match="customers"):
        _run(customers=0)
    with pytest.raises(ValueError, match="malformed_rate"):
        _run(malformed_rate=1.5)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(-(2**31), 2**31),
    rate=st.floats(0.05, 400.0),
    duration=st.floats(0.0, 120.0),
    customers=st.one_of(st.none(), st.integers(1, 50)),
)
def test_any_run_is_sorted_within_its_window_with_unique_ordered_ids(
    seed: int, rate: float, duration: float, customers: int | None
) -> None:
    events = list(simulate(seed, rate, duration, DEFAULT_START_MS, customers=customers))
    assert len(events) == round(rate * duration)
    times = [parse_rfc3339(e["timestamp"]) for e in events]  # type: ignore[index]
    assert times == sorted(times)
    assert all(DEFAULT_START_MS <= t < DEFAULT_START_MS + duration * 1000 for t in times)
    ids = [e["event_id"] for e in events]  # type: ignore[index]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)  # ties in time are broken by id: id order is emission order
    for event in events:
        validate_event(event)


def test_small_pool_uses_only_its_customers() -> None:
    events = _run(rate=200.0, duration=60.0, customers=3)
    assert {e["customer_id"] for e in events} - {None} <= {"c-000000", "c-000001", "c-000002"}


def _by(events: tuple, key: str, *types: str) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = defaultdict(list)
    for event in events:
        if event["type"] in types:
            grouped[event["properties"][key]].append(event)
    return grouped


def test_payment_failure_precedes_its_retry_and_success_ends_it() -> None:
    events = long_run()
    orders = _by(events, "order_id", "OrderPlaced")
    payments = _by(events, "order_id", "PaymentFailed", "PaymentRetried", "PaymentSucceeded")
    assert any(e["type"] == "PaymentRetried" for seq in payments.values() for e in seq)
    for order_id, seq in payments.items():
        assert order_id in orders  # the order came first ...
        assert orders[order_id][0]["event_id"] < seq[0]["event_id"]
        failures = 0
        for event in seq:
            if event["type"] == "PaymentFailed":
                failures += 1
            elif event["type"] == "PaymentRetried":
                assert failures > 0  # ... a retry only follows a failure
                failures -= 1
        assert all(e["type"] != "PaymentSucceeded" for e in seq[:-1])  # success is final
        assert {e["customer_id"] for e in seq} == {orders[order_id][0]["customer_id"]}


def test_a_ticket_closes_once_and_only_after_it_opened() -> None:
    tickets = _by(long_run(), "ticket_id", "TicketOpened", "TicketClosed")
    closed = 0
    for seq in tickets.values():
        assert seq[0]["type"] == "TicketOpened"
        assert [e["type"] for e in seq[1:]] in ([], ["TicketClosed"])
        assert len({e["customer_id"] for e in seq}) == 1
        closed += len(seq) - 1
    assert closed > 0
    assert {e["properties"]["severity"] for s in tickets.values() for e in s[:1]} == {
        "low", "medium", "high",
    }  # fmt: skip


def test_identify_links_an_anonymous_id_used_before_to_one_customer() -> None:
    seen_anonymous: set[str] = set()
    linked: dict[str, str] = {}
    identifies = 0
    for event in long_run():
        anon, cid = event["anonymous_id"], event["customer_id"]
        if event["type"] == "Identify":
            identifies += 1
            assert anon in seen_anonymous and cid
            assert linked.setdefault(anon, cid) == cid
            assert {"email", "name"} <= event["properties"].keys()
        elif anon is not None:
            assert cid is None  # only Identify carries both ids
            seen_anonymous.add(anon)
    assert identifies > 0
    assert len(seen_anonymous) > len(linked)  # some visitors stay anonymous


def test_sign_up_identifies_then_sends_a_record_and_onboarding_follows() -> None:
    events = long_run()
    first_seen: dict[str, str] = {}
    for event in events:
        cid = event["customer_id"]
        if cid and cid not in first_seen:
            first_seen[cid] = event["type"]
    signed = [e["customer_id"] for e in events if e["type"] == "SignedUp"]
    assert signed
    for cid in signed:
        assert first_seen[cid] == "Identify"  # a prospect is unknown until it links itself
    onboarded = {e["customer_id"] for e in events if e["type"] == "OnboardingStepCompleted"}
    assert onboarded and onboarded <= set(signed)


def test_cart_abandonment_and_orders_carry_values() -> None:
    events = long_run()
    for event in events:
        props = event["properties"]
        if event["type"] in ("CartUpdated", "CartAbandoned", "CheckoutStarted"):
            assert props["cart_value"] > 0
        if event["type"] in ("CartUpdated", "CartAbandoned", "OrderPlaced"):
            items = props["items"]
            assert items and all(i["quantity"] >= 1 and i["price"] > 0 for i in items)
            value = props.get("cart_value", props.get("total"))
            assert value == pytest.approx(sum(i["quantity"] * i["price"] for i in items))


def test_a_missed_appointment_comes_after_its_slot() -> None:
    booked = _by(long_run(), "appointment_id", "AppointmentBooked", "AppointmentMissed")
    missed = 0
    for seq in booked.values():
        assert seq[0]["type"] == "AppointmentBooked"
        at = parse_rfc3339(seq[0]["properties"]["at"])
        assert at > parse_rfc3339(seq[0]["timestamp"])
        for event in seq[1:]:
            missed += 1
            assert parse_rfc3339(event["timestamp"]) >= at
    assert missed > 0


def test_crm_records_are_consistent_like_the_telco_data() -> None:
    full = [
        e["properties"]
        for e in long_run()
        if e["type"] == "ProfileUpdated" and "gender" in e["properties"]
    ]
    assert len(full) > 100
    for rec in full:
        assert (rec["multiple_lines"] == "No phone service") == (rec["phone_service"] == "No")
        no_net = rec["internet_service"] == "No"
        assert (rec["online_security"] == "No internet service") == no_net
        assert rec["senior_citizen"] in (0, 1)
        assert 18.25 <= rec["monthly_charges"] <= 118.75
        assert 1 <= rec["tenure"] <= 72
        assert rec["timezone"].count("/") == 1
    contracts = Counter(rec["contract"] for rec in full)
    assert contracts["Month-to-month"] > contracts["One year"]  # as in the data (55 % / 21 %)


def test_sessions_resemble_the_online_shoppers_data() -> None:
    events = long_run()
    pages = [e for e in events if e["type"] in ("PageViewed", "ProductViewed")]
    kinds = Counter(
        "product_related" if e["type"] == "ProductViewed" else e["properties"]["page_type"]
        for e in pages
    )
    assert kinds["product_related"] > kinds["administrative"] > kinds["informational"] > 0
    for event in pages:
        props = event["properties"]
        assert 0.0 <= props["bounce_rate"] <= 0.2 and 0.0 <= props["exit_rate"] <= 0.2
        assert props["duration_s"] >= 0 and props["page_value"] >= 0
    zero_value = sum(e["properties"]["page_value"] == 0 for e in pages) / len(pages)
    p_buy = SHOPPERS["p_revenue"]
    expected = (
        p_buy * SHOPPERS["buyer"]["page_value"]["p_zero"]
        + (1 - p_buy) * SHOPPERS["browser"]["page_value"]["p_zero"]
    )
    assert zero_value == pytest.approx(expected, abs=0.12)
    visitor = Counter(
        e["properties"]["visitor_type"] for e in events if e["type"] == "SessionStarted"
    )
    assert visitor.most_common(1)[0][0] == "Returning_Visitor"


def test_churn_prone_customers_are_quieter() -> None:
    from app.sim.customers import pool_traits

    events = long_run()
    per_customer = Counter(e["customer_id"] for e in events if e["customer_id"])
    churner, _ = pool_traits(max(int(c[2:]) for c in per_customer) + 1)
    quiet = [n for c, n in per_customer.items() if churner[int(c[2:])]]
    loud = [n for c, n in per_customer.items() if not churner[int(c[2:])]]
    assert sum(quiet) / len(quiet) < sum(loud) / len(loud)


def test_traits_do_not_depend_on_the_seed() -> None:
    def records(seed: int) -> dict[str, dict]:
        out = {}
        for e in simulate(seed, 20.0, 600.0, DEFAULT_START_MS, customers=50):
            if e["type"] == "ProfileUpdated" and "gender" in e["properties"]:  # type: ignore[index]
                out.setdefault(e["customer_id"], e["properties"])  # type: ignore[index]
        return out

    a, b = records(1), records(2)
    common = a.keys() & b.keys()
    assert common
    for cid in common:
        if a[cid]["tenure"] != 1 and b[cid]["tenure"] != 1:  # not a fresh sign-up in either
            assert a[cid] == b[cid]


def test_long_run_spans_its_window() -> None:
    events = long_run()
    last = parse_rfc3339(events[-1]["timestamp"])
    assert last > DEFAULT_START_MS + LONG_DURATION_S * 1000 - 60_000
