"""Identity graph rules: keys, links, merges, conflicts (app/core/identity.py)."""

from __future__ import annotations

import hashlib
from itertools import count
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.identity import (
    DEFAULT_PRIORITY,
    MAX_REMEMBERED,
    IdentityConfig,
    Link,
    LinkResult,
    Resolution,
    apply_link,
    email_key,
    hash_email,
    identifiers_of,
    phone_key,
    resolve,
)

CONFIG = IdentityConfig()
_ids = count(1)
H1 = hash_email("ann@example.com")  # an email_hash as SDKs send it


def ev(
    customer: str | None = None,
    anonymous: str | None = None,
    etype: str = "PageViewed",
    **identifiers: str,
) -> dict[str, Any]:
    """A normalised event (the fields identity reads)."""
    return {
        "event_id": f"e-{next(_ids)}",
        "type": etype,
        "customer_id": customer,
        "anonymous_id": anonymous,
        "timestamp": "2026-11-23T10:00:00Z",
        "ts": 0,
        "properties": {},
        "context": {"identifiers": identifiers} if identifiers else {},
        "key": customer or anonymous,
    }


class Graph:
    """The identity table as the shell will hold it: look up, resolve, write back."""

    def __init__(self, config: IdentityConfig = CONFIG) -> None:
        self.config = config
        self.rows: dict[str, Link] = {}

    def see(self, event: dict[str, Any]) -> Resolution:
        ids = identifiers_of(event, self.config)
        current = {i: self.rows[i] for i in ids if i in self.rows}
        result = resolve(event, current, self.config)
        self.rows.update(result.links)
        return result


def test_an_anonymous_event_of_an_unknown_visitor_stays_under_its_anonymous_id() -> None:
    assert Graph().see(ev(anonymous="a-1")) == Resolution("a-1", {}, [], [])


def test_identify_links_the_anonymous_id_and_asks_for_a_merge() -> None:
    g = Graph()
    r = g.see(ev("c-1", "a-1", "Identify"))
    assert r == Resolution("c-1", {"anonymous_id:a-1": {"c": "c-1"}}, [("a-1", "c-1")], [])
    later = g.see(ev(anonymous="a-1"))  # the visitor's next anonymous event is the customer's
    assert later == Resolution("c-1", {}, [], [])


def test_re_sending_the_same_identify_changes_nothing() -> None:
    g = Graph()
    identify = ev("c-1", "a-1", "Identify", email_hash=H1, device_id="d1")
    g.see(identify)
    rows = dict(g.rows)
    assert g.see(identify) == Resolution("c-1", {}, [], [])
    assert g.rows == rows


def test_any_event_with_a_customer_id_links_what_it_carries() -> None:
    g = Graph()
    r = g.see(ev("c-1", "a-1", "CartUpdated"))
    assert r.merges == [("a-1", "c-1")]


def test_an_identifier_of_another_customer_is_a_conflict_and_nothing_changes() -> None:
    g = Graph()
    g.see(ev("c-1", "a-1", "Identify"))
    r = g.see(ev("c-2", "a-1", "Identify"))
    assert r.key == "c-2"  # the event is its own customer's
    assert r.merges == []
    assert [(c["identifier"], c["customer_id"], c["claimed_by"]) for c in r.conflicts] == [
        ("anonymous_id:a-1", "c-1", "c-2")
    ]
    assert g.rows["anonymous_id:a-1"]["c"] == "c-1"  # never moved to the claimant
    assert g.see(ev(anonymous="a-1")).key == "c-1"


def test_a_conflict_is_reported_once_per_claimant() -> None:
    g = Graph()
    g.see(ev("c-1", "a-1", "Identify"))
    assert len(g.see(ev("c-2", "a-1", "Identify")).conflicts) == 1
    assert g.see(ev("c-2", "a-1", "Identify")) == Resolution("c-2", {}, [], [])
    assert len(g.see(ev("c-3", "a-1", "Identify")).conflicts) == 1


def test_claimants_beyond_the_remembered_ones_are_reported_every_time() -> None:
    g = Graph()
    g.see(ev("c-0", "a-1", "Identify"))
    for i in range(1, MAX_REMEMBERED + 1):
        assert len(g.see(ev(f"c-{i}", "a-1")).conflicts) == 1
    late = f"c-{MAX_REMEMBERED + 1}"
    assert len(g.see(ev(late, "a-1")).conflicts) == 1
    assert len(g.see(ev(late, "a-1")).conflicts) == 1
    assert len(g.rows["anonymous_id:a-1"]["x"]) == MAX_REMEMBERED


