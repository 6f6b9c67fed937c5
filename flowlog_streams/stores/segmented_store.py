"""What window and session stores share: stream time, expiry of whole segments, lifecycle."""

from __future__ import annotations

from flowlog_streams.stores.api import Checkpoint
from flowlog_streams.stores.backend import BackendStore, BytesBatch, OrderedBytesBackend
from flowlog_streams.stores.key_schema import segment_prefix
from flowlog_streams.stores.retention import NO_STREAM_TIME, Retention

OBSERVED_STREAM_TIME = "observed_stream_time_ms"


class SegmentedStore(BackendStore):
    def __init__(
        self, name: str, backend: OrderedBytesBackend, retention_ms: int, segment_interval_ms: int | None = None
    ) -> None:
        self.name = name
        self._retention = Retention(retention_ms, segment_interval_ms)
        self.retention_ms = retention_ms
        self.segment_interval_ms = self._retention.segment_interval_ms
        self._backend = backend
        stored = backend.metadata(OBSERVED_STREAM_TIME)
        self._observed_ms = NO_STREAM_TIME if stored is None else stored
        # Segments below this are gone: the commit that last raised stream time deleted them.
        self._segment_floor = self._retention.live_segment_floor(self._observed_ms)
        self.expired_puts_dropped = 0

    def observed_stream_time_ms(self) -> int:
        """The highest time written (drives expiry); -1 before any."""
        return self._observed_ms


    def _commit(self, batch: BytesBatch, observed_ms: int, checkpoint: Checkpoint | None, dropped: int) -> None:
        """Commit batch with expiry up to observed_ms, the new stream time, and the checkpoint."""
        floor = self._retention.live_segment_floor(observed_ms)
        if floor > self._segment_floor:
            # Dead segments go in one range delete, whatever they hold; it comes after
            # the batch's puts, so a put to a segment that died within the batch goes too.
            batch.delete_range(segment_prefix(0), segment_prefix(floor))
        # Stream time goes in the same commit, so a reopened store keeps expiring from it.
        metadata = {OBSERVED_STREAM_TIME: observed_ms} if observed_ms != self._observed_ms else None
        self._backend.commit(batch, checkpoint, metadata)
        self._observed_ms = observed_ms
        self._segment_floor = max(floor, self._segment_floor)
        self.expired_puts_dropped += dropped
