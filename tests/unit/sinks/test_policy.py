"""The pure delivery policy: backoff, token bucket, circuit breaker, signatures, statuses."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.delivery.backoff import Backoff
from app.core.delivery.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from app.core.delivery.errors import PermanentError, TransientError, check_status
from app.core.delivery.ratelimit import TokenBucket
from app.core.delivery.signing import sign_headers, signature, verify


@given(
    base=st.integers(0, 5_000),
    cap=st.integers(0, 60_000),
    attempt=st.integers(1, 40),
    seed=st.integers(0, 2**32),
)
def test_backoff_delay_is_within_the_exponential_ceiling(
    base: int, cap: int, attempt: int, seed: int
) -> None:
    b = Backoff(base, cap, 5)
    delay = b.delay_ms(attempt, random.Random(seed))
    assert 0 <= delay <= min(cap, base * 2 ** (attempt - 1))


def test_backoff_ceiling_doubles_up_to_the_cap_and_jitter_spreads() -> None:
    b = Backoff(base_ms=100, cap_ms=1_000, max_attempts=4)
    assert [b.ceiling_ms(a) for a in range(1, 7)] == [100, 200, 400, 800, 1000, 1000]
    rng = random.Random(1)
    assert len({b.delay_ms(5, rng) for _ in range(50)}) > 10  # jittered, not a fixed wait
    assert not b.gives_up(3) and b.gives_up(4)


def test_backoff_is_reproducible_with_a_seed() -> None:
    b = Backoff()
    first = [b.delay_ms(a, random.Random(7)) for a in range(1, 6)]
    again = [b.delay_ms(a, random.Random(7)) for a in range(1, 6)]
    assert first == again


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate_per_s=10, burst=3, now_ms=0)
    assert [bucket.take(0) for _ in range(3)] == [0, 0, 0]
    assert bucket.take(0) == pytest.approx(100)  # the 4th waits one token (100 ms at 10/s)
    assert bucket.take(100) == pytest.approx(100)  # the 4th took the token of t=100
    assert bucket.take(1_000) == 0  # refilled (capped at the burst)


@given(st.lists(st.floats(0, 50), min_size=1, max_size=200), st.integers(1, 20))
def test_token_bucket_never_exceeds_rate_plus_burst(gaps: list[float], burst: int) -> None:
    """Sending when told, n sends take at least (n - burst) / rate seconds."""
    rate = 100.0
    bucket = TokenBucket(rate, burst, 0)
    now = 0.0
    for gap in gaps:
        now += gap
        now += bucket.take(now)
    assert now >= (len(gaps) - burst) * 1000 / rate - 1e-6


def test_breaker_opens_after_the_threshold_and_half_opens_after_cooldown() -> None:
    br = CircuitBreaker(threshold=3, cooldown_ms=1_000)
    assert br.failure(0) is False and br.failure(1) is False
    assert br.state(1) == CLOSED and br.allow(1)
    assert br.failure(2) is True
    assert br.state(2) == OPEN and not br.allow(500) and br.wait_ms(500) == 502
    assert br.state(1_002) == HALF_OPEN and br.allow(1_002)
    assert br.failure(1_010) is True  # the trial failed: open again, a new cooldown
    assert br.wait_ms(1_010) == 1_000
    assert br.allow(2_010)
    br.success()
    assert br.state(2_011) == CLOSED and br.wait_ms(2_011) == 0


def test_breaker_success_resets_the_failure_count() -> None:
    br = CircuitBreaker(threshold=2, cooldown_ms=10)
    br.failure(0)
    br.success()
    assert br.failure(1) is False
    assert br.state(1) == CLOSED


def test_signature_verifies_and_rejects_tampering_and_staleness() -> None:
    secret, body = b"k", b'{"a": 1}'
    headers = sign_headers(secret, 1_000, body)
    ts, sig = headers["X-Segue-Timestamp"], headers["X-Segue-Signature"]
    assert sig == signature(secret, 1_000, body) and sig.startswith("v1=")
    assert verify(secret, ts, sig, body, now_s=1_100)
    assert not verify(secret, ts, sig, body + b" ", now_s=1_100)
    assert not verify(b"other", ts, sig, body, now_s=1_100)
    assert not verify(secret, "1001", sig, body, now_s=1_100)  # timestamp is signed too
    assert not verify(secret, ts, sig, body, now_s=1_000 + 301)  # replayed too late
    assert not verify(secret, None, sig, body, now_s=1_000)
    assert not verify(secret, "x", sig, body, now_s=1_000)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (200, None),
        (204, None),
        (400, PermanentError),
        (401, PermanentError),
        (404, PermanentError),
        (408, TransientError),
        (429, TransientError),
        (500, TransientError),
        (503, TransientError),
    ],
)
def test_status_classification(status: int, error: type[Exception] | None) -> None:
    if error is None:
        check_status(status)
    else:
        with pytest.raises(error):
            check_status(status)
