"""StreamJoined: how a stream-stream join names its processors and keeps its stores.

    StreamJoined.with_(Serdes.str(), Serdes.json(), Serdes.long()).with_store_name("clicks")

As Kafka Streams' StreamJoined (`ks/kstream/StreamJoined.java`), in Python spelling:
- the serdes of the key, the left (this) value and the right (other) value, used by the
  join's stores and by a repartition topic a key change makes it write; each falls back
  to the stream's own serde, then to the app's default;
- `with_name(name)` names the processors (`<name>-this-windowed`, `<name>-this-join`,
  `<name>-merge`, ...) and the repartition topics (`<name>-left-repartition`,
  `<name>-right-repartition`);
- `with_store_name(name)` names the stores (`<name>-this-join-store`,
  `<name>-other-join-store`, `<name>-left-shared-join-store`, ...), else they are named
  after the generated processor names (`KSTREAM-JOINTHIS-0000000004-store`);
- join stores are never cached; `with_logging_disabled()` drops their changelogs and
  `with_in_memory()` keeps them in memory (still changelogged).
"""

from __future__ import annotations

import attrs

from flowlog_streams.serdes import Serde, check_serde


@attrs.frozen
class StreamJoined:
    key_serde: Serde | None = None
    value_serde: Serde | None = None
    other_value_serde: Serde | None = None
    name: str | None = None
    store_name: str | None = None
    logging: bool = True
    in_memory: bool = False

    @classmethod
    def with_(cls, key_serde: Serde | None, value_serde: Serde | None,
              other_value_serde: Serde | None) -> StreamJoined:
        return cls(
            key_serde=check_serde(key_serde, "key_serde"),
            value_serde=check_serde(value_serde, "value_serde"),
            other_value_serde=check_serde(other_value_serde, "other_value_serde"),
        )

    @classmethod
    def as_(cls, store_name: str) -> StreamJoined:
        return cls().with_store_name(store_name)

    def with_name(self, name: str) -> StreamJoined:
        if not name:
            raise ValueError("StreamJoined.with_name() needs a name")
        return attrs.evolve(self, name=name)

    def with_store_name(self, store_name: str) -> StreamJoined:
        if not store_name:
            raise ValueError("StreamJoined.with_store_name() needs a name")
        return attrs.evolve(self, store_name=store_name)

    def with_key_serde(self, serde: Serde) -> StreamJoined:
        return attrs.evolve(self, key_serde=check_serde(serde, "key_serde"))

    def with_value_serde(self, serde: Serde) -> StreamJoined:
        return attrs.evolve(self, value_serde=check_serde(serde, "value_serde"))

    def with_other_value_serde(self, serde: Serde) -> StreamJoined:
        return attrs.evolve(self, other_value_serde=check_serde(serde, "other_value_serde"))

    def with_logging_disabled(self) -> StreamJoined:
        return attrs.evolve(self, logging=False)

    def with_logging_enabled(self) -> StreamJoined:
        return attrs.evolve(self, logging=True)

    def with_in_memory(self) -> StreamJoined:
        return attrs.evolve(self, in_memory=True)
