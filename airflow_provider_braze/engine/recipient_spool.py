"""A validated, on-disk copy of a recipient source, read back in batches.

The whole source is validated before the first request, without holding it in memory: each valid
recipient is written as one JSON line to an anonymous temporary file, invalid rows are counted (row
number and rule only, never their data), and a digest of the ordered content identifies the source
so that a retry can tell whether it still yields the same batches.

Batches are cut while spooling, by count (Braze's 50 per request) and by bytes (each request body
stays under Braze's 4 MB limit), from the ordered content only: the same source always yields the
same numbered batches, which the resume record and a retry rely on. No Airflow imports.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import mmap
import tempfile
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from airflow_provider_braze.client import payload_rules as rules
from airflow_provider_braze.engine.recipient_rows import identifier_key

#: Rejected rows listed in a result (the count is always complete).
MAX_REJECTED_LISTED = 100


@dataclass(frozen=True)
class RejectedRow:
    """A source row that breaks a rule.

    :param row: its 1-based position in the source.
    :param reason: the field and the rule (no recipient data).
    """

    row: int
    reason: str


@dataclass
class RecipientSpool:
    """Validated recipients on disk.

    :param shard_count: split recipients into this many shards by a stable hash of their identifier.
    :param shard_index: keep only this shard (0-based).
    :param batch_size: recipients per batch at most (Braze: 50).
    :param batch_bytes: bytes the recipients of one batch may take on the wire at most (the request
        budget minus the fields every request shares).
    """

    shard_count: int = 1
    shard_index: int = 0
    batch_size: int = rules.MAX_USERS_PER_REQUEST
    batch_bytes: int = rules.REQUEST_BYTES_BUDGET
    count: int = 0
    batch_sizes: list[int] = field(default_factory=list)
    _open_count: int = 0
    _open_bytes: int = 0
    rows_read: int = 0
    other_shards: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)
    rejected_count: int = 0
    _file: BinaryIO | None = None
    _rejects: BinaryIO | None = None
    _digest: Any = field(default_factory=hashlib.sha256)

    def __post_init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="braze-recipients-")  # noqa: SIM115 - closed in close()

    def in_shard(self, recipient: dict[str, Any]) -> bool:
        """Whether ``recipient`` belongs to this task's shard."""
        if self.shard_count <= 1:
            return True
        digest = hashlib.sha256(identifier_key(recipient).encode()).digest()
        return int.from_bytes(digest[:8], "big") % self.shard_count == self.shard_index

    def add(self, recipient: dict[str, Any], wire_bytes: int = 0) -> None:
        """Keep one valid recipient (of this shard).

        :param wire_bytes: its size in a request body (it must fit in ``batch_bytes`` on its own).
        """
        assert self._file is not None
        if not self.in_shard(recipient):
            self.other_shards += 1
            return
        line = json.dumps(recipient, separators=(",", ":"), sort_keys=True).encode() + b"\n"
        self._file.write(line)
        self._digest.update(line)
        self.count += 1
        cost = wire_bytes + 2  # the ", " between two array items
        if self._open_count and (self._open_count >= self.batch_size or self._open_bytes + cost > self.batch_bytes):
            self.batch_sizes.append(self._open_count)
            self._open_count = self._open_bytes = 0
        self._open_count += 1
        self._open_bytes += cost

    @property
    def batch_count(self) -> int:
        """Batches the recipients make."""
        return len(self.batch_sizes) + (1 if self._open_count else 0)

    @property
    def total_valid(self) -> int:
        """Valid (and distinct) recipients in the whole source, every shard included."""
        return self.count + self.other_shards

    def reject(self, row: int, reason: str) -> None:
        """Record an invalid row (all of them on disk, the first 100 in :attr:`rejected`)."""
        self.rejected_count += 1
        if len(self.rejected) < MAX_REJECTED_LISTED:
            self.rejected.append(RejectedRow(row, reason))
        if self._rejects is None:
            self._rejects = tempfile.TemporaryFile(prefix="braze-rejected-")  # noqa: SIM115 - closed in close()
        self._rejects.write(json.dumps([row, reason]).encode() + b"\n")

    def all_rejected(self) -> Iterator[RejectedRow]:
        """Every invalid row, in source order."""
        if self._rejects is None:
            return
        self._rejects.flush()
        self._rejects.seek(0)
        for line in self._rejects:
            row, reason = json.loads(line)
            yield RejectedRow(row, reason)

    @property
    def digest(self) -> str:
        """SHA-256 of the ordered recipients kept (identifies the source for resuming)."""
        return self._digest.hexdigest()

    def layout(self) -> list[int]:
        """The number of recipients in each batch, in order."""
        return [*self.batch_sizes, self._open_count] if self._open_count else list(self.batch_sizes)

    def batches(self) -> Iterator[list[dict[str, Any]]]:
        """Read the recipients back in their batches, in source order."""
        assert self._file is not None
        self._file.flush()
        self._file.seek(0)
        for size in self.layout():
            lines = list(itertools.islice(self._file, size))
            # One decode per batch, not per recipient: the lines are JSON objects, newlines are whitespace.
            yield json.loads(b"[" + b",".join(lines) + b"]")

    def close(self) -> None:
        """Delete the temporary files."""
        for handle in (self._file, self._rejects):
            if handle is not None:
                handle.close()
        self._file = self._rejects = None


