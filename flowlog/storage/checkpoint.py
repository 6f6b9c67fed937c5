"""Small checkpoint files in a partition directory, written atomically.

Format (Kafka's checkpoint layout): a version line, a count line, then one
line per entry of space-separated integers. Written to a temporary file,
fsynced, renamed over the old one, and the directory fsynced, so a crash
leaves either the old file or the new one.
"""

from __future__ import annotations

import os
from pathlib import Path

from flowlog.storage.errors import CorruptLogError

CHECKPOINT_VERSION = 0
# Checkpoints hold a handful of rows (epochs, one offset); a bigger file is not ours.
CHECKPOINT_ROWS_MAX = 1_000_000

LEADER_EPOCH_CHECKPOINT = "leader-epoch-checkpoint"
LOG_START_OFFSET_CHECKPOINT = "log-start-offset-checkpoint"
RECOVERY_POINT_CHECKPOINT = "recovery-point-offset-checkpoint"
CLEANER_OFFSET_CHECKPOINT = "cleaner-offset-checkpoint"
# The partition's high watermark (Kafka keeps one such file per log dir; one per
# partition here, like the other checkpoints).
HIGH_WATERMARK_CHECKPOINT = "replication-offset-checkpoint"
CLEAN_SHUTDOWN_MARKER = ".clean-shutdown"


def fsync_directory(directory: Path) -> None:
    """Make renames and creations inside `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_checkpoint(path: Path, rows: list[tuple[int, ...]]) -> None:
    assert len(rows) <= CHECKPOINT_ROWS_MAX, f"{len(rows)} checkpoint rows"
    lines = [str(CHECKPOINT_VERSION), str(len(rows))]
    lines.extend(" ".join(str(value) for value in row) for row in rows)
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, ("\n".join(lines) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    fsync_directory(path.parent)


def read_checkpoint(path: Path, columns: int) -> list[tuple[int, ...]] | None:
    """Rows of the checkpoint at `path`, or None if there is none.

    Raises CorruptLogError naming the file when it is not a valid checkpoint.
    """
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    lines = text.splitlines()
    try:
        version = int(lines[0])
        count = int(lines[1])
        if version != CHECKPOINT_VERSION or not 0 <= count <= CHECKPOINT_ROWS_MAX:
            raise ValueError(f"version {version}, count {count}")
        if len(lines) != count + 2:
            raise ValueError(f"{count} rows declared, {len(lines) - 2} present")
        rows = [tuple(int(field) for field in line.split()) for line in lines[2:]]
        if any(len(row) != columns for row in rows):
            raise ValueError(f"rows must have {columns} columns")
    except (ValueError, IndexError) as error:
        raise CorruptLogError(f"checkpoint file {path} is invalid: {error}") from None
    return rows


def read_single_offset(path: Path) -> int | None:
    rows = read_checkpoint(path, columns=1)
    if not rows:
        return None
    return rows[0][0]


def write_single_offset(path: Path, offset: int) -> None:
    write_checkpoint(path, [(offset,)])
