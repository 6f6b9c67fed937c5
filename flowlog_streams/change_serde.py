"""ChangeSerde: a table update `Change(new, old)` as bytes, for a regrouped table's repartition topic.

Layout: one flag byte (1: new present, 2: old present), then the new value's
length (4 bytes, big-endian) and bytes, then the old value's bytes. The
values go through the grouped value serde (the app's default when none is
given: `resolve` picks it when the task starts).
"""

from __future__ import annotations

import struct
from typing import Any

from flowlog_streams.aggregate_processors import Change
from flowlog_streams.errors import SerializationError
from flowlog_streams.serdes import Serde

_LENGTH = struct.Struct(">i")
_NEW, _OLD = 1, 2


class ChangeSerde:
    def __init__(self, inner: Serde | None) -> None:
        self.inner = inner

    def resolve(self, default: Serde) -> ChangeSerde:
        return self if self.inner is not None else ChangeSerde(default)

    def serialize(self, topic: str, obj: Any) -> bytes | None:
        if obj is None:
            return None
        if not isinstance(obj, Change):
            raise SerializationError(f"change serde got {type(obj).__name__}, not Change")
        inner = self._inner()
        new = None if obj.new is None else inner.serialize(topic, obj.new)
        old = None if obj.old is None else inner.serialize(topic, obj.old)
        flags = (_NEW if new is not None else 0) | (_OLD if old is not None else 0)
        new_bytes = new or b""
        return bytes((flags,)) + _LENGTH.pack(len(new_bytes)) + new_bytes + (old or b"")

    def deserialize(self, topic: str, data: bytes | None) -> Any:
        if data is None:
            return None
        if len(data) < 5 or data[0] > (_NEW | _OLD):
            raise SerializationError("not a table change record")
        flags = data[0]
        (length,) = _LENGTH.unpack_from(data, 1)
        if length < 0 or 5 + length > len(data):
            raise SerializationError("table change record is truncated")
        inner = self._inner()
        new = inner.deserialize(topic, bytes(data[5:5 + length])) if flags & _NEW else None
        old = inner.deserialize(topic, bytes(data[5 + length:])) if flags & _OLD else None
        return Change(new, old)

    def _inner(self) -> Serde:
        if self.inner is None:
            raise SerializationError("change serde used before its value serde was resolved")
        return self.inner

    def __repr__(self) -> str:
        return f"ChangeSerde({self.inner!r})"


def resolve_serde(serde: Serde | None, default: Serde) -> Serde:
    """The serde a node uses: its own (completed with the default if it wraps one), or the default."""
    if serde is None:
        return default
    resolve = getattr(serde, "resolve", None)
    return resolve(default) if resolve is not None else serde
