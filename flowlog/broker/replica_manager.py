"""The partitions this broker holds, kept in step with the cluster metadata.

Partition directories follow Kafka: `<data dir>/<topic>-<partition>`. A deleted
topic's directories are renamed out of the way at once (so a topic re-created
under the same name starts empty) and removed in a worker thread.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

import attrs
import trio

from flowlog.broker.partition import Partition
from flowlog.storage.config import LogConfig

log = logging.getLogger(__name__)

DELETED_SUFFIX = ".deleted"


@attrs.frozen
class PartitionSpec:
    """What the metadata says a local partition should be."""

    topic: str
    topic_id: bytes
    index: int
    leader_epoch: int
    config: LogConfig
    # Replication (the committed PartitionRecord); the defaults: a partition this
    # broker alone holds and leads (tests that build specs by hand).
    replicas: tuple[int, ...] = ()
    isr: tuple[int, ...] = ()
    leader: int = -1
    partition_epoch: int = 0


def partition_directory(data_dir: Path, topic: str, index: int) -> Path:
    return data_dir / f"{topic}-{index}"


class ReplicaManager:
    def __init__(self, data_dir: Path, clock_ms: Callable[[], int]) -> None:
        # Told of every partition sync() kept, with its spec, to set replication roles.
        self.on_synced: Callable[[list[tuple[Partition, PartitionSpec]]], None] | None = None
        self.data_dir = data_dir
        self._clock_ms = clock_ms
        self._partitions: dict[tuple[str, int], Partition] = {}
        self._pending_removals: list[Path] = []

    def get(self, topic: str, index: int) -> Partition | None:
        return self._partitions.get((topic, index))

    def partitions(self) -> Iterable[Partition]:
        return self._partitions.values()

    def sync(self, wanted: Iterable[PartitionSpec]) -> None:
        """Open partitions the metadata added, close and remove those it dropped."""
        wanted_by_key = {(spec.topic, spec.index): spec for spec in wanted}
        for key, partition in list(self._partitions.items()):
            spec = wanted_by_key.get(key)
            if spec is None or spec.topic_id != partition.topic_id:
                self._remove(key, partition)
        for key, spec in wanted_by_key.items():
            existing = self._partitions.get(key)
            if existing is None:
                self._partitions[key] = Partition.open(
                    partition_directory(self.data_dir, spec.topic, spec.index),
                    spec.topic,
                    spec.topic_id,
                    spec.index,
                    spec.config,
                    spec.leader_epoch,
                    self._clock_ms(),
                )
            else:
                existing.update(spec.config, spec.leader_epoch)
        if self.on_synced is not None:
            self.on_synced([(self._partitions[key], spec) for key, spec in wanted_by_key.items()])

    def _remove(self, key: tuple[str, int], partition: Partition) -> None:
        del self._partitions[key]
        partition.close()
        directory = partition_directory(self.data_dir, partition.topic, partition.index)
        if directory.exists():
            graveyard = directory.with_name(
                f"{directory.name}.{uuid.uuid4().hex[:8]}{DELETED_SUFFIX}"
            )
            directory.rename(graveyard)
            self._pending_removals.append(graveyard)
        log.info("removed partition %s-%d", partition.topic, partition.index)

    async def purge_removed(self) -> None:
        """Delete renamed-away directories of deleted topics, off the event loop."""
        leftovers = [p for p in self.data_dir.glob(f"*{DELETED_SUFFIX}") if p.is_dir()]
        targets = set(self._pending_removals) | set(leftovers)
        self._pending_removals.clear()
        for path in targets:
            await trio.to_thread.run_sync(shutil.rmtree, path, True)

    def close(self) -> None:
        for partition in self._partitions.values():
            partition.close()
        self._partitions.clear()