class DuplicateFinder:
    """Finds a user listed twice anywhere in a source, by an 8-byte fingerprint of its identifier.

    Braze collapses duplicates only within one request; across batches the same user would be
    messaged twice. The fingerprints live in an open-addressing table (8 bytes per slot, at most 3/4
    full): 11-22 bytes per distinct recipient, 1,000,000 recipients take 16 MB, never the identifiers
    themselves. The table is an anonymous memory map, outside the allocator's heap, so :meth:`close`
    gives all of it back to the system at once (a heap would keep it fragmented for the rest of the
    task). Where each fingerprint was first seen is written to a temporary file (16 bytes per row, on
    disk) and read back only to name the first rows of the duplicates listed (:meth:`first_rows`).

    :param capacity: initial number of slots (a power of two); the table doubles as it fills.
    """

    _EMPTY = 0
    _LOG_CHUNK = 8192

    def __init__(self, capacity: int = 1 << 12) -> None:
        self._size = 0
        self._map, self._keys = _zeroed_table(capacity)
        self._log: BinaryIO = tempfile.TemporaryFile(prefix="braze-first-seen-")  # noqa: SIM115 - closed in close()
        self._pending = array("q")

    def duplicate(self, recipient: dict[str, Any], row: int) -> int | None:
        """The fingerprint of ``recipient`` when an earlier row had the same identifier, else None
        (and ``recipient`` is remembered as first seen at ``row``)."""
        digest = hashlib.sha256(identifier_key(recipient).encode()).digest()
        fingerprint = int.from_bytes(digest[:8], "big", signed=True) or 1  # 0 marks an empty slot
        slot = self._find(fingerprint)
        if self._keys[slot] == fingerprint:
            return fingerprint
        self._keys[slot] = fingerprint
        self._pending.append(row)
        self._pending.append(fingerprint)
        if len(self._pending) >= self._LOG_CHUNK:
            self._flush()
        self._size += 1
        if self._size * 4 > len(self._keys) * 3:
            self._grow()
        return None

    def first_rows(self, fingerprints: Iterable[int]) -> dict[int, int]:
        """The row where each of ``fingerprints`` was first seen (one read of the on-disk log)."""
        wanted = set(fingerprints)
        found: dict[int, int] = {}
        self._flush()
        self._log.seek(0)
        while len(found) < len(wanted):
            chunk = self._log.read(8 * self._LOG_CHUNK)
            if not chunk:
                break
            pairs = array("q")
            pairs.frombytes(chunk)
            for i in range(0, len(pairs), 2):
                if pairs[i + 1] in wanted:
                    found.setdefault(pairs[i + 1], pairs[i])
        self._log.seek(0, 2)
        return found

    def close(self) -> None:
        """Give the table's memory back and delete the log."""
        self._keys.release()
        self._map.close()
        self._log.close()

    def _flush(self) -> None:
        if self._pending:
            self._log.write(self._pending.tobytes())
            self._pending = array("q")

    def _find(self, fingerprint: int) -> int:
        keys = self._keys
        mask = len(keys) - 1
        slot = fingerprint & mask
        while keys[slot] != self._EMPTY and keys[slot] != fingerprint:
            slot = (slot + 1) & mask
        return slot

    def _grow(self) -> None:
        old_map, old_keys = self._map, self._keys
        self._map, self._keys = _zeroed_table(2 * len(old_keys))
        for fingerprint in old_keys:
            if fingerprint != self._EMPTY:
                self._keys[self._find(fingerprint)] = fingerprint
        old_keys.release()
        old_map.close()


def _zeroed_table(slots: int) -> tuple[mmap.mmap, memoryview]:
    """``slots`` zeroed signed 64-bit integers in an anonymous memory map (pages are touched as used)."""
    region = mmap.mmap(-1, 8 * slots)
    return region, memoryview(region).cast("q")
