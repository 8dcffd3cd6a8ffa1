"""Seeded, deterministic traffic simulator (pure: no Kafka, no wall clock).

``simulate(seed, rate, duration_s, start_ms, customers=None, malformed_rate=0.0)`` yields event
envelopes; see ``docs/events.md`` for the vocabulary and the behaviour it models.
"""

from app.sim.generator import DEFAULT_START, DEFAULT_START_MS, planned_count, simulate

__all__ = ["DEFAULT_START", "DEFAULT_START_MS", "planned_count", "simulate"]