def test_a_known_device_resolves_a_new_anonymous_id_and_links_it() -> None:
    g = Graph()
    g.see(ev("c-1", "a-1", "Identify", device_id="d1"))
    r = g.see(ev(anonymous="a-2", device_id="d1"))
    assert r.key == "c-1"
    assert r.links == {"anonymous_id:a-2": {"c": "c-1"}}
    assert r.merges == [("a-2", "c-1")]


def test_the_highest_priority_owned_identifier_decides_and_the_rest_conflict() -> None:
    g = Graph()
    g.see(ev("c-1", email_hash=H1))
    g.see(ev("c-2", device_id="d1"))
    r = g.see(ev(anonymous="a-9", device_id="d1", email_hash=H1))
    assert r.key == "c-1"  # email_hash ranks above device_id
    assert r.merges == [("a-9", "c-1")]
    assert [
        (c["identifier"], c["customer_id"], c["claimed_by"], c["claimed_via"]) for c in r.conflicts
    ] == [("device_id:d1", "c-2", "c-1", f"email_hash:{H1}")]

    by_device = Graph(IdentityConfig(("device_id", "anonymous_id", "email_hash")))
    by_device.rows = {k: v for k, v in g.rows.items() if not k.startswith("anonymous_id:a-9")}
    assert by_device.see(ev(anonymous="a-9", device_id="d1", email_hash=H1)).key == "c-2"


def test_kinds_outside_the_priority_and_junk_values_are_ignored() -> None:
    config = IdentityConfig(("anonymous_id", "email_hash"))
    event = ev(anonymous="a-1", device_id="d1", email_hash=H1, phone_hash="")
    event["context"]["identifiers"]["other"] = "x"
    assert identifiers_of(event, config) == ["anonymous_id:a-1", f"email_hash:{H1}"]
    event["context"]["identifiers"]["email_hash"] = 12
    assert identifiers_of(event, config) == ["anonymous_id:a-1"]
    assert identifiers_of(ev("c-1"), config) == []


def test_an_email_hash_is_a_lower_case_sha256_whatever_the_producer_sent() -> None:
    assert hashlib.sha256(b"ann@example.com").hexdigest() == H1
    assert email_key(H1) == H1
    assert email_key(f" {H1.upper()} ") == H1  # the same hash in capitals is the same person
    # anything that is not a SHA-256 in hex is taken for the address: hashed, never kept
    assert email_key(" Ann@Example.COM ") == H1
    assert email_key(H1[:40]) == hash_email(H1[:40])  # another hash is not mistaken for ours
    event = ev(anonymous="a-1", email_hash="Ann@Example.com")
    assert identifiers_of(event, CONFIG) == ["anonymous_id:a-1", f"email_hash:{H1}"]
    event["context"]["identifiers"]["email_hash"] = "   "
    assert identifiers_of(event, CONFIG) == ["anonymous_id:a-1"]


def test_an_address_sent_as_email_hash_resolves_to_the_owner_of_its_hash() -> None:
    g = Graph()
    g.see(ev("c-1", "a-1", "Identify", email_hash=H1))
    r = g.see(ev(anonymous="a-2", email_hash="ann@example.com"))
    assert r.key == "c-1"
    assert r.links == {"anonymous_id:a-2": {"c": "c-1"}}
    assert not [ident for ident in g.rows if "@" in ident]


def test_an_id_used_as_both_customer_and_anonymous_id_is_not_merged_into_itself() -> None:
    assert Graph().see(ev("x", "x", "Identify")).merges == []


@pytest.mark.parametrize(
    "priority", [("email_hash",), ("anonymous_id", "anonymous_id"), ("anonymous_id", "ssn")]
)
def test_a_bad_priority_is_refused(priority: tuple[str, ...]) -> None:
    with pytest.raises(ValueError):
        IdentityConfig(priority)


def test_the_default_priority_is_valid() -> None:
    assert IdentityConfig().priority == DEFAULT_PRIORITY


# -- properties over random streams ------------------------------------------------------------

