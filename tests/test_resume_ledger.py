from __future__ import annotations

import threading
import time

import pytest

from airflow_provider_braze.engine.resume_ledger import (
    BrazeResumeMismatchError,
    BrazeResumeStoreError,
    BrazeResumeSupersededError,
    PathResumeStore,
    ResumeLedger,
    _add,
    main,
    prune_records,
    resume_key,
    unknown_batches,
)


def test_accepted_batches_are_kept_as_merged_ranges():
    ranges: list[list[int]] = []
    for number in (1, 2, 3, 7, 5, 6, 4, 10):
        _add(ranges, number)
    assert ranges == [[1, 8], [10, 11]]


def test_a_batch_is_in_the_record_before_reserve_returns_and_settled_at_close(tmp_path):
    store = PathResumeStore(str(tmp_path))
    ledger = ResumeLedger(store, "k", "fp", flush_interval=0)
    ledger.open(10)
    ledger.reserve(1)
    assert store.load("k")["in_flight"] == [1]  # written ahead of the request
    ledger.reserve(2)
    ledger.reserve(3)
    ledger.accept(1, schedule_id="s-1")
    ledger.mark_unknown(2)
    ledger.mark_failed(3)
    ledger.close()
    record = store.load("k")
    assert {k: record[k] for k in ("version", "accepted", "unknown", "failed", "in_flight", "owner", "tries")} == {
        "version": 2,
        "accepted": [[1, 2]],
        "unknown": [2],
        "failed": [3],
        "in_flight": [],
        "owner": 1,
        "tries": 1,
    }
    again = ResumeLedger(store, "k", "fp", owner=2)
    again.open(10)
    assert [again.state_of(n) for n in (1, 2, 3, 4)] == ["accepted", "unknown", None, None]
    assert again.schedule_ids == {1: "s-1"}
    assert again.tries == 2
    again.close()


def test_after_a_crash_exactly_the_batches_in_flight_are_unknown(tmp_path):
    store = PathResumeStore(str(tmp_path))
    dead = ResumeLedger(store, "k", "fp", flush_interval=0)
    dead.open(100)
    for n in (1, 2, 3, 4, 5):
        dead.reserve(n)
    dead.accept(1)
    dead.accept(2)
    time.sleep(0.05)  # the acceptances reach the store; then the worker dies (no close)
    assert unknown_batches(store.load("k")) == [3, 4, 5]
    retry = ResumeLedger(store, "k", "fp", owner=2)
    retry.open(100)
    assert sorted(retry.unknown) == [3, 4, 5]  # not a look-ahead window: batch 6 onwards are sent
    assert retry.state_of(6) is None
    retry.close()


def test_acceptances_are_flushed_on_a_timer_during_a_stall(tmp_path):
    store = PathResumeStore(str(tmp_path))
    ledger = ResumeLedger(store, "k", "fp", flush_interval=0.2)
    ledger.open(10)
    ledger.reserve(1)
    ledger.accept(1)  # no other batch settles after this one
    deadline = time.monotonic() + 2
    while store.load("k")["accepted"] != [[1, 2]] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert store.load("k")["accepted"] == [[1, 2]]
    ledger.close()


def test_a_different_fingerprint_is_refused(tmp_path):
    store = PathResumeStore(str(tmp_path))
    ResumeLedger(store, "k", "fp-1").open(3)
    with pytest.raises(BrazeResumeMismatchError, match="delete the resume record"):
        ResumeLedger(store, "k", "fp-2").open(3)


def test_an_older_try_finding_a_newer_owner_stops_sending(tmp_path):
    store = PathResumeStore(str(tmp_path))
    zombie = ResumeLedger(store, "k", "fp", owner=1, flush_interval=0, owner_check_every=1)  # strict
    zombie.open(10)
    zombie.reserve(1)
    retry = ResumeLedger(store, "k", "fp", owner=2, flush_interval=0)
    retry.open(10)
    assert retry.state_of(1) == "unknown"  # the zombie's batch in flight
    with pytest.raises(BrazeResumeSupersededError):
        zombie.reserve(2)  # refused before its request could leave
    zombie.close()
    assert store.load("k")["owner"] == 2
    with pytest.raises(BrazeResumeSupersededError, match="older"):
        ResumeLedger(store, "k", "fp", owner=1).open(10)
    retry.close()


