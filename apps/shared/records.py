"""JSON records as the apps' topics carry them, and the string keys of windowed results."""

from __future__ import annotations

from typing import Any

import attrs
import orjson

from flowlog_streams import Serde, Serdes

# Every app topic: UTF-8 string keys, JSON values (None is a tombstone both ways).
KEY_SERDE: Serde = Serdes.str()
JSON_SERDE: Serde = Serdes.json()


@attrs.frozen
class OutRecord:
    """A record a generator writes: its topic, key, JSON value (None: tombstone) and time."""

    topic: str
    key: str
    value: Any
    timestamp_ms: int

    def value_bytes(self) -> bytes | None:
        return None if self.value is None else orjson.dumps(self.value)


def windowed_key(key: str, window_start_ms: int) -> str:
    """The contract's key of a windowed result: "<key>@<window_start_ms>"."""
    return f"{key}@{window_start_ms}"


def decode_json(data: bytes | None) -> Any:
    return None if data is None else orjson.loads(data)
