"""KTable: a changelog stream, each key's latest value (here: the results of aggregations).

Updates travel between table processors as `Change(new, old)`;
`to_stream()` turns them into a record stream of new values (a deleted key
becomes a tombstone). Table operations (filter, map_values, joins,
group_by) arrive with the joins issue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowlog_streams.aggregate_processors import ToStreamProcessor
from flowlog_streams.serdes import Serde

if TYPE_CHECKING:
    from flowlog_streams.builder import StreamsBuilder
    from flowlog_streams.kstream import KStream


class KTable:
    def __init__(self, builder: StreamsBuilder, node_name: str, store_name: str | None,
                 key_serde: Serde | None, value_serde: Serde | None) -> None:
        self.builder = builder
        self.node_name = node_name
        self.key_serde = key_serde
        self.value_serde = value_serde
        self._store_name = store_name

    @property
    def queryable_store_name(self) -> str | None:
        """The store holding this table (for interactive queries), if it is materialized."""
        return self._store_name

    def to_stream(self, *, name: str | None = None) -> KStream:
        from flowlog_streams.kstream import KStream

        self.builder._check_open()
        node_name = name or self.builder.new_name("KTABLE-TOSTREAM-")
        self.builder.topology.add_processor(node_name, ToStreamProcessor, self.node_name)
        return KStream(self.builder, node_name, self.key_serde, self.value_serde,
                       repartition_required=False)