class CountingStore(PathResumeStore):
    """A path store counting its round trips (the cost the owner-check cadence saves)."""

    def __init__(self, base: str) -> None:
        super().__init__(base)
        self.loads = 0
        self.saves = 0

    def load(self, key):
        self.loads += 1
        return super().load(key)

    def save(self, key, record):
        self.saves += 1
        super().save(key, record)


def test_a_group_commit_between_ownership_checks_is_one_round_trip(tmp_path):
    store = CountingStore(str(tmp_path))
    ledger = ResumeLedger(store, "k", "fp", flush_interval=0, owner_check_every=5, owner_check_interval=3600)
    ledger.open(100)
    for number in range(1, 21):  # 20 sequential reservations: 20 group commits
        ledger.reserve(number)
        ledger.accept(number)
    ledger.close()
    writes = store.saves - 1  # after the one at open
    assert writes >= 20
    # open + every 5th write + the final write; the old ledger read before every write
    assert store.loads - 1 <= 2 + writes // 5 + 1
    assert store.loads - 1 == ledger.owner_checks
    assert store.load("k")["accepted"] == [[1, 21]]
    assert store.load("k")["in_flight"] == []


def test_dispatches_within_the_group_commit_wait_share_one_write(tmp_path):
    store = CountingStore(str(tmp_path))
    ledger = ResumeLedger(store, "k", "fp", flush_interval=60, group_commit_wait=0.3)
    ledger.open(10)
    saves_at_open = store.saves
    threads = [threading.Thread(target=ledger.reserve, args=(n,)) for n in range(1, 6)]
    for thread in threads:  # five dispatches 20 ms apart, all within the 0.3 s wait
        thread.start()
        time.sleep(0.02)
    for thread in threads:
        thread.join(5)
    assert store.saves - saves_at_open == 1  # one write lists all five before any may be sent
    assert store.load("k")["in_flight"] == [1, 2, 3, 4, 5]
    ledger.close()


def test_an_older_try_stops_within_the_documented_number_of_writes(tmp_path):
    store = PathResumeStore(str(tmp_path))
    zombie = ResumeLedger(store, "k", "fp", owner=1, flush_interval=0, owner_check_every=4, owner_check_interval=3600)
    zombie.open(100)
    zombie.reserve(1)
    retry = ResumeLedger(store, "k", "fp", owner=2, flush_interval=0)
    retry.open(100)
    sent_after_claim: list[int] = []

    def both_send() -> None:  # the retry writes (and re-claims) at each of its commits
        for number in range(2, 50):
            zombie.reserve(number)
            sent_after_claim.append(number)
            retry.reserve(48 + number)

    with pytest.raises(BrazeResumeSupersededError):
        both_send()
    assert len(sent_after_claim) <= 4 - 1  # owner_check_every - 1 writes, one batch each here
    zombie.close()
    retry.close()
    record = store.load("k")
    assert record["owner"] == 2
    # what the zombie listed as in flight after the claim is merged into the retry's record, not lost
    assert set(sent_after_claim) <= set(record["unknown"]) | set(record["in_flight"])


def test_an_older_try_stops_once_the_check_interval_passed(tmp_path):
    store = PathResumeStore(str(tmp_path))
    zombie = ResumeLedger(store, "k", "fp", flush_interval=0, owner_check_every=1000, owner_check_interval=0.2)
    zombie.open(10)
    zombie.reserve(1)
    ResumeLedger(store, "k", "fp", owner=2, flush_interval=0).open(10)
    time.sleep(0.25)
    with pytest.raises(BrazeResumeSupersededError):
        zombie.reserve(2)
    zombie.close()