CUSTOMERS = [None, None, "c-1", "c-2", "c-3"]
ANONYMOUS = [None, "a-1", "a-2", "a-3", "a-4"]
events_st = st.lists(
    st.builds(
        lambda c, a, d, e, t: ev(
            c or (None if a else "c-1"),
            a,
            t,
            **{k: v for k, v in (("device_id", d), ("email_hash", e)) if v},
        ),
        st.sampled_from(CUSTOMERS),
        st.sampled_from(ANONYMOUS),
        st.sampled_from([None, "d1", "d2"]),
        st.sampled_from([None, "h1", "h2"]),
        st.sampled_from(["Identify", "PageViewed"]),
    ),
    max_size=30,
)


@given(events_st)
def test_stream_invariants(events: list[dict[str, Any]]) -> None:
    g = Graph()
    owners: dict[str, str] = {}
    merged: set[str] = set()
    for event in events:
        before = dict(g.rows)
        r = g.see(event)
        if event["customer_id"] is not None:
            assert r.key == event["customer_id"]
        for ident, row in g.rows.items():  # an owner is set once and never changes
            assert owners.setdefault(ident, row["c"]) == row["c"]
        for anonymous, customer in r.merges:
            assert anonymous.startswith("a-") and customer.startswith("c-")  # never two customers
            assert anonymous not in merged  # each anonymous id folds once, into its owner
            assert g.rows[f"anonymous_id:{anonymous}"]["c"] == customer == r.key
            merged.add(anonymous)
        for conflict in r.conflicts:
            assert conflict["customer_id"] != conflict["claimed_by"]
            assert before[conflict["identifier"]]["c"] == conflict["customer_id"]
        # re-sending the event right away is a no-op
        assert g.see(dict(event)) == Resolution(r.key, {}, [], [])


# -- the single-writer claim at the identifier's own partition ---------------------------------


def test_a_claim_on_an_unowned_anonymous_id_links_it_and_asks_for_the_merge() -> None:
    r = apply_link(None, "anonymous_id:a-1", "c-1", ev("c-1", "a-1"))
    assert r == LinkResult({"c": "c-1"}, True, ("a-1", "c-1"), None)
    assert apply_link(None, "device_id:d1", "c-1", ev("c-1")).merge is None


def test_racing_claims_the_first_one_processed_wins_the_second_is_reviewed_once() -> None:
    first = apply_link(None, "device_id:d1", "c-1", ev("c-1"))
    assert first.row is not None
    second = apply_link(first.row, "device_id:d1", "c-2", ev("c-2"))
    assert second.row is not None and second.row["c"] == "c-1"
    assert second.conflict is not None
    assert (second.conflict["customer_id"], second.conflict["claimed_by"]) == ("c-1", "c-2")
    again = apply_link(second.row, "device_id:d1", "c-2", ev("c-2"))
    assert again == LinkResult(second.row, False, None, None)
    assert apply_link(first.row, "device_id:d1", "c-1", ev("c-1")).changed is False


@given(events_st)
def test_claims_agree_with_resolve(events: list[dict[str, Any]]) -> None:
    """Applying resolve's claims one identifier at a time gives the same rows and merges."""
    g = Graph()
    rows: dict[str, Link] = {}
    for event in events:
        r = g.see(event)
        merges = []
        for ident in identifiers_of(event, CONFIG):
            if ident in r.links:  # the claims the shell sends to the identifiers' partitions
                claim = apply_link(rows.get(ident), ident, r.key, event)
                assert claim.changed
                if claim.row is not None:
                    rows[ident] = claim.row
                if claim.merge:
                    merges.append(claim.merge)
        assert merges == r.merges
        assert rows == g.rows


def test_a_plain_phone_number_is_hashed_before_it_becomes_a_key() -> None:
    digest = hashlib.sha256(b"+442079460000").hexdigest()
    assert phone_key("+44 20 7946-0000") == digest
    assert phone_key("+442079460000") == digest  # one number, however it is written
    assert phone_key(digest.upper()) == digest  # a hash is taken as the hash
    assert phone_key("md5:abc123") == "md5:abc123"  # something else: as sent
    event = {"customer_id": "c", "context": {"identifiers": {"phone_hash": "+44 (20) 7946 0000"}}}
    assert identifiers_of(event, IdentityConfig()) == [f"phone_hash:{digest}"]
