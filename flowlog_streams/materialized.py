"""Materialized: how an aggregation's (or table's) state store is named, serialized and kept.

    Materialized.as_("counts").with_key_serde(Serdes.str()).with_value_serde(Serdes.long())

Defaults, as Kafka Streams': a generated store name, the operation's serdes,
a RocksDB store, caching on (`cache_max_bytes` of the app), a changelog
topic `<application_id>-<store>-changelog`. `with_in_memory()` keeps the
store in memory (still changelogged); `with_retention(ms)` raises a window
store's retention (never below window size + grace).
"""

from __future__ import annotations

import attrs

from flowlog_streams.serdes import Serde, check_serde
from flowlog_streams.windows import Duration, to_ms


@attrs.frozen
class Materialized:
    store_name: str | None = None
    key_serde: Serde | None = None
    value_serde: Serde | None = None
    caching: bool = True
    logging: bool = True
    in_memory: bool = False
    retention_ms: int | None = None

    @classmethod
    def as_(cls, store_name: str) -> Materialized:
        if not store_name:
            raise ValueError("Materialized.as_() needs a store name")
        return cls(store_name=store_name)

    @classmethod
    def with_serdes(cls, key_serde: Serde | None, value_serde: Serde | None) -> Materialized:
        return cls(key_serde=check_serde(key_serde, "key_serde"),
                   value_serde=check_serde(value_serde, "value_serde"))

    def with_key_serde(self, serde: Serde) -> Materialized:
        return attrs.evolve(self, key_serde=check_serde(serde, "key_serde"))

    def with_value_serde(self, serde: Serde) -> Materialized:
        return attrs.evolve(self, value_serde=check_serde(serde, "value_serde"))

    def with_caching_disabled(self) -> Materialized:
        return attrs.evolve(self, caching=False)

    def with_caching_enabled(self) -> Materialized:
        return attrs.evolve(self, caching=True)

    def with_logging_disabled(self) -> Materialized:
        return attrs.evolve(self, logging=False)

    def with_in_memory(self) -> Materialized:
        return attrs.evolve(self, in_memory=True)

    def with_retention(self, retention: Duration) -> Materialized:
        return attrs.evolve(self, retention_ms=to_ms(retention, "retention"))
