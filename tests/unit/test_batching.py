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
