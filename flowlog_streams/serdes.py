"""Serdes: objects <-> bytes for keys and values, Kafka's encodings where Kafka has one.

A serde is any object with `serialize(topic, obj) -> bytes | None` and
`deserialize(topic, data) -> obj`. None maps to None both ways (a tombstone
stays a tombstone), as Kafka's own serdes do.
"""

from __future__ import annotations

import dataclasses
import struct
from typing import Any, Protocol, runtime_checkable

import attrs
import orjson
from cattrs.preconf.orjson import make_converter

from flowlog_streams.errors import SerializationError


@runtime_checkable
class Serde(Protocol):
    def serialize(self, topic: str, obj: Any) -> bytes | None: ...

    def deserialize(self, topic: str, data: bytes | None) -> Any: ...


class BytesSerde:
    """Bytes as they are (the default when nothing else is set)."""

    def serialize(self, topic: str, obj: Any) -> bytes | None:
        if obj is None or obj.__class__ is bytes:
            return obj
        if isinstance(obj, bytes | bytearray | memoryview):
            return bytes(obj)
        raise SerializationError(f"bytes serde got {type(obj).__name__}, not bytes")

    def deserialize(self, topic: str, data: bytes | None) -> Any:
        return data

    def __repr__(self) -> str:
        return "Serdes.bytes()"


class StringSerde:
    """UTF-8 text, as Kafka's StringSerializer."""

    def serialize(self, topic: str, obj: Any) -> bytes | None:
        if obj is None:
            return None
        if obj.__class__ is not str:
            raise SerializationError(f"str serde got {type(obj).__name__}, not str")
        return obj.encode()

    def deserialize(self, topic: str, data: bytes | None) -> Any:
        if data is None:
            return None
        try:
            return bytes(data).decode()
        except UnicodeDecodeError as error:
            raise SerializationError(f"not UTF-8: {error}") from None

    def __repr__(self) -> str:
        return "Serdes.str()"


class _StructSerde:
    """Fixed-size big-endian numbers, as Kafka's Integer/Long/Float/Double serdes."""

    def __init__(self, name: str, layout: str, kind: type) -> None:
        self._name = name
        self._struct = struct.Struct(layout)
        self._kind = kind

    def serialize(self, topic: str, obj: Any) -> bytes | None:
        if obj is None:
            return None
        if isinstance(obj, bool) or not isinstance(obj, self._kind | int):
            raise SerializationError(f"{self._name} serde got {type(obj).__name__}")
        try:
            return self._struct.pack(obj)
        except (struct.error, OverflowError) as error:  # out of range; float() packs raise OverflowError
            raise SerializationError(f"{self._name} serde: {error}") from None

    def deserialize(self, topic: str, data: bytes | None) -> Any:
        if data is None:
            return None
        if len(data) != self._struct.size:
            raise SerializationError(
                f"{self._name} serde needs {self._struct.size} bytes, got {len(data)}"
            )
        return self._struct.unpack(data)[0]

    def __repr__(self) -> str:
        return f"Serdes.{self._name}()"


_converter = make_converter()


class JsonSerde:
    """JSON through orjson; with `cls` (an attrs class or dataclass) values are structured by cattrs."""

    def __init__(self, cls: type | None = None) -> None:
        if cls is not None and not (attrs.has(cls) or dataclasses.is_dataclass(cls)):
            raise TypeError(f"Serdes.json(cls): {cls!r} is neither an attrs class nor a dataclass")
        self._cls = cls
        # orjson writes dataclasses natively; attrs instances go through cattrs.
        self._unstructure = cls is not None and attrs.has(cls)

    def serialize(self, topic: str, obj: Any) -> bytes | None:
        if obj is None:
            return None
        if self._cls is not None and not isinstance(obj, self._cls):
            # Else the record would be written and then fail every reader's deserialize.
            raise SerializationError(
                f"Serdes.json({self._cls.__name__}) got {type(obj).__name__}, not {self._cls.__name__}"
            )
        try:
            if self._unstructure:
                obj = _converter.unstructure(obj)
            return orjson.dumps(obj)
        except (TypeError, orjson.JSONEncodeError) as error:
            raise SerializationError(f"cannot encode {type(obj).__name__} as JSON: {error}") from None

    def deserialize(self, topic: str, data: bytes | None) -> Any:
        if data is None:
            return None
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError as error:
            raise SerializationError(f"invalid JSON: {error}") from None
        if self._cls is None:
            return obj
        try:
            return _converter.structure(obj, self._cls)
        except Exception as error:  # cattrs raises ClassValidationError, KeyError, ValueError...
            raise SerializationError(
                f"JSON does not fit {self._cls.__name__}: {_describe(error)}"
            ) from None

    def __repr__(self) -> str:
        return f"Serdes.json({self._cls.__name__ if self._cls else ''})"


def _describe(error: BaseException) -> str:
    exceptions = getattr(error, "exceptions", None)
    if exceptions:
        return "; ".join(_describe(inner) for inner in exceptions)
    notes = getattr(error, "__notes__", None)
    text = f"{type(error).__name__}: {error}"
    return f"{text} ({'; '.join(notes)})" if notes else text


class Serdes:
    """Factory of the built-in serdes (Kafka Streams' `Serdes` in Python spelling)."""

    _bytes = BytesSerde()
    _str = StringSerde()
    _int = _StructSerde("int", ">i", int)
    _long = _StructSerde("long", ">q", int)
    _float = _StructSerde("float", ">f", float)
    _double = _StructSerde("double", ">d", float)

    @staticmethod
    def bytes() -> Serde:
        return Serdes._bytes

    @staticmethod
    def str() -> Serde:
        return Serdes._str

    @staticmethod
    def int() -> Serde:
        """4-byte big-endian signed (Java's Integer serde)."""
        return Serdes._int

    @staticmethod
    def long() -> Serde:
        """8-byte big-endian signed (Java's Long serde)."""
        return Serdes._long

    @staticmethod
    def float() -> Serde:
        """4-byte IEEE 754 big-endian (Java's Float serde)."""
        return Serdes._float

    @staticmethod
    def double() -> Serde:
        """8-byte IEEE 754 big-endian (Java's Double serde)."""
        return Serdes._double

    @staticmethod
    def json(cls: type | None = None) -> Serde:
        return JsonSerde(cls)

    @staticmethod
    def windowed(inner: Serde) -> Serde:
        """Windowed keys: the inner key's bytes, then the window's start and end (8 bytes each)."""
        from flowlog_streams.windows import WindowedSerde

        return WindowedSerde(inner)


def check_serde(serde: Any, what: str) -> Serde | None:
    """A clear error at build time for something that is not a serde."""
    if serde is None:
        return None
    if not (callable(getattr(serde, "serialize", None)) and callable(getattr(serde, "deserialize", None))):
        raise TypeError(f"{what} must have serialize(topic, obj) and deserialize(topic, data); got {serde!r}")
    return serde
