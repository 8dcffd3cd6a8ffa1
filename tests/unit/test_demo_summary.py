"""The demo summary reads the profiles changelog, merged visitors included."""

from __future__ import annotations

import orjson

from app.core.profile import new_profile
from app.demo import latest_profiles


def record(key: str, value: dict | None) -> tuple[bytes, bytes | None]:
    return key.encode(), orjson.dumps(value) if value is not None else None


def test_tombstones_of_merged_visitors_are_counted_not_shown_as_profiles() -> None:
    changelog = [
        record("a-1", {"sources": {}, "profile": new_profile("a-1"), "journeys": {}}),
        record("c-1", {"sources": {}, "profile": new_profile("c-1"), "journeys": {}}),
        record("a-1", {"merged_into": "c-1"}),
        record("c-2", {"sources": {}, "profile": new_profile("c-2"), "journeys": {}}),
        record("c-2", None),  # deleted
    ]
    profiles, merged = latest_profiles(changelog)
    assert set(profiles) == {"c-1"}
    assert merged == {"a-1"}
