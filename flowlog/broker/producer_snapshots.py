"""Producer state snapshots: `<offset>.snapshot` files beside a partition's segments.

A snapshot at offset X holds the idempotent-producer state after every batch
below X. The broker writes one when a segment rolls (X = the new segment's
base offset) and at a clean shutdown (X = the log end), as Kafka does, so a
restart replays only the batch headers after the latest snapshot instead of
reading the whole log.

Written to a temporary file and renamed, without fsync: a snapshot lost or torn
by a power cut fails its CRC or is missing, and the log is replayed instead. A
snapshot above the log end (a recovery cut the log below it) is deleted
unread. So a snapshot never needs to be durable, only never wrong.
"""

from __future__ import annotations

import os
from pathlib import Path

SNAPSHOT_SUFFIX = ".snapshot"
# The newest snapshots kept; older ones are deleted when a new one is written.
SNAPSHOTS_KEPT = 2


def snapshot_path(directory: Path, offset: int) -> Path:
    return directory / f"{offset:020d}{SNAPSHOT_SUFFIX}"


def snapshot_offsets(directory: Path) -> list[int]:
    """Offsets of the snapshots in `directory`, ascending."""
    offsets = []
    for path in directory.glob(f"*{SNAPSHOT_SUFFIX}"):
        stem = path.name[: -len(SNAPSHOT_SUFFIX)]
        if len(stem) == 20 and stem.isdigit():
            offsets.append(int(stem))
    return sorted(offsets)


def write_snapshot(directory: Path, offset: int, data: bytes) -> None:
    """Write the snapshot at `offset` and delete all but the newest SNAPSHOTS_KEPT."""
    path = snapshot_path(directory, offset)
    temporary = path.with_name(path.name + ".tmp")  # the log loader deletes strays
    temporary.write_bytes(data)
    os.replace(temporary, path)
    for old in snapshot_offsets(directory)[:-SNAPSHOTS_KEPT]:
        _remove(snapshot_path(directory, old))


def latest_snapshot(directory: Path, log_end_offset: int) -> tuple[int, bytes] | None:
    """(offset, bytes) of the newest readable snapshot at or below the log end,
    deleting any above it; None without one. Never raises for a bad file: the
    caller replays the log instead."""
    offsets = snapshot_offsets(directory)
    while offsets and offsets[-1] > log_end_offset:
        _remove(snapshot_path(directory, offsets.pop()))
    for offset in reversed(offsets):
        try:
            return offset, snapshot_path(directory, offset).read_bytes()
        except OSError:
            continue  # unreadable (gone, not a file): an older one, or the log
    return None


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass  # not a file we wrote; it is never read as a snapshot above the log end