def test_a_newer_try_restores_a_claim_an_older_try_overwrote_while_idle(tmp_path):
    store = PathResumeStore(str(tmp_path))
    zombie = ResumeLedger(store, "k", "fp", flush_interval=0, owner_check_every=1000, owner_check_interval=3600)
    zombie.open(10)
    zombie.reserve(1)
    retry = ResumeLedger(store, "k", "fp", owner=2, flush_interval=0, owner_check_interval=0.1)
    retry.open(10)
    zombie.reserve(2)  # unchecked: overwrites the claim (no compare-and-swap)
    assert store.load("k")["owner"] == 1
    deadline = time.monotonic() + 2
    while store.load("k")["owner"] != 2 and time.monotonic() < deadline:
        time.sleep(0.02)  # the idle retry looks again within its owner_check_interval
    record = store.load("k")
    assert record["owner"] == 2
    assert 2 in record["unknown"]  # the zombie's batch is kept as "may have been sent"
    zombie.close()  # its final write is checked: it finds the claim and writes nothing
    assert store.load("k")["owner"] == 2
    retry.close()


def test_a_failing_store_stops_further_sends(tmp_path):
    class Failing(PathResumeStore):
        saves = 0

        def save(self, key, record):
            Failing.saves += 1
            if Failing.saves > 2:
                raise OSError("disk full")
            super().save(key, record)

    store = Failing(str(tmp_path))
    ledger = ResumeLedger(store, "k", "fp", flush_interval=0)
    ledger.open(10)
    ledger.reserve(1)
    with pytest.raises(BrazeResumeStoreError, match="OSError"):
        ledger.reserve(2)
    assert store.load("k")["in_flight"] == [1]  # the last written state still names batch 1
    with pytest.raises(BrazeResumeStoreError):
        ledger.close()


def test_group_commit_many_threads_share_writes(tmp_path):
    class Slow(PathResumeStore):
        def save(self, key, record):
            time.sleep(0.02)
            super().save(key, record)

    store = Slow(str(tmp_path))
    ledger = ResumeLedger(store, "k", "fp", flush_interval=0)
    ledger.open(100)
    threads = [threading.Thread(target=ledger.reserve, args=(n,)) for n in range(1, 41)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.load("k")["in_flight"] == list(range(1, 41))
    assert ledger.writes < 40  # one write covered several reservations
    ledger.close()


def test_keys_do_not_collide_and_are_bounded():
    assert resume_key("crm.daily", "notify", "r", -1) != resume_key("crm", "daily.notify", "r", -1)
    assert resume_key("d", "t", "r", 0) != resume_key("d", "t", "r", -1)
    key = resume_key("dag", "task", "manual__2026-11-27T15:01:06+00:00", 3)
    assert key.startswith("braze_resume.dag.task.3.")
    assert len(resume_key("d" * 300, "t", "r", -1)) <= 180


def test_records_expire_after_the_retention_and_are_pruned(tmp_path, capsys):
    store = PathResumeStore(str(tmp_path))
    now = [1_000_000.0]
    old = ResumeLedger(store, "braze_resume.old", "fp", retention_days=1, clock=lambda: now[0])
    old.open(3)
    old.close()
    fresh = ResumeLedger(store, "braze_resume.fresh", "fp", retention_days=30, clock=lambda: now[0])
    fresh.open(3)
    fresh.close()
    assert prune_records(store, now=now[0] + 2 * 86400, dry_run=True) == ["braze_resume.old"]
    assert store.keys() == ["braze_resume.fresh", "braze_resume.old"]
    # Within the retention the record is found; past it, a new try starts afresh.
    later = ResumeLedger(store, "braze_resume.old", "other-fp", clock=lambda: now[0] + 2 * 86400)
    later.open(3)  # expired: the changed fingerprint is not compared
    later.close()
    assert prune_records(store, now=now[0] + 40 * 86400) == ["braze_resume.fresh", "braze_resume.old"]
    assert store.keys() == []
    assert main(["prune", "--store", str(tmp_path), "--dry-run"]) == 0
    assert "Would delete 0 expired resume record(s)" in capsys.readouterr().out
