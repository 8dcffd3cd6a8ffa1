"""Deliver one action through a provider: rate limit, circuit breaker, retries with backoff.

Runs in the sink's one thread; every wait goes through the injected clock, so a slow or dead
provider slows only the worker of its own channel."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from app.core.delivery.breaker import CircuitBreaker
from app.core.delivery.errors import DeliveryError, PermanentError, TransientError
from app.core.delivery.ratelimit import TokenBucket
from app.sinks import metrics
from app.sinks.clock import Clock
from app.sinks.config import ProviderConfig
from app.sinks.providers import Provider

SENT = "sent"
FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Result:
    status: str  # SENT | FAILED
    attempts: int
    reason: str | None = None
    retryable: bool = False  # the last error was transient (we gave up on retrying)


class ChannelDelivery:
    def __init__(
        self,
        channel: str,
        config: ProviderConfig,
        provider: Provider,
        clock: Clock,
        rng: random.Random | None = None,
    ) -> None:
        self.channel = channel
        self.provider = provider
        self.clock = clock
        self.rng = rng or random.Random()
        self.backoff = config.backoff()
        self.bucket = TokenBucket(config.rate_per_s, config.burst, clock.monotonic_ms())
        self.breaker = CircuitBreaker(config.breaker_threshold, config.breaker_cooldown_ms)

    def deliver(self, action: dict[str, Any], profile: dict[str, Any] | None) -> Result:
        try:
            message = self.provider.compose(action, profile)
        except PermanentError as exc:
            return Result(FAILED, 0, exc.reason)
        attempt = 0
        while True:
            # Wait for the breaker (a trial call after its cooldown) and for a token: the
            # provider is never called while the circuit is open or above the rate.
            self.clock.sleep_ms(self.breaker.wait_ms(self.clock.monotonic_ms()))
            self.clock.sleep_ms(self.bucket.take(self.clock.monotonic_ms()))
            if not self.breaker.allow(self.clock.monotonic_ms()):
                continue  # another trial is in flight (cannot happen single-threaded)
            attempt += 1
            started = self.clock.monotonic_ms()
            try:
                self.provider.send(message)
            except DeliveryError as exc:
                if isinstance(exc, TransientError):
                    if self.breaker.failure(self.clock.monotonic_ms()):
                        metrics.BREAKER_OPENED.labels(self.channel).inc()
                else:
                    # A 4xx is the action's fault, not the provider's: the breaker is not told.
                    self.breaker.success()
                if not exc.retryable:
                    return Result(FAILED, attempt, exc.reason)
                if self.backoff.gives_up(attempt):
                    return Result(
                        FAILED, attempt, f"gave up after {attempt} attempts: {exc.reason}", True
                    )
                metrics.RETRIED.labels(self.channel).inc()
                self.clock.sleep_ms(self.backoff.delay_ms(attempt, self.rng))
                continue
            self.breaker.success()
            metrics.SEND_LATENCY.labels(self.channel).observe(
                (self.clock.monotonic_ms() - started) / 1000
            )
            return Result(SENT, attempt)
