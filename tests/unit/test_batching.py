"""Batched status writes: due a fixed delay after the first change, then closed."""

from datetime import UTC, datetime, timedelta

from kubedag.reconcilers.batching import WriteBatches

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def test_the_first_change_opens_a_batch_due_after_the_delay() -> None:
    batches: WriteBatches[str] = WriteBatches(SECOND)
    assert batches.when("a") is None
    assert not batches.due("a", T0)
    assert batches.when("a") == T0 + SECOND
    # later changes join the open batch: its due time does not move
    assert not batches.due("a", T0 + SECOND / 2)
    assert batches.when("a") == T0 + SECOND
    assert batches.due("a", T0 + SECOND)
    assert batches.due("a", T0 + 2 * SECOND)


def test_a_written_key_starts_afresh_and_keys_are_separate() -> None:
    batches: WriteBatches[str] = WriteBatches(SECOND)
    batches.due("a", T0)
    batches.due("b", T0 + SECOND / 2)
    batches.written("a")
    batches.written("a")  # closing twice is fine
    assert batches.when("a") is None
    assert batches.when("b") == T0 + 1.5 * SECOND
    assert not batches.due("a", T0 + 3 * SECOND)
    assert batches.when("a") == T0 + 4 * SECOND


def test_a_pass_may_give_the_open_batch_another_delay_counted_from_its_opening() -> None:
    batches: WriteBatches[str] = WriteBatches(SECOND)
    assert not batches.due("a", T0, 30 * SECOND)  # held: something is still in flight
    assert batches.when("a") == T0 + 30 * SECOND
    assert not batches.due("a", T0 + SECOND / 2)  # back to the own delay: from T0, not now
    assert batches.when("a") == T0 + SECOND
    assert batches.due("a", T0 + 2 * SECOND)
    assert not batches.due("b", T0, 30 * SECOND)
    assert batches.due("b", T0 + 30 * SECOND, 30 * SECOND)
