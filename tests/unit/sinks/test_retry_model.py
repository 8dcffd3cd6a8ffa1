"""ChannelDelivery against a scripted provider: the result follows a simple model for any
sequence of provider answers (property test), and waits never exceed the backoff ceilings."""

from __future__ import annotations

import random
import time
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.delivery.errors import PermanentError, TransientError
from app.sinks.config import ProviderConfig
from app.sinks.delivery import FAILED, SENT, ChannelDelivery
from app.sinks.providers import make_provider
from app.sinks.templates import Renderer
from tests.sink_servers import http_server
from tests.unit.sinks.helpers import FakeClock, action, profile

OK, TRANSIENT, PERMANENT = "ok", "transient", "permanent"


class ScriptedProvider:
    def __init__(self, answers: list[str]) -> None:
        self.answers = list(answers)
        self.calls = 0

    def compose(self, action: dict[str, Any], profile: dict[str, Any] | None) -> str:
        return action["action_id"]

    def send(self, message: Any) -> None:
        answer = self.answers[self.calls] if self.calls < len(self.answers) else OK
        self.calls += 1
        if answer == TRANSIENT:
            raise TransientError("HTTP 503")
        if answer == PERMANENT:
            raise PermanentError("HTTP 400")

    def close(self) -> None:
        pass


@settings(max_examples=200, deadline=None)
@given(
    answers=st.lists(st.sampled_from([OK, TRANSIENT, PERMANENT]), max_size=12),
    max_attempts=st.integers(1, 6),
    threshold=st.integers(1, 4),
    seed=st.integers(0, 1000),
)
def test_outcome_follows_the_model(
    answers: list[str], max_attempts: int, threshold: int, seed: int
) -> None:
    config = ProviderConfig(
        max_attempts=max_attempts, breaker_threshold=threshold, breaker_cooldown_ms=1_000
    )
    clock = FakeClock()
    provider = ScriptedProvider(answers)
    result = ChannelDelivery("webhook", config, provider, clock, random.Random(seed)).deliver(
        action("webhook"), profile()
    )
    # the model: the first answer that is not transient decides, unless attempts run out first
    padded = [*answers, OK]
    decisive = next(i for i, a in enumerate(padded) if a != TRANSIENT)
    if decisive >= max_attempts:
        assert result.status == FAILED and result.retryable
        assert result.attempts == max_attempts
    else:
        assert result.attempts == decisive + 1
        assert result.status == (SENT if padded[decisive] == OK else FAILED)
        assert not result.retryable
    assert provider.calls == result.attempts  # never a call without an attempt
    # every wait is a backoff (<= its ceiling) or a breaker cooldown (<= 1 s)
    ceiling = max(config.backoff().ceiling_ms(a) for a in range(1, max_attempts + 1))
    assert all(s <= max(ceiling, 1_000) for s in clock.sleeps)


def test_a_provider_slower_than_the_timeout_is_retried_then_given_up() -> None:
    with http_server(b"k") as (recorder, url):
        recorder.respond = lambda _body: (time.sleep(0.3), 200)[1]
        config = ProviderConfig(kind="http", url=url, secret="k", timeout_s=0.05, max_attempts=2)
        clock = FakeClock(wall_ms=time.time_ns() // 1_000_000)
        provider = make_provider("webhook", config, Renderer(), clock)
        result = ChannelDelivery("webhook", config, provider, clock, random.Random(0)).deliver(
            action("webhook"), profile()
        )
    assert result.status == FAILED and result.attempts == 2 and result.retryable
    assert "timed out" in (result.reason or "")
