"""Fixtures are registered per area; integration fixtures live in tests/integration/.

Property tests run without hypothesis' per-example deadline (200 ms by default): on a loaded CI
machine one slow example would fail a test for timing, and timed assertions do not belong in the
suite. The too-slow health check goes for the same reason. Examples are still random per run."""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "segue", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("segue")
