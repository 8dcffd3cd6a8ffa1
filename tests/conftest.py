"""Fixtures are registered per area; integration fixtures live in tests/integration/."""
