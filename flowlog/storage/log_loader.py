"""Opening a partition directory: finish interrupted swaps, load or recover segments.

After an unclean shutdown every segment from the one holding the recovery
point onward is validated batch by batch; the first torn or corrupt batch is
cut off with everything after it (later segments are deleted). Older segments,
and all segments after a clean shutdown, are loaded after sanity checks of
their indexes, and recovered the same way if a check fails.
"""

from __future__ import annotations

import os
from pathlib import Path

import attrs

from flowlog.storage import checkpoint
from flowlog.storage.config import LogConfig
from flowlog.storage.errors import CorruptLogError
from flowlog.storage.leader_epoch import LeaderEpochCache
from flowlog.storage.segment import (
    LOG_SUFFIX,
    SEGMENT_SUFFIXES,
    LogSegment,
    parse_base_offset,
)

# Compaction writes a segment's replacement as .cleaned files, renames them to
# .swap (the .log last: its rename is the commit), then renames each .swap over
# the live file (the .log last again).
CLEANED_SUFFIX = ".cleaned"
SWAP_SUFFIX = ".swap"
TEMPORARY_SUFFIXES = (".tmp", ".deleted")


def finish_interrupted_swaps(directory: Path) -> None:
    """Complete committed swaps (a .log.swap exists) and discard uncommitted ones."""
    names = {path.name for path in directory.iterdir()}
    committed = {
        name.split(".", 1)[0] for name in names if name.endswith(LOG_SUFFIX + SWAP_SUFFIX)
    }
    for name in sorted(names):
        stem = name.split(".", 1)[0]
        path = directory / name
        if name.endswith(CLEANED_SUFFIX) or name.endswith(TEMPORARY_SUFFIXES):
            path.unlink()
        elif name.endswith(SWAP_SUFFIX) and stem not in committed:
            path.unlink()
    for stem in sorted(committed):
        # Indexes first, the .log last, the same order as the cleaner uses.
        for suffix in (*SEGMENT_SUFFIXES[1:], LOG_SUFFIX):
            swap = directory / f"{stem}{suffix}{SWAP_SUFFIX}"
            if swap.exists():
                os.replace(swap, directory / f"{stem}{suffix}")


def list_base_offsets(directory: Path) -> list[int]:
    """Base offsets of the segments present; stray index files without a .log are deleted."""
    bases: set[int] = set()
    strays: list[Path] = []
    for path in directory.iterdir():
        base = parse_base_offset(path.name)
        if base is None:
            continue
        if path.name.endswith(LOG_SUFFIX):
            bases.add(base)
        elif path.name.endswith(SEGMENT_SUFFIXES):
            strays.append(path)
    for path in strays:
        if parse_base_offset(path.name) not in bases:
            path.unlink()
    return sorted(bases)


def load_segments(
    directory: Path, config: LogConfig, *, clean_shutdown: bool, recovery_point: int
) -> tuple[list[LogSegment], bool]:
    """Open every segment; returns them and whether anything was cut off."""
    base_offsets = list_base_offsets(directory)
    segments: list[LogSegment] = []
    cut = False
    for position, base_offset in enumerate(base_offsets):
        if cut:
            for suffix in SEGMENT_SUFFIXES:
                (directory / f"{base_offset:020d}{suffix}").unlink(missing_ok=True)
            continue
        next_base = base_offsets[position + 1] if position + 1 < len(base_offsets) else None
        expected_min_offset = segments[-1].next_offset if segments else base_offset
        must_recover = not clean_shutdown and (next_base is None or next_base > recovery_point)
        segment: LogSegment | None = None
        if not must_recover:
            try:
                # Closed segments (flushed, indexes included) read their indexes when
                # first used; the last one reads them now.
                segment = LogSegment.load(directory, base_offset, config.segment_index_bytes,
                                          lazy_indexes=next_base is not None)
            except CorruptLogError:
                segment = None
            if segment is not None and segment.base_offset < expected_min_offset:
                segment.close()
                segment = None
        if segment is None:
            segment, truncated = LogSegment.recover(
                directory, base_offset, config.segment_index_bytes,
                config.index_interval_bytes, expected_min_offset,
            )
            cut = cut or truncated
        segments.append(segment)
    return segments, cut


@attrs.define
class LoadedPartition:
    segments: list[LogSegment]
    log_start_offset: int
    recovery_point: int
    epoch_cache: LeaderEpochCache
    clean_shutdown: bool
    epochs_changed: bool
    log_start_changed: bool


def load_partition(directory: Path, config: LogConfig) -> LoadedPartition:
    """Everything a PartitionLog needs from its directory, recovered and consistent."""
    directory.mkdir(parents=True, exist_ok=True)
    clean_shutdown = (directory / checkpoint.CLEAN_SHUTDOWN_MARKER).exists()
    finish_interrupted_swaps(directory)
    recovery_point = checkpoint.read_single_offset(
        directory / checkpoint.RECOVERY_POINT_CHECKPOINT) or 0
    segments, _cut = load_segments(
        directory, config, clean_shutdown=clean_shutdown, recovery_point=recovery_point)
    stored_start = checkpoint.read_single_offset(
        directory / checkpoint.LOG_START_OFFSET_CHECKPOINT)
    if not segments:
        segments = [LogSegment.create(directory, stored_start or 0, config.segment_index_bytes)]
    log_end_offset = segments[-1].next_offset
    log_start_offset = min(max(stored_start or 0, segments[0].base_offset), log_end_offset)
    epoch_rows = checkpoint.read_checkpoint(
        directory / checkpoint.LEADER_EPOCH_CHECKPOINT, columns=2) or []
    epoch_cache = LeaderEpochCache([(row[0], row[1]) for row in epoch_rows])
    # Recovery may have cut the log: forget epochs that started in the lost part
    # (an epoch assigned at the log end with no batch yet stays).
    epochs_changed = epoch_cache.truncate_from_end(log_end_offset + 1)
    epochs_changed |= epoch_cache.truncate_from_start(log_start_offset)
    return LoadedPartition(
        segments=segments, log_start_offset=log_start_offset,
        recovery_point=min(recovery_point, log_end_offset), epoch_cache=epoch_cache,
        clean_shutdown=clean_shutdown, epochs_changed=epochs_changed,
        log_start_changed=stored_start != log_start_offset,
    )
