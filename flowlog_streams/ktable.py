"""KTable: a changelog stream, each key's latest value (here: the results of aggregations).

Updates travel between table processors as `Change(new, old)`;
`to_stream()` turns them into a record stream of new values (a deleted key
becomes a tombstone). Table operations (filter, map_values, joins,
group_by) arrive with the joins issue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowlog_streams.aggregate_processors import ToStreamProcessor
from flowlog_streams.errors import TopologyException
from flowlog_streams.serdes import Serde
from flowlog_streams.suppress import BufferedValueSerde, KTableSuppressProcessor, Suppressed
from flowlog_streams.topology import KEY_VALUE, StoreSpec
from flowlog_streams.windows import SessionWindows, SlidingWindows, TimeWindows

if TYPE_CHECKING:
    from flowlog_streams.builder import StreamsBuilder
    from flowlog_streams.kstream import KStream


class KTable:
    def __init__(self, builder: StreamsBuilder, node_name: str, store_name: str | None,
                 key_serde: Serde | None, value_serde: Serde | None,
                 windows: TimeWindows | SlidingWindows | SessionWindows | None = None) -> None:
        self.builder = builder
        self.node_name = node_name
        self.key_serde = key_serde
        self.value_serde = value_serde
        self._store_name = store_name
        # The windows of a windowed aggregation's table: suppress() needs their grace.
        self.windows = windows

    @property
    def queryable_store_name(self) -> str | None:
        """The store holding this table (for interactive queries), if it is materialized."""
        return self._store_name

    def suppress(self, suppressed: Suppressed, *, name: str | None = None) -> KTable:
        """Hold updates back: final results per window, or at most one per time limit."""
        if suppressed.until_close and self.windows is None:
            raise TopologyException("until_window_closes() needs a windowed table")
        if self.key_serde is None or self.value_serde is None:
            raise TopologyException(
                "suppress() keeps its buffer in a changelogged store: materialize the table "
                "with key and value serdes"
            )
        builder = self.builder
        builder._check_open()
        node_name = name or builder.new_name("KTABLE-SUPPRESS-")
        store_name = f"{node_name}-store"
        windows = self.windows
        builder.topology.add_processor(
            node_name, lambda: KTableSuppressProcessor(store_name, suppressed, windows),
            self.node_name,
        )
        builder.topology.add_state_store(StoreSpec(
            store_name, KEY_VALUE, caching=False, in_memory=True,
            key_serde=self.key_serde, value_serde=BufferedValueSerde(self.value_serde),
        ), node_name)
        return KTable(builder, node_name, None, self.key_serde, self.value_serde, windows)

    def to_stream(self, *, name: str | None = None) -> KStream:
        from flowlog_streams.kstream import KStream

        self.builder._check_open()
        node_name = name or self.builder.new_name("KTABLE-TOSTREAM-")
        self.builder.topology.add_processor(node_name, ToStreamProcessor, self.node_name)
        return KStream(self.builder, node_name, self.key_serde, self.value_serde,
                       repartition_required=False)
