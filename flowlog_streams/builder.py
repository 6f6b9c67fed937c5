"""StreamsBuilder: the DSL's entry point; each call writes named nodes into one Topology."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from flowlog_streams.errors import TopologyException
from flowlog_streams.serdes import Serde
from flowlog_streams.topology import StoreSpec, TimestampExtractor, Topology

if TYPE_CHECKING:
    from flowlog_streams.kstream import KStream

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

    def add_state_store(self, spec: StoreSpec) -> StreamsBuilder:
        """A store for Processor API steps: `stream.process(supplier, spec.name)` connects it."""
        self._check_open()
        self.topology.add_state_store(spec)
        return self

    def build(self) -> Topology:
        if not self.topology.nodes:
            raise TopologyException("the topology is empty: add a stream before build()")
        self._built = True
        return self.topology

    def _check_open(self) -> None:
        if self._built:
            raise TopologyException("build() was called: start a new StreamsBuilder to add nodes")
