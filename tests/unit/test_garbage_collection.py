"""The controller's garbage collector settings (reconcilers/garbage_collection.py)."""

import gc
import weakref
from collections.abc import Iterator

import pytest

from kubedag.reconcilers import garbage_collection
from kubedag.reconcilers.metrics import GC_PAUSE


@pytest.fixture
def restored_collector() -> Iterator[None]:
    thresholds, callbacks = gc.get_threshold(), list(gc.callbacks)
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    gc.callbacks[:] = callbacks


def test_tune_raises_the_thresholds_and_freezes_what_the_process_holds(
    restored_collector: None,
) -> None:
    assert gc.get_freeze_count() == 0
    holder = [object()]  # alive at start, as the controller's modules are
    garbage_collection.tune()
    assert gc.get_threshold() == garbage_collection.THRESHOLDS
    assert gc.get_freeze_count() > 0
    # Frozen objects are outside every generation: a full collection no longer walks them.
    assert not any(obj is holder for obj in gc.get_objects())


def test_frozen_objects_are_still_freed_when_their_last_reference_goes(
    restored_collector: None,
) -> None:
    class Body(dict[str, object]):
        pass

    body = Body(kind="DagRun")
    alive = weakref.ref(body)
    garbage_collection.tune()
    del body
    assert alive() is None


def test_collections_are_timed_by_generation(restored_collector: None) -> None:
    def count(generation: str) -> float:
        for family in GC_PAUSE.collect():
            for sample in family.samples:
                if sample.name.endswith("_count") and sample.labels["generation"] == generation:
                    return sample.value
        return 0.0

    garbage_collection.tune()
    garbage_collection.tune()  # a second call adds no second recorder
    assert sum(isinstance(c, garbage_collection.PauseRecorder) for c in gc.callbacks) == 1
    assert {"0", "1", "2"} <= {
        sample.labels["generation"] for family in GC_PAUSE.collect() for sample in family.samples
    }  # exported before the first collection of each
    before = count("2")
    gc.collect()
    assert count("2") == before + 1
