"""The profile agent's guard against folding a redelivered input record twice."""

from app.stream.journey_agent import applied_before, new_record


def event(partition: int, offset: int) -> dict[str, object]:
    return {"source": {"topic": "events", "partition": partition, "offset": offset}}


def test_the_first_event_of_a_key_is_recorded_so_its_redelivery_is_skipped() -> None:
    record = new_record("c-1")
    assert not applied_before(record, event(0, 2))
    assert applied_before(record, event(0, 2))


def test_offsets_are_tracked_per_source_partition() -> None:
    record = new_record("c-1")
    assert not applied_before(record, event(0, 5))
    assert not applied_before(record, event(1, 3))  # another input partition: its own sequence
    assert applied_before(record, event(1, 3))
    assert applied_before(record, event(0, 4))
    assert not applied_before(record, event(0, 6))


def test_events_without_a_source_are_always_applied() -> None:
    record = new_record("c-1")
    assert not applied_before(record, {})
    assert not applied_before(record, {})
