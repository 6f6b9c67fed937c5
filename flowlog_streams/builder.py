"""StreamsBuilder: the DSL's entry point; each call writes named nodes into one Topology."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from flowlog_streams.errors import TopologyException
from flowlog_streams.serdes import Serde
from flowlog_streams.topology import StoreSpec, TimestampExtractor, Topology

if TYPE_CHECKING:
    from flowlog_streams.global_table import GlobalKTable
    from flowlog_streams.kstream import KStream
    from flowlog_streams.ktable import KTable
    from flowlog_streams.materialized import Materialized

SOURCE_PREFIX = "KSTREAM-SOURCE-"


class StreamsBuilder:
    def __init__(self) -> None:
        self.topology = Topology()
        self._index = 0
        self._built = False

    def new_name(self, prefix: str) -> str:
        """Kafka Streams' generated names: prefix + a 10-digit counter shared by all nodes."""
        name = f"{prefix}{self._index:010d}"
        self._index += 1
        return name

    def stream(
        self,
        topics: str | Sequence[str] | re.Pattern[str],
        *,
        key_serde: Serde | None = None,
        value_serde: Serde | None = None,
        timestamp_extractor: TimestampExtractor | None = None,
        auto_offset_reset: str | None = None,
        name: str | None = None,
    ) -> KStream:
        from flowlog_streams.kstream import KStream

        self._check_open()
        source_name = name or self.new_name(SOURCE_PREFIX)
        if isinstance(topics, re.Pattern):
            self.topology.add_source(
                source_name, pattern=topics, key_serde=key_serde, value_serde=value_serde,
                timestamp_extractor=timestamp_extractor, auto_offset_reset=auto_offset_reset,
            )
        else:
            names = (topics,) if isinstance(topics, str) else tuple(topics)
            if not names:
                raise TopologyException("stream() needs at least one topic")
            self.topology.add_source(
                source_name, *names, key_serde=key_serde, value_serde=value_serde,
                timestamp_extractor=timestamp_extractor, auto_offset_reset=auto_offset_reset,
            )
        return KStream(self, source_name, key_serde, value_serde, repartition_required=False)

    def table(
        self,
        topic: str,
        *,
        key_serde: Serde | None = None,
        value_serde: Serde | None = None,
        materialized: Materialized | None = None,
        timestamp_extractor: TimestampExtractor | None = None,
        auto_offset_reset: str | None = None,
        name: str | None = None,
    ) -> KTable:
        """A table of `topic`'s latest value per key (a None value deletes the key).

        Its store's changelog is the topic itself: nothing extra is written, and a
        restore reads the topic (use a compacted topic). Records with a null key are
        dropped and counted."""
        from flowlog_streams.ktable import KTable
        from flowlog_streams.table_processors import KTableSourceProcessor

        spec, source_name, table_name = self._table_source("table", topic, key_serde,
                                                           value_serde, materialized, name)
        self.topology.add_source(
            source_name, topic, key_serde=spec.key_serde, value_serde=spec.value_serde,
            timestamp_extractor=timestamp_extractor, auto_offset_reset=auto_offset_reset,
        )
        store_name = spec.name
        self.topology.add_processor(table_name, lambda: KTableSourceProcessor(store_name), source_name)
        self.topology.add_state_store(spec, table_name)
        return KTable(self, table_name, store_name, spec.key_serde, spec.value_serde)

    def _table_source(self, method: str, topic: str, key_serde: Serde | None,
                      value_serde: Serde | None, materialized: Materialized | None,
                      name: str | None) -> tuple[StoreSpec, str, str]:
        """A (global) table's store spec, its source node's and its table node's names,
        generated in Kafka Streams' order (store, source, table)."""
        from flowlog_streams.materialized import Materialized

        self._check_open()
        if not isinstance(topic, str):
            raise TopologyException(f"{method}() reads one topic, given by name")
        materialized = materialized or Materialized()
        store_name = materialized.store_name or self.new_name(f"{topic}-STATE-STORE-")
        spec = StoreSpec(
            store_name, caching=materialized.caching and method == "table",
            in_memory=materialized.in_memory, key_serde=materialized.key_serde or key_serde,
            value_serde=materialized.value_serde or value_serde, source_topic=topic,
        )
        source_name = name or self.new_name(SOURCE_PREFIX)
        table_name = f"{name}-table" if name else self.new_name("KTABLE-SOURCE-")
        return spec, source_name, table_name

    def global_table(
        self,
        topic: str,
        *,
        key_serde: Serde | None = None,
        value_serde: Serde | None = None,
        materialized: Materialized | None = None,
        name: str | None = None,
    ) -> GlobalKTable:
        """A table of every partition of `topic`, held in full by every instance.

        It is read by its own consumer (not the group's), restored before any task
        processes and kept up to date; joins look keys up with a key mapper."""
        from flowlog_streams.global_table import GlobalKTable, GlobalStore

        if any(topic in s.topics for s in self.topology.sources()):
            raise TopologyException(f"topic {topic!r} is already read by a stream or table source")
        spec, source_name, processor_name = self._table_source(
            "global_table", topic, key_serde, value_serde, materialized, name
        )
        self.topology.add_global_store(GlobalStore(spec, topic, source_name, processor_name))
        return GlobalKTable(self, spec.name, spec.key_serde, spec.value_serde)

    def add_state_store(self, spec: StoreSpec) -> StreamsBuilder:
        """A store for Processor API steps: `stream.process(supplier, spec.name)` connects it."""
        self._check_open()
        self.topology.add_state_store(spec)
        return self

    def build(self) -> Topology:
        if not self.topology.nodes and not self.topology.global_stores:
            raise TopologyException("the topology is empty: add a stream before build()")
        self._built = True
        return self.topology

    def _check_open(self) -> None:
        if self._built:
            raise TopologyException("build() was called: start a new StreamsBuilder to add nodes")
