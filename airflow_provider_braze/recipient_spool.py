"""A validated, on-disk copy of a recipient source, read back in batches.

The whole source is validated before the first request, without holding it in memory: each valid
recipient is written as one JSON line to an anonymous temporary file, invalid rows are counted (row
number and rule only, never their data), and a digest of the ordered content identifies the source
so that a retry can tell whether it still yields the same batches. No Airflow imports.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from airflow_provider_braze.recipient_rows import identifier_key

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
    """

    shard_count: int = 1
    shard_index: int = 0
    count: int = 0
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

    def add(self, recipient: dict[str, Any]) -> None:
        """Keep one valid recipient (of this shard)."""
        assert self._file is not None
        if not self.in_shard(recipient):
            self.other_shards += 1
            return
        line = json.dumps(recipient, separators=(",", ":"), sort_keys=True).encode() + b"\n"
        self._file.write(line)
        self._digest.update(line)
        self.count += 1

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

    def batches(self, size: int) -> Iterator[list[dict[str, Any]]]:
        """Read the recipients back in batches of ``size``, in source order."""
        assert self._file is not None
        self._file.flush()
        self._file.seek(0)
        while lines := list(itertools.islice(self._file, size)):
            # One decode per batch, not per recipient: the lines are JSON objects, newlines are whitespace.
            yield json.loads(b"[" + b",".join(lines) + b"]")

    def close(self) -> None:
        """Delete the temporary files."""
        for handle in (self._file, self._rejects):
            if handle is not None:
                handle.close()
        self._file = self._rejects = None
