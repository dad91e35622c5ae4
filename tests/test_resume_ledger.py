from __future__ import annotations

import pytest

from airflow_provider_braze.resume_ledger import (
    BrazeResumeMismatchError,
    PathResumeStore,
    ResumeLedger,
    _add,
    resume_key,
)


def test_accepted_batches_are_kept_as_merged_ranges():
    ranges: list[list[int]] = []
    for number in (1, 2, 3, 7, 5, 6, 4, 10):
        _add(ranges, number)
    assert ranges == [[1, 8], [10, 11]]


def test_the_record_is_written_before_dispatch_and_exact_at_close(tmp_path):
    store = PathResumeStore(str(tmp_path))
    ledger = ResumeLedger(store, "k", "fp", window=4, flush_interval=0)
    ledger.open(10)
    ledger.dispatching(1)
    assert store.load("k")["high"] == 5
    ledger.accept(1)
    ledger.mark_unknown(2)
    ledger.mark_failed(3)
    ledger.close()
    assert store.load("k") | {"tries": 1} == {
        "version": 1,
        "fingerprint": "fp",
        "accepted": [[1, 2]],
        "unknown": [2],
        "failed": [3],
        "high": 5,
        "clean": True,
        "tries": 1,
    }
    again = ResumeLedger(store, "k", "fp")
    again.open(10)
    assert [again.state_of(n) for n in (1, 2, 3, 4)] == ["accepted", "unknown", None, None]
    assert again.tries == 2


def test_a_different_fingerprint_is_refused(tmp_path):
    store = PathResumeStore(str(tmp_path))
    ResumeLedger(store, "k", "fp-1").open(3)
    with pytest.raises(BrazeResumeMismatchError, match="delete the resume record"):
        ResumeLedger(store, "k", "fp-2").open(3)


def test_keys_are_safe_and_bounded():
    key = resume_key("dag", "task", "manual__2026-11-27T15:01:06+00:00", 3)
    assert key == "braze_resume.dag.task.manual__2026-11-27T15_01_06_00_00.3"
    assert len(resume_key("d" * 300, "t", "r", -1)) <= 230
